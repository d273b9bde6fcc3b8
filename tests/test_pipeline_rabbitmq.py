"""The event pipeline end to end on real servers: gateway-side publisher -> RabbitMQ -> worker
processes (`python -m workers`) -> counters in Redis. Each test uses its own queue prefix on
the session's RabbitMQ and a flushed Redis."""

import asyncio

import aio_pika
import pytest

from party_engine.backends.consume_rabbitmq import RabbitConsumer
from party_engine.backends.ledger_redis import RedisLedger
from party_engine.backends.queue_rabbitmq import RabbitPublisher
from party_engine.backends.queue_topology import COUNTERS, Topology, backoff_delays
from party_engine.backends.store_memory import MemoryStore
from party_engine.config import DEFAULT_REDIS_PREFIX
from party_engine.ports import PartyStats
from tests.pipeline_helpers import (
    RoleProcess,
    a_share,
    eventually,
    publish_raw,
    read_queue,
    role_command,
    unique_prefix,
)
from workers.counters import CountersHandler

SHARES = 1000
# What 1,000 shares of a_share() add up to: listing n%7, sharer n%5.
EXPECTED = PartyStats(shares=SHARES, likes=0, listings=7, sharers=5)


@pytest.fixture
def topology() -> Topology:
    return Topology(prefix=unique_prefix(), retry_delays=backoff_delays(5, 0.1))


@pytest.fixture
async def ledger(redis_url):
    ledger = RedisLedger(redis_url, prefix=DEFAULT_REDIS_PREFIX, done_seconds=86_400)
    yield ledger
    await ledger.close()


@pytest.fixture
async def publisher(rabbitmq_server, topology):
    publisher = RabbitPublisher(rabbitmq_server.url, topology=topology, capacity=SHARES * 2)
    await publisher.connect()
    yield publisher
    await publisher.close()


@pytest.fixture
def workers(rabbitmq_server, redis_url, topology, tmp_path):
    started: list[RoleProcess] = []
    log_path = tmp_path / "workers.log"

    with open(log_path, "wb") as log:
        env = {
            "PARTY_AMQP_URL": rabbitmq_server.url,
            "PARTY_REDIS_URL": redis_url,
            "PARTY_AMQP_PREFIX": topology.prefix,
            "PARTY_RETRY_BASE_SECONDS": "0.1",
            # A killed worker's locks hold its events back this long.
            "PARTY_EVENT_LOCK_SECONDS": "1",
            "PARTY_JWT_SECRET": "test-secret-that-is-long-enough-for-hs256!",
        }

        def start() -> RoleProcess:
            worker = RoleProcess(role_command("worker"), env, log)
            started.append(worker)
            return worker

        yield start
        for worker in started:
            worker.kill()
    # Shown by pytest when the test failed.
    print(log_path.read_text(errors="replace")[-5000:])


def stats_reach(ledger: RedisLedger, expected: PartyStats):
    async def check() -> bool:
        return await ledger.party_stats("p1") == expected

    return check


