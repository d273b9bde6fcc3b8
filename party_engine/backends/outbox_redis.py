"""The Redis outbox: a stream per party beside its history, read by relays in a consumer group.

Keys (the party's keys share its hash tag, so the publish scripts stay in one slot):
  pe:stream:{id}:outbox   stream, field e = an encoded domain event (event_codec); group "relay"
  pe:outbox:parties       sorted set party -> Redis time (s) of a write announced there

How relays find the outboxes without a cross-slot script: before a publish script that writes
a party's outbox, the broker adds the party to `pe:outbox:parties` (again at most every
HINT_SECONDS per party and process). A relay reads the outboxes of the parties listed there,
and a party is dropped from it only when its outbox is empty and it was announced more than
QUIET_SECONDS ago; the relay then looks at the outbox once more and lists the party again if an
entry came meanwhile. So an entry written just before its party ended (or its gateway died) is
relayed like any other: nothing about the party's state is involved.

Entries are removed (XDEL, then XACK) once relayed, so the stream's length is the party's
backlog: the publish scripts refuse past PARTY_OUTBOX_MAX_DEPTH of it.
"""

from typing import Any

import redis.asyncio as redis

from ..ports import OutboxEntry
from .redis_backend import RedisBackend, call_script

GROUP = "relay"
# A writer announces a party again after this long; a party quiet for QUIET_SECONDS (three
# times as long, whatever a writer's pauses) and empty is no longer listed. An announcement is
# a round trip of its own: at 5 s, 200 parties sharing every few seconds cost one for every
# second share.
QUIET_SECONDS = 60.0
HINT_SECONDS = QUIET_SECONDS / 3

# KEYS[1] the parties index, ARGV[1] party: list it now (Redis's clock, not the writer's).
ANNOUNCE_LUA = "redis.call('ZADD', KEYS[1], redis.call('TIME')[1], ARGV[1])"

# KEYS[1] the parties index, ARGV[1] quiet seconds, ARGV[2..] parties: drop those announced
# longer ago than that. Returns the parties dropped.
_FORGET_LUA = """
local cutoff = tonumber(redis.call('TIME')[1]) - tonumber(ARGV[1])
local dropped = {}
for i = 2, #ARGV do
  local score = redis.call('ZSCORE', KEYS[1], ARGV[i])
  if score and tonumber(score) < cutoff then
    redis.call('ZREM', KEYS[1], ARGV[i])
    table.insert(dropped, ARGV[i])
  end
end
return dropped
"""


def outbox_key(prefix: str, party_id: str) -> str:
    return f"{prefix}stream:{{{party_id}}}:outbox"


def parties_key(prefix: str) -> str:
    return f"{prefix}outbox:parties"


class RedisOutbox(RedisBackend):
    def __init__(self, url: str, *, prefix: str) -> None:
        super().__init__(url, prefix=prefix)
        self._forget = self.client.register_script(_FORGET_LUA)
        self._announce = self.client.register_script(ANNOUNCE_LUA)

    async def parties(self) -> list[str]:
        # decode_responses: members are str
        return [str(party) for party in await self.client.zrange(parties_key(self.prefix), 0, -1)]

    async def take(
        self, relay_id: str, party_ids: list[str], count: int, claim_after_seconds: float | None
    ) -> list[OutboxEntry]:
        replies = await self._read(relay_id, party_ids, count, claim_after_seconds)
        taken: list[OutboxEntry] = []
        without_group = []
        for party_id, reply in zip(party_ids, replies, strict=True):
            if isinstance(reply, redis.ResponseError):
                if "NOGROUP" not in str(reply):
                    raise reply
                without_group.append(party_id)
                continue
            taken.extend(OutboxEntry(party_id, entry_id, event) for entry_id, event in reply)
        if without_group:
            await self._create_groups(without_group)
            taken += await self.take(relay_id, without_group, count, claim_after_seconds)
        return taken

    async def _read(
        self, relay_id: str, party_ids: list[str], count: int, claim_after_seconds: float | None
    ) -> list[list[tuple[str, bytes]] | redis.ResponseError]:
        """Per party: the entries claimed and read for this relay, or the error of either."""
        pipe = self.client.pipeline(transaction=False)
        for party_id in party_ids:
            key = outbox_key(self.prefix, party_id)
            if claim_after_seconds is not None:
                idle_ms = int(claim_after_seconds * 1000)
                pipe.xautoclaim(key, GROUP, relay_id, idle_ms, start_id="0-0", count=count)
            pipe.xreadgroup(GROUP, relay_id, {key: ">"}, count=count)
        replies = iter(await pipe.execute(raise_on_error=False))
        results: list[list[tuple[str, bytes]] | redis.ResponseError] = []
        for _ in party_ids:
            parts = [next(replies)] if claim_after_seconds is not None else []
            parts.append(next(replies))
            error = next((part for part in parts if isinstance(part, Exception)), None)
            if error is not None:
                results.append(error)  # type: ignore[arg-type]
                continue
            claimed = parts[0][1] if claim_after_seconds is not None else []
            fresh = parts[-1][0][1] if parts[-1] else []
            results.append(_events(claimed) + _events(fresh))
        return results

    async def _create_groups(self, party_ids: list[str]) -> None:
        pipe = self.client.pipeline(transaction=False)
        for party_id in party_ids:
            # From the stream's start: entries written before the group existed are relayed.
            pipe.xgroup_create(outbox_key(self.prefix, party_id), GROUP, id="0", mkstream=True)
        for reply in await pipe.execute(raise_on_error=False):
            if isinstance(reply, Exception) and "BUSYGROUP" not in str(reply):
                raise reply

    async def done(self, entries: list[OutboxEntry]) -> None:
        if not entries:
            return
        by_party: dict[str, list[str]] = {}
        for entry in entries:
            by_party.setdefault(entry.party_id, []).append(entry.entry_id)
        pipe = self.client.pipeline(transaction=False)
        for party_id, entry_ids in by_party.items():
            key = outbox_key(self.prefix, party_id)
            # XDEL first: the length is the backlog. An entry deleted but left pending (a crash
            # in between) is dropped from the group by the next XAUTOCLAIM.
            pipe.xdel(key, *entry_ids)
            pipe.xack(key, GROUP, *entry_ids)
        await pipe.execute()

    async def depth(self, party_id: str) -> int:
        return await self.client.xlen(outbox_key(self.prefix, party_id))

    async def forget_idle(self, party_ids: list[str]) -> None:
        empty = [party_id for party_id in party_ids if await self.depth(party_id) == 0]
        if not empty:
            return
        parties = [parties_key(self.prefix)]
        dropped = await call_script(self.client, self._forget, parties, [QUIET_SECONDS, *empty])
        for party_id in dropped:
            # Written between the look above and the drop: list it again.
            if await self.depth(party_id):
                await call_script(self.client, self._announce, parties, [party_id])


def _events(entries: list[Any]) -> list[tuple[str, bytes]]:
    """(entry id, event) of XAUTOCLAIM / XREADGROUP entries, as redis-py parses them."""
    return [(entry_id, fields["e"].encode()) for entry_id, fields in entries if fields]
