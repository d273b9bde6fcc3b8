"""Opening and closing the RabbitMQ connection of the publisher, the relay's sink and the
consumer.

PARTY_AMQP_URL may list several nodes of one cluster, comma-separated. aio-pika's robust
connection reconnects on its own once opened, but always to the one URL it was given; a
`ClusterConnection` tries the next node's URL at each attempt instead, so a connection lost
with its node comes back on a surviving one. Connection options (`?heartbeat=...`) are read
from the first URL.

An operation on a robust connection while it reconnects (a close, a consumer cancel, a nack)
can wait for as long as the broker is away. Each step of a shutdown is therefore bounded here,
and a failed open leaves nothing behind for the next attempt (backends/connecting.py retries
it)."""

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import Any

from aio_pika import RobustConnection
from aio_pika.abc import AbstractRobustConnection
from yarl import URL

# The most one step of a shutdown may wait for the broker (a close, a cancel, a nack).
STEP_SECONDS = 2.0
RECONNECT_SECONDS = 1


def node_urls(url: str) -> list[str]:
    """The URLs of PARTY_AMQP_URL (one, or several comma-separated)."""
    return [part.strip() for part in url.split(",") if part.strip()]


class ClusterConnection(RobustConnection):
    """A robust connection over a list of node URLs, the next one at each connection attempt."""

    def __init__(self, urls: list[URL], first: int = 0, **kwargs: Any) -> None:
        self._urls = urls
        self._next = first
        super().__init__(urls[0], **kwargs)

    # The hook is aio-pika's private RobustConnection.__connect_transport (name-mangled),
    # the one step every (re)connection attempt goes through; tests/test_rabbitmq_nodes.py
    # fails if an aio-pika upgrade moves it.
    async def _RobustConnection__connect_transport(self) -> None:
        self.url = self._urls[self._next % len(self._urls)]
        self._next += 1
        await super()._RobustConnection__connect_transport()  # type: ignore[misc]


async def connect(url: str) -> AbstractRobustConnection:
    """A robust connection to the first node of `url` that answers (an error if none does)."""
    urls = [URL(part) for part in node_urls(url)]
    if not urls:
        raise ValueError("no RabbitMQ URL given")
    error: Exception | None = None
    for first in range(len(urls)):
        connection = ClusterConnection(urls, first, reconnect_interval=RECONNECT_SECONDS)
        try:
            await connection.connect()
        except asyncio.CancelledError:
            await quietly(connection.close())
            raise
        except Exception as failure:
            await quietly(connection.close())
            error = failure
            continue
        return connection
    assert error is not None
    raise error


async def open_connection(
    url: str, prepare: Callable[[AbstractRobustConnection], Awaitable[None]]
) -> AbstractRobustConnection:
    """A robust connection on which `prepare` (declaring the topology...) succeeded; closed
    again if `prepare` failed or was cancelled."""
    connection = await connect(url)
    try:
        await prepare(connection)
    except BaseException:
        await quietly(connection.close())
        raise
    return connection


async def quietly(step: Awaitable[object]) -> bool:
    """Await a shutdown step for at most STEP_SECONDS; True if it succeeded."""
    with contextlib.suppress(Exception):
        async with asyncio.timeout(STEP_SECONDS):
            await step
        return True
    return False