async def test_a_worker_killed_mid_run_loses_and_doubles_nothing(publisher, ledger, workers):
    first = workers()
    for n in range(SHARES // 2):
        await publisher.publish(a_share(n))

    async def some_counted() -> bool:
        return (await ledger.party_stats("p1")).shares > 0

    await eventually(some_counted, within=30)
    first.process.kill()  # SIGKILL: no chance to ack, release or flush anything
    first.kill()
    for n in range(SHARES // 2, SHARES):
        await publisher.publish(a_share(n))
    assert (await ledger.party_stats("p1")).shares < SHARES

    second = workers()
    await eventually(stats_reach(ledger, EXPECTED), within=60)
    assert second.stop() == 0, "a worker stops cleanly on SIGTERM"
    assert await ledger.party_stats("p1") == EXPECTED


async def test_the_same_event_published_twice_counts_once(
    rabbitmq_server, publisher, ledger, topology
):
    consumer = RabbitConsumer(rabbitmq_server.url, topology=topology, max_attempts=5)
    await consumer.connect()
    await consumer.consume(COUNTERS, CountersHandler(ledger, MemoryStore(), lock_seconds=5))
    try:
        for n in range(10):
            await publisher.publish(a_share(n))
        await publisher.publish(a_share(3))
        await eventually(stats_reach(ledger, PartyStats(10, 0, 7, 5)))
        # A late duplicate, after the first copy was done.
        await publisher.publish(a_share(3))
        await publisher.publish(a_share(10))
        await eventually(stats_reach(ledger, PartyStats(11, 0, 7, 5)))
    finally:
        await consumer.close()


async def test_every_share_accepted_while_rabbitmq_restarts_reaches_the_counters(
    rabbitmq_server, publisher, ledger, workers
):
    worker = workers()
    accepted = 0
    restarted = asyncio.Event()

    async def publish_steadily() -> None:
        # As the gateway does: a share is refused (`unavailable`) while the buffer is full.
        nonlocal accepted
        while not restarted.is_set():
            for _ in range(5):
                if publisher.has_room():
                    await publisher.publish(a_share(accepted))  # returned: accepted
                    accepted += 1
            await asyncio.sleep(0.01)

    publishing = asyncio.create_task(publish_steadily())

    async def flowing() -> bool:
        # The worker is up and consuming (a worker that cannot reach RabbitMQ at start exits,
        # for its supervisor to restart it; that is not what this test is about).
        return accepted > 100 and (await ledger.party_stats("p1")).shares > 0

    await eventually(flowing)
    before = accepted
    await asyncio.to_thread(rabbitmq_server.restart)
    during = accepted - before
    restarted.set()
    await publishing
    assert during > 0, "shares were accepted while RabbitMQ was down or starting"

    expected = PartyStats(shares=accepted, likes=0, listings=7, sharers=5)
    await eventually(stats_reach(ledger, expected), within=90)
    assert worker.stop() == 0


async def test_a_malformed_body_is_parked_dead_at_once_and_the_worker_carries_on(
    rabbitmq_server, publisher, ledger, workers, topology
):
    workers()
    url = rabbitmq_server.url
    await publish_raw(url, topology.exchange, "share.created", b"this is not json")
    await publish_raw(url, topology.exchange, "share.created", b'{"type": "share.created"}')
    for n in range(10):
        await publisher.publish(a_share(n))
    await eventually(stats_reach(ledger, PartyStats(10, 0, 7, 5)), within=30)

    dead: list = []

    async def both_parked_by_the_counters() -> bool:
        dead.extend(await read_queue(url, topology.dead_queue))
        return sum(message.headers["x-queue"] == COUNTERS for message in dead) == 2

    await eventually(both_parked_by_the_counters)
    reasons = sorted(m.headers["x-error"] for m in dead if m.headers["x-queue"] == COUNTERS)
    assert reasons[0].startswith("malformed body: body is not JSON")
    assert reasons[1] == "malformed body: missing field 'id'"
    assert all(message.headers["x-attempts"] == 1 for message in dead)


async def _now(value: bool) -> bool:
    return value


async def test_a_message_its_workers_die_on_is_dead_lettered_after_the_delivery_limit(
    rabbitmq_server, ledger
):
    """A poison message that kills each worker taking it (no handler error to count) is
    returned to the quorum queue each time; past the delivery limit RabbitMQ dead-letters it
    into party.dead.q with reason delivery_limit, and the events behind it flow."""
    topology = Topology(prefix=unique_prefix(), retry_delays=(0.1,), delivery_limit=2)
    url = rabbitmq_server.url
    publisher = RabbitPublisher(url, topology=topology)
    await publisher.connect()
    try:
        await publisher.publish(a_share(1))
        await publisher.flush()
    finally:
        await publisher.close()

    deliveries = 0
    dead: list = []
    while not dead:
        # A worker takes the message and dies before settling it: its connection goes away.
        connection = await aio_pika.connect(url)
        channel = await connection.channel()
        queue = await channel.get_queue(topology.queue(COUNTERS))
        message = await queue.get(fail=False)
        if message is not None:
            assert message.message_id == "share-1"
            deliveries += 1
        await connection.close()
        assert deliveries <= topology.delivery_limit + 1, "delivered past its limit"
        dead = await read_queue(url, topology.dead_queue)

    [parked] = dead
    assert parked.message_id == "share-1"
    assert deliveries == topology.delivery_limit + 1
    [death] = parked.headers["x-death"]
    assert death["reason"] == "delivery_limit"
    assert death["queue"] == topology.queue(COUNTERS)

    consumer = RabbitConsumer(url, topology=topology, max_attempts=5)
    await consumer.connect()
    await consumer.consume(COUNTERS, CountersHandler(ledger, MemoryStore(), lock_seconds=5))
    try:
        publisher = RabbitPublisher(url, topology=topology)
        await publisher.connect()
        await publisher.publish(a_share(2))
        await publisher.close()
        await eventually(stats_reach(ledger, PartyStats(1, 0, 1, 1)))
    finally:
        await consumer.close()
