"""Each role as a real process (`party-engine serve | worker | scheduler`) while its backends are
down: it starts anyway (alive, not ready), connects each backend once it answers, and stops on
SIGTERM within its shutdown budget (PARTY_SHUTDOWN_SECONDS) whatever its backends are doing."""

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import aio_pika
import httpx
import pytest
import redis.asyncio as redis

from party_engine.backends.queue_topology import COUNTERS, Topology
from party_engine.config import DEFAULT_REDIS_PREFIX
from tests.gateway_harness import SECRET, Client, seed_over_http, token, wait_for
from tests.servers import RabbitMQServer, RedisServer, free_port

PARTY_ENGINE = str(Path(sys.executable).parent / "party-engine")
# Small budgets, so that a test measures that the process keeps to its budget in seconds, not
# that it fits the grace periods of docker-compose.yml (test_deployment_files.py checks those).
SHUTDOWN_SECONDS = 5.0
DRAIN_SECONDS = 2.0
# What a Python process takes to exit once its shutdown is done (interpreter teardown).
EXIT_SLACK_SECONDS = 2.0


class RoleProcess:
    """`party-engine <role>` as a child process, its output kept in a file for failures."""

    def __init__(self, role: str, log_dir: Path, *, redis_url: str, amqp_url: str) -> None:
        self.role = role
        self.port = free_port()
        self.http = f"http://127.0.0.1:{self.port}"
        self.ws = f"ws://127.0.0.1:{self.port}/ws"
        self.log_path = log_dir / f"{role}.log"
        self.env = {
            **os.environ,
            "PARTY_REDIS_URL": redis_url,
            "PARTY_AMQP_URL": amqp_url,
            "PARTY_PUSH_URL": "memory://",
            "PARTY_JWT_SECRET": SECRET,
            "PARTY_PORT": str(self.port),
            "PARTY_GC_FREEZE_SECONDS": "0",
            "PARTY_SHUTDOWN_SECONDS": str(SHUTDOWN_SECONDS),
            "PARTY_DRAIN_SECONDS": str(DRAIN_SECONDS),
        }
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> "RoleProcess":
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                [PARTY_ENGINE, self.role], env=self.env, stdout=log, stderr=subprocess.STDOUT
            )
        return self

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:]

    def assert_alive(self) -> None:
        assert self.process is not None
        code = self.process.poll()
        assert code is None, f"{self.role} exited with {code}:\n{self.output()}"

    async def terminate(self) -> tuple[float, int | None]:
        """SIGTERM; (seconds until it exited, exit code), the code None if it did not exit
        within its budget and the slack (it is then killed)."""
        assert self.process is not None
        started = time.monotonic()
        self.process.send_signal(signal.SIGTERM)
        try:
            code = await asyncio.to_thread(
                self.process.wait, SHUTDOWN_SECONDS + EXIT_SLACK_SECONDS + 5
            )
        except subprocess.TimeoutExpired:
            self.kill()
            return time.monotonic() - started, None
        return time.monotonic() - started, code

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()


@pytest.fixture
def roles(tmp_path: Path) -> Iterator[list[RoleProcess]]:
    started: list[RoleProcess] = []
    yield started
    for role in started:
        role.kill()


@pytest.fixture(scope="module")
def own_rabbitmq() -> Iterator[RabbitMQServer]:
    """A RabbitMQ of this module's own, not started: the tests start and kill it."""
    server = RabbitMQServer()
    yield server
    server.close()


async def get(url: str, **headers: str) -> httpx.Response | None:
    try:
        async with httpx.AsyncClient(timeout=2) as http:
            return await http.get(url, headers=headers)
    except httpx.TransportError:
        return None


async def wait_until_answers(gateway: RoleProcess, path: str, status: int, within: float) -> dict:
    deadline = time.monotonic() + within
    while True:
        gateway.assert_alive()
        response = await get(gateway.http + path)
        if response is not None and response.status_code == status:
            return response.json()
        assert time.monotonic() < deadline, f"{path} did not answer {status}: {response}"
        await asyncio.sleep(0.1)


async def assert_join_and_share(gateway: RoleProcess) -> None:
    party, listing = await seed_over_http(gateway.http)
    client = await Client.connect(gateway.ws)
    try:
        assert (await client.join(party))["type"] == "joined"
        ack = await client.reply(type="share", id=1, party=party, listing=listing)
        assert ack == {"type": "ack", "id": 1, "offset": 1}
    finally:
        await client.close()


async def assert_stop_in_time(*roles: RoleProcess) -> None:
    """SIGTERM to each at once: each exits with 0 within its budget."""
    stopped = await asyncio.gather(*(role.terminate() for role in roles))
    outcomes = {
        role.role: (code, round(elapsed, 1))
        for role, (elapsed, code) in zip(roles, stopped, strict=True)
    }
    late = {name: outcome for name, outcome in outcomes.items() if outcome[0] != 0}
    late |= {
        name: outcome
        for name, outcome in outcomes.items()
        if outcome[1] >= SHUTDOWN_SECONDS + EXIT_SLACK_SECONDS
    }
    logs = "\n".join(f"--- {role.role}\n{role.output()}" for role in roles if role.role in late)
    assert not late, f"(exit code, seconds) of each: {outcomes}\n{logs}"


