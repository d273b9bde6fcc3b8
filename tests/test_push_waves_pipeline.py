"""The start push in waves with every role in its own process: a `party-engine scheduler` starts
the party, a worker (`python -m workers`) plans its waves and sends them through RabbitMQ (the
later ones hop through the retry queue until due), on Redis, with the embedded push recording
each notice in Redis. Every follower is notified once, no wave before its time, and each wave
is announced as `push.sent` on the events exchange."""

import uuid
from datetime import UTC, datetime, timedelta

import aio_pika
import orjson
import pytest

from party_engine.backends.devices_redis import RedisDeviceStore
from party_engine.backends.store_redis import RedisStore
from party_engine.config import DEFAULT_REDIS_PREFIX
from party_engine.domain.parties import PartyState, schedule_party
from party_engine.domain.push_waves import shard_of
from party_engine.domain.themes import Theme, ThemeKind
from tests.pipeline_helpers import RoleProcess, eventually, role_command

NIKE = Theme(ThemeKind.BRAND, "Nike")
FANS = [f"fan-{n}" for n in range(40)]
SHARDS = 4
# 40 followers, 10 a shard, at 20 a second: a wave every 0.5 s (the bound, 3 s, allows 1 s).
SPACING = timedelta(seconds=0.5)


@pytest.fixture
async def pipeline(redis_url, rabbitmq_server, tmp_path):
    prefix = f"t{uuid.uuid4().hex[:8]}."
    env = {
        "PARTY_REDIS_URL": redis_url,
        "PARTY_AMQP_URL": rabbitmq_server.url,
        "PARTY_AMQP_PREFIX": prefix,
        "PARTY_PUSH_URL": "memory://",
        "PARTY_JWT_SECRET": "a-test-secret-that-is-long-enough-for-hs256",
        "PARTY_REMINDER_MINUTES": "0",
        "PARTY_PUSH_SHARDS": str(SHARDS),
        "PARTY_PUSH_WAVE_JOINS_PER_SECOND": "20",
        "PARTY_PUSH_WAVE_BOUND_SECONDS": "3",
        "PARTY_RETRY_BASE_SECONDS": "0.2",  # a wave not due hops back every 0.2 s
    }
    # What the workers announce: a queue of our own on the events exchange, for push.sent.
    connection = await aio_pika.connect(rabbitmq_server.url)
    channel = await connection.channel()
    exchange = await channel.declare_exchange(
        f"{prefix}party.events", aio_pika.ExchangeType.TOPIC, durable=True
    )
    sent = await channel.declare_queue(exclusive=True)
    await sent.bind(exchange, "push.sent")
    log_path = tmp_path / "roles.log"
    log = log_path.open("wb")
    roles = [RoleProcess(role_command(role), env, log) for role in ("scheduler", "worker")]
    try:
        yield roles, sent
    finally:
        for role in roles:
            role.kill()
        log.close()
        await connection.close()
    print(log_path.read_text(errors="replace")[-5000:])  # shown when the test failed


async def test_a_start_goes_out_in_waves_through_rabbitmq(redis_url, pipeline):
    roles, sent_queue = pipeline
    store = RedisStore(redis_url, prefix=DEFAULT_REDIS_PREFIX)
    devices = RedisDeviceStore(redis_url, prefix=DEFAULT_REDIS_PREFIX)
    try:
        for fan in FANS:
            await store.follow(fan, NIKE)
        now = datetime.now(UTC)
        await store.create_party(
            schedule_party(
                party_id="p1",
                host_id="h1",
                title="Nike night",
                theme=NIKE,
                starts_at=now + timedelta(seconds=2),
                now=now,
            )
        )

        sent: list[dict] = []

        async def every_wave_sent() -> bool:
            while (message := await sent_queue.get(no_ack=True, fail=False)) is not None:
                sent.append(orjson.loads(message.body))
            return len(sent) >= SHARDS

        await eventually(every_wave_sent, within=60)
        party = await store.get_party("p1")
        assert party.state is PartyState.LIVE
        assert sorted(event["wave"] for event in sent) == list(range(SHARDS))
        assert sum(event["notified"] for event in sent) == len(FANS)
        assert {(event["kind"], event["failed"]) for event in sent} == {("party.started", 0)}
        for role in roles:
            assert role.stop() == 0  # a duplicate, if any, has been pushed by now
        for fan in FANS:
            [notice] = await devices.notices(fan)
            assert notice.data == {"party_id": "p1", "kind": "party.started"}
            # Never before its wave's time (the worker waits for it on the same clock).
            assert notice.at >= party.started_at + SPACING * shard_of(fan, SHARDS)
    finally:
        await store.close()
        await devices.close()
