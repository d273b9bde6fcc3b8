"""The per-user share limit (PARTY_SHARE_RATE_LIMIT, e.g. "20/10 seconds"), through `limits`:
a moving window in process when embedded, in Redis (shared by every gateway) otherwise."""

import time

from limits import parse
from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from limits.aio.strategies import MovingWindowRateLimiter

from ..config import is_embedded


class ShareLimiter:
    def __init__(self, redis_url: str, rate: str, *, prefix: str) -> None:
        self._limit = parse(rate)
        self._storage: Storage = (
            MemoryStorage()
            if is_embedded(redis_url)
            else RedisStorage(
                "async+" + redis_url, implementation="redispy", key_prefix=f"{prefix}limits"
            )
        )
        self._limiter = MovingWindowRateLimiter(self._storage)

    async def hit(self, user_id: str) -> int | None:
        """Count one share; None when allowed, else milliseconds until one is allowed again."""
        if await self._limiter.hit(self._limit, "share", user_id):
            return None
        stats = await self._limiter.get_window_stats(self._limit, "share", user_id)
        return max(1, int((stats.reset_time - time.time()) * 1000))
