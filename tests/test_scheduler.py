"""The party clock under a controllable time source, on the embedded store and real Redis.

Each replica's events go straight to a party-push worker handler (workers/party_push.py), so
the theme pushes they cause can be counted; the pipeline in between has its own tests."""

import asyncio
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest

from party_engine.announcer import PartyAnnouncer
from party_engine.backends import (
    open_devices,
    open_lease,
    open_ledger,
    open_reminder_ledger,
    open_store,
)
from party_engine.backends.embedded import InProcess
from party_engine.backends.push_memory import MemoryPush
from party_engine.backends.queue_memory import MemoryQueue
from party_engine.backends.queue_topology import PARTY_PUSH
from party_engine.domain.events import DomainEvent
from party_engine.domain.parties import PartyState, schedule_party
from party_engine.domain.themes import Theme, ThemeKind
from party_engine.lifecycle import PartyLifecycle
from party_engine.ports import BatchHandler, Lease
from party_engine.scheduler import Scheduler
from workers.party_push import PartyPushHandler, WaveSettings

CREATED = datetime(2030, 5, 1, 11, 0, tzinfo=UTC)
START = datetime(2030, 5, 1, 12, 0, tzinfo=UTC)
END = START + timedelta(minutes=120)
NIKE = Theme(ThemeKind.BRAND, "Nike")
REMINDER_MINUTES = 15


class SteppedClock:
    """Time that moves only when a test moves it."""

    def __init__(self, now: datetime) -> None:
        self.at = now

    def now(self) -> datetime:
        return self.at


@dataclass
class RecordingEvents(InProcess):
    """The EventPublisher port, keeping what it is given and handing it to a worker handler
    (the push's own events, waves and `push.sent`, too)."""

    handler: BatchHandler | None = None
    published: list[DomainEvent] = field(default_factory=list)

    def has_room(self) -> bool:
        return True

    async def publish(self, event: DomainEvent) -> None:
        self.published.append(event)
        assert self.handler is not None
        await self.handler([event])

    async def flush(self) -> None:
        pass

    def kinds(self, party_id: str) -> list[str]:
        """The party's lifecycle events (not the push's waves)."""
        return [
            e.routing_key
            for e in self.published
            if e.party_id == party_id and e.routing_key.startswith("party.")
        ]


# Small and quick: a follower or two land in any shard, every wave is due at once.
TEST_WAVES = WaveSettings(shards=4, joins_per_second=1000.0, bound_seconds=1.0, hold_seconds=0.5)


def pushing_events(*, ledger, store, push, clock) -> RecordingEvents:
    """A recording publisher whose events go to a party-push handler publishing back into it."""
    events = RecordingEvents()
    events.handler = PartyPushHandler(
        ledger=ledger,
        store=store,
        push=push,
        events=events,
        clock=clock,
        lock_seconds=30,
        waves=TEST_WAVES,
    )
    return events


@dataclass
class Rig:
    """One clock replica and what it talks to."""

    store: object
    push: MemoryPush
    events: RecordingEvents
    time: SteppedClock
    lifecycle: PartyLifecycle
    lease: Lease
    clock: Scheduler

    async def notices(self, user: str = "fan") -> list[str]:
        return [n.data["kind"] for n in await self.push.notices(user)]

    async def state(self, party_id: str = "p1") -> PartyState:
        return (await self.store.get_party(party_id)).state


@pytest.fixture
async def backends(store_url):
    """What replicas share: the store, the device store, the reminder ledger and the ledger."""
    shared = (
        open_store(store_url),
        open_devices(store_url),
        open_reminder_ledger(store_url),
        open_ledger(store_url),
    )
    for backend in shared:
        await backend.connect()
    yield shared
    for backend in shared:
        await backend.close()


def a_rig(store_url, backends, time: SteppedClock, tick_seconds: float = 0.01, push=None) -> Rig:
    store, devices, reminders, ledger = backends
    push = push or MemoryPush(store, devices, time)
    events = pushing_events(ledger=ledger, store=store, push=push, clock=time)
    lifecycle = PartyLifecycle(store, time)
    announcer = PartyAnnouncer(events, time)
    lifecycle.on_change(announcer.on_change)
    lease = open_lease(store_url, "party-clock", 5.0)
    clock = Scheduler(
        store=store,
        lifecycle=lifecycle,
        announcer=announcer,
        lease=lease,
        reminders=reminders,
        clock=time,
        reminder_minutes=REMINDER_MINUTES,
        lease_seconds=5.0,
        tick_seconds=tick_seconds,
    )
    return Rig(store, push, events, time, lifecycle, lease, clock)


