"""The Redis ledger: idempotency locks by event id and the party counters, laid out for a
Redis Cluster: everything of a party is under its hash tag, {party} (the broker's too).

Keys (under `pe:`; {party} is the hash tag, the rest are placeholders):
  work:{party}:{queue}:{event id}  "L:{token}" while a worker holds it (SET NX with a TTL),
                            "done" once applied (kept done_seconds: PARTY_DEDUP_SECONDS)
  stats:{party}             hash: shares, likes, listings, sharers (distinct counts: they
                            outlive the leaderboards, which expire with the party's retention)
  stats:{party}:listings    zset: listing id -> shares + likes
  stats:{party}:sharers     zset: sharer id -> shares made
  stats:{party}:picks       zset: seller id -> picks of their listings

A batch is claimed, released and committed with one script call per party in it (pipelined
on one server, concurrent per node on a cluster). A party's commit first checks this worker
still holds every lock of that party's events, then adds the party's part of the tally and
writes their done-marks, so each event counts exactly once even when a lock expired under a
slow worker: if a worker dies between two parties' commits, the events of the committed party
are done (a redelivery skips them) and the others' locks expire (a redelivery counts them).

Before the cluster layout the keys were work:{queue}:{event id} and stats:{party} without a
hash tag: counters written then are not read by this layout (there is no production data; a
migration would RENAME stats:p to stats:{p}, and the boards likewise).
"""

import uuid
from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime
from typing import cast

from ..domain.tallies import Tally
from ..ports import Board, Claim, EventRef, LockLost, PartyStats, Ranked
from .redis_backend import RedisBackend, ScriptCall, run_script

# Script calls (parties) in flight at a time.
_CHUNK = 100

# KEYS: one party's event locks. ARGV: lock, ttl ms.
_CLAIM = """
local out = {}
for i, key in ipairs(KEYS) do
  if redis.call('SET', key, ARGV[1], 'NX', 'PX', ARGV[2]) then
    out[i] = 'fresh'
  elseif redis.call('GET', key) == 'done' then
    out[i] = 'done'
  else
    out[i] = 'busy'
  end
end
return out
"""

# KEYS: one party's event locks. ARGV: lock.
_RELEASE = """
for _, key in ipairs(KEYS) do
  if redis.call('GET', key) == ARGV[1] then redis.call('DEL', key) end
end
return 0
"""

# KEYS: one party's event locks (ARGV[3] of them), then its stats hash and its boards
# (listings, sharers, picks). ARGV: lock, done seconds, locks, then (op, board, member, amount,
# counted field) per counter write: 'h' adds to the stats hash's field `member`; 'z' adds to
# board number `board` (1-3), and counts a new member in the stats hash's field `counted`
# ('' for no such count). A board may hold members at or below zero (a removed share, counted
# before or after its creation): reads show only those above. Replies '' once applied, or the
# first lock no longer held (nothing written).
_COMMIT = """
local locks = tonumber(ARGV[3])
for i = 1, locks do
  if redis.call('GET', KEYS[i]) ~= ARGV[1] then return KEYS[i] end
end
local stats = KEYS[locks + 1]
for i = 4, #ARGV, 5 do
  if ARGV[i] == 'h' then
    redis.call('HINCRBY', stats, ARGV[i + 2], ARGV[i + 3])
  else
    local board = KEYS[locks + 1 + tonumber(ARGV[i + 1])]
    if ARGV[i + 4] ~= '' and not redis.call('ZSCORE', board, ARGV[i + 2]) then
      redis.call('HINCRBY', stats, ARGV[i + 4], 1)
    end
    redis.call('ZINCRBY', board, ARGV[i + 3], ARGV[i + 2])
  end
end
for i = 1, locks do
  redis.call('SET', KEYS[i], 'done', 'EX', ARGV[2])
end
return ''
"""

_BOARDS = (Board.LISTINGS, Board.SHARERS, Board.PICKS)  # the script's board numbers 1-3


