"""The capacity forecast from the schedule: which parties will bring how many people when.

`CapacityForecaster.forecast(hours)` reads the live parties and the scheduled ones starting
within the window (the store's state indexes, soonest first, at most `MAX_PARTIES`), the
followers of each theme (once per theme), and each theme's join ratio from a `JoinRatios`
source, and hands them to `domain.forecast`. `publish_gauges()` sets the
`party_forecast_*{horizon}` gauges; the scheduler role runs it every `FORECAST_SECONDS`.
"""

import asyncio
import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from . import metrics
from .clock import Clock
from .domain.forecast import (
    BUCKET,
    PRIOR_JOIN_RATIO,
    Bucket,
    PlannedParty,
    forecast,
    peak_within,
)
from .domain.parties import Party, PartyState
from .domain.themes import Theme
from .ports import PartyQuery, Store

# A forecast reads at most this many parties (live first, then scheduled by start).
MAX_PARTIES = 500
_PAGE = 100
FORECAST_SECONDS = 60.0
# The gauges' horizons: each is the peak within that much time from now.
HORIZONS = {"15m": timedelta(minutes=15), "30m": timedelta(minutes=30), "60m": timedelta(hours=1)}


class JoinRatios(Protocol):
    """Where the share of a theme's followers who join its party comes from."""

    async def ratio(self, theme: Theme) -> float: ...


class PriorJoinRatios:
    """The same documented prior for every theme, until an archive observes ratios per theme."""

    def __init__(self, ratio: float = PRIOR_JOIN_RATIO) -> None:
        self._ratio = ratio

    async def ratio(self, theme: Theme) -> float:
        return self._ratio


@dataclass(frozen=True, slots=True)
class Forecast:
    buckets: list[Bucket]
    # False when more than MAX_PARTIES parties fell in the window (the rest are left out).
    complete: bool


class CapacityForecaster:
    def __init__(self, store: Store, ratios: JoinRatios, clock: Clock) -> None:
        self._store = store
        self._ratios = ratios
        self._clock = clock

    async def forecast(self, hours: float) -> Forecast:
        now = self._clock.now()
        start = now.replace(second=0, microsecond=0)
        window = timedelta(hours=hours)
        parties, complete = await self._parties(start + window)
        planned = await self._planned(parties)
        # Off the event loop: 48 hours of 500 six-hour parties take ~0.15 s to compute.
        buckets = await asyncio.to_thread(forecast, planned, start, math.ceil(window / BUCKET))
        return Forecast(buckets, complete)

    async def publish_gauges(self) -> None:
        longest = max(HORIZONS.values())
        buckets = (await self.forecast(longest / timedelta(hours=1))).buckets
        for name, horizon in HORIZONS.items():
            connections, joins = peak_within(buckets, horizon)
            metrics.FORECAST_CONNECTIONS.labels(horizon=name).set(connections)
            metrics.FORECAST_JOINS_PER_SECOND.labels(horizon=name).set(joins)

    async def _parties(self, until: datetime) -> tuple[list[Party], bool]:
        found: list[Party] = []
        for state in (PartyState.LIVE, PartyState.SCHEDULED):
            cursor: str | None = None
            while True:
                page = await self._store.list_parties(
                    PartyQuery(state=state, limit=_PAGE, cursor=cursor)
                )
                # Scheduled parties come soonest first: stop at the first past the window.
                within = [p for p in page.items if state is PartyState.LIVE or p.starts_at < until]
                found.extend(within)
                if len(found) > MAX_PARTIES:
                    return found[:MAX_PARTIES], False
                if page.next_cursor is None or len(within) < len(page.items):
                    break
                cursor = page.next_cursor
        return found, True

    async def _planned(self, parties: list[Party]) -> list[PlannedParty]:
        followers: dict[str, int] = {}
        planned = []
        for party in parties:
            key = party.theme.key
            if key not in followers:
                followers[key] = len(await self._store.followers(party.theme))
            planned.append(
                PlannedParty(
                    id=party.id,
                    title=party.title,
                    opens_at=party.started_at or party.starts_at,
                    ends_at=party.ends_at,
                    expected_joiners=followers[key] * await self._ratios.ratio(party.theme),
                )
            )
        return planned