async def test_a_gateway_started_before_rabbitmq_is_alive_not_ready_then_serves(
    redis_url, own_rabbitmq, roles, tmp_path
):
    if own_rabbitmq.running:
        own_rabbitmq.stop()
    gateway = RoleProcess("serve", tmp_path, redis_url=redis_url, amqp_url=own_rabbitmq.url)
    roles.append(gateway.start())

    assert await wait_until_answers(gateway, "/healthz", 200, within=20) == {"status": "ok"}
    problem = await wait_until_answers(gateway, "/readyz", 503, within=1)
    assert "events" in problem["detail"] and "store" not in problem["detail"]

    await asyncio.to_thread(own_rabbitmq.start)
    await wait_until_answers(gateway, "/readyz", 200, within=10)
    await assert_join_and_share(gateway)
    await assert_stop_in_time(gateway)


async def test_a_gateway_started_before_redis_is_alive_not_ready_then_serves(roles, tmp_path):
    with RedisServer() as redis_server:
        redis_server.stop()
        gateway = RoleProcess("serve", tmp_path, redis_url=redis_server.url, amqp_url="memory://")
        roles.append(gateway.start())

        await wait_until_answers(gateway, "/healthz", 200, within=20)
        problem = await wait_until_answers(gateway, "/readyz", 503, within=1)
        assert "store" in problem["detail"] and "events" not in problem["detail"]
        # What needs Redis meanwhile is refused as unavailable, neither a hang nor a 500.
        response = await get(gateway.http + "/parties/p1", Authorization=f"Bearer {token('h1')}")
        assert response is not None and response.status_code == 503, response
        assert response.json()["type"].endswith(":unavailable")
        client = await Client.connect(gateway.ws)
        refused = await client.join("p1")
        assert (refused["type"], refused["code"]) == ("error", "unavailable")
        await client.close()

        await asyncio.to_thread(redis_server.start)
        await wait_until_answers(gateway, "/readyz", 200, within=10)
        await assert_join_and_share(gateway)
        await assert_stop_in_time(gateway)


async def consumers_of(amqp_url: str, queue: str) -> int:
    connection = await aio_pika.connect(amqp_url)
    async with connection:
        channel = await connection.channel()
        declared = await channel.declare_queue(queue, passive=True)
        return declared.declaration_result.consumer_count or 0


async def test_every_role_stops_in_time_after_its_backends_went_away(own_rabbitmq, roles, tmp_path):
    """Redis stopped and the RabbitMQ virtual host removed: each role keeps reconnecting."""
    if not own_rabbitmq.running:
        await asyncio.to_thread(own_rabbitmq.start)
    vhost = "going-away"
    await asyncio.to_thread(own_rabbitmq.rabbitmqctl, "add_vhost", vhost)
    await asyncio.to_thread(
        own_rabbitmq.rabbitmqctl, "set_permissions", "-p", vhost, "guest", ".*", ".*", ".*"
    )
    with RedisServer() as redis_server:
        urls = {"redis_url": redis_server.url, "amqp_url": own_rabbitmq.url + vhost}
        gateway, worker, scheduler, relay, archive = (
            RoleProcess(role, tmp_path, **urls).start()
            for role in ("serve", "worker", "scheduler", "relay", "archive")
        )
        roles.extend((gateway, worker, scheduler, relay, archive))
        await wait_until_answers(gateway, "/readyz", 200, within=20)
        async with redis.Redis.from_url(redis_server.url) as client:
            await wait_for_async(
                lambda: client.exists(f"{DEFAULT_REDIS_PREFIX}lease:party-clock"), "a clock leader"
            )
        await wait_for_async(
            lambda: consumers_of(urls["amqp_url"], Topology().queue(COUNTERS)),
            "the worker to consume",
        )
        listener = await Client.connect(gateway.ws)  # held by the gateway: drained at stop

        await asyncio.to_thread(own_rabbitmq.rabbitmqctl, "delete_vhost", vhost)
        redis_server.kill()
        await wait_until_answers(gateway, "/readyz", 503, within=10)
        for role in (worker, scheduler, relay, archive):
            role.assert_alive()

        await assert_stop_in_time(*roles)
        await listener.close()


async def test_every_role_stops_in_time_while_its_backends_never_answered(roles, tmp_path):
    urls = {
        "redis_url": f"redis://127.0.0.1:{free_port()}/0",
        "amqp_url": f"amqp://guest:guest@127.0.0.1:{free_port()}/",
    }
    for role in ("serve", "worker", "scheduler", "relay", "archive"):
        roles.append(RoleProcess(role, tmp_path, **urls).start())
    await wait_until_answers(roles[0], "/healthz", 200, within=20)
    for role in roles:  # each has tried and failed to connect, and tries again
        await wait_for(lambda role=role: retrying(role), f"{role.role} to retry", timeout=20)
    await assert_stop_in_time(*roles)


def retrying(role: RoleProcess) -> bool:
    role.assert_alive()
    return "not connected yet" in role.output()


async def wait_for_async(condition, what: str, within: float = 20) -> None:
    deadline = time.monotonic() + within
    while not await condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.1)
