"""The Redis ledger: idempotency locks by event id and the party counters.

Keys (under `pe:`):
  work:{queue}:{event id}   "L:{token}" while a worker holds it (SET NX with a TTL),
                            "done" once applied (kept done_seconds: PARTY_DEDUP_SECONDS)
  stats:{party}             hash: shares, likes, listings, sharers (distinct counts: they
                            outlive the leaderboards, which expire with the party's retention)
  stats:{party}:listings    zset: listing id -> shares + likes
  stats:{party}:sharers     zset: sharer id -> shares made
  stats:{party}:picks       zset: seller id -> picks of their listings

Counters and done-marks are written by one script that first checks this worker still holds
every lock, so a batch counts exactly once even when a lock expired under a slow worker.
"""

import uuid
from datetime import datetime
from typing import cast

from redis.exceptions import ResponseError

from ..domain.tallies import Tally
from ..ports import Board, Claim, LockLost, PartyStats, Ranked
from .redis_backend import RedisBackend

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

_RELEASE = """
for _, key in ipairs(KEYS) do
  if redis.call('GET', key) == ARGV[1] then redis.call('DEL', key) end
end
return 0
"""

# ARGV: lock, done seconds, then (op, key, member, amount, stats key, stats field) per counter
# write: 'h' adds to a hash field; 'z' adds to a board member, and counts a new member in the
# stats hash's field ('' for no such count). A board may hold members at or below zero (a
# removed share, counted before or after its creation): reads show only those above.
_COMMIT = """
for _, key in ipairs(KEYS) do
  if redis.call('GET', key) ~= ARGV[1] then
    return redis.error_reply('LOCKLOST ' .. key .. ' is no longer held by this worker')
  end
end
for i = 3, #ARGV, 6 do
  if ARGV[i] == 'h' then
    redis.call('HINCRBY', ARGV[i + 1], ARGV[i + 2], ARGV[i + 3])
  else
    if ARGV[i + 5] ~= '' and not redis.call('ZSCORE', ARGV[i + 1], ARGV[i + 2]) then
      redis.call('HINCRBY', ARGV[i + 4], ARGV[i + 5], 1)
    end
    redis.call('ZINCRBY', ARGV[i + 1], ARGV[i + 3], ARGV[i + 2])
  end
end
for _, key in ipairs(KEYS) do
  redis.call('SET', key, 'done', 'EX', ARGV[2])
end
return #KEYS
"""


class RedisLedger(RedisBackend):
    def __init__(self, url: str, *, prefix: str, done_seconds: int) -> None:
        super().__init__(url, prefix=prefix)
        self._done_seconds = done_seconds
        self._lock = f"L:{uuid.uuid4().hex}"  # this process's locks, told apart from others'
        self._claim = self.client.register_script(_CLAIM)
        self._release = self.client.register_script(_RELEASE)
        self._commit = self.client.register_script(_COMMIT)

    async def claim(self, queue: str, event_ids: list[str], ttl_seconds: float) -> list[Claim]:
        if not event_ids:
            return []
        keys = [self._work_key(queue, event_id) for event_id in event_ids]
        answers = await self._claim(keys=keys, args=[self._lock, max(1, int(ttl_seconds * 1000))])
        return [Claim(answer) for answer in answers]

    async def release(self, queue: str, event_ids: list[str]) -> None:
        if event_ids:
            keys = [self._work_key(queue, event_id) for event_id in event_ids]
            await self._release(keys=keys, args=[self._lock])

    async def mark_done(self, queue: str, event_ids: list[str]) -> None:
        await self.commit_tally(queue, event_ids, Tally())

    async def done_marks(self, queue: str, event_ids: list[str]) -> list[bool]:
        """Whether `queue`'s workers have done each of these events (loadtests/bench_workers.py
        stops its clock when every queue has done every event)."""
        if not event_ids:
            return []
        marks = await self.client.mget([self._work_key(queue, e) for e in event_ids])
        return [mark in ("done", b"done") for mark in marks]

    async def commit_tally(self, queue: str, event_ids: list[str], tally: Tally) -> None:
        if not event_ids:
            return
        keys = [self._work_key(queue, event_id) for event_id in event_ids]
        try:
            await self._commit(
                keys=keys, args=[self._lock, self._done_seconds, *self._counter_writes(tally)]
            )
        except ResponseError as error:
            if str(error).startswith("LOCKLOST"):
                raise LockLost(str(error)) from None
            raise

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

    def _counter_writes(self, tally: Tally) -> list[str | int]:
        args: list[str | int] = []
        for party_id, shares in tally.party_shares.items():
            args += ["h", self._stats_key(party_id), "shares", shares, "", ""]
        for party_id, likes in tally.party_likes.items():
            args += ["h", self._stats_key(party_id), "likes", likes, "", ""]
        for (party_id, listing_id), score in tally.listing_scores().items():
            board = self._board_key(party_id, Board.LISTINGS)
            args += ["z", board, listing_id, score, self._stats_key(party_id), "listings"]
        for (party_id, sharer_id), shares in tally.sharer_shares.items():
            board = self._board_key(party_id, Board.SHARERS)
            args += ["z", board, sharer_id, shares, self._stats_key(party_id), "sharers"]
        for (party_id, seller_id), picks in tally.seller_picks.items():
            board = self._board_key(party_id, Board.PICKS)
            args += ["z", board, seller_id, picks, "", ""]
        return args

    def _board_key(self, party_id: str, board: Board) -> str:
        return f"{self.prefix}stats:{party_id}:{board.value}"

    def _stats_key(self, party_id: str) -> str:
        return f"{self.prefix}stats:{party_id}"

    def _work_key(self, queue: str, event_id: str) -> str:
        return f"{self.prefix}work:{queue}:{event_id}"
