"""The theme push of a party's start and of its reminder, out of the party clock's way.

The clock (or a host's start) publishes `party.started` / `party.reminder` with ids derived
from the transition, and publishes recent transitions again in case it died before handing
them over. Each event is pushed once: locked by id in the ledger, pushed, then marked done, so
a copy or a redelivery after that is skipped. A push that fails releases the lock and fails the
event, which the queue retries with growing delay. A batch stops taking new events once half
the lock's time is spent and hands the rest back for later, so a slow SNS cannot let a lock
expire between a push and its done-mark (which would let a copy push again).
"""

import logging
import time
from datetime import datetime

from party_engine import metrics
from party_engine.backends.queue_topology import PARTY_PUSH
from party_engine.clock import Clock
from party_engine.domain.events import DomainEvent, PartyReminder, PartyStarted
from party_engine.domain.parties import Party, PartyState
from party_engine.ports import EventRef, Ledger, Notification, PartyStore, Push

from .idempotency import claim_batch

log = logging.getLogger(__name__)


def start_notice(party: Party) -> Notification:
    return Notification(
        title=f"{party.title} is live",
        body=f"The {party.theme.value} party has started: join now",
        data={"party_id": party.id, "kind": PartyStarted.routing_key},
    )


def reminder_notice(party: Party, minutes: int) -> Notification:
    return Notification(
        title=f"{party.title} starts soon",
        body=f"The {party.theme.value} party starts in {minutes} minutes",
        data={"party_id": party.id, "kind": PartyReminder.routing_key},
    )


def minutes_until(start: datetime, now: datetime) -> int:
    return max(1, round((start - now).total_seconds() / 60))


class PartyPushHandler:
    queue = PARTY_PUSH

    def __init__(
        self, *, ledger: Ledger, store: PartyStore, push: Push, clock: Clock, lock_seconds: float
    ) -> None:
        self._ledger = ledger
        self._store = store
        self._push = push
        self._clock = clock
        self._lock_seconds = lock_seconds

    async def __call__(self, events: list[DomainEvent]) -> set[str]:
        stop_at = time.monotonic() + self._lock_seconds / 2
        claimed = await claim_batch(self._ledger, self.queue, events, self._lock_seconds)
        unfinished = [EventRef.of(event) for event in claimed.fresh]
        try:
            for event in claimed.fresh:
                if time.monotonic() >= stop_at:
                    break
                await self._send(event)
                await self._ledger.mark_done(self.queue, [EventRef.of(event)])
                unfinished.remove(EventRef.of(event))
        except Exception:
            await self._ledger.release(self.queue, unfinished)
            raise
        await self._ledger.release(self.queue, unfinished)
        return claimed.busy | {event.event_id for event in unfinished}

    async def _send(self, event: DomainEvent) -> None:
        party = await self._store.get_party(event.party_id)
        if party is None:
            return
        if isinstance(event, PartyStarted) and party.state is PartyState.LIVE:
            with metrics.push_sent("party_started"):
                await self._push.notify_theme(party.theme, start_notice(party))
        elif isinstance(event, PartyReminder) and party.state is PartyState.SCHEDULED:
            now = self._clock.now()
            if party.starts_at > now:
                minutes = minutes_until(party.starts_at, now)
                with metrics.push_sent("party_reminder"):
                    await self._push.notify_theme(party.theme, reminder_notice(party, minutes))
        else:
            log.debug("no push for %s of a %s party", event.id, party.state.value)
