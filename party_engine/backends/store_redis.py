"""The Redis store: parties and listings as hashes, indexes as sorted sets.

Keys (all under the `pe:` prefix):
  party:{id}            hash, one field per attribute (records.party_to_hash)
  parties               zset of every party id, scored by starts_at
  parties:state:{s}     zset per state, scored by starts_at
  parties:theme:{key}   zset per normalised theme, scored by starts_at
  parties:theme:{key}:state:{s}  zset per theme and state: a filtered listing never walks
                        parties it does not return
  parties:due           zset of scheduled (scored by starts_at) and live (scored by ends_at)
                        parties: what the party clock has to look at next
  parties:changed       zset of parties by their latest state change (Party.changed_at),
                        trimmed to CHANGES_KEPT on every change
  listing:{id}          hash (records.listing_to_hash)
  follows:{user}        set of theme keys the user follows
  followers:{theme}     set of user ids following the theme
Nothing lives only in memory: with AOF on, a restart loses no acknowledged write.
"""

from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import datetime, timedelta
from typing import cast

from redis.exceptions import WatchError

from ..domain.errors import Conflict
from ..domain.listings import Listing
from ..domain.parties import Party, PartyState
from ..domain.themes import Theme
from ..ports import PartyPage, PartyQuery
from .paging import Position, decode_cursor
from .records import (
    listing_from_hash,
    listing_to_hash,
    party_from_hash,
    party_to_hash,
    theme_from_key,
)
from .redis_backend import RedisBackend, decoded_hash, hash_mapping

_PAGE_SCAN = 200
CHANGES_KEPT = timedelta(days=1)


def _due_score(party: Party) -> float | None:
    if party.state is PartyState.SCHEDULED:
        return party.starts_at.timestamp()
    if party.state is PartyState.LIVE:
        return party.ends_at.timestamp()
    return None


