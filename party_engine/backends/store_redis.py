"""The Redis store: parties and listings as hashes, indexes as sorted sets, laid out for a
Redis Cluster.

Parties are spread over redis_buckets.BUCKETS buckets by their id; B below is the party's
bucket tag (`{parties-07}`), so a party's hash and all its index entries share one slot and a
save writes them in one script, as atomically as before. Keys (under the `pe:` prefix):
  party:B:{id}          hash, one field per attribute (records.party_to_hash)
  parties:B             zset of the bucket's parties, scored by starts_at
  parties:B:state:{s}   zset per state, scored by starts_at
  parties:B:theme:{key} zset per normalised theme, scored by starts_at
  parties:B:theme:{key}:state:{s}  zset per theme and state: a filtered listing never walks
                        parties it does not return
  parties:B:due         zset of scheduled (scored by starts_at) and live (scored by ends_at)
                        parties: what the party clock has to look at next
  parties:B:changed     zset of parties by their latest state change (Party.changed_at),
                        trimmed to CHANGES_KEPT on every change
  listing:{id}          hash (records.listing_to_hash)
  follows:{user}        set of theme keys the user follows
  followers:{theme}     set of user ids following the theme
({id}, {s}, ... are placeholders here, not hash tags: B is the only tag.)

A create or save is one script in the party's bucket: it checks the version (a create: that
the hash does not exist), writes the hash and moves the party between the bucket's indexes,
so two creates of one id or a stale save conflict exactly as before. A listing, the due
parties and the changed ones read every bucket's part of their index from the cursor on (one
round trip), merge them by (score, id) and read only the hashes they return. A follow writes
its two sets (two slots) separately, each write idempotent: a request that failed between
them is repaired by its retry.

Before the cluster layout the party hashes were party:{id} and the indexes one zset each
(parties, parties:state:{s}, ...): data written then is not read by this layout (there is
none in production; a migration would re-save every party through this store).
Nothing lives only in memory: with AOF on, a restart loses no acknowledged write.
"""

from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta
from typing import cast

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
from .redis_backend import RedisBackend, call_script, decoded_hash, hash_mapping
from .redis_buckets import Entry, bucket_tag, every_bucket_tag, merged

CHANGES_KEPT = timedelta(days=1)
_BUCKET = "parties"

# KEYS: the party's hash, its bucket's due and changed zsets, the indexes it leaves, then
# those it joins (all in its bucket). ARGV: the version it must have ('' for a create: it must
# not exist), id, starts_at, due score ('': none), changed score ('': unchanged), oldest
# change kept, how many indexes it leaves, then the hash's field, value pairs.
# Replies 1, or 0 when the version check fails (nothing written).
_WRITE = """
local version = redis.call('HGET', KEYS[1], 'version')
if ARGV[1] == '' then
  if version then return 0 end
elseif version ~= ARGV[1] then
  return 0
end
local id, leaving = ARGV[2], tonumber(ARGV[7])
for i = 4, 3 + leaving do redis.call('ZREM', KEYS[i], id) end
for i = 4 + leaving, #KEYS do redis.call('ZADD', KEYS[i], ARGV[3], id) end
redis.call('HSET', KEYS[1], unpack(ARGV, 8))
if ARGV[4] == '' then
  redis.call('ZREM', KEYS[2], id)
else
  redis.call('ZADD', KEYS[2], ARGV[4], id)
end
if ARGV[5] ~= '' then
  redis.call('ZADD', KEYS[3], ARGV[5], id)
  redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', ARGV[6])
end
return 1
"""


def _due_score(party: Party) -> float | None:
    if party.state is PartyState.SCHEDULED:
        return party.starts_at.timestamp()
    if party.state is PartyState.LIVE:
        return party.ends_at.timestamp()
    return None


def _score(value: float | None) -> str:
    return "" if value is None else repr(value)


