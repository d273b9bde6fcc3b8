"""The embedded reminder ledger."""

from datetime import datetime

from .embedded import InProcess


class MemoryReminderLedger(InProcess):
    def __init__(self) -> None:
        self._claimed: set[tuple[str, datetime]] = set()

    async def claim(self, party_id: str, starts_at: datetime) -> bool:
        key = (party_id, starts_at)
        if key in self._claimed:
            return False
        self._claimed.add(key)
        return True
