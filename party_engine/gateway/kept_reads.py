"""Reads a gateway keeps between shares, so that a share costs one Redis call, not three.

Every share and like checks its party (live? its theme) and every share its listing. Under
load that was a party read and a listing read per share, each a Redis round trip from the
gateway's event loop. Here:

- a listing, once found, is kept (listings are never changed nor deleted), up to a bound in
  number, the least recently used going first; a missing one is read again each time (it may
  be created meanwhile);
- a party read is kept for at most `keep_seconds`, and forgotten at once when this gateway
  hears that the party changed state (its broadcast, which reaches the gateway before it
  reaches the gateway's clients). So a share is refused with party_not_live as soon as any
  client here could know the party ended; a broadcast lost with the process that saved the
  change leaves the kept read stale for at most `keep_seconds`;
- the gateway's state repair reads every party it has members in (one round trip) and keeps
  what it read (`refresh`), so with `keep_seconds` longer than the repair's period a share
  into a party with members here never waits on a read (200 quiet parties sharing 250 times
  a second made a read of most shares when parties were kept for one second).
"""

import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable

from ..domain.listings import Listing
from ..domain.parties import Party


class KeptListings:
    def __init__(self, read: Callable[[str], Awaitable[Listing | None]], size: int) -> None:
        self._read = read
        self._size = size
        self._kept: OrderedDict[str, Listing] = OrderedDict()

    async def get(self, listing_id: str) -> Listing | None:
        listing = self._kept.get(listing_id)
        if listing is not None:
            self._kept.move_to_end(listing_id)
            return listing
        listing = await self._read(listing_id)
        if listing is not None:
            self._kept[listing_id] = listing
            if len(self._kept) > self._size:
                self._kept.popitem(last=False)
        return listing


class KeptParties:
    def __init__(
        self,
        read: Callable[[str], Awaitable[Party | None]],
        read_many: Callable[[list[str]], Awaitable[dict[str, Party]]],
        keep_seconds: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._read = read
        self._read_many = read_many
        self._keep = keep_seconds
        self._clock = clock
        self._kept: dict[str, tuple[Party, float]] = {}  # party id -> (party, read when)
        # party id -> changes heard (a few per party: its state changes)
        self._generation: dict[str, int] = {}
        self._next_drop = float("-inf")  # when expired parties are next looked for

    async def get(self, party_id: str) -> Party | None:
        kept = self._kept.get(party_id)
        if kept is not None and self._clock() - kept[1] < self._keep:
            return kept[0]
        generation = self._generation.get(party_id, 0)
        began = self._clock()
        party = await self._read(party_id)
        if party is not None:
            self._keep_read(party, generation, began)
        return party

    async def refresh(self, party_ids: list[str]) -> dict[str, Party]:
        """Read the parties now, in one round trip, and keep what was read (those that
        exist)."""
        generations = {party_id: self._generation.get(party_id, 0) for party_id in party_ids}
        began = self._clock()
        parties = await self._read_many(party_ids)
        for party_id, party in parties.items():
            self._keep_read(party, generations[party_id], began)
        return parties

    def _keep_read(self, party: Party, generation: int, began: float) -> None:
        # A change heard while the read was on its way may be newer than what it read.
        if self._generation.get(party.id, 0) == generation:
            self._drop_expired()
            self._kept[party.id] = (party, began)

    def changed(self, party_id: str) -> None:
        """The party changed: the next get reads it again."""
        self._kept.pop(party_id, None)
        self._generation[party_id] = self._generation.get(party_id, 0) + 1

    def _drop_expired(self) -> None:
        # A pass over the kept parties at most once per keep_seconds keeps parties that ended
        # from piling up (one per read made the state repair's reads of 200 parties 40,000
        # steps).
        now = self._clock()
        if now < self._next_drop:
            return
        self._next_drop = now + self._keep
        for party_id in [p for p, (_, at) in self._kept.items() if now - at >= self._keep]:
            del self._kept[party_id]
