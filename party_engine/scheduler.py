"""The party clock: starts parties at starts_at, ends them at ends_at, sends reminders.

Every replica runs the loop; only the holder of the Redis lease acts. Each tick (a short poll,
`tick_seconds`) the leader asks the store for due parties and applies `lifecycle.advance`,
which re-reads the party and saves conditionally on its version: a replica that lost the lease
without noticing yet cannot apply a transition twice, and a transition already applied (by a
host or another replica) is simply skipped. Catch-up after downtime comes for free: a party
whose start passed is still due; one whose whole slot passed expires straight to ended.

The lease is renewed by its own loop, several times per TTL, whatever the tick is doing; the
tick acts only while the last renewal is recent enough that the lease still has a margin to
run, and checks again before each party. Nothing in the tick waits on a push: transitions and
reminders become events, and a worker pushes (workers/party_push.py). A leader that dies
between saving a transition and handing its event over is covered by the re-announce loop:
every few seconds the leader publishes again the transitions of the last minute (ids derive
from the transition, so workers deduplicate).
"""

import logging
import time
from collections.abc import Callable
from datetime import datetime, timedelta

from . import metrics
from .announcer import PartyAnnouncer
from .capacity import FORECAST_SECONDS, CapacityForecaster
from .clock import Clock
from .domain.errors import Conflict, InvalidTransition, NotFound
from .domain.parties import Party, PartyState
from .lifecycle import PartyLifecycle
from .periodic import Periodic
from .ports import Lease, PartyStore, ReminderLedger

log = logging.getLogger(__name__)

DEFAULT_TICK_SECONDS = 0.25
# How many due parties one tick handles; the rest wait for the next tick.
_BATCH = 200
# The lease is renewed this many times per TTL; the clock acts only while its last renewal
# leaves at least half the TTL to run.
_RENEWALS_PER_TTL = 5
_MARGIN_OF_TTL = 0.5
# Transitions changed within the window are published again every REANNOUNCE_SECONDS.
REANNOUNCE_SECONDS = 5.0
REANNOUNCE_WINDOW = timedelta(minutes=1)
_REANNOUNCE_BATCH = 1000


class Scheduler:
    def __init__(
        self,
        *,
        store: PartyStore,
        lifecycle: PartyLifecycle,
        announcer: PartyAnnouncer,
        lease: Lease,
        reminders: ReminderLedger,
        clock: Clock,
        reminder_minutes: int,
        lease_seconds: float,
        tick_seconds: float = DEFAULT_TICK_SECONDS,
        forecaster: CapacityForecaster | None = None,
    ) -> None:
        self._store = store
        self._lifecycle = lifecycle
        self._announcer = announcer
        self._lease = lease
        self._reminders = reminders
        self._clock = clock
        self._reminder_window = timedelta(minutes=reminder_minutes)
        self._lease_seconds = lease_seconds
        self._held_until = 0.0  # monotonic: when the lease, as last renewed, runs out
        self._loops: tuple[Periodic, ...] = (
            Periodic(
                "party-clock-lease",
                lease_seconds / _RENEWALS_PER_TTL,
                self._renew_lease,
                log=log,
                failure="party clock lease renewal failed",
            ),
            Periodic(
                "party-clock",
                tick_seconds,
                self._tick_if_leading,
                log=log,
                failure="party clock tick failed; trying again next tick",
            ),
            Periodic(
                "party-clock-reannounce",
                REANNOUNCE_SECONDS,
                self._reannounce_if_leading,
                log=log,
                failure="re-announcing recent party transitions failed",
            ),
        )
        if forecaster is not None:
            # Every replica, leading or not: it only reads, and a standby's gauges stay warm.
            self._loops += (
                Periodic(
                    "capacity-forecast",
                    FORECAST_SECONDS,
                    forecaster.publish_gauges,
                    log=log,
                    failure="capacity forecast failed; trying again next minute",
                ),
            )
        # Reminders this replica already judged, so a tick does not re-claim them in Redis.
        self._reminded: set[tuple[str, datetime]] = set()

    async def start(self) -> None:
        for loop in self._loops:
            loop.start()

    async def stop(self) -> None:
        # The engine then closes the lease, which releases it: another replica takes over.
        for loop in reversed(self._loops):
            await loop.stop()
        self._held_until = 0.0

    @property
    def leading(self) -> bool:
        """Whether the lease is known held with a margin (half its TTL) still to run."""
        margin = self._lease_seconds * _MARGIN_OF_TTL
        return time.monotonic() < self._held_until - margin

    async def _renew_lease(self) -> None:
        asked = time.monotonic()
        held = await self._lease.hold()
        self._held_until = asked + self._lease_seconds if held else 0.0

    async def _tick_if_leading(self) -> None:
        if self.leading:
            await self.tick(lambda: self.leading)

    async def _reannounce_if_leading(self) -> None:
        if self.leading:
            await self.reannounce()

    async def tick(self, leading: Callable[[], bool] = lambda: True) -> int:
        """One pass at the clock's current time, stopping early once `leading()` turns false;
        returns how many transitions it applied."""
        now = self._clock.now()
        applied = 0
        for party in await self._store.due_parties(now, limit=_BATCH):
            if not leading():
                return applied
            applied += await self._advance(party)
        if self._reminder_window and leading():
            await self._send_reminders(now)
        return applied

    async def reannounce(self) -> int:
        """Publish again the transitions of the last minute; how many parties that covered."""
        changed = await self._store.changed_parties(
            self._clock.now() - REANNOUNCE_WINDOW, limit=_REANNOUNCE_BATCH
        )
        for party in changed:
            await self._announcer.republish(party)
        return len(changed)

    async def _advance(self, party: Party) -> int:
        try:
            after = await self._lifecycle.advance(party.id)
        except (InvalidTransition, NotFound, Conflict) as error:
            log.debug("party %s: nothing to do (%s)", party.id, error)
            return 0
        planned = party.starts_at if after.state is PartyState.LIVE else party.ends_at
        lateness = (self._clock.now() - planned).total_seconds()
        metrics.TRANSITION_LATENESS.labels(state=after.state.value).observe(max(0.0, lateness))
        return 1

    async def _send_reminders(self, now: datetime) -> None:
        # The due index scores scheduled parties by start: everything starting within the
        # window is there (with live parties ending within it, skipped here).
        upcoming = [
            party
            for party in await self._store.due_parties(now + self._reminder_window, limit=_BATCH)
            if party.state is PartyState.SCHEDULED and party.starts_at > now
        ]
        in_window = {(party.id, party.starts_at) for party in upcoming}
        self._reminded &= in_window
        for party in upcoming:
            key = (party.id, party.starts_at)
            if key in self._reminded:
                continue
            claimed = await self._reminders.claim(party.id, party.starts_at)
            self._reminded.add(key)
            if claimed:
                await self._announcer.remind(party)
