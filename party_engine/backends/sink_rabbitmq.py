"""The relay's sink on RabbitMQ: every event published persistent, `mandatory`, and confirmed.

A message no queue is bound for comes back (basic.return) and fails the batch, as does a nack
or no confirm within the timeout: the relay keeps the batch and tries it again, so an event
leaves its outbox only once RabbitMQ has put it in a queue.
"""

import asyncio

import aio_pika
from aio_pika.abc import AbstractExchange, AbstractRobustConnection
from pamqp.commands import Basic

from ..domain.events import DomainEvent
from .event_codec import decode_relayed, encode_event
from .queue_rabbitmq_topology import declare_topology
from .queue_topology import Topology
from .rabbitmq_connection import open_connection

_CONFIRM_TIMEOUT_SECONDS = 10.0


class DeliveryRefused(Exception):
    """RabbitMQ did not take an event: returned (no queue), nacked, or not confirmed in time."""


class RabbitSink:
    def __init__(self, url: str, *, topology: Topology) -> None:
        self._url = url
        self._topology = topology
        self._connection: AbstractRobustConnection | None = None
        self._exchange: AbstractExchange | None = None

    async def connect(self) -> None:
        async def declare(connection: AbstractRobustConnection) -> None:
            # on_return_raises: a returned (unroutable) message fails its publish.
            channel = await connection.channel(publisher_confirms=True, on_return_raises=True)
            self._exchange = await declare_topology(channel, self._topology)

        self._connection = await open_connection(self._url, declare)

    async def ping(self) -> None:
        if self._connection is None or self._connection.is_closed:
            raise ConnectionError("not connected to RabbitMQ")

    async def close(self) -> None:
        if self._connection is not None:
            await self._connection.close()
            self._connection = None

    async def deliver(self, events: list[bytes]) -> None:
        if self._exchange is None:
            raise ConnectionError("not connected to RabbitMQ")
        results = await asyncio.gather(
            *(_publish(self._exchange, event) for event in decode_relayed(events)),
            return_exceptions=True,
        )
        failures = [result for result in results if isinstance(result, BaseException)]
        if failures:
            raise DeliveryRefused(
                f"RabbitMQ did not take {len(failures)} of {len(results)} events: {failures[0]!r}"
            )


async def _publish(exchange: AbstractExchange, event: DomainEvent) -> None:
    message = aio_pika.Message(
        encode_event(event),
        message_id=event.id,
        content_type="application/json",
        delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
    )
    confirmation = await exchange.publish(
        message, event.routing_key, mandatory=True, timeout=_CONFIRM_TIMEOUT_SECONDS
    )
    if not isinstance(confirmation, Basic.Ack):
        raise DeliveryRefused(f"event {event.id}: {type(confirmation).__name__}")
