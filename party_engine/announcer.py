"""Tells the workers about party transitions: a lifecycle listener that publishes the matching
domain event (`party.started`, `party.ended`), and the clock's reminders (`party.reminder`).

Event ids derive from the transition (`{party}:started`, `{party}:ended`,
`{party}:reminder:{starts_at}`), so the same transition published twice, by the process that
applied it and again by the clock re-announcing recent transitions, is applied once by each
worker queue. The push that tells a theme's followers is a worker's job (workers/party_push.py):
nothing here waits on SNS. The state change is already saved when this runs, so a failing
publish is logged, never raised back into the host's request or the clock's tick.
"""

import logging

from .clock import Clock
from .domain.events import DomainEvent, PartyEnded, PartyReminder, PartyStarted
from .domain.parties import Party, PartyState
from .ports import EventPublisher

log = logging.getLogger(__name__)


def lifecycle_events(party: Party) -> list[DomainEvent]:
    """The events of every transition this party has gone through, as first announced."""
    events: list[DomainEvent] = []
    if party.started_at is not None:
        events.append(PartyStarted(f"{party.id}:started", party.id, party.started_at))
    if party.state is PartyState.ENDED and party.ended_at is not None:
        # Also a party that expired unseen: it ends without ever having started.
        events.append(PartyEnded(f"{party.id}:ended", party.id, party.ended_at))
    return events


class PartyAnnouncer:
    def __init__(self, events: EventPublisher, clock: Clock) -> None:
        self._events = events
        self._clock = clock

    async def on_change(self, before: Party, after: Party) -> None:
        told = {event.id for event in lifecycle_events(before)}
        for event in lifecycle_events(after):
            if event.id not in told:
                await self._publish(event)

    async def republish(self, party: Party) -> None:
        """Publish the party's transitions again (the process that applied them may have died
        before its publish was confirmed); the workers deduplicate by event id."""
        for event in lifecycle_events(party):
            await self._publish(event)

    async def remind(self, party: Party) -> None:
        at = int(party.starts_at.timestamp())
        await self._publish(PartyReminder(f"{party.id}:reminder:{at}", party.id, self._clock.now()))

    async def _publish(self, event: DomainEvent) -> None:
        try:
            await self._events.publish(event)
        except Exception:
            log.exception("could not publish %s for party %s", event.routing_key, event.party_id)
