"""What every Redis-backed port shares: one client (replies decoded to str) and its lifecycle."""

import redis.asyncio as redis


class RedisBackend:
    def __init__(self, url: str) -> None:
        self.client: redis.Redis = redis.Redis.from_url(url, decode_responses=True)

    async def connect(self) -> None:
        await self.client.ping()

    async def close(self) -> None:
        await self.client.aclose()

    async def ping(self) -> None:
        await self.client.ping()
