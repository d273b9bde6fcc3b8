"""The per-user share limit (PARTY_SHARE_RATE_LIMIT, e.g. "20/10 seconds"), through `limits`:
a moving window in the storage the engine opened (backends/rate_limits.py): in process when
embedded, in Redis (shared by every gateway) otherwise."""

import time

from limits import parse
from limits.aio.storage import Storage
from limits.aio.strategies import MovingWindowRateLimiter


class ShareLimiter:
    def __init__(self, storage: Storage, rate: str) -> None:
        self._limit = parse(rate)
        self._limiter = MovingWindowRateLimiter(storage)

    async def hit(self, user_id: str) -> int | None:
        """Count one share; None when allowed, else milliseconds until one is allowed again."""
        if await self._limiter.hit(self._limit, "share", user_id):
            return None
        stats = await self._limiter.get_window_stats(self._limit, "share", user_id)
        return max(1, int((stats.reset_time - time.time()) * 1000))
