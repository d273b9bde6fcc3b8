"""Helpers for the event pipeline tests: events, waiting on conditions, reading party.dead."""

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import aio_pika

from party_engine.domain.events import ShareCreated

AT = datetime(2030, 5, 1, 12, 0, tzinfo=UTC)


def a_share(n: int, *, party: str = "p1", listing: str | None = None, sharer: str | None = None):
    return ShareCreated(
        id=f"share-{n}",
        party_id=party,
        offset=n,
        listing_id=listing or f"l{n % 7}",
        seller_id=f"seller-{n % 3}",
        sharer_id=sharer or f"u{n % 5}",
        at=AT,
    )


def unique_prefix() -> str:
    return f"t{uuid.uuid4().hex[:8]}."


async def eventually(check: Callable[[], Awaitable[bool]], within: float = 20.0) -> None:
    """Wait until `check()` is true; fail after `within` seconds."""
    deadline = asyncio.get_running_loop().time() + within
    while not await check():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"condition not met within {within} s")
        await asyncio.sleep(0.02)


async def read_queue(url: str, queue: str) -> list[aio_pika.abc.AbstractIncomingMessage]:
    """Take every message now in `queue` (acknowledged)."""
    connection = await aio_pika.connect(url)
    async with connection:
        channel = await connection.channel()
        declared = await channel.get_queue(queue)  # passive: whatever its type and arguments
        messages = []
        while (message := await declared.get(no_ack=True, fail=False)) is not None:
            messages.append(message)
        return messages


async def publish_raw(url: str, exchange: str, routing_key: str, body: bytes) -> None:
    connection = await aio_pika.connect(url)
    async with connection:
        channel = await connection.channel()
        target = await channel.get_exchange(exchange)
        await target.publish(aio_pika.Message(body), routing_key)


def role_command(role: str) -> list[str]:
    """How a role runs as its own process: `python -m workers`, or `party-engine <role>`."""
    if role == "worker":
        return [sys.executable, "-m", "workers"]
    return [str(Path(sys.executable).parent / "party-engine"), role]


class RoleProcess:
    """A role as a child process with `env` over this one's, its output into `log`."""

    def __init__(self, command: list[str], env: dict[str, str], log) -> None:
        self.process = subprocess.Popen(
            command, env={**os.environ, **env}, stdout=log, stderr=subprocess.STDOUT
        )

    def stop(self, timeout: float = 30) -> int:
        """SIGTERM, and the exit code."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=timeout)
        finally:
            self.kill()

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()


@contextlib.contextmanager
def role_processes(log_path: Path) -> Iterator[Callable[[str, dict[str, str]], RoleProcess]]:
    """start(role, env) runs a role as a process logging into `log_path`; on the way out every
    one started is killed and the log's tail printed (pytest shows it when the test failed)."""
    started: list[RoleProcess] = []
    with open(log_path, "wb") as log:

        def start(role: str, env: dict[str, str]) -> RoleProcess:
            process = RoleProcess(role_command(role), env, log)
            started.append(process)
            return process

        try:
            yield start
        finally:
            for process in started:
                process.kill()
    print(log_path.read_text(errors="replace")[-5000:])
