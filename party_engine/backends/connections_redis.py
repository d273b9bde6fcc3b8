"""The connection registry on Redis, laid out for a Redis Cluster: users are spread over
redis_buckets.BUCKETS buckets, and a script call touches the keys of one bucket only.

One key per user, under the hash tag of the user's bucket (B below, e.g. {connections-07}):
  pe:connections:B:{id}   zset connection id -> when it expires unless renewed (Redis time, ms)
Registering and renewing are one script call per bucket the users fall in (one more per
_USERS_PER_CALL of them), pipelined on one server: a gateway renewing a few hundred users a
second makes a few calls, not one per user. Unregistering is a pipeline of ZREMs. Each key
expires with its last connection.
"""

from collections.abc import Collection, Iterable, Mapping, Sequence

from .expiring_zsets import PRELUDE
from .redis_backend import RedisBackend, ScriptCall, run_script
from .redis_buckets import bucket_tag, by_bucket_tag

_BUCKET = "connections"
# Users per script call (each brings a handful of connection ids), so that no call holds
# Redis for long; and script calls per pipeline round trip.
_USERS_PER_CALL = 500
_PIPELINE_CHUNK = 50

# KEYS: users' zsets (of one bucket). ARGV: limit, ttl ms, then per connection in order: the
# index of its user's key, its id. Per connection: 1 when counted, 0 when its user was full.
_REGISTER = (
    PRELUDE
    + """
local limit = tonumber(ARGV[1])
local expires = now + tonumber(ARGV[2])
local counted = {}
for k = 1, #KEYS do
  redis.call('ZREMRANGEBYSCORE', KEYS[k], '-inf', now)
end
for i = 3, #ARGV, 2 do
  local key = KEYS[tonumber(ARGV[i])]
  local id = ARGV[i + 1]
  if redis.call('ZSCORE', key, id) or redis.call('ZCARD', key) < limit then
    redis.call('ZADD', key, expires, id)
    counted[#counted + 1] = 1
  else
    counted[#counted + 1] = 0
  end
end
for k = 1, #KEYS do
  expire_with_last(KEYS[k])
end
return counted
"""
)

# KEYS: users' zsets (of one bucket). ARGV: ttl ms, then per key: its count of connection ids
# (a handful: the limit's worth), the ids.
_RENEW = (
    PRELUDE
    + """
local expires = now + tonumber(ARGV[1])
local i = 2
for k = 1, #KEYS do
  local n = tonumber(ARGV[i])
  local args = {KEYS[k], 'GT'}
  for j = i + 1, i + n do
    args[#args + 1] = expires
    args[#args + 1] = ARGV[j]
  end
  i = i + n + 1
  redis.call('ZADD', unpack(args))
  redis.call('ZREMRANGEBYSCORE', KEYS[k], '-inf', now)
  expire_with_last(KEYS[k])
end
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
        by_user: dict[str, list[int]] = {}  # user -> indexes of their connections, in order
        for index, (user_id, _) in enumerate(connections):
            by_user.setdefault(user_id, []).append(index)
        calls: list[ScriptCall] = []
        order: list[int] = []  # the connections' indexes in the order of the calls' replies
        for users in _per_call(by_user):
            args: list[str | int] = [limit, _ms(ttl_seconds)]
            for number, user_id in enumerate(users, start=1):
                for index in by_user[user_id]:
                    args += [number, connections[index][1]]
                    order.append(index)
            calls.append(([self._key(user_id) for user_id in users], args))
        replies = await run_script(self.client, self._register, calls, chunk=_PIPELINE_CHUNK)
        counted = [False] * len(connections)
        for index, reply in zip(order, (r for call in replies for r in call), strict=True):
            counted[index] = bool(reply)
        return counted

    async def renew(
        self, connections: Mapping[str, Collection[str]], *, ttl_seconds: float
    ) -> None:
        calls: list[ScriptCall] = []
        for users in _per_call(user_id for user_id, ids in connections.items() if ids):
            args: list[str | int] = [_ms(ttl_seconds)]
            for user_id in users:
                args += [len(connections[user_id]), *connections[user_id]]
            calls.append(([self._key(user_id) for user_id in users], args))
        await run_script(self.client, self._renew, calls, chunk=_PIPELINE_CHUNK)

    async def unregister(self, connections: Sequence[tuple[str, str]]) -> None:
        if not connections:
            return
        async with self.client.pipeline(transaction=False) as pipe:
            for user_id, connection_id in connections:
                pipe.zrem(self._key(user_id), connection_id)
            await pipe.execute()

    def _key(self, user_id: str) -> str:
        return f"{self.prefix}connections:{bucket_tag(_BUCKET, user_id)}:{user_id}"


def _per_call(user_ids: Iterable[str]) -> list[list[str]]:
    """The users, by bucket, at most _USERS_PER_CALL per call."""
    return [
        users[start : start + _USERS_PER_CALL]
        for users in by_bucket_tag(_BUCKET, user_ids).values()
        for start in range(0, len(users), _USERS_PER_CALL)
    ]


def _ms(seconds: float) -> int:
    return max(int(seconds * 1000), 1)
