"""Join and leave events for the archive: sent per session through the event buffer, never
waited on, dropped and counted when the buffer is full."""

from prometheus_client import REGISTRY

from party_engine.backends.queue_memory import MemoryQueue
from party_engine.clock import SystemClock
from party_engine.domain.events import PartyJoined, PartyLeft
from party_engine.gateway.attendance import Attendance
from tests.gateway_harness import Client, InProcessGateway, seed_party
from tests.pipeline_helpers import eventually


def dropped() -> float:
    return REGISTRY.get_sample_value("party_attendance_dropped_total") or 0.0


async def test_a_full_buffer_drops_and_counts_instead_of_failing_the_join():
    queue = MemoryQueue(capacity=1)
    attendance = Attendance(queue, SystemClock())
    before = dropped()
    await attendance.joined("p1", "u1")
    await attendance.left("p1", "u1")  # the queue holds one already: dropped
    assert dropped() == before + 1
    await queue.close()


async def test_a_session_s_join_and_leave_reach_the_archive_queue():
    async with InProcessGateway() as gateway:
        received: list = []
        await gateway.engine.events.hold("archive", received.append, limit=100)
        party = await seed_party(gateway.engine)
        client = await Client.connect(gateway.url, user="shopper-7")
        await client.join(party)
        await client.join(party)  # a second join restarts the feed: no second event
        await client.reply(type="leave", party=party, id=1)
        await client.join(party)
        await client.close()  # the connection closing leaves too

        def attendance() -> list:
            return [
                (type(held.event), held.event.user_id)
                for held in received
                if isinstance(held.event, PartyJoined | PartyLeft)
            ]

        async def four() -> bool:
            return len(attendance()) == 4

        await eventually(four)
        assert attendance() == [
            (PartyJoined, "shopper-7"),
            (PartyLeft, "shopper-7"),
            (PartyJoined, "shopper-7"),
            (PartyLeft, "shopper-7"),
        ]