class RedisLedger(RedisBackend):
    def __init__(self, url: str, *, prefix: str, done_seconds: int) -> None:
        super().__init__(url, prefix=prefix)
        self._done_seconds = done_seconds
        self._lock = f"L:{uuid.uuid4().hex}"  # this process's locks, told apart from others'
        self._claim = self.client.register_script(_CLAIM)
        self._release = self.client.register_script(_RELEASE)
        self._commit = self.client.register_script(_COMMIT)

    async def claim(self, queue: str, events: list[EventRef], ttl_seconds: float) -> list[Claim]:
        parties = _by_party(events)
        ttl_ms = max(1, int(ttl_seconds * 1000))
        calls: list[ScriptCall] = [
            (self._work_keys(queue, party_id, ids), [self._lock, ttl_ms])
            for party_id, ids in parties.items()
        ]
        replies = await run_script(self.client, self._claim, calls, chunk=_CHUNK)
        answers = {
            (party_id, event_id): Claim(answer)
            for (party_id, ids), reply in zip(parties.items(), replies, strict=True)
            for event_id, answer in zip(ids, reply, strict=True)
        }
        return [answers[event.party_id, event.event_id] for event in events]

    async def release(self, queue: str, events: list[EventRef]) -> None:
        calls: list[ScriptCall] = [
            (self._work_keys(queue, party_id, ids), [self._lock])
            for party_id, ids in _by_party(events).items()
        ]
        await run_script(self.client, self._release, calls, chunk=_CHUNK)

    async def mark_done(self, queue: str, events: list[EventRef]) -> None:
        await self.commit_tally(queue, events, Tally())

    async def done_marks(self, queue: str, events: list[EventRef]) -> list[bool]:
        """Whether `queue`'s workers have done each of these events (loadtests/bench_workers.py
        stops its clock when every queue has done every event); one MGET per party (slot)."""
        marks: dict[EventRef, bool] = {}
        for party_id, ids in _by_party(events).items():
            replies = await self.client.mget(self._work_keys(queue, party_id, ids))
            marks.update(
                (EventRef(party_id, event_id), reply in ("done", b"done"))
                for event_id, reply in zip(ids, replies, strict=True)
            )
        return [marks[event] for event in events]

    async def commit_tally(self, queue: str, events: list[EventRef], tally: Tally) -> None:
        parties = _by_party(events)
        parts = tally.by_party()
        if strays := set(parts) - set(parties):
            raise ValueError(f"counts for parties without events: {sorted(strays)}")
        calls: list[ScriptCall] = []
        for party_id, ids in parties.items():
            keys = self._work_keys(queue, party_id, ids)
            keys += [self._stats_key(party_id)]
            keys += [self._board_key(party_id, board) for board in _BOARDS]
            writes = _counter_writes(parts.get(party_id, Tally()))
            calls.append((keys, [self._lock, self._done_seconds, len(ids), *writes]))
        lost = [
            key for key in await run_script(self.client, self._commit, calls, chunk=_CHUNK) if key
        ]
        if lost:
            raise LockLost(f"{', '.join(lost)} no longer held by this worker")

    async def party_stats(self, party_id: str) -> PartyStats:
        fields = ("shares", "likes", "listings", "sharers")
        values = await self.client.hmget(self._stats_key(party_id), *fields)
        return PartyStats(*(int(value or 0) for value in values))

    async def retire(self, party_id: str, at: datetime) -> None:
        async with self.client.pipeline(transaction=False) as pipe:
            for board in Board:
                pipe.pexpireat(self._board_key(party_id, board), at)
            await pipe.execute()

    async def leaderboard(self, party_id: str, board: Board, limit: int) -> list[Ranked]:
        rows = cast(
            list[tuple[str, float]],
            await self.client.zrevrangebyscore(
                self._board_key(party_id, board), "+inf", "(0", start=0, num=limit, withscores=True
            ),
        )
        return [Ranked(member, int(score)) for member, score in rows]

    def _board_key(self, party_id: str, board: Board) -> str:
        return f"{self.prefix}stats:{{{party_id}}}:{board.value}"

    def _stats_key(self, party_id: str) -> str:
        return f"{self.prefix}stats:{{{party_id}}}"

    def _work_keys(self, queue: str, party_id: str, event_ids: Sequence[str]) -> list[str]:
        return [f"{self.prefix}work:{{{party_id}}}:{queue}:{event_id}" for event_id in event_ids]


def _by_party(events: list[EventRef]) -> dict[str, list[str]]:
    """Each party's event ids, in the order they came."""
    parties: defaultdict[str, list[str]] = defaultdict(list)
    for event in events:
        parties[event.party_id].append(event.event_id)
    return dict(parties)


def _counter_writes(tally: Tally) -> list[str | int]:
    """One party's tally as the commit script's writes."""
    args: list[str | int] = []
    for shares in tally.party_shares.values():
        args += ["h", 0, "shares", shares, ""]
    for likes in tally.party_likes.values():
        args += ["h", 0, "likes", likes, ""]
    for (_, listing_id), score in tally.listing_scores().items():
        args += ["z", 1, listing_id, score, "listings"]
    for (_, sharer_id), shares in tally.sharer_shares.items():
        args += ["z", 2, sharer_id, shares, "sharers"]
    for (_, seller_id), picks in tally.seller_picks.items():
        args += ["z", 3, seller_id, picks, ""]
    return args
