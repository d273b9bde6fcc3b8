"""Frames sent in slices (presence) let the event loop run while a big party is written to."""

import asyncio

from party_engine.backends.broker_memory import MemoryBroker
from party_engine.gateway.hub import Hub, Member


class Recorder(Member):
    def __init__(self, received: list[bytes]) -> None:
        self.received = received

    def deliver(self, frame, publications) -> None:
        self.received.append(frame)

    def send_prepared(self, frame: bytes) -> None:
        self.received.append(frame)

    def tell_state(self, state, frame: bytes) -> None:
        self.received.append(frame)


async def test_a_big_party_is_written_to_in_slices_with_the_loop_running_between():
    broker = MemoryBroker()
    await broker.connect()
    hub = Hub(broker, tick_seconds=0.005, loop_share=0.5)
    broker.set_handler(hub.on_publication, hub.on_broadcast)
    received: list[bytes] = []
    for n in range(1_200):
        await hub.join("party-1", Recorder(received), f"user-{n}")
    written_when_others_ran: list[int] = []

    async def another_task() -> None:
        while len(received) < 1_200:
            written_when_others_ran.append(len(received))
            await asyncio.sleep(0)

    other = asyncio.create_task(another_task())
    await asyncio.sleep(0)
    await hub.send_to_party_in_slices("party-1", b"presence", slice_size=500)
    await other

    assert received == [b"presence"] * 1_200
    assert {500, 1_000} <= set(written_when_others_ran)
    await broker.close()
