"""Counters and leaderboards: every share, like, pick and removal counts once (a removal
takes back what its share added)."""

from party_engine.backends.queue_topology import COUNTERS
from party_engine.domain.events import DomainEvent
from party_engine.domain.tallies import picked_listings, tally
from party_engine.ports import EventRef, Ledger, ListingStore

from .idempotency import claim_batch


class CountersHandler:
    queue = COUNTERS

    def __init__(self, ledger: Ledger, listings: ListingStore, lock_seconds: float) -> None:
        self._ledger = ledger
        self._listings = listings
        self._lock_seconds = lock_seconds

    async def __call__(self, events: list[DomainEvent]) -> set[str]:
        claimed = await claim_batch(self._ledger, self.queue, events, self._lock_seconds)
        if claimed.fresh:
            refs = [EventRef.of(event) for event in claimed.fresh]
            try:
                sellers = await self._sellers(picked_listings(claimed.fresh))
                # One atomic write per party: its counters and done-marks land together or not.
                await self._ledger.commit_tally(self.queue, refs, tally(claimed.fresh, sellers))
            except Exception:
                await self._ledger.release(self.queue, refs)
                raise
        return claimed.busy

    async def _sellers(self, listing_ids: set[str]) -> dict[str, str]:
        """Picks count per seller; a listing deleted meanwhile counts for nobody."""
        sellers = {}
        for listing_id in listing_ids:
            listing = await self._listings.get_listing(listing_id)
            if listing is not None:
                sellers[listing_id] = listing.seller_id
        return sellers