@pytest.fixture
async def rig(store_url, backends):
    store = backends[0]
    await store.create_party(
        schedule_party(
            party_id="p1",
            host_id="h1",
            title="Nike night",
            theme=NIKE,
            starts_at=START,
            now=CREATED,
        )
    )
    await store.follow("fan", NIKE)
    return a_rig(store_url, backends, SteppedClock(CREATED))


async def test_a_party_starts_at_its_start_with_one_event_and_one_push(rig):
    rig.time.at = START - timedelta(seconds=1)
    assert await rig.clock.tick() == 0
    assert await rig.state() is PartyState.SCHEDULED

    rig.time.at = START
    assert await rig.clock.tick() == 1
    party = await rig.store.get_party("p1")
    assert party.state is PartyState.LIVE and party.started_at == START
    assert rig.events.kinds("p1") == ["party.reminder", "party.started"]
    started, _reminder = await rig.push.notices("fan")  # newest first
    assert started.data == {"party_id": "p1", "kind": "party.started"}  # the deep link

    assert await rig.clock.tick() == 0  # nothing twice
    assert await rig.notices() == ["party.started", "party.reminder"]


async def test_a_live_party_ends_at_its_end_without_a_push(rig):
    rig.time.at = START + timedelta(seconds=1)  # the clock was down for the reminder window
    await rig.clock.tick()
    rig.time.at = END - timedelta(seconds=1)
    assert await rig.clock.tick() == 0
    rig.time.at = END
    assert await rig.clock.tick() == 1
    assert await rig.state() is PartyState.ENDED
    assert rig.events.kinds("p1") == ["party.started", "party.ended"]
    assert await rig.notices() == ["party.started"]


async def test_a_reminder_goes_out_once_before_the_start(rig):
    rig.time.at = START - timedelta(minutes=REMINDER_MINUTES + 1)
    await rig.clock.tick()
    assert await rig.notices() == []

    rig.time.at = START - timedelta(minutes=REMINDER_MINUTES)
    await rig.clock.tick()
    rig.time.at += timedelta(minutes=1)
    await rig.clock.tick()
    assert await rig.notices() == ["party.reminder"]
    assert rig.events.kinds("p1") == ["party.reminder"]
    [notice] = await rig.push.notices("fan")
    assert "15 minutes" in notice.body


async def test_a_restarted_replica_does_not_remind_again(rig, store_url, backends):
    rig.time.at = START - timedelta(minutes=10)
    await rig.clock.tick()
    replacement = a_rig(store_url, backends, rig.time)  # a fresh replica: no local memory
    await replacement.clock.tick()
    assert await rig.notices() == ["party.reminder"]


async def test_a_clock_back_after_a_missed_start_starts_the_party_at_once_and_pushes(rig):
    rig.time.at = START + timedelta(minutes=40)  # the clock was down at START
    assert await rig.clock.tick() == 1
    party = await rig.store.get_party("p1")
    assert party.state is PartyState.LIVE
    assert party.ends_at == END  # a late start does not extend the party
    assert await rig.notices() == ["party.started"]  # no reminder for a start that passed


async def test_a_clock_back_after_the_whole_slot_ends_the_party_without_a_start_push(rig):
    rig.time.at = END + timedelta(minutes=5)
    assert await rig.clock.tick() == 1
    party = await rig.store.get_party("p1")
    assert party.state is PartyState.ENDED and party.started_at is None
    assert rig.events.kinds("p1") == ["party.ended"]
    assert await rig.notices() == []


async def test_a_host_who_started_early_leaves_the_clock_only_the_end(rig):
    rig.time.at = START - timedelta(minutes=5)
    await rig.lifecycle.start("p1", actor="h1")
    rig.time.at = START
    assert await rig.clock.tick() == 0
    assert rig.events.kinds("p1") == ["party.started"]  # announced once, for the host's start


async def test_two_replicas_racing_the_same_tick_start_the_party_once(rig, store_url, backends):
    other = a_rig(store_url, backends, rig.time)
    rig.time.at = START + timedelta(seconds=1)
    applied = await asyncio.gather(rig.clock.tick(), other.clock.tick())
    assert sorted(applied) == [0, 1]
    assert (await rig.store.get_party("p1")).version == 2  # one save after the create
    assert await rig.notices() == ["party.started"]
    assert rig.events.kinds("p1") + other.events.kinds("p1") == ["party.started"]


