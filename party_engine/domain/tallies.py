"""What share and like events add to a party's counters, summed over a batch of events.

Per party: shares and likes. Per listing: shares and likes (top listings rank by their sum).
Per sharer: shares made (top sharers rank by it). Summing a batch first turns a thousand
events into a few dozen counter writes.
"""

from collections import Counter
from dataclasses import dataclass, field

from .events import DomainEvent, LikeCreated, ShareCreated

Key = tuple[str, str]  # (party_id, listing_id or sharer_id)


@dataclass(slots=True)
class Tally:
    party_shares: Counter[str] = field(default_factory=Counter)
    party_likes: Counter[str] = field(default_factory=Counter)
    listing_shares: Counter[Key] = field(default_factory=Counter)
    listing_likes: Counter[Key] = field(default_factory=Counter)
    sharer_shares: Counter[Key] = field(default_factory=Counter)

    def add(self, event: DomainEvent) -> None:
        """Count a share or a like; other events count nothing."""
        if isinstance(event, ShareCreated):
            self.party_shares[event.party_id] += 1
            self.listing_shares[event.party_id, event.listing_id] += 1
            self.sharer_shares[event.party_id, event.sharer_id] += 1
        elif isinstance(event, LikeCreated):
            self.party_likes[event.party_id] += 1
            self.listing_likes[event.party_id, event.listing_id] += 1

    def listing_scores(self) -> Counter[Key]:
        """What each listing gains on the top-listings board (shares + likes)."""
        return self.listing_shares + self.listing_likes

    def __bool__(self) -> bool:
        return bool(self.party_shares or self.party_likes)


def tally(events: list[DomainEvent]) -> Tally:
    result = Tally()
    for event in events:
        result.add(event)
    return result
