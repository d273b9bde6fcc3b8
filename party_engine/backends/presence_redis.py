"""Presence on Redis, laid out for a Redis Cluster: every command touches one party's keys.

Keys of a party (the braces are a cluster hash tag: one party's keys share a slot):
  pe:presence:{id}          hash gateway id -> its count of the party's participants
  pe:presence:{id}:expiry   zset gateway id -> when that count expires (Redis time, ms)
Both keys expire with their last live count. Nothing is global: a gateway reports each of its
parties (and a 0 for each party it dropped since its last report), and totals are read party
by party; both are pipelined, one script call per party.
"""

from .redis_backend import RedisBackend

# Script calls per pipeline round trip: bounds the buffers on both sides for a big report.
_PIPELINE_CHUNK = 500

# Now in ms from Redis's clock, so that every gateway's expiries compare on one clock.
_NOW = """
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
"""

# KEYS: counts hash, expiry zset. ARGV: gateway id, count (0: the gateway left), ttl ms.
# Prunes dead gateways' counts, then lets the keys expire with the last live count.
_REPORT = (
    _NOW
    + """
for _, gateway in ipairs(redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now)) do
  redis.call('HDEL', KEYS[1], gateway)
end
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
if tonumber(ARGV[2]) > 0 then
  redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
  redis.call('ZADD', KEYS[2], now + tonumber(ARGV[3]), ARGV[1])
else
  redis.call('HDEL', KEYS[1], ARGV[1])
  redis.call('ZREM', KEYS[2], ARGV[1])
end
local last = redis.call('ZRANGE', KEYS[2], -1, -1, 'WITHSCORES')
if #last == 0 then
  redis.call('DEL', KEYS[1], KEYS[2])
else
  redis.call('PEXPIREAT', KEYS[1], last[2])
  redis.call('PEXPIREAT', KEYS[2], last[2])
end
return 1
"""
)

# KEYS: counts hash, expiry zset. The sum of the counts that have not expired (writes nothing).
_TOTAL = (
    _NOW
    + """
local total = 0
for _, gateway in ipairs(redis.call('ZRANGEBYSCORE', KEYS[2], '(' .. now, '+inf')) do
  total = total + tonumber(redis.call('HGET', KEYS[1], gateway) or '0')
end
return total
"""
)


class RedisPresence(RedisBackend):
    def __init__(self, url: str, *, prefix: str) -> None:
        super().__init__(url, prefix=prefix)
        self._report = self.client.register_script(_REPORT)
        self._total = self.client.register_script(_TOTAL)
        # gateway id -> the parties of its last report, to take back those it dropped
        self._reported: dict[str, set[str]] = {}

    async def report(self, gateway_id: str, counts: dict[str, int], ttl_seconds: float) -> None:
        live = {party_id for party_id, count in counts.items() if count > 0}
        previous = self._reported.get(gateway_id, set())
        # Until this report is through, what it drops may still count: take it back next time.
        self._reported[gateway_id] = previous | live
        ttl_ms = max(int(ttl_seconds * 1000), 1)
        entries = [(party_id, counts[party_id]) for party_id in live]
        entries += [(party_id, 0) for party_id in previous - live]
        for start in range(0, len(entries), _PIPELINE_CHUNK):
            async with self.client.pipeline(transaction=False) as pipe:
                for party_id, count in entries[start : start + _PIPELINE_CHUNK]:
                    await self._report(
                        keys=self._keys(party_id), args=[gateway_id, count, ttl_ms], client=pipe
                    )
                await pipe.execute()
        self._reported[gateway_id] = live

    async def totals(self, party_ids: list[str]) -> dict[str, int]:
        totals: dict[str, int] = {}
        for start in range(0, len(party_ids), _PIPELINE_CHUNK):
            chunk = party_ids[start : start + _PIPELINE_CHUNK]
            async with self.client.pipeline(transaction=False) as pipe:
                for party_id in chunk:
                    await self._total(keys=self._keys(party_id), client=pipe)
                replies = await pipe.execute()
            totals.update(zip(chunk, map(int, replies), strict=True))
        return totals

    def _keys(self, party_id: str) -> list[str]:
        counts = f"{self.prefix}presence:{{{party_id}}}"
        return [counts, f"{counts}:expiry"]
