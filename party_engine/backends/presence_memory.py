"""The embedded presence: every gateway's latest report, in process."""

import time

from .embedded import InProcess


class MemoryPresence(InProcess):
    def __init__(self) -> None:
        # gateway id -> (counts, monotonic expiry)
        self._reports: dict[str, tuple[dict[str, int], float]] = {}

    async def report(self, gateway_id: str, counts: dict[str, int], ttl_seconds: float) -> None:
        self._reports[gateway_id] = (dict(counts), time.monotonic() + ttl_seconds)

    async def totals(self, party_ids: list[str]) -> dict[str, int]:
        now = time.monotonic()
        for gateway_id in [g for g, (_, expiry) in self._reports.items() if expiry <= now]:
            del self._reports[gateway_id]
        return {
            party_id: sum(counts.get(party_id, 0) for counts, _ in self._reports.values())
            for party_id in party_ids
        }
