"""The theme push of a party's start, in waves, and of its reminder, out of the party clock's way.

A start (`party.started`) is planned into waves (domain/push_waves.py): one `push.wave` event
per shard of the theme's followers, each with the time it is due, published and confirmed
before the start is marked done. A wave due later than `hold_seconds` from now is handed back
to the queue untouched (it comes back after the first retry delay, which `hold_seconds`
matches), so no message waits in a worker for longer than that; a wave due sooner is locked,
waited for, sent to its shard, marked done and announced as `push.sent`. A reminder is one wave
to every shard at once: nobody joins a party that has not started.

Each event (start, wave, reminder) is handled once: locked by id in the ledger, done, then
marked done, so a copy or a redelivery after that is skipped. A start planned again (the worker
died before its done-mark) publishes the same wave ids, which find the waves already sent done:
no follower is notified twice by a redelivery. A push that fails releases the lock and fails
the event, which the queue retries with growing delay. A batch stops taking new events once half
the lock's time is spent and hands the rest back for later, so a slow SNS cannot let a lock
expire between a push and its done-mark (which would let a copy push again).
"""

import asyncio
import logging
import time
from dataclasses import dataclass
from datetime import datetime

from party_engine import metrics
from party_engine.backends.queue_topology import PARTY_PUSH
from party_engine.clock import Clock
from party_engine.domain.events import (
    DomainEvent,
    PartyReminder,
    PartyStarted,
    PushSent,
    PushWave,
)
from party_engine.domain.parties import Party, PartyState
from party_engine.domain.push_waves import plan_waves, split_by_shard
from party_engine.domain.themes import Theme
from party_engine.ports import EventPublisher, EventRef, Ledger, Notification, Push, Store

from .idempotency import claim_batch

log = logging.getLogger(__name__)

# Events of a batch handled at once (each wave's publishes are bounded by the push backend).
_AT_ONCE = 64
_METRIC_KIND = {
    PartyStarted.routing_key: "party_started",
    PartyReminder.routing_key: "party_reminder",
}


@dataclass(frozen=True, slots=True)
class WaveSettings:
    shards: int
    joins_per_second: float
    bound_seconds: float
    # A wave due later than this is handed back to the queue, which brings it back after its
    # first retry delay: keep the two equal.
    hold_seconds: float


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


class _Followers:
    """A theme's followers split by shard, read once per batch."""

    def __init__(self, store: Store, shards: int) -> None:
        self._store = store
        self._shards = shards
        self._split: dict[str, asyncio.Task[list[list[str]]]] = {}

    async def by_shard(self, theme: Theme) -> list[list[str]]:
        task = self._split.get(theme.key)
        if task is None:
            task = self._split[theme.key] = asyncio.ensure_future(self._read(theme))
        return await task

    async def _read(self, theme: Theme) -> list[list[str]]:
        return split_by_shard(await self._store.followers(theme), self._shards)


