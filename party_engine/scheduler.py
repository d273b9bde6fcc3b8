"""The party clock: starts parties at starts_at, ends them at ends_at, sends reminders.

Every replica runs the loop; only the holder of the Redis lease acts. Each tick (a short poll,
`tick_seconds`) the leader asks the store for due parties and applies `lifecycle.advance`,
which re-reads the party and saves conditionally on its version: a replica that lost the lease
without noticing yet cannot apply a transition twice, and a transition already applied (by a
host or another replica) is simply skipped. Catch-up after downtime comes for free: a party
whose start passed is still due; one whose whole slot passed expires straight to ended.
"""

import logging
from datetime import datetime, timedelta

from .announcer import PartyAnnouncer, minutes_until
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
        tick_seconds: float = DEFAULT_TICK_SECONDS,
    ) -> None:
        self._store = store
        self._lifecycle = lifecycle
        self._announcer = announcer
        self._lease = lease
        self._reminders = reminders
        self._clock = clock
        self._reminder_window = timedelta(minutes=reminder_minutes)
        self._loop = Periodic(
            "party-clock",
            tick_seconds,
            self._tick_if_leading,
            log=log,
            failure="party clock tick failed; trying again next tick",
        )
        # Reminders this replica already judged, so a tick does not re-claim them in Redis.
        self._reminded: set[tuple[str, datetime]] = set()

    async def start(self) -> None:
        self._loop.start()

    async def stop(self) -> None:
        # The engine then closes the lease, which releases it: another replica takes over.
        await self._loop.stop()

    async def _tick_if_leading(self) -> None:
        if await self._lease.hold():
            await self.tick()

    async def tick(self) -> int:
        """One pass at the clock's current time; returns how many transitions it applied."""
        now = self._clock.now()
        applied = 0
        for party in await self._store.due_parties(now, limit=_BATCH):
            applied += await self._advance(party)
        if self._reminder_window:
            await self._send_reminders(now)
        return applied

    async def _advance(self, party: Party) -> int:
        try:
            await self._lifecycle.advance(party.id)
        except (InvalidTransition, NotFound, Conflict) as error:
            log.debug("party %s: nothing to do (%s)", party.id, error)
            return 0
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
                await self._announcer.remind(party, minutes_until(party.starts_at, now))
