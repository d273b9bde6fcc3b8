"""The embedded reminder ledger."""

from datetime import datetime


class MemoryReminderLedger:
    def __init__(self) -> None:
        self._claimed: set[tuple[str, datetime]] = set()

    async def connect(self) -> None:
        pass

    async def close(self) -> None:
        pass

    async def ping(self) -> None:
        pass

    async def claim(self, party_id: str, starts_at: datetime) -> bool:
        key = (party_id, starts_at)
        if key in self._claimed:
            return False
        self._claimed.add(key)
        return True
