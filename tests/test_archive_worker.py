"""The archive worker in process: batches by size, by age and at a party's end, bounded
memory, and a failing storage that holds its events (unacknowledged) until it works again.
The same on the embedded queue and on RabbitMQ; process kills are in test_archive_exactly_once.
"""

from datetime import timedelta

import pytest

from party_engine.archive.reading import read_party
from party_engine.backends import open_archive
from party_engine.backends.consume_rabbitmq import RabbitConsumer
from party_engine.backends.queue_memory import MemoryQueue
from party_engine.backends.queue_rabbitmq import RabbitPublisher
from party_engine.backends.queue_topology import Topology, backoff_delays
from party_engine.domain.events import PartyEnded, PartyJoined
from tests.archive_helpers import AWS_ENV, drop_bucket, make_bucket, new_bucket
from tests.pipeline_helpers import AT, a_share, eventually, unique_prefix
from workers.archive import ArchiveService

DAY = AT.date()


class Recording:
    """A real storage that counts its objects and what the worker held at each write."""

    def __init__(self, storage, service_holder) -> None:
        self._storage = storage
        self._holder = service_holder
        self.puts: list[str] = []
        self.held_at_puts: list[int] = []

    def __getattr__(self, name):
        return getattr(self._storage, name)

    async def put(self, key: str, data: bytes) -> None:
        self.held_at_puts.append(self._holder[0].held)
        await self._storage.put(key, data)
        self.puts.append(key)


@pytest.fixture(params=["memory", "rabbitmq"])
async def queue(request):
    """(publisher, consumer) of the embedded queue or of RabbitMQ."""
    if request.param == "memory":
        queue = MemoryQueue(capacity=100_000)
        yield queue, queue
        await queue.close()
        return
    url = request.getfixturevalue("rabbitmq_server").url
    topology = Topology(prefix=unique_prefix(), retry_delays=backoff_delays(2, 0.1))
    publisher = RabbitPublisher(url, topology=topology, capacity=100_000)
    consumer = RabbitConsumer(url, topology=topology, max_attempts=2)
    await publisher.connect()
    await consumer.connect()
    yield publisher, consumer
    await consumer.close()
    await publisher.close()


@pytest.fixture
async def archive(tmp_path):
    storage = open_archive((tmp_path / "archive").as_uri())
    await storage.connect()
    return storage


async def start_service(consumer, storage, **settings):
    holder: list[ArchiveService] = []
    recording = Recording(storage, holder)
    values = {"batch_events": 1000, "batch_seconds": 600.0, "max_events": 1000, **settings}
    service = ArchiveService(consumer=consumer, storage=recording, **values)
    holder.append(service)
    await service.start()
    return service, recording


def archived(storage, party="p1", count=None):
    async def check() -> bool:
        table = await read_party(storage, party, [DAY])
        return table.num_rows == count

    return check


async def test_a_party_s_end_writes_its_open_batch_at_once(queue, archive):
    publisher, consumer = queue
    service, recording = await start_service(consumer, archive)
    for n in range(1, 6):
        await publisher.publish(a_share(n))
    await publisher.publish(a_share(1, party="p2"))
    await publisher.publish(PartyEnded("p1:ended", "p1", AT + timedelta(hours=1)))
    await eventually(archived(archive, count=6))
    table = await read_party(archive, "p1", [DAY])
    assert table.column("event_id").to_pylist()[-1] == "p1:ended"
    assert recording.puts == [p for p in recording.puts if "party_id=p1/" in p]  # p2 still open
    await service.stop()  # writes p2's batch
    assert (await read_party(archive, "p2", [DAY])).num_rows == 1
    assert service.held == 0


async def test_a_batch_is_written_when_full_and_when_old(queue, archive):
    publisher, consumer = queue
    service, recording = await start_service(
        consumer, archive, batch_events=3, batch_seconds=0.5, max_events=10
    )
    for n in range(1, 8):
        await publisher.publish(a_share(n))
    await eventually(archived(archive, count=7))  # two full batches, then the rest by age
    assert len(recording.puts) == 3
    await service.stop()


