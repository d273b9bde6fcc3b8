"""Presence on Redis, laid out for a Redis Cluster: every command touches one party's key.

One key per party (the braces are a cluster hash tag, so the key's slot is the party's):
  pe:presence:{id}   zset user id -> when that user's presence expires (Redis time, ms)
A gateway's report is one script call per party it has users in (one more per
_USERS_PER_CALL of them): ZADD GT of its present users (a later expiry than another
gateway's wins), ZADD XX LT of those who left (an earlier one, never adding anyone), then
pruning and expiring the key with its last user. A party's count is ZCOUNT of the unexpired
scores. Nothing is global: calls are pipelined, party by party, and every expiry is on Redis's
clock, so gateways' clocks never need to agree.
"""

from collections.abc import Collection, Iterator, Mapping

from .redis_backend import RedisBackend, ScriptCall, run_script

# Users per script call, so that no call holds Redis for long (a ZADD of 2,000 members takes
# ~1 ms), and script calls per pipeline round trip (bounds the buffers on both sides).
_USERS_PER_CALL = 2_000
_PIPELINE_CHUNK = 100

# Now in ms from Redis's clock, so that every gateway's expiries compare on one clock.
_NOW = """
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
"""

# KEYS: the party's zset. ARGV: ttl ms, left ttl ms, n present users, the present users, then
# the users who left.
_REPORT = (
    _NOW
    + """
local key = KEYS[1]
local present = tonumber(ARGV[3])
local function zadd(flags, score, first, last)
  for start = first, last, 500 do
    local args = {key, unpack(flags)}
    for i = start, math.min(start + 499, last) do
      args[#args + 1] = score
      args[#args + 1] = ARGV[i]
    end
    redis.call('ZADD', unpack(args))
  end
end
zadd({'XX', 'LT'}, now + tonumber(ARGV[2]), 4 + present, #ARGV)
zadd({'GT'}, now + tonumber(ARGV[1]), 4, 3 + present)
redis.call('ZREMRANGEBYSCORE', key, '-inf', now)
local last = redis.call('ZRANGE', key, -1, -1, 'WITHSCORES')
if #last > 0 then
  redis.call('PEXPIREAT', key, last[2])
end
return 1
"""
)

# KEYS: the party's zset. Its users whose presence has not expired (writes nothing).
_TOTAL = (
    _NOW
    + """
return redis.call('ZCOUNT', KEYS[1], '(' .. now, '+inf')
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
        calls: list[ScriptCall] = [
            ([self._key(party_id)], [ttl_ms, left_ttl_ms, len(here), *here, *gone])
            for party_id, here, gone in _calls(present, left)
        ]
        await run_script(self.client, self._report, calls, chunk=_PIPELINE_CHUNK)

    async def totals(self, party_ids: list[str]) -> dict[str, int]:
        calls: list[ScriptCall] = [([self._key(party_id)], []) for party_id in party_ids]
        replies = await run_script(self.client, self._total, calls, chunk=_PIPELINE_CHUNK)
        return dict(zip(party_ids, map(int, replies), strict=True))

    def _key(self, party_id: str) -> str:
        return f"{self.prefix}presence:{{{party_id}}}"


def _calls(
    present: Mapping[str, Collection[str]], left: Mapping[str, Collection[str]]
) -> Iterator[tuple[str, list[str], list[str]]]:
    """(party, present users, users who left) per script call, at most _USERS_PER_CALL each."""
    for party_id in present.keys() | left.keys():
        users = [*present.get(party_id, ()), *left.get(party_id, ())]
        here = len(present.get(party_id, ()))
        for start in range(0, max(len(users), 1), _USERS_PER_CALL):
            chunk = users[start : start + _USERS_PER_CALL]
            split = max(0, min(here - start, len(chunk)))
            yield party_id, chunk[:split], chunk[split:]
