"""What the broker tests share: a handler that records deliveries and can be awaited."""

import asyncio

from party_engine.ports import Publication


class Deliveries:
    """Records what a broker hands its handler; `wait_for` returns once a condition holds."""

    def __init__(self) -> None:
        self.publications: list[Publication] = []
        self.broadcasts: list[tuple[str, bytes]] = []
        self.new_epochs: list[str] = []
        self._changed = asyncio.Event()

    def on_publication(self, publication: Publication) -> None:
        self.publications.append(publication)
        self._changed.set()

    def on_broadcast(self, party_id: str, frame: bytes) -> None:
        self.broadcasts.append((party_id, frame))
        self._changed.set()

    def on_new_epoch(self, party_id: str) -> None:
        self.new_epochs.append(party_id)

    def offsets(self, party_id: str) -> list[int]:
        return [p.offset for p in self.publications if p.party_id == party_id]

    async def wait_for(self, condition, within: float = 10.0) -> None:
        async with asyncio.timeout(within):
            while not condition():
                self._changed.clear()
                await self._changed.wait()


async def eventually(probe, within: float = 10.0, interval: float = 0.02):
    """Poll an async probe until it returns a truthy value (for state with no event to await)."""
    # Redis expiry sends no event, so this polls (under a deadline) instead of awaiting one.
    async with asyncio.timeout(within):
        while True:
            if result := await probe():
                return result
            await asyncio.sleep(interval)
