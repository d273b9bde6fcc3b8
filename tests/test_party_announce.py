"""Party state changes and start pushes across real processes on one real Redis: a scheduler
process starts the party, a gateway process tells its joined clients, a worker process pushes.

The embedded push records notices in the device store, which is Redis here, so every push of
every process lands in one place where the test can count them.
"""

import asyncio
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import redis.asyncio as redis

from party_engine.backends.devices_redis import RedisDeviceStore
from party_engine.backends.opened import CLOCK_LEASE_TTL_SECONDS
from party_engine.backends.store_redis import RedisStore
from party_engine.config import DEFAULT_REDIS_PREFIX
from party_engine.domain.parties import PartyState, schedule_party
from party_engine.domain.themes import Theme, ThemeKind
from party_engine.gateway.service import STATE_REPAIR_SECONDS
from party_engine.scheduler import DEFAULT_TICK_SECONDS, REANNOUNCE_SECONDS
from tests.gateway_harness import SECRET, Client, GatewayProcess

PARTY_ENGINE = str(Path(sys.executable).parent / "party-engine")
NIKE = Theme(ThemeKind.BRAND, "Nike")
# Process start-up, a loaded machine (other test runs share its 2 cores).
MARGIN = 3.0
# A party started by the clock is live on every joined client within this long of its start.
LIVE_WITHIN = CLOCK_LEASE_TTL_SECONDS + DEFAULT_TICK_SECONDS + MARGIN


def is_party_frame(frame: dict) -> bool:
    return frame["type"] == "party"


class Processes:
    """`party-engine <role>` children, killed at the end of the test."""

    def __init__(self, redis_url: str) -> None:
        self.redis_url = redis_url
        self.children: list[subprocess.Popen[bytes]] = []

    def start(self, role: str, **env: str) -> subprocess.Popen[bytes]:
        child = subprocess.Popen(
            [PARTY_ENGINE, role],
            env={
                **os.environ,
                "PARTY_REDIS_URL": self.redis_url,
                "PARTY_AMQP_URL": "memory://",
                "PARTY_PUSH_URL": "memory://",
                "PARTY_JWT_SECRET": SECRET,
                "PARTY_REMINDER_MINUTES": "0",
                "PARTY_LOG_LEVEL": "warning",
                **env,
            },
        )
        self.children.append(child)
        return child

    def stop(self) -> None:
        for child in self.children:
            if child.poll() is None:
                child.kill()
            child.wait(10)


@pytest.fixture
def processes(redis_url) -> Iterator[Processes]:
    started = Processes(redis_url)
    yield started
    started.stop()


@pytest.fixture
async def store(redis_url):
    store = RedisStore(redis_url, prefix=DEFAULT_REDIS_PREFIX)
    yield store
    await store.close()


@pytest.fixture
def gateway(redis_url) -> Iterator[GatewayProcess]:
    process = GatewayProcess(redis_url).start()
    yield process
    process.stop()


async def wait_until(condition, within: float, what: str) -> None:
    deadline = asyncio.get_running_loop().time() + within
    while not await condition():
        assert asyncio.get_running_loop().time() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.05)


async def a_leader(redis_url: str, *children: subprocess.Popen[bytes]) -> None:
    client = redis.Redis.from_url(redis_url)
    try:

        async def elected() -> bool:
            assert all(child.poll() is None for child in children), "a scheduler exited"
            return bool(await client.exists(f"{DEFAULT_REDIS_PREFIX}lease:party-clock"))

        await wait_until(elected, 30, "a clock leader")
    finally:
        await client.aclose()


async def a_party(store: RedisStore, *, starts_in: float, party_id: str = "p1") -> datetime:
    now = datetime.now(UTC)
    starts_at = now + timedelta(seconds=starts_in)
    await store.create_party(
        schedule_party(
            party_id=party_id,
            host_id="h1",
            title="Nike night",
            theme=NIKE,
            starts_at=starts_at,
            now=now,
        )
    )
    return starts_at