class RedisStore(RedisBackend):
    def __init__(self, url: str, *, prefix: str) -> None:
        super().__init__(url, prefix=prefix)
        self._write = self.client.register_script(_WRITE)

    async def create_party(self, party: Party) -> Party:
        stored = replace(party, version=1)
        if not await self._write_party(stored, previous=None):
            raise Conflict(f"party {party.id} exists")
        return stored

    async def get_party(self, party_id: str) -> Party | None:
        fields = decoded_hash(await self.client.hgetall(self._party_key(party_id)))
        return party_from_hash(fields) if fields else None

    async def get_parties(self, party_ids: list[str]) -> dict[str, Party]:
        return {party.id: party for party in await self._get_many(party_ids)}

    async def save_party(self, party: Party) -> Party:
        stored = replace(party, version=party.version + 1)
        # The indexes it leaves are read from the stored hash; the script writes only if that
        # is still the version read, so they are the ones it is in.
        previous = await self.get_party(party.id)
        if previous is None or previous.version != party.version:
            raise Conflict(f"party {party.id} was changed by someone else")
        if not await self._write_party(stored, previous=previous):
            raise Conflict(f"party {party.id} was changed by someone else")
        return stored

    async def _write_party(self, party: Party, previous: Party | None) -> bool:
        tag = self._tag(party.id)
        leaving = self._indexes(tag, previous) if previous is not None else []
        changed = party.changed_at
        if changed is None or (previous is not None and previous.state is party.state):
            changed = None
        fields = [item for pair in party_to_hash(party).items() for item in pair]
        written = await call_script(
            self.client,
            self._write,
            keys=[
                self._party_key(party.id),
                self._due(tag),
                self._changed(tag),
                *leaving,
                *self._indexes(tag, party),
            ],
            args=[
                "" if previous is None else str(previous.version),
                party.id,
                repr(party.starts_at.timestamp()),
                _score(_due_score(party)),
                _score(changed.timestamp() if changed else None),
                repr((changed - CHANGES_KEPT).timestamp()) if changed else "",
                len(leaving),
                *fields,
            ],
        )
        return bool(written)

    async def list_parties(self, query: PartyQuery) -> PartyPage:
        # Every combination of filters has an index of its own: a page reads its own rows only.
        after = decode_cursor(query.cursor) if query.cursor else None
        entries = await self._first(
            lambda tag: self._index_of(tag, query.state, query.theme),
            after.score if after else "-inf",
            "+inf",
            query.limit + 1,
            after=after,
        )
        items = await self._get_many([party_id for _, party_id in entries[: query.limit]])
        if len(entries) <= query.limit:
            return PartyPage(items, None)
        score, party_id = entries[query.limit - 1]
        return PartyPage(items, Position(score, party_id).encode())

    async def due_parties(self, now: datetime, limit: int = 100) -> list[Party]:
        entries = await self._first(self._due, "-inf", now.timestamp(), limit)
        return await self._get_many([party_id for _, party_id in entries])

    async def changed_parties(self, since: datetime, limit: int = 100) -> list[Party]:
        entries = await self._first(self._changed, since.timestamp(), "+inf", limit)
        return await self._get_many([party_id for _, party_id in entries])

    async def _first(
        self,
        index: Callable[[str], str],
        low: float | str,
        high: float | str,
        count: int,
        *,
        after: Position | None = None,
    ) -> list[Entry]:
        """The first `count` entries scored from `low` to `high` (and after `after`) of an
        index over every bucket (`index` names a bucket's part from its tag), in order."""
        keys = [index(tag) for tag in every_bucket_tag(_BUCKET)]
        pages = await self._ranges([(key, 0) for key in keys], low, high, count)
        parts: list[list[Entry]] = []
        for key, page in zip(keys, pages, strict=True):
            offset, part = 0, []
            # Entries tied with the cursor's score and at or before its id are skipped: a bucket
            # holding many of them reads on until it has `count` after it, or runs out.
            while True:
                offset += len(page)
                part += [e for e in page if not (after and after.is_before_or_at(*e))]
                if len(part) >= count or len(page) < count:
                    break
                [page] = await self._ranges([(key, offset)], low, high, count)
            parts.append(part)
        return merged(parts, count)

    async def _ranges(
        self, keys: list[tuple[str, int]], low: float | str, high: float | str, count: int
    ) -> list[list[Entry]]:
        async with self.client.pipeline(transaction=False) as pipe:
            for key, offset in keys:
                pipe.zrangebyscore(key, low, high, start=offset, num=count, withscores=True)
            pages = cast(list[list[tuple[str, float]]], await pipe.execute())
        return [[(score, member) for member, score in page] for page in pages]

    async def _get_many(self, party_ids: list[str]) -> list[Party]:
        if not party_ids:
            return []
        async with self.client.pipeline(transaction=False) as pipe:
            for party_id in party_ids:
                pipe.hgetall(self._party_key(party_id))
            rows = await pipe.execute()
        return [party_from_hash(row) for row in rows if row]

    async def create_listing(self, listing: Listing) -> None:
        key = f"{self.prefix}listing:{listing.id}"
        await self.client.hset(key, mapping=hash_mapping(listing_to_hash(listing)))

    async def get_listing(self, listing_id: str) -> Listing | None:
        fields = decoded_hash(await self.client.hgetall(f"{self.prefix}listing:{listing_id}"))
        return listing_from_hash(fields) if fields else None

    async def follow(self, user_id: str, theme: Theme) -> None:
        async with self.client.pipeline(transaction=False) as pipe:
            pipe.sadd(f"{self.prefix}follows:{user_id}", theme.key)
            pipe.sadd(f"{self.prefix}followers:{theme.key}", user_id)
            await pipe.execute()

    async def unfollow(self, user_id: str, theme: Theme) -> None:
        async with self.client.pipeline(transaction=False) as pipe:
            pipe.srem(f"{self.prefix}follows:{user_id}", theme.key)
            pipe.srem(f"{self.prefix}followers:{theme.key}", user_id)
            await pipe.execute()

    async def follows(self, user_id: str) -> list[Theme]:
        keys = cast(set[str], await self.client.smembers(f"{self.prefix}follows:{user_id}"))
        return [theme_from_key(key) for key in sorted(keys)]

    async def followers(self, theme: Theme) -> list[str]:
        user_ids = cast(set[str], await self.client.smembers(f"{self.prefix}followers:{theme.key}"))
        return sorted(user_ids)

    def _tag(self, party_id: str) -> str:
        return bucket_tag(_BUCKET, party_id)

    def _due(self, tag: str) -> str:
        return f"{self.prefix}parties:{tag}:due"

    def _changed(self, tag: str) -> str:
        return f"{self.prefix}parties:{tag}:changed"

    def _index_of(self, tag: str, state: PartyState | None, theme: Theme | None) -> str:
        """The bucket's index of parties with this state and theme (None: any), by starts_at."""
        name = f"{self.prefix}parties:{tag}"
        if theme is not None:
            name += f":theme:{theme.key}"
        if state is not None:
            name += f":state:{state.value}"
        return name

    def _indexes(self, tag: str, party: Party) -> list[str]:
        """Every index a party is in: one per combination of the filters it matches."""
        return [
            self._index_of(tag, state, theme)
            for state in (None, party.state)
            for theme in (None, party.theme)
        ]

    def _party_key(self, party_id: str) -> str:
        return f"{self.prefix}party:{self._tag(party_id)}:{party_id}"
