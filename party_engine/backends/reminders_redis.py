"""The Redis reminder ledger: pe:reminded:{party}:{start} set once (SET NX) per reminder,
kept a week so that the ledger cleans itself up."""

from datetime import datetime, timedelta

from .redis_backend import RedisBackend

_KEPT = timedelta(days=7)


class RedisReminderLedger(RedisBackend):
    async def claim(self, party_id: str, starts_at: datetime) -> bool:
        key = f"{self.prefix}reminded:{party_id}:{int(starts_at.timestamp())}"
        return bool(await self.client.set(key, "1", nx=True, ex=_KEPT))
