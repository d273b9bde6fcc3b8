"""The party clock under a controllable time source, on the embedded store and real Redis."""

import asyncio
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest

from party_engine.announcer import PartyAnnouncer
from party_engine.backends import open_devices, open_lease, open_reminder_ledger, open_store
from party_engine.backends.embedded import InProcess
from party_engine.backends.push_memory import MemoryPush
from party_engine.domain.events import DomainEvent
from party_engine.domain.parties import PartyState, schedule_party
from party_engine.domain.themes import Theme, ThemeKind
from party_engine.lifecycle import PartyLifecycle
from party_engine.ports import Lease
from party_engine.scheduler import Scheduler

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
    """The EventPublisher port, keeping what it is given (the pipeline has its own tests)."""

    published: list[DomainEvent] = field(default_factory=list)

    def has_room(self) -> bool:
        return True

    async def publish(self, event: DomainEvent) -> None:
        self.published.append(event)

    def kinds(self, party_id: str) -> list[str]:
        return [e.routing_key for e in self.published if e.party_id == party_id]


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
    """What replicas share: the store, the device store and the reminder ledger."""
    store, devices, reminders = (
        open_store(store_url),
        open_devices(store_url),
        open_reminder_ledger(store_url),
    )
    for backend in (store, devices, reminders):
        await backend.connect()
    yield store, devices, reminders
    for backend in (store, devices, reminders):
        await backend.close()


def a_rig(store_url, backends, time: SteppedClock, tick_seconds: float = 0.01) -> Rig:
    store, devices, reminders = backends
    push = MemoryPush(store, devices, time)
    events = RecordingEvents()
    lifecycle = PartyLifecycle(store, time)
    announcer = PartyAnnouncer(push, events, time)
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
        tick_seconds=tick_seconds,
    )
    return Rig(store, push, events, time, lifecycle, lease, clock)


@pytest.fixture
async def rig(store_url, backends):
    store, _, _ = backends
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
