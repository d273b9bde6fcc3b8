"""Presence on Redis, laid out for a Redis Cluster: parties are spread over
redis_buckets.BUCKETS buckets, and a script call touches the keys of one bucket only.

One key per party, under the hash tag of the party's bucket (B below, e.g. {presence-07}):
  pe:presence:B:{id}   zset user id -> when that user's presence expires (Redis time, ms)
A gateway's report is one script call per bucket its parties fall in (one more per
_USERS_PER_CALL users): per party, ZADD GT of its present users (a later expiry than another
gateway's wins), ZADD XX LT of those who left (an earlier one, never adding anyone), then
pruning and expiring the key with its last user. A party's count is ZCOUNT of the unexpired
scores, read for a bucket's parties in one call. Calls are pipelined on one server, and every
expiry is on Redis's clock, so gateways' clocks never need to agree.
"""

from collections.abc import Collection, Iterator, Mapping

from .expiring_zsets import PRELUDE
from .redis_backend import RedisBackend, ScriptCall, run_script
from .redis_buckets import bucket_tag, by_bucket_tag

# Users per script call, so that no call holds Redis for long (a ZADD of 2,000 members takes
# ~1 ms), and script calls per pipeline round trip (bounds the buffers on both sides).
_USERS_PER_CALL = 2_000
_PIPELINE_CHUNK = 50
_BUCKET = "presence"

# KEYS: parties' zsets (of one bucket). ARGV: ttl ms, left ttl ms, then per key: its number of
# present users, of users who left, the present users, the users who left.
_REPORT = (
    PRELUDE
    + """
local function zadd(key, flags, score, first, last)
  for start = first, last, 500 do
    local args = {key, unpack(flags)}
    for i = start, math.min(start + 499, last) do
      args[#args + 1] = score
      args[#args + 1] = ARGV[i]
    end
    redis.call('ZADD', unpack(args))
  end
end
local present_until = now + tonumber(ARGV[1])
local left_until = now + tonumber(ARGV[2])
local i = 3
for k = 1, #KEYS do
  local key = KEYS[k]
  local present = tonumber(ARGV[i])
  local left = tonumber(ARGV[i + 1])
  local first = i + 2
  zadd(key, {'XX', 'LT'}, left_until, first + present, first + present + left - 1)
  zadd(key, {'GT'}, present_until, first, first + present - 1)
  i = first + present + left
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now)
  expire_with_last(key)
end
return 1
"""
)

# KEYS: parties' zsets (of one bucket). Each one's users whose presence has not expired.
_TOTAL = (
    PRELUDE
    + """
local counts = {}
for k = 1, #KEYS do
  counts[k] = redis.call('ZCOUNT', KEYS[k], '(' .. now, '+inf')
end
return counts
"""
)


class RedisPresence(RedisBackend):
    def __init__(self, url: str, *, prefix: str) -> None:
        super().__init__(url, prefix=prefix)
        self._report = self.client.register_script(_REPORT)
        self._total = self.client.register_script(_TOTAL)

    async def report(
        self,
        present: Mapping[str, Collection[str]],
        left: Mapping[str, Collection[str]],
        *,
        ttl_seconds: float,
        left_ttl_seconds: float,
    ) -> None:
        ttl_ms = max(int(ttl_seconds * 1000), 1)
        left_ttl_ms = max(int(left_ttl_seconds * 1000), 1)
        calls: list[ScriptCall] = []
        for parts in _per_call(present, left):
            args: list[str | int] = [ttl_ms, left_ttl_ms]
            for _, here, gone in parts:
                args += [len(here), len(gone), *here, *gone]
            calls.append(([self._key(party_id) for party_id, _, _ in parts], args))
        await run_script(self.client, self._report, calls, chunk=_PIPELINE_CHUNK)

    async def totals(self, party_ids: list[str]) -> dict[str, int]:
        buckets = list(by_bucket_tag(_BUCKET, party_ids).values())
        calls: list[ScriptCall] = [
            ([self._key(party_id) for party_id in parties], []) for parties in buckets
        ]
        replies = await run_script(self.client, self._total, calls, chunk=_PIPELINE_CHUNK)
        return {
            party_id: int(count)
            for parties, counts in zip(buckets, replies, strict=True)
            for party_id, count in zip(parties, counts, strict=True)
        }

    def _key(self, party_id: str) -> str:
        return f"{self.prefix}presence:{bucket_tag(_BUCKET, party_id)}:{party_id}"


Part = tuple[str, list[str], list[str]]  # a party, users present, users who left


def _per_call(
    present: Mapping[str, Collection[str]], left: Mapping[str, Collection[str]]
) -> Iterator[list[Part]]:
    """The parties' parts by bucket, at most _USERS_PER_CALL users per call (a bigger party's
    users are split over calls)."""
    by_tag = by_bucket_tag(_BUCKET, present.keys() | left.keys())
    for parties in by_tag.values():
        call: list[Part] = []
        users = 0
        for party_id in parties:
            everyone = [*present.get(party_id, ()), *left.get(party_id, ())]
            here = len(present.get(party_id, ()))
            for start in range(0, max(len(everyone), 1), _USERS_PER_CALL):
                chunk = everyone[start : start + _USERS_PER_CALL]
                if call and users + len(chunk) > _USERS_PER_CALL:
                    yield call
                    call, users = [], 0
                split = max(0, min(here - start, len(chunk)))
                call.append((party_id, chunk[:split], chunk[split:]))
                users += len(chunk)
        if call:
            yield call