class RedisStore(RedisBackend):
    async def create_party(self, party: Party) -> Party:
        stored = replace(party, version=1)
        key = self._party_key(party.id)
        async with self.client.pipeline(transaction=True) as pipe:
            try:
                await pipe.watch(key)
                if await pipe.exists(key):
                    raise Conflict(f"party {party.id} exists")
                pipe.multi()
                self._write_party(pipe, stored, previous=None)
                await pipe.execute()
            except WatchError as error:
                raise Conflict(f"party {party.id} exists") from error
        return stored

    async def get_party(self, party_id: str) -> Party | None:
        fields = decoded_hash(await self.client.hgetall(self._party_key(party_id)))
        return party_from_hash(fields) if fields else None

    async def save_party(self, party: Party) -> Party:
        key = self._party_key(party.id)
        stored = replace(party, version=party.version + 1)
        async with self.client.pipeline(transaction=True) as pipe:
            try:
                await pipe.watch(key)
                fields = decoded_hash(await pipe.hgetall(key))
                if not fields or int(fields["version"]) != party.version:
                    raise Conflict(f"party {party.id} was changed by someone else")
                pipe.multi()
                self._write_party(pipe, stored, previous=party_from_hash(fields))
                await pipe.execute()
            except WatchError as error:
                raise Conflict(f"party {party.id} was changed by someone else") from error
        return stored

    def _write_party(self, pipe, party: Party, previous: Party | None) -> None:
        score = party.starts_at.timestamp()
        pipe.hset(self._party_key(party.id), mapping=hash_mapping(party_to_hash(party)))
        if previous is not None:
            for index in self._indexes(previous):
                pipe.zrem(index, party.id)
        for index in self._indexes(party):
            pipe.zadd(index, {party.id: score})
        due = _due_score(party)
        if due is None:
            pipe.zrem(self._due, party.id)
        else:
            pipe.zadd(self._due, {party.id: due})
        changed = party.changed_at
        if changed is not None and (previous is None or previous.state is not party.state):
            pipe.zadd(self._changed, {party.id: changed.timestamp()})
            pipe.zremrangebyscore(self._changed, "-inf", (changed - CHANGES_KEPT).timestamp())

    async def list_parties(self, query: PartyQuery) -> PartyPage:
        # Every combination of filters has an index of its own: a page reads its own rows only.
        index = self._index_of(query.state, query.theme)
        after = decode_cursor(query.cursor) if query.cursor else None
        items: list[Party] = []
        async for party in self._walk(index, after):
            if len(items) == query.limit:
                last = items[-1]
                return PartyPage(items, Position(last.starts_at.timestamp(), last.id).encode())
            items.append(party)
        return PartyPage(items, None)

    async def _walk(self, index: str, after: Position | None) -> AsyncIterator[Party]:
        minimum: str | float = after.score if after else "-inf"
        offset = 0
        while True:
            page = cast(
                list[tuple[str, float]],
                await self.client.zrangebyscore(
                    index, minimum, "+inf", start=offset, num=_PAGE_SCAN, withscores=True
                ),
            )
            if not page:
                return
            offset += len(page)
            fresh = [
                pid for pid, score in page if not (after and after.is_before_or_at(score, pid))
            ]
            for party in await self._get_many(fresh):
                yield party

    async def _get_many(self, party_ids: list[str]) -> list[Party]:
        async with self.client.pipeline(transaction=False) as pipe:
            for party_id in party_ids:
                pipe.hgetall(self._party_key(party_id))
            rows = await pipe.execute()
        return [party_from_hash(row) for row in rows if row]

    async def due_parties(self, now: datetime, limit: int = 100) -> list[Party]:
        ids = await self.client.zrangebyscore(
            self._due, "-inf", now.timestamp(), start=0, num=limit
        )
        return await self._get_many(cast(list[str], ids))

    async def changed_parties(self, since: datetime, limit: int = 100) -> list[Party]:
        ids = await self.client.zrangebyscore(
            self._changed, since.timestamp(), "+inf", start=0, num=limit
        )
        return await self._get_many(cast(list[str], ids))

    async def create_listing(self, listing: Listing) -> None:
        key = f"{self.prefix}listing:{listing.id}"
        await self.client.hset(key, mapping=hash_mapping(listing_to_hash(listing)))

    async def get_listing(self, listing_id: str) -> Listing | None:
        fields = decoded_hash(await self.client.hgetall(f"{self.prefix}listing:{listing_id}"))
        return listing_from_hash(fields) if fields else None

    async def follow(self, user_id: str, theme: Theme) -> None:
        async with self.client.pipeline(transaction=True) as pipe:
            pipe.sadd(f"{self.prefix}follows:{user_id}", theme.key)
            pipe.sadd(f"{self.prefix}followers:{theme.key}", user_id)
            await pipe.execute()

    async def unfollow(self, user_id: str, theme: Theme) -> None:
        async with self.client.pipeline(transaction=True) as pipe:
            pipe.srem(f"{self.prefix}follows:{user_id}", theme.key)
            pipe.srem(f"{self.prefix}followers:{theme.key}", user_id)
            await pipe.execute()

    async def follows(self, user_id: str) -> list[Theme]:
        keys = cast(set[str], await self.client.smembers(f"{self.prefix}follows:{user_id}"))
        return [theme_from_key(key) for key in sorted(keys)]

    async def followers(self, theme: Theme) -> list[str]:
        user_ids = cast(set[str], await self.client.smembers(f"{self.prefix}followers:{theme.key}"))
        return sorted(user_ids)

    @property
    def _due(self) -> str:
        return f"{self.prefix}parties:due"

    @property
    def _changed(self) -> str:
        return f"{self.prefix}parties:changed"

    def _index_of(self, state: PartyState | None, theme: Theme | None) -> str:
        """The index of parties with this state and theme (None: any), by starts_at."""
        name = f"{self.prefix}parties"
        if theme is not None:
            name += f":theme:{theme.key}"
        if state is not None:
            name += f":state:{state.value}"
        return name

    def _indexes(self, party: Party) -> list[str]:
        """Every index a party is in: one per combination of the filters it matches."""
        return [
            self._index_of(state, theme)
            for state in (None, party.state)
            for theme in (None, party.theme)
        ]

    def _party_key(self, party_id: str) -> str:
        return f"{self.prefix}party:{party_id}"
