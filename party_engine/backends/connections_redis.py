"""The connection registry on Redis, laid out for a Redis Cluster: every command touches one
user's key.

One key per user (the braces are a cluster hash tag, so the key's slot is the user's):
  pe:connections:{id}   zset connection id -> when it expires unless renewed (Redis time, ms)
Registering is one script call per connection (prune the expired, count, add), renewing one
per user, each pipelined; the key expires with its last connection.
"""

from collections.abc import Collection, Mapping, Sequence

from .redis_backend import RedisBackend, ScriptCall, run_script

# Script calls per pipeline round trip: bounds the buffers on both sides for a big renewal.
_PIPELINE_CHUNK = 500

# Now in ms from Redis's clock, so that every gateway's expiries compare on one clock.
_NOW = """
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
"""

_EXPIRE_WITH_LAST = """
local last = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
if #last > 0 then
  redis.call('PEXPIREAT', KEYS[1], last[2])
end
"""

# KEYS: the user's zset. ARGV: connection id, limit, ttl ms. 1 when counted, 0 when full.
_REGISTER = (
    _NOW
    + """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if not redis.call('ZSCORE', KEYS[1], ARGV[1])
    and redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then
  return 0
end
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[3]), ARGV[1])
"""
    + _EXPIRE_WITH_LAST
    + """
return 1
"""
)

# KEYS: the user's zset. ARGV: ttl ms, then the connection ids (a handful: the limit's worth).
_RENEW = (
    _NOW
    + """
local args = {KEYS[1], 'GT'}
for i = 2, #ARGV do
  args[#args + 1] = now + tonumber(ARGV[1])
  args[#args + 1] = ARGV[i]
end
redis.call('ZADD', unpack(args))
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
"""
    + _EXPIRE_WITH_LAST
    + """
return 1
"""
)


class RedisConnectionRegistry(RedisBackend):
    def __init__(self, url: str, *, prefix: str) -> None:
        super().__init__(url, prefix=prefix)
        self._register = self.client.register_script(_REGISTER)
        self._renew = self.client.register_script(_RENEW)

    async def register(
        self, connections: Sequence[tuple[str, str]], *, limit: int, ttl_seconds: float
    ) -> list[bool]:
        calls: list[ScriptCall] = [
            ([self._key(user_id)], [connection_id, limit, _ms(ttl_seconds)])
            for user_id, connection_id in connections
        ]
        counted = await run_script(self.client, self._register, calls, chunk=_PIPELINE_CHUNK)
        return [bool(reply) for reply in counted]

    async def renew(
        self, connections: Mapping[str, Collection[str]], *, ttl_seconds: float
    ) -> None:
        calls: list[ScriptCall] = [
            ([self._key(user_id)], [_ms(ttl_seconds), *ids])
            for user_id, ids in connections.items()
            if ids
        ]
        await run_script(self.client, self._renew, calls, chunk=_PIPELINE_CHUNK)

    async def unregister(self, user_id: str, connection_id: str) -> None:
        await self.client.zrem(self._key(user_id), connection_id)

    def _key(self, user_id: str) -> str:
        return f"{self.prefix}connections:{{{user_id}}}"


def _ms(seconds: float) -> int:
    return max(int(seconds * 1000), 1)
