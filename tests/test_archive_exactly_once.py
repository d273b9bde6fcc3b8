"""The archive with every role in its own process, on RabbitMQ: an archive worker SIGKILLed
while it holds unwritten batches, plus redelivered duplicates, leaves every event in what the
reader returns exactly once; and a party played through a gateway, a relay and an archive
worker is replayed by GET /parties/{id}/archive after it ends."""

import asyncio
from datetime import UTC, datetime, timedelta

import aio_pika
import httpx
import pytest

from party_engine.archive.layout import party_prefix
from party_engine.archive.reading import read_party
from party_engine.archive.rows import from_parquet
from party_engine.backends import open_archive
from party_engine.backends.queue_rabbitmq import RabbitPublisher
from party_engine.backends.queue_topology import ARCHIVE, Topology
from party_engine.domain.events import PartyEnded
from party_engine.tokens import UserRole
from tests.gateway_harness import SECRET, Client, GatewayProcess, seed_over_http, token
from tests.metered_role import scrape
from tests.pipeline_helpers import (
    AT,
    a_share,
    eventually,
    role_processes,
    unique_prefix,
)
from tests.servers import free_port

DAY = AT.date()
PARTIES = ("p0", "p1", "p2")
EVENTS = 1000  # 334, 333, 333 per party: six batches of 50 each, and 34 or 33 left open
EXPECTED = {"p0": 335, "p1": 334, "p2": 334}  # and each party's end


@pytest.fixture
def roles(tmp_path):
    with role_processes(tmp_path / "roles.log") as start:
        yield start


@pytest.fixture
async def storage(tmp_path):
    storage = open_archive((tmp_path / "archive").as_uri())
    await storage.connect()
    return storage


async def ready_messages(url: str, queue: str) -> int:
    connection = await aio_pika.connect(url)
    async with connection:
        channel = await connection.channel()
        declared = await channel.get_queue(queue)  # passive
        return declared.declaration_result.message_count or 0


async def raw_rows(storage, party: str) -> int:
    keys = await storage.keys(party_prefix(DAY, party))
    return sum([from_parquet(await storage.get(key)).num_rows for key in keys])


async def test_an_archive_worker_killed_mid_batch_loses_and_doubles_nothing(
    rabbitmq_server, storage, roles
):
    topology = Topology(prefix=unique_prefix())
    env = {
        "PARTY_AMQP_URL": rabbitmq_server.url,
        "PARTY_AMQP_PREFIX": topology.prefix,
        "PARTY_ARCHIVE_URL": storage.root.as_uri(),
        "PARTY_JWT_SECRET": SECRET,
        "PARTY_ARCHIVE_BATCH_EVENTS": "50",
        "PARTY_ARCHIVE_BATCH_SECONDS": "600",
        "PARTY_ARCHIVE_MAX_EVENTS": "2000",  # only full batches are written early
        "PARTY_LOG_LEVEL": "warning",
    }
    publisher = RabbitPublisher(rabbitmq_server.url, topology=topology, capacity=10_000)
    await publisher.connect()
    try:
        events = [a_share(n, party=PARTIES[n % 3]) for n in range(EVENTS)]
        for event in events:
            await publisher.publish(event)
        await publisher.flush()
        first = roles("archive", env)

        async def full_batches_written() -> bool:
            return len(await storage.keys("events/")) == 18

        await eventually(full_batches_written, within=60)

        # Nothing ready in the queue: the 100 events of the open batches are held, unacked.
        async def all_delivered() -> bool:
            return await ready_messages(rabbitmq_server.url, topology.queue(ARCHIVE)) == 0

        await eventually(all_delivered)
        assert len(await storage.keys("events/")) == 18  # and none of them written
        first.kill()  # SIGKILL, mid-batch

        # A relay's redelivery: 200 events already written come again, with the same ids.
        for event in events[:200]:
            await publisher.publish(event)
        for party in PARTIES:
            await publisher.publish(PartyEnded(f"{party}:ended", party, AT + timedelta(hours=1)))
        await publisher.flush()
        roles("archive", env)

        async def every_party_complete() -> bool:
            for party in PARTIES:
                table = await read_party(storage, party, [DAY])
                if table.num_rows != EXPECTED[party]:
                    return False
            return True

        await eventually(every_party_complete, within=60)
        written = {party: await read_party(storage, party, [DAY]) for party in PARTIES}
        ids = [i for table in written.values() for i in table.column("event_id").to_pylist()]
        assert len(ids) == len(set(ids))
        assert set(ids) == {e.id for e in events} | {f"{p}:ended" for p in PARTIES}
        # The duplicates did reach the objects: the reader is what removes them.
        assert sum([await raw_rows(storage, p) for p in PARTIES]) > len(ids)
    finally:
        await publisher.close()


