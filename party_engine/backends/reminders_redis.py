"""The Redis reminder ledger: pe:reminded:{party}:{start} set once (SET NX) per reminder,
kept a week so that the ledger cleans itself up."""

from datetime import datetime, timedelta

import redis.asyncio as redis

from .store_redis import PREFIX

_KEPT = timedelta(days=7)


class RedisReminderLedger:
    def __init__(self, url: str) -> None:
        self.client: redis.Redis = redis.Redis.from_url(url, decode_responses=True)

    async def connect(self) -> None:
        await self.client.ping()

    async def close(self) -> None:
        await self.client.aclose()

    async def ping(self) -> None:
        await self.client.ping()

    async def claim(self, party_id: str, starts_at: datetime) -> bool:
        key = f"{PREFIX}reminded:{party_id}:{int(starts_at.timestamp())}"
        return bool(await self.client.set(key, "1", nx=True, ex=_KEPT))
