"""The hub writes a party's events at most once per tick, and a quiet party's at once; and it
keeps a snapshot for joiners with the publications that came after it."""

import asyncio

import pytest

from party_engine.backends.broker_memory import MemoryBroker
from party_engine.gateway.hub import (
    SNAPSHOT_TAIL,
    STORM_JOINS_PER_SECOND,
    STORM_LOOP_SHARE,
    Hub,
    Member,
)
from party_engine.ports import Publication, Snapshot, StreamPosition


class Recorder(Member):
    def __init__(self) -> None:
        self.batches: list[list[int]] = []
        self.arrived = asyncio.Event()

    def deliver(self, frame, publications: list[Publication]) -> None:
        self.batches.append([publication.offset for publication in publications])
        self.arrived.set()

    def send_prepared(self, frame: bytes) -> None:
        pass

    def tell_state(self, state, frame: bytes) -> None:
        pass


def publication(offset: int) -> Publication:
    return Publication("party-1", offset, b'{"offset":%d,"kind":"share"}' % offset)


async def joined_hub(
    tick_seconds: float, member: Recorder | None = None, loop_share: float = 0.5, **hub_options
) -> tuple[Hub, Recorder]:
    broker = MemoryBroker()
    hub = Hub(broker, tick_seconds=tick_seconds, loop_share=loop_share, **hub_options)
    broker.set_handler(hub.on_publication, hub.on_broadcast)
    await broker.connect()
    member = member or Recorder()
    await hub.join("party-1", member, "user-1")
    return hub, member


async def test_an_event_of_a_quiet_party_goes_out_on_the_next_turn_not_after_the_tick():
    hub, member = await joined_hub(tick_seconds=3600)  # a tick nobody could wait for
    hub.on_publication(publication(1))
    hub.on_publication(publication(2))  # in the same turn: the same frame
    await asyncio.sleep(0)
    assert member.batches == [[1, 2]]


async def test_events_of_a_busy_party_wait_for_the_end_of_the_tick_and_go_out_together():
    hub, member = await joined_hub(tick_seconds=0.2)
    hub.on_publication(publication(1))
    await asyncio.wait_for(member.arrived.wait(), 1)
    member.arrived.clear()
    written = asyncio.get_running_loop().time()

    for offset in (2, 3, 4):
        hub.on_publication(publication(offset))
        await asyncio.sleep(0)
    assert member.batches == [[1]]  # written once this tick already: these wait
    await asyncio.wait_for(member.arrived.wait(), 1)
    assert member.batches == [[1], [2, 3, 4]]
    assert asyncio.get_running_loop().time() - written >= 0.2


class SlowRecorder(Recorder):
    """A member whose delivery takes `cost` seconds of the hub's clock (a stand-in for a party
    of thousands, whose write holds the event loop that long)."""

    def __init__(self, clock: list[float], cost: float) -> None:
        super().__init__()
        self._clock = clock
        self._cost = cost

    def deliver(self, frame, publications: list[Publication]) -> None:
        self._clock[0] += self._cost
        super().deliver(frame, publications)


@pytest.mark.parametrize("loop_share", [0.5, 0.25])
async def test_a_party_whose_write_takes_long_takes_at_most_its_share_of_the_loop(loop_share):
    clock = [0.0]
    member = SlowRecorder(clock, cost=0.1)
    hub, _ = await joined_hub(0.001, member, clock=lambda: clock[0], loop_share=loop_share)
    hub.on_publication(publication(1))  # quiet: out at once, and it took 0.1 s
    await asyncio.wait_for(member.arrived.wait(), 1)
    member.arrived.clear()
    written = asyncio.get_running_loop().time()

    for offset in (2, 3):
        hub.on_publication(publication(offset))
    await asyncio.wait_for(member.arrived.wait(), 1)
    assert member.batches == [[1], [2, 3]]
    # not after the 1 ms tick: after what the last write took, divided by the share
    assert asyncio.get_running_loop().time() - written >= 0.1 / loop_share


@pytest.mark.parametrize("storm", [False, True])
async def test_while_shoppers_pour_in_a_long_write_leaves_them_more_of_the_loop(storm):
    clock = [0.0]
    member = SlowRecorder(clock, cost=0.1)
    hub, _ = await joined_hub(0.001, member, clock=lambda: clock[0], loop_share=0.5)
    joins = STORM_JOINS_PER_SECOND if storm else STORM_JOINS_PER_SECOND - 1  # within a second
    for n in range(joins - 1):  # the member above was the first
        await hub.join("party-2", Recorder(), f"user-{n}")
    hub.on_publication(publication(1))
    await asyncio.wait_for(member.arrived.wait(), 1)
    member.arrived.clear()
    written = asyncio.get_running_loop().time()

    hub.on_publication(publication(2))
    await asyncio.wait_for(member.arrived.wait(), 1)
    waited = asyncio.get_running_loop().time() - written
    if storm:
        assert waited >= 0.1 / STORM_LOOP_SHARE
    else:
        assert 0.1 / 0.5 <= waited < 0.1 / STORM_LOOP_SHARE


async def test_a_kept_snapshot_comes_with_what_arrived_after_it_until_that_is_too_long():
    hub, _ = await joined_hub(0.001)
    snapshot = Snapshot(position=StreamPosition(0, "e1"), shares=[], likes={})
    hub.on_publication(publication(1))
    hub.keep_snapshot("party-1", snapshot, read_after=0)  # 1 arrived during the read
    assert hub.kept_snapshot("party-1") is None

    hub.keep_snapshot("party-1", snapshot, read_after=hub.publications_seen("party-1"))
    assert hub.kept_snapshot("party-1") == (snapshot, [])
    for offset in range(2, 2 + SNAPSHOT_TAIL):
        hub.on_publication(publication(offset))
    kept = hub.kept_snapshot("party-1")
    assert kept is not None and [p.offset for p in kept[1]] == list(range(2, 2 + SNAPSHOT_TAIL))

    hub.on_publication(publication(2 + SNAPSHOT_TAIL))  # one more than a tail may hold
    assert hub.kept_snapshot("party-1") is None


async def test_a_host_item_ends_the_kept_snapshot_since_it_changes_what_that_shows():
    hub, _ = await joined_hub(0.001)
    snapshot = Snapshot(position=StreamPosition(0, "e1"), shares=[], likes={})
    hub.keep_snapshot("party-1", snapshot, read_after=hub.publications_seen("party-1"))
    hub.on_publication(Publication("party-1", 1, b'{"offset":1,"kind":"like","share":0}'))
    assert hub.kept_snapshot("party-1") is not None
    hub.on_publication(Publication("party-1", 2, b'{"offset":2,"kind":"removed","share":0}'))
    assert hub.kept_snapshot("party-1") is None
