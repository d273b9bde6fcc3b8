"""The share limits' storage (the `limits` library's) as a backend: a moving window in
process when embedded, in Redis (shared by every gateway) otherwise.

`limits` has no close for its Redis storage (its `reset` deletes the counters), so the Redis
one is built on a connection pool this backend owns (the storage's documented
`connection_pool` option), and closing the backend closes that pool."""

from typing import TYPE_CHECKING, Any, Protocol

from limits.aio.storage import MemoryStorage, RedisClusterStorage, RedisStorage, Storage

from ..ports import Backend
from .embedded import InProcess

if TYPE_CHECKING:
    pass


class RateLimits(Backend, Protocol):
    """Where the share limiter keeps its windows."""

    storage: Storage


class MemoryRateLimits(InProcess):
    def __init__(self) -> None:
        self.storage: Storage = MemoryStorage()


class RedisRateLimits:
    """On one server, the storage runs on a pool this backend owns. On a cluster, `limits`
    builds its own cluster client (it takes no client or pool for one), and closing the
    backend closes that client (the storage's bridge holds it)."""

    def __init__(self, url: str, *, prefix: str) -> None:
        from .redis_backend import is_cluster

        key_prefix = f"{prefix}limits"
        if is_cluster(url):
            self._cluster = RedisClusterStorage(
                "async+" + url, implementation="redispy", key_prefix=key_prefix
            )
            self.storage: Storage = self._cluster
            self._client = self._cluster.bridge.storage  # type: ignore[attr-defined]  # redispy's
            return
        import redis.asyncio as redis

        self._client = redis.Redis.from_url(url)
        # `limits` types its options as scalars; a connection pool is one it documents.
        options: dict[str, Any] = {"connection_pool": self._client.connection_pool}
        self.storage = RedisStorage(
            "async+" + url, implementation="redispy", key_prefix=key_prefix, **options
        )

    async def connect(self) -> None:
        from .redis_backend import warm_up

        await warm_up(self._client)

    async def close(self) -> None:
        await self._client.aclose()  # and its pool, which the storage's client shares

    async def ping(self) -> None:
        await self._client.ping()
