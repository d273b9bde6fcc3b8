"""Tells the world about party transitions: a lifecycle listener that publishes the matching
domain event to the workers and sends the theme push when a party goes live.

It hears every transition this process applies, whoever asked (a host or the clock). The
state change is already saved when it runs, so a failing push or publish is logged, never
raised back into the host's request.
"""

import logging
from datetime import datetime

from .clock import Clock
from .domain.events import DomainEvent, PartyEnded, PartyReminder, PartyStarted
from .domain.parties import Party, PartyState
from .ports import EventPublisher, Notification, Push

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


class PartyAnnouncer:
    def __init__(self, push: Push, events: EventPublisher, clock: Clock) -> None:
        self._push = push
        self._events = events
        self._clock = clock

    async def on_change(self, before: Party, after: Party) -> None:
        now = self._clock.now()
        if after.state is PartyState.LIVE and before.state is PartyState.SCHEDULED:
            # Event ids derive from the transition, so a redelivered one deduplicates.
            await self._publish(PartyStarted(f"{after.id}:started", after.id, now))
            await self._send(after, start_notice(after))
        elif after.state is PartyState.ENDED and before.state is not PartyState.ENDED:
            # Also a party that expired unseen: it ends without ever pushing a start.
            await self._publish(PartyEnded(f"{after.id}:ended", after.id, now))

    async def remind(self, party: Party, minutes: int) -> None:
        at = int(party.starts_at.timestamp())
        await self._publish(PartyReminder(f"{party.id}:reminder:{at}", party.id, self._clock.now()))
        await self._send(party, reminder_notice(party, minutes))

    async def _publish(self, event: DomainEvent) -> None:
        try:
            await self._events.publish(event)
        except Exception:
            log.exception("could not publish %s for party %s", event.routing_key, event.party_id)

    async def _send(self, party: Party, notification: Notification) -> None:
        try:
            await self._push.notify_theme(party.theme, notification)
        except Exception:
            log.exception("could not push %s for party %s", notification.data["kind"], party.id)


def minutes_until(start: datetime, now: datetime) -> int:
    return max(1, round((start - now).total_seconds() / 60))
