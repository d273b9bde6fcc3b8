"""What share and like events add to a party's counters, summed over a batch of events.

Per party: shares and likes. Per listing: shares and likes (top listings rank by their sum).
Per sharer: shares made (top sharers rank by it). Per seller: the host's picks of their
listings. A removed share takes back all it added (its likes included, and its pick), so
amounts may be negative; sums commute, so the order the events are counted in does not
matter. Summing a batch first turns a thousand events into a few dozen counter writes.
"""

from collections import Counter, defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field

from .events import DomainEvent, LikeCreated, ShareCreated, SharePicked, ShareRemoved, ShareUnpicked

Key = tuple[str, str]  # (party_id, listing_id or sharer_id)


@dataclass(slots=True)
class Tally:
    party_shares: Counter[str] = field(default_factory=Counter)
    party_likes: Counter[str] = field(default_factory=Counter)
    listing_shares: Counter[Key] = field(default_factory=Counter)
    listing_likes: Counter[Key] = field(default_factory=Counter)
    sharer_shares: Counter[Key] = field(default_factory=Counter)
    seller_picks: Counter[Key] = field(default_factory=Counter)

    def add(self, event: DomainEvent, sellers: Mapping[str, str]) -> None:
        """Count a share, a like, a pick or a removal; other events count nothing. `sellers`
        maps listing ids to sellers (a pick of a listing not in it counts for nobody)."""
        if isinstance(event, ShareCreated):
            self.party_shares[event.party_id] += 1
            self.listing_shares[event.party_id, event.listing_id] += 1
            self.sharer_shares[event.party_id, event.sharer_id] += 1
        elif isinstance(event, LikeCreated):
            self.party_likes[event.party_id] += 1
            self.listing_likes[event.party_id, event.listing_id] += 1
        elif isinstance(event, SharePicked | ShareUnpicked):
            seller = sellers.get(event.listing_id)
            if seller is not None:
                self.seller_picks[event.party_id, seller] += (
                    1 if isinstance(event, SharePicked) else -1
                )
        elif isinstance(event, ShareRemoved):
            party, listing = event.party_id, event.listing_id
            self.party_shares[party] -= 1
            self.party_likes[party] -= event.likes
            self.listing_shares[party, listing] -= 1
            self.listing_likes[party, listing] -= event.likes
            if event.sharer_id:
                self.sharer_shares[party, event.sharer_id] -= 1
            seller = sellers.get(listing)
            if event.picked and seller is not None:
                self.seller_picks[party, seller] -= 1

    def listing_scores(self) -> Counter[Key]:
        """What each listing gains on the top-listings board (shares + likes; may be
        negative)."""
        scores = Counter(self.listing_shares)
        scores.update(self.listing_likes)  # unlike `+`, keeps amounts at or below zero
        return scores

    def __bool__(self) -> bool:
        return bool(self.party_shares or self.party_likes or self.seller_picks)

    def by_party(self) -> dict[str, "Tally"]:
        """The same counts, split into one tally per party (every count is one party's)."""
        parts: defaultdict[str, Tally] = defaultdict(Tally)
        for party_id, amount in self.party_shares.items():
            parts[party_id].party_shares[party_id] += amount
        for party_id, amount in self.party_likes.items():
            parts[party_id].party_likes[party_id] += amount
        for key, amount in self.listing_shares.items():
            parts[key[0]].listing_shares[key] += amount
        for key, amount in self.listing_likes.items():
            parts[key[0]].listing_likes[key] += amount
        for key, amount in self.sharer_shares.items():
            parts[key[0]].sharer_shares[key] += amount
        for key, amount in self.seller_picks.items():
            parts[key[0]].seller_picks[key] += amount
        return dict(parts)


def picked_listings(events: list[DomainEvent]) -> set[str]:
    """The listings whose sellers a tally of these events needs to know."""
    return {
        event.listing_id
        for event in events
        if isinstance(event, SharePicked | ShareUnpicked)
        or (isinstance(event, ShareRemoved) and event.picked)
    }


def tally(events: list[DomainEvent], sellers: Mapping[str, str] | None = None) -> Tally:
    result = Tally()
    for event in events:
        result.add(event, sellers or {})
    return result
