"""Join and leave events for the archive (`party.joined`, `party.left`), one per session.

They go through the event publisher's in-memory buffer, like the lifecycle events: handing one
over only appends to it, so a join never waits on RabbitMQ. They are not promises to anyone:
when the buffer is full (RabbitMQ away for long) they are dropped and counted
(party_attendance_dropped_total), and a gateway killed outright loses those not yet confirmed
(a graceful stop flushes them)."""

import logging

from .. import metrics
from ..clock import Clock
from ..domain.events import PartyJoined, PartyLeft
from ..domain.ids import new_id
from ..ports import EventPublisher

log = logging.getLogger(__name__)


class Attendance:
    def __init__(self, events: EventPublisher, clock: Clock) -> None:
        self._events = events
        self._clock = clock

    async def joined(self, party_id: str, user_id: str) -> None:
        await self._send(PartyJoined(new_id(), party_id, user_id, self._clock.now()))

    async def left(self, party_id: str, user_id: str) -> None:
        await self._send(PartyLeft(new_id(), party_id, user_id, self._clock.now()))

    async def _send(self, event: PartyJoined | PartyLeft) -> None:
        if not self._events.has_room():
            metrics.ATTENDANCE_DROPPED.inc()
            return
        try:
            await self._events.publish(event)
        except Exception as error:
            metrics.ATTENDANCE_DROPPED.inc()
            log.debug("%s not sent to the archive: %r", event.routing_key, error)