async def test_a_party_through_gateway_relay_and_archive_is_replayed_after_its_end(
    rabbitmq_server, redis_url, storage, roles
):
    env = {
        "PARTY_REDIS_URL": redis_url,
        "PARTY_AMQP_URL": rabbitmq_server.url,
        "PARTY_AMQP_PREFIX": unique_prefix(),
        "PARTY_PUSH_URL": "memory://",
        "PARTY_ARCHIVE_URL": storage.root.as_uri(),
        "PARTY_ARCHIVE_BATCH_SECONDS": "1",
        "PARTY_JWT_SECRET": SECRET,
        "PARTY_LOG_LEVEL": "warning",
    }
    gateway = GatewayProcess(redis_url, **env).start()
    try:
        roles("relay", env)
        roles("archive", env)
        party, listing = await seed_over_http(gateway.http)
        client = await Client.connect(gateway.url, user="shopper-1")
        await client.join(party)
        offsets = []
        for n in range(3):
            offsets.append(
                (await client.reply(type="share", party=party, listing=listing, id=n + 1))["offset"]
            )
        await client.reply(type="leave", party=party, id=9)
        await client.close()
        host = {"Authorization": f"Bearer {token('host-1', UserRole.HOST)}"}
        async with httpx.AsyncClient(base_url=gateway.http, headers=host) as http:
            (await http.post(f"/parties/{party}/end")).raise_for_status()
            replayed: list[bytes] = []

            async def replayed_all() -> bool:
                nonlocal replayed
                reply = (await http.get(f"/parties/{party}/archive")).raise_for_status()
                replayed = reply.content.splitlines()
                return len(replayed) == 3

            await eventually(replayed_all, within=30)
        today = datetime.now(UTC).date()
        table = await read_party(storage, party, [today - timedelta(days=1), today])
        kinds = table.column("type").to_pylist()
        assert sorted(kinds) == sorted(
            ["party.started", "party.joined", "party.left", "party.ended"] + ["share.created"] * 3
        )
        users = dict(zip(kinds, table.column("user_id").to_pylist(), strict=True))
        assert users["party.joined"] == users["party.left"] == "shopper-1"
        assert sorted(table.column("offset").drop_null().to_pylist()) == sorted(offsets)
    finally:
        gateway.stop()


async def test_a_stopped_archive_worker_writes_its_open_batches_first(
    rabbitmq_server, storage, roles
):
    topology = Topology(prefix=unique_prefix())
    metrics_port = free_port()
    env = {
        "PARTY_AMQP_URL": rabbitmq_server.url,
        "PARTY_AMQP_PREFIX": topology.prefix,
        "PARTY_ARCHIVE_URL": storage.root.as_uri(),
        "PARTY_JWT_SECRET": SECRET,
        "PARTY_LOG_LEVEL": "warning",
        "PARTY_METRICS_PORT": str(metrics_port),
    }
    publisher = RabbitPublisher(rabbitmq_server.url, topology=topology)
    await publisher.connect()
    try:
        for n in range(30):
            await publisher.publish(a_share(n, party=PARTIES[n % 3]))
        await publisher.flush()
        archive = roles("archive", env)

        async def all_held() -> bool:
            # Delivered to the process is not yet taken into a batch: its own gauge says that.
            return await held_events(metrics_port) == 30

        await eventually(all_held)
        assert await storage.keys("events/") == []  # open batches: 10,000 events or 60 s
        assert await asyncio.to_thread(archive.stop) == 0  # SIGTERM
        for party in PARTIES:
            assert (await read_party(storage, party, [DAY])).num_rows == 10
    finally:
        await publisher.close()


async def held_events(metrics_port: int) -> float | None:
    """The archive worker's `party_archive_held_events`, None while its /metrics is not up."""
    try:
        return await scrape(metrics_port, "party_archive_held_events")
    except httpx.TransportError:
        return None