class PartyPushHandler:
    queue = PARTY_PUSH

    def __init__(
        self,
        *,
        ledger: Ledger,
        store: Store,
        push: Push,
        events: EventPublisher,
        clock: Clock,
        lock_seconds: float,
        waves: WaveSettings,
    ) -> None:
        if waves.hold_seconds >= lock_seconds / 2:
            raise ValueError("a wave may not be held for half of the event lock or longer")
        self._ledger = ledger
        self._store = store
        self._push = push
        self._events = events
        self._clock = clock
        self._lock_seconds = lock_seconds
        self._waves = waves

    async def __call__(self, events: list[DomainEvent]) -> set[str]:
        now = self._clock.now()
        later = {
            event.id
            for event in events
            if isinstance(event, PushWave)
            and (event.due - now).total_seconds() > self._waves.hold_seconds
        }
        ours: list[DomainEvent] = [
            event
            for event in events
            if isinstance(event, PartyStarted | PartyReminder | PushWave) and event.id not in later
        ]
        stop_at = time.monotonic() + self._lock_seconds / 2
        claimed = await claim_batch(self._ledger, self.queue, ours, self._lock_seconds)
        unfinished = {EventRef.of(event) for event in claimed.fresh}
        followers = _Followers(self._store, self._waves.shards)
        pending = sorted(claimed.fresh, key=lambda e: e.due if isinstance(e, PushWave) else now)
        try:
            for first in range(0, len(pending), _AT_ONCE):
                if time.monotonic() >= stop_at:
                    break
                chunk = pending[first : first + _AT_ONCE]
                results = await asyncio.gather(
                    *(self._handle(event, followers) for event in chunk), return_exceptions=True
                )
                done = [EventRef.of(e) for e, r in zip(chunk, results, strict=True) if r is None]
                if done:
                    await self._ledger.mark_done(self.queue, done)
                    unfinished.difference_update(done)
                for result in results:
                    if isinstance(result, BaseException):
                        raise result
        finally:
            await self._ledger.release(self.queue, list(unfinished))
        return claimed.busy | {ref.event_id for ref in unfinished} | later

    async def _handle(self, event: DomainEvent, followers: _Followers) -> None:
        party = await self._store.get_party(event.party_id)
        if party is None:
            return
        if isinstance(event, PartyStarted) and party.state is PartyState.LIVE:
            await self._plan(event, party, followers)
        elif isinstance(event, PushWave) and party.state is PartyState.LIVE:
            delay = (event.due - self._clock.now()).total_seconds()
            if delay > 0:
                await asyncio.sleep(delay)
            await self._send(event, party, [event.wave], start_notice(party), followers)
        elif isinstance(event, PartyReminder) and party.state is PartyState.SCHEDULED:
            now = self._clock.now()
            if party.starts_at > now:
                notice = reminder_notice(party, minutes_until(party.starts_at, now))
                await self._send(event, party, range(self._waves.shards), notice, followers)
        else:
            log.debug("no push for %s of a %s party", event.id, party.state.value)

    async def _plan(self, event: PartyStarted, party: Party, followers: _Followers) -> None:
        by_shard = await followers.by_shard(party.theme)
        plan = plan_waves(
            first_at=event.at,
            followers=sum(map(len, by_shard)),
            shards=self._waves.shards,
            joins_per_second=self._waves.joins_per_second,
            bound_seconds=self._waves.bound_seconds,
        )
        now = self._clock.now()
        for wave in range(plan.waves):
            await self._events.publish(
                PushWave(
                    id=f"{event.id}:wave:{wave}",
                    party_id=party.id,
                    kind=event.routing_key,
                    wave=wave,
                    due=plan.due(wave),
                    at=now,
                )
            )
        # Confirmed before the start is marked done: a start whose waves were lost with this
        # process would never be pushed.
        async with asyncio.timeout(self._lock_seconds / 2):
            await self._events.flush()

    async def _send(
        self,
        event: PushWave | PartyReminder,
        party: Party,
        shards: range | list[int],
        notification: Notification,
        followers: _Followers,
    ) -> None:
        """Send to the shards' followers; a shard's publish refused (after the backend's own
        retries) counts its followers as failed. If every publish failed nothing went out and
        the event fails (the queue retries it); otherwise it is done, since sending it again
        would notify the others twice."""
        kind = event.kind if isinstance(event, PushWave) else event.routing_key
        by_shard = await followers.by_shard(party.theme)
        addressed = [(shard, by_shard[shard]) for shard in shards if by_shard[shard]]
        results = await asyncio.gather(
            *(
                self._notify(party.theme, shard, users, notification, kind)
                for shard, users in addressed
            ),
            return_exceptions=True,
        )
        errors = [result for result in results if isinstance(result, BaseException)]
        if errors and len(errors) == len(results):
            raise errors[0]
        failed = sum(
            len(users)
            for (_, users), result in zip(addressed, results, strict=True)
            if isinstance(result, BaseException)
        )
        if errors:
            log.warning(
                "%s: %d of %d shard publishes failed (%s); %d followers not notified",
                event.id,
                len(errors),
                len(results),
                errors[0],
                failed,
            )
        await self._events.publish(
            PushSent(
                id=f"{event.id}:sent",
                party_id=party.id,
                kind=kind,
                wave=event.wave if isinstance(event, PushWave) else 0,
                notified=sum(len(users) for _, users in addressed) - failed,
                failed=failed,
                at=self._clock.now(),
            )
        )

    async def _notify(
        self, theme: Theme, shard: int, users: list[str], notification: Notification, kind: str
    ) -> None:
        with metrics.push_sent(_METRIC_KIND[kind]):
            await self._push.notify_shard(theme, shard, users, notification)