async def test_memory_stays_bounded_by_max_events(queue, archive):
    publisher, consumer = queue
    # Many parties with small open batches: the largest is written early to make room.
    service, recording = await start_service(
        consumer, archive, batch_events=50, batch_seconds=600, max_events=50
    )
    for n in range(400):
        await publisher.publish(a_share(n, party=f"p{n % 20}"))
    total = 0

    async def all_written() -> bool:
        nonlocal total
        total = 0
        for party in range(20):
            total += (await read_party(archive, f"p{party}", [DAY])).num_rows
        # Every event written or held (a delivery on its way is neither yet; on stop it would
        # go back to the queue, not into a batch), and at most max_events of them held.
        return total + service.held == 400

    await eventually(all_written)
    assert total >= 400 - 50 and max(recording.held_at_puts) <= 50
    await service.stop()
    assert sum([(await read_party(archive, f"p{p}", [DAY])).num_rows for p in range(20)]) == 400


async def test_a_failing_storage_holds_the_events_until_it_works(queue, tmp_path):
    publisher, consumer = queue
    # The archive folder's place is taken by a file: every write fails, as on a full disk.
    blocked = tmp_path / "archive"
    blocked.write_text("not a folder")
    storage = open_archive(blocked.as_uri())
    service, recording = await start_service(consumer, storage, batch_events=2)
    for n in range(1, 5):
        await publisher.publish(a_share(n))

    async def held_all() -> bool:
        return service.held == 4

    await eventually(held_all)
    assert recording.puts == []
    blocked.unlink()  # the disk has room again
    await eventually(archived(storage, count=4), within=30)
    assert service.held == 0
    await service.stop()


async def test_an_s3_outage_backs_up_and_nothing_is_lost(rabbitmq_server, moto_server, monkeypatch):
    """On RabbitMQ and S3: the bucket is gone (every put fails) until it is made again."""
    for name, value in AWS_ENV.items():
        monkeypatch.setenv(name, value)
    url = new_bucket(moto_server.url)
    storage = open_archive(url, s3_endpoint=moto_server.url)
    await storage.connect()
    drop_bucket(moto_server.url, url)
    topology = Topology(prefix=unique_prefix(), retry_delays=backoff_delays(2, 0.1))
    publisher = RabbitPublisher(rabbitmq_server.url, topology=topology)
    consumer = RabbitConsumer(rabbitmq_server.url, topology=topology, max_attempts=2)
    await publisher.connect()
    await consumer.connect()
    try:
        service, _ = await start_service(consumer, storage, batch_events=5)
        for n in range(1, 11):
            await publisher.publish(a_share(n))
        await publisher.publish(PartyJoined("join-1", "p1", "u1", AT))
        await publisher.publish(PartyEnded("p1:ended", "p1", AT))

        async def held_all() -> bool:
            return service.held == 12

        await eventually(held_all)
        make_bucket(moto_server.url, url)
        await eventually(archived(storage, count=12), within=60)
        await service.stop()
    finally:
        await consumer.close()
        await publisher.close()
        await storage.close()


async def test_hold_delivers_at_most_limit_unsettled(queue):
    """Without the bound, all 12 would arrive at once and the count would never be 5."""
    publisher, consumer = queue
    received: list = []
    await consumer.hold("archive", received.append, limit=5)
    for n in range(12):
        await publisher.publish(a_share(n))

    def got(count: int):
        async def check() -> bool:
            return len(received) == count

        return check

    await eventually(got(5))
    for held in received[:5]:
        await held.ack()
    await eventually(got(10))
    await received[5].ack()  # one more settled lets one more in
    await eventually(got(11))
    for held in received[6:]:
        await held.ack()
