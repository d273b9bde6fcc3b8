"""Each theme's join ratio (followers notified -> joined) observed in the archive, for the
capacity forecast (capacity.JoinRatios).

A theme's ratio is the users who joined its latest `HISTORY` ended parties at or after their
start push, over the followers those pushes notified (summed, so a big party weighs more than a
small one), from each party's final report (archive/reports.py: computed and kept the first
time it is needed). A theme none of whose parties has a final report with a start push that
notified someone gets the documented prior (domain.forecast.PRIOR_JOIN_RATIO). A ratio is kept
for `TTL` in the process: the scheduler asks every minute and GET /capacity on each request.

The store lists a theme's ended parties oldest first, so finding the latest reads every one of
them (pages of 100 ids, at most MAX_SCANNED parties); fine for thousands of parties per theme,
not for millions."""

import heapq
from datetime import datetime, timedelta

from ..clock import Clock
from ..domain.forecast import PRIOR_JOIN_RATIO
from ..domain.parties import Party, PartyState
from ..domain.themes import Theme
from ..ports import PartyQuery, Store
from .reports import PartyReports

HISTORY = 10
TTL = timedelta(minutes=10)
MAX_SCANNED = 10_000
_PAGE = 100


class ArchiveJoinRatios:
    def __init__(
        self,
        store: Store,
        reports: PartyReports,
        clock: Clock,
        *,
        prior: float = PRIOR_JOIN_RATIO,
        history: int = HISTORY,
        ttl: timedelta = TTL,
    ) -> None:
        self._store = store
        self._reports = reports
        self._clock = clock
        self._prior = prior
        self._history = history
        self._ttl = ttl
        self._known: dict[str, tuple[float, datetime]] = {}

    async def ratio(self, theme: Theme) -> float:
        now = self._clock.now()
        known = self._known.get(theme.key)
        if known is not None and now < known[1]:
            return known[0]
        joined = notified = 0
        for party in await self._latest_ended(theme):
            conversion = await self._reports.conversion(party)
            if conversion is not None:
                joined += conversion[0]
                notified += conversion[1]
        ratio = joined / notified if notified else self._prior
        self._known[theme.key] = (ratio, now + self._ttl)
        return ratio

    async def _latest_ended(self, theme: Theme) -> list[Party]:
        latest: list[tuple[datetime, str, Party]] = []
        cursor: str | None = None
        for _ in range(MAX_SCANNED // _PAGE):
            page = await self._store.list_parties(
                PartyQuery(state=PartyState.ENDED, theme=theme, limit=_PAGE, cursor=cursor)
            )
            for party in page.items:
                if party.ended_at is None:
                    continue
                entry = (party.ended_at, party.id, party)
                if len(latest) < self._history:
                    heapq.heappush(latest, entry)
                else:
                    heapq.heappushpop(latest, entry)
            if page.next_cursor is None:
                break
            cursor = page.next_cursor
        return [party for _, _, party in latest]
