"""The hub writes a party's events at most once per tick, and a quiet party's at once."""

import asyncio

from party_engine.backends.broker_memory import MemoryBroker
from party_engine.gateway.hub import Hub, Member
from party_engine.ports import Publication


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


async def joined_hub(tick_seconds: float) -> tuple[Hub, Recorder]:
    broker = MemoryBroker()
    hub = Hub(broker, tick_seconds=tick_seconds)
    broker.set_handler(hub.on_publication, hub.on_broadcast)
    await broker.connect()
    member = Recorder()
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
