"""Counters and leaderboards: every share and like adds to its party's counters once."""

from party_engine.backends.queue_topology import COUNTERS
from party_engine.domain.events import DomainEvent
from party_engine.domain.tallies import tally
from party_engine.ports import Ledger

from .idempotency import claim_batch


class CountersHandler:
    queue = COUNTERS

    def __init__(self, ledger: Ledger, lock_seconds: float) -> None:
        self._ledger = ledger
        self._lock_seconds = lock_seconds

    async def __call__(self, events: list[DomainEvent]) -> set[str]:
        claimed = await claim_batch(self._ledger, self.queue, events, self._lock_seconds)
        if claimed.fresh:
            ids = [event.id for event in claimed.fresh]
            try:
                # One atomic write: the counters and the done-marks land together or not at all.
                await self._ledger.commit_tally(self.queue, ids, tally(claimed.fresh))
            except Exception:
                await self._ledger.release(self.queue, ids)
                raise
        return claimed.busy
