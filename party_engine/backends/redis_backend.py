"""What every Redis-backed port shares: how its client is made, and its lifecycle."""

from collections.abc import Mapping
from typing import cast

import redis.asyncio as redis
from redis.typing import EncodableT, FieldT

# Connections one port's pool may open. A join storm asks for far more at once than Redis
# needs to serve them; past this many, callers queue for a free connection instead of
# failing (redis-py's default pool raises "Too many connections" at 100).
POOL_SIZE = 32
# How long a caller may queue for a connection before its request fails as unavailable.
POOL_TIMEOUT_SECONDS = 5.0


def redis_client(url: str, *, decode_responses: bool) -> redis.Redis:
    pool = redis.BlockingConnectionPool.from_url(
        url,
        max_connections=POOL_SIZE,
        timeout=POOL_TIMEOUT_SECONDS,
        decode_responses=decode_responses,
    )
    return redis.Redis.from_pool(pool)


def decoded_hash(reply: dict[bytes | str, bytes | str]) -> dict[str, str]:
    """An HGETALL reply from a RedisBackend client: redis-py types it as bytes | str whatever the
    client, but decode_responses=True makes every field and value a str. Checks nothing."""
    return cast(dict[str, str], reply)


def hash_mapping(fields: dict[str, str]) -> Mapping[FieldT, EncodableT]:
    """str fields as HSET's mapping, which redis-py types with an invariant key type that a
    dict[str, str] does not match. Checks nothing."""
    return cast(Mapping[FieldT, EncodableT], fields)


class RedisBackend:
    """A port on one client whose replies are decoded to str, its keys under `prefix`."""

    def __init__(self, url: str, *, prefix: str) -> None:
        self.client: redis.Redis = redis_client(url, decode_responses=True)
        self.prefix = prefix  # in front of every key (PARTY_REDIS_PREFIX)

    async def connect(self) -> None:
        await self.client.ping()

    async def close(self) -> None:
        await self.client.aclose()

    async def ping(self) -> None:
        await self.client.ping()
