"""Two `party-engine scheduler` processes on one real Redis, and a `party-engine worker` that
pushes what they announce over RabbitMQ: every party starts exactly once, on time, with exactly
one start push and one reminder (both replicas re-announce recent starts; the worker skips the
copies).

The embedded push records notices in the device store, which is Redis here, so every push lands
in one place where the test can count them.
"""

import asyncio
import os
import signal
import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import redis.asyncio as redis

from party_engine.backends.devices_redis import RedisDeviceStore
from party_engine.backends.store_redis import RedisStore
from party_engine.config import DEFAULT_REDIS_PREFIX
from party_engine.domain.parties import PartyState, schedule_party
from party_engine.domain.themes import Theme, ThemeKind

PARTY_ENGINE = str(Path(sys.executable).parent / "party-engine")
NIKE = Theme(ThemeKind.BRAND, "Nike")
PARTIES = 6
KINDS = ("party.started", "party.reminder")


def start_role(role: str, redis_url: str, amqp_url: str, amqp_prefix: str) -> subprocess.Popen:
    env = {
        **os.environ,
        "PARTY_REDIS_URL": redis_url,
        "PARTY_AMQP_URL": amqp_url,
        "PARTY_AMQP_PREFIX": amqp_prefix,
        "PARTY_PUSH_URL": "memory://",
        "PARTY_JWT_SECRET": "a-test-secret-that-is-long-enough-for-hs256",
        "PARTY_REMINDER_MINUTES": "15",
    }
    return subprocess.Popen([PARTY_ENGINE, role], env=env, stderr=subprocess.PIPE)


async def wait_until(condition, within: float, what: str) -> None:
    deadline = asyncio.get_running_loop().time() + within
    while not await condition():
        assert asyncio.get_running_loop().time() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.05)


@pytest.fixture
async def replicas(redis_url, rabbitmq_server):
    prefix = f"t{uuid.uuid4().hex[:8]}."
    processes = [
        start_role(role, redis_url, rabbitmq_server.url, prefix)
        for role in ("scheduler", "scheduler", "worker")
    ]
    yield processes
    for process in processes:
        if process.poll() is None:
            process.kill()
        process.wait(10)
        process.stderr.close()


async def test_two_replicas_start_each_party_once_on_time_and_push_once(redis_url, replicas):
    store, devices = (
        RedisStore(redis_url, prefix=DEFAULT_REDIS_PREFIX),
        RedisDeviceStore(redis_url, prefix=DEFAULT_REDIS_PREFIX),
    )
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    try:

        async def leader_elected() -> bool:
            for process in replicas:
                assert process.poll() is None, process.stderr.read().decode()[-3000:]
            return bool(await client.exists("pe:lease:party-clock"))

        await wait_until(leader_elected, 20, "a leader")

        await store.follow("fan", NIKE)
        now = datetime.now(UTC)
        for index in range(PARTIES):
            await store.create_party(
                schedule_party(
                    party_id=f"p{index}",
                    host_id="h1",
                    title=f"party {index}",
                    theme=NIKE,
                    starts_at=now + timedelta(seconds=3 + index * 0.2),
                    now=now,
                )
            )

        async def all_live() -> bool:
            parties = [await store.get_party(f"p{i}") for i in range(PARTIES)]
            return all(party.state is PartyState.LIVE for party in parties)

        await wait_until(all_live, 15, "every party to go live")
        for index in range(PARTIES):
            party = await store.get_party(f"p{index}")
            assert party.version == 2  # created, then started: one transition
            assert party.started_at - party.starts_at < timedelta(seconds=1)

        async def notices_of(kind: str) -> list[str]:
            notices = await devices.notices("fan", limit=100)
            return sorted(n.data["party_id"] for n in notices if n.data["kind"] == kind)

        async def all_pushed() -> bool:
            counts = [len(await notices_of(kind)) for kind in KINDS]
            return min(counts) >= PARTIES

        await wait_until(all_pushed, 15, "every push")
        # Stop them all; a duplicate push, if any, has happened by the time they exit.
        for process in replicas:
            process.send_signal(signal.SIGTERM)
        for process in replicas:
            assert process.wait(15) == 0, process.stderr.read().decode()

        for kind in KINDS:
            assert await notices_of(kind) == [f"p{i}" for i in range(PARTIES)]
    finally:
        await client.aclose()
        await store.close()
        await devices.close()