async def a_joined_client(gateway: GatewayProcess, party_id: str = "p1") -> Client:
    client = await Client.connect(gateway.url)
    joined = await client.join(party_id)
    assert joined["type"] == "joined" and joined["snapshot"]["state"] == "scheduled"
    return client


async def live_within(client: Client, starts_at: datetime, seconds: float) -> None:
    left = (starts_at - datetime.now(UTC)).total_seconds() + seconds
    frame = await client.until(is_party_frame, timeout=left)
    assert frame == {"type": "party", "party": "p1", "state": "live"}


async def no_more_party_frames(client: Client) -> None:
    """Nothing more for a whole repair round (and a margin): no duplicate of a state."""
    with pytest.raises(TimeoutError):
        await client.until(is_party_frame, timeout=STATE_REPAIR_SECONDS + 1)


async def test_a_party_started_by_a_scheduler_process_is_live_on_a_gateways_clients(
    redis_url, processes, store, gateway
):
    scheduler = processes.start("scheduler")
    await a_leader(redis_url, scheduler)
    starts_at = await a_party(store, starts_in=2)
    client = await a_joined_client(gateway)
    try:
        await live_within(client, starts_at, LIVE_WITHIN)
        await no_more_party_frames(client)  # the broadcast and the repair tell it once
    finally:
        await client.close()


async def test_a_state_saved_without_its_broadcast_reaches_joined_clients_by_the_repair(
    store, gateway
):
    await a_party(store, starts_in=3600)
    client = await a_joined_client(gateway)
    try:
        # As if the process that started the party died between the save and the broadcast.
        party = await store.get_party("p1")
        await store.save_party(party.start(datetime.now(UTC)))
        frame = await client.until(is_party_frame, timeout=STATE_REPAIR_SECONDS + MARGIN)
        assert frame == {"type": "party", "party": "p1", "state": "live"}
        await no_more_party_frames(client)
    finally:
        await client.close()


async def test_a_leader_killed_after_saving_a_start_loses_neither_push_nor_announcement(
    redis_url, rabbitmq_server, processes, store, gateway
):
    pipeline = {
        "PARTY_AMQP_URL": rabbitmq_server.url,
        "PARTY_AMQP_PREFIX": f"t{uuid.uuid4().hex[:8]}.",
    }
    processes.start("worker", **pipeline)
    # The first leader keeps its events in memory (no worker in its process): killed, it loses
    # the start event exactly as a leader killed before RabbitMQ confirmed it would.
    doomed = processes.start("scheduler")
    await a_leader(redis_url, doomed)
    processes.start("scheduler", **pipeline)
    devices = RedisDeviceStore(redis_url, prefix=DEFAULT_REDIS_PREFIX)
    await store.follow("fan", NIKE)
    starts_at = await a_party(store, starts_in=2)
    client = await a_joined_client(gateway)
    try:

        async def started() -> bool:
            return (await store.get_party("p1")).state is PartyState.LIVE

        await wait_until(started, 15, "the start")
        doomed.send_signal(signal.SIGKILL)
        await live_within(client, starts_at, LIVE_WITHIN)

        async def start_pushes() -> list[str]:
            notices = await devices.notices("fan", limit=100)
            return [n.data["party_id"] for n in notices if n.data["kind"] == "party.started"]

        async def pushed() -> bool:
            return bool(await start_pushes())

        # The new leader takes the lease, re-announces the start, and the worker pushes.
        within = CLOCK_LEASE_TTL_SECONDS + REANNOUNCE_SECONDS + 2 * MARGIN
        await wait_until(pushed, within, "the start push")
        # Two more re-announcements of the same start: the worker skips them.
        await asyncio.sleep(2 * REANNOUNCE_SECONDS + 1)
        assert await start_pushes() == ["p1"]
    finally:
        await client.close()
        await devices.close()