async def test_the_running_clock_acts_when_its_time_source_reaches_the_start(rig):
    await rig.lease.connect()  # the engine connects and closes what it hands the clock
    await rig.clock.start()
    try:
        rig.time.at = START - timedelta(minutes=1)
        await wait_for(rig.notices, ["party.reminder"])
        assert await rig.state() is PartyState.SCHEDULED
        rig.time.at = START
        await wait_for(rig.state, PartyState.LIVE)
    finally:
        await rig.clock.stop()
        await rig.lease.close()
    assert await rig.notices() == ["party.started", "party.reminder"]


async def wait_for(read, expected, within: float = 5.0):
    deadline = asyncio.get_running_loop().time() + within
    while (value := await read()) != expected:
        assert asyncio.get_running_loop().time() < deadline, f"still {value!r}"
        await asyncio.sleep(0.01)


async def test_a_start_whose_event_was_lost_is_reannounced_and_pushed_once(rig):
    # As if the process that started the party died before handing its event over.
    party = await rig.store.get_party("p1")
    await rig.store.save_party(party.start(START))
    rig.time.at = START + timedelta(seconds=10)
    assert await rig.clock.reannounce() == 1
    assert await rig.clock.reannounce() == 1
    assert rig.events.kinds("p1") == ["party.started", "party.started"]  # the same event id
    assert await rig.notices() == ["party.started"]
    rig.time.at = START + timedelta(minutes=2)
    assert await rig.clock.reannounce() == 0  # only the last minute's transitions


class BlockedPush(MemoryPush):
    """A push whose theme publishes hang (SNS throttling, a hung endpoint)."""

    def __init__(self, *args) -> None:
        super().__init__(*args)
        self.hung = asyncio.Event()
        self.released = asyncio.Event()

    async def notify_shard(self, theme, shard, followers, notification) -> None:
        self.hung.set()
        await self.released.wait()
        await super().notify_shard(theme, shard, followers, notification)


async def test_a_hung_push_neither_delays_the_next_start_nor_costs_the_lease(store_url, backends):
    store, devices, reminders, ledger = backends
    for index, offset in enumerate((0, 1)):
        await store.create_party(
            schedule_party(
                party_id=f"p{index}",
                host_id="h1",
                title="Nike night",
                theme=NIKE,
                starts_at=START + timedelta(seconds=offset),
                now=CREATED,
            )
        )
    await store.follow("fan", NIKE)
    time = SteppedClock(START)
    push = BlockedPush(store, devices, time)
    events = MemoryQueue()
    lease = open_lease(store_url, "party-clock", 1.0)
    rival = open_lease(store_url, "party-clock", 1.0)
    lifecycle = PartyLifecycle(store, time)
    announcer = PartyAnnouncer(events, time)
    lifecycle.on_change(announcer.on_change)
    clock = Scheduler(
        store=store,
        lifecycle=lifecycle,
        announcer=announcer,
        lease=lease,
        reminders=reminders,
        clock=time,
        reminder_minutes=0,
        lease_seconds=1.0,
        tick_seconds=0.01,
    )
    pusher = PartyPushHandler(
        ledger=ledger,
        store=store,
        push=push,
        events=events,
        clock=time,
        lock_seconds=30,
        waves=TEST_WAVES,
    )
    for backend in (events, lease, rival):
        await backend.connect()
    await events.consume(PARTY_PUSH, pusher)
    await clock.start()
    try:
        await wait_for(lambda: _state(store, "p0"), PartyState.LIVE)
        await asyncio.wait_for(push.hung.wait(), 5)  # the worker is stuck in p0's push
        time.at = START + timedelta(seconds=1)
        await wait_for(lambda: _state(store, "p1"), PartyState.LIVE, within=1.0)
        await asyncio.sleep(1.5)  # longer than the lease's TTL, with the push still hung
        assert clock.leading
        if store_url != "memory://":  # embedded leases live on one board per opener
            assert not await rival.hold()
    finally:
        push.released.set()
        await clock.stop()
        for backend in (rival, lease, events):
            await backend.close()


async def _state(store, party_id: str) -> PartyState:
    return (await store.get_party(party_id)).state
