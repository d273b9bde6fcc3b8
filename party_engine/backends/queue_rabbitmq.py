"""The gateway's side of RabbitMQ: a bounded buffer drained by one background task that
publishes with confirms.

publish() only appends to the buffer, so a WebSocket session never waits on the broker. The
task publishes the oldest events in batches and drops them from the buffer only once RabbitMQ
has confirmed every one; while the broker is away (connect_robust reconnects on its own) it
keeps retrying the same batch. A batch retried after a partial failure may deliver some
events twice: the workers deduplicate by event id. close() flushes what the buffer holds, or
logs an error with the number it could not hand over.
"""

import asyncio
import contextlib
import itertools
import logging
from collections import deque

import aio_pika
from aio_pika.abc import AbstractExchange, AbstractRobustConnection
from pamqp.commands import Basic

from ..domain.events import DomainEvent
from ..ports import BackendUnavailable
from .event_codec import encode_event
from .queue_limits import hard_limit
from .queue_rabbitmq_topology import declare_topology
from .queue_topology import Topology
from .rabbitmq_connection import open_connection, quietly

log = logging.getLogger(__name__)

_BATCH = 500
_CONFIRM_TIMEOUT_SECONDS = 10.0
_MAX_BACKOFF_SECONDS = 2.0


class PublishRefused(Exception):
    """RabbitMQ did not confirm a message (nack, or no answer in time)."""


class RabbitPublisher:
    def __init__(
        self,
        url: str,
        *,
        topology: Topology,
        capacity: int = 10_000,
        flush_seconds: float = 10.0,
    ) -> None:
        self._url = url
        self._topology = topology
        self._capacity = capacity
        self._flush_seconds = flush_seconds
        # (event id, body, routing key), oldest first; removed once confirmed.
        self._buffer: deque[tuple[str, bytes, str]] = deque()
        self._wakeup = asyncio.Event()
        self._drained = asyncio.Event()  # set while the buffer is empty
        self._drained.set()
        self._connection: AbstractRobustConnection | None = None
        self._exchange: AbstractExchange | None = None
        self._task: asyncio.Task[None] | None = None

    async def connect(self) -> None:
        async def declare(connection: AbstractRobustConnection) -> None:
            channel = await connection.channel(publisher_confirms=True)
            self._exchange = await declare_topology(channel, self._topology)

        self._connection = await open_connection(self._url, declare)
        assert self._exchange is not None
        self._task = asyncio.create_task(self._publish_forever(self._exchange))

    async def ping(self) -> None:
        if self._connection is None or self._connection.is_closed:
            raise ConnectionError("not connected to RabbitMQ")

    def has_room(self) -> bool:
        return len(self._buffer) < self._capacity

    async def publish(self, event: DomainEvent) -> None:
        if len(self._buffer) >= hard_limit(self._capacity):
            raise BackendUnavailable(f"{len(self._buffer)} events wait for RabbitMQ")
        self._buffer.append((event.id, encode_event(event), event.routing_key))
        self._drained.clear()
        self._wakeup.set()

    async def flush(self) -> None:
        """Return once RabbitMQ has confirmed every event accepted so far."""
        await self._drained.wait()

    async def close(self) -> None:
        """Flush for at most flush_seconds (less if the caller's shutdown budget cancels
        this), then close; log what RabbitMQ did not confirm."""
        try:
            if self._task is not None:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self._flush_seconds):
                        await self.flush()
        finally:
            if self._task is not None:
                self._task.cancel()
                self._task = None
            if self._buffer:
                log.error(
                    "event publisher stopped with %d events NOT delivered to RabbitMQ "
                    "(not confirmed before the shutdown); first id: %s",
                    len(self._buffer),
                    self._buffer[0][0],
                )
        if self._connection is not None:
            connection, self._connection = self._connection, None
            await quietly(connection.close())

    async def _publish_forever(self, exchange: AbstractExchange) -> None:
        backoff = 0.05
        while True:
            if not self._buffer:
                self._drained.set()
                self._wakeup.clear()
                await self._wakeup.wait()
                continue
            batch = list(itertools.islice(self._buffer, _BATCH))
            results = await asyncio.gather(
                *(_publish(exchange, *item) for item in batch), return_exceptions=True
            )
            failures = [result for result in results if isinstance(result, BaseException)]
            if failures:
                log.warning(
                    "RabbitMQ did not confirm %d of %d events (%s); retrying in %.2f s",
                    len(failures),
                    len(batch),
                    failures[0],
                    backoff,
                )
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, _MAX_BACKOFF_SECONDS)
                continue
            backoff = 0.05
            for _ in batch:
                self._buffer.popleft()


async def _publish(exchange: AbstractExchange, event_id: str, body: bytes, key: str) -> None:
    message = aio_pika.Message(
        body,
        message_id=event_id,
        content_type="application/json",
        delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
    )
    # Not mandatory: a routing key no worker queue is bound to (party.reminder) is not an error.
    confirmation = await exchange.publish(
        message, key, mandatory=False, timeout=_CONFIRM_TIMEOUT_SECONDS
    )
    if not isinstance(confirmation, Basic.Ack):
        raise PublishRefused(f"event {event_id}: {type(confirmation).__name__}")
