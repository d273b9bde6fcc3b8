"""Opening and closing the RabbitMQ connection of the publisher and of the consumer.

aio-pika's robust connection reconnects on its own once opened; an operation on it while it
reconnects (a close, a consumer cancel, a nack) can wait for as long as the broker is away.
Each step of a shutdown is therefore bounded here, and a failed open leaves nothing behind for
the next attempt (backends/connecting.py retries it)."""

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

import aio_pika
from aio_pika.abc import AbstractRobustConnection

# The most one step of a shutdown may wait for the broker (a close, a cancel, a nack).
STEP_SECONDS = 2.0


async def open_connection(
    url: str, prepare: Callable[[AbstractRobustConnection], Awaitable[None]]
) -> AbstractRobustConnection:
    """A robust connection on which `prepare` (declaring the topology...) succeeded; closed
    again if `prepare` failed or was cancelled."""
    connection = await aio_pika.connect_robust(url, reconnect_interval=1)
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
