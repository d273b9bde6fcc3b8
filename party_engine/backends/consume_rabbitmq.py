"""The workers' side of RabbitMQ: one channel and consumer per worker queue, manual acks.

Messages arrive up to `prefetch` at a time into a local inbox; the queue's task takes them in
batches, parks unreadable bodies in the dead queue at once, hands the rest to the handler
through queue_delivery.settle_batch, then acknowledges the whole batch with one multiple-ack
(retries and dead events are republished, with confirms, before that ack). A worker that dies
before the ack leaves the batch unacknowledged, and RabbitMQ delivers it to another worker.
"""

import asyncio
import logging
from dataclasses import dataclass

import aio_pika
from aio_pika.abc import (
    AbstractChannel,
    AbstractIncomingMessage,
    AbstractQueue,
    AbstractRobustConnection,
)
from pamqp.commands import Basic

from ..domain.events import DomainEvent
from ..ports import BatchHandler, HeldReceiver
from .event_codec import MalformedEvent, decode_event
from .queue_delivery import settle_batch
from .queue_rabbitmq_topology import declare_exchange, declare_topology, declare_work_queue
from .queue_topology import BINDINGS, Topology
from .rabbitmq_connection import open_connection, quietly

log = logging.getLogger(__name__)

ATTEMPTS_HEADER = "x-attempts"
ERROR_HEADER = "x-error"
QUEUE_HEADER = "x-queue"


@dataclass(slots=True)
class _Delivery:
    consumer: "_QueueConsumer"
    message: AbstractIncomingMessage
    event: DomainEvent
    attempts: int

    async def ack(self) -> None:
        pass  # the consumer acknowledges the whole batch at once

    async def retry(self, attempts: int, error: str) -> None:
        await self.consumer.republish(
            self.message, self.consumer.retry_queue(attempts), attempts=attempts, error=error
        )

    async def later(self) -> None:
        await self.consumer.republish(
            self.message, self.consumer.retry_queue(1), attempts=self.attempts, error=None
        )

    async def dead(self, reason: str) -> None:
        await self.consumer.park(self.message, reason, self.attempts + 1)


class _QueueConsumer:
    def __init__(
        self,
        name: str,
        channel: AbstractChannel,
        queue: AbstractQueue,
        topology: Topology,
        handler: BatchHandler,
        max_attempts: int,
        batch_size: int,
    ) -> None:
        self.name = name
        self._channel = channel
        self._queue = queue
        self._topology = topology
        self._handler = handler
        self._max_attempts = max_attempts
        self._batch_size = batch_size
        self._inbox: asyncio.Queue[AbstractIncomingMessage] = asyncio.Queue()
        self._tag: str | None = None
        self._task: asyncio.Task[None] | None = None
        self._handling = False
        self._in_hand = 0  # the batch being handled, not acknowledged yet
        self._stopping = False

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run())
        self._tag = await self._queue.consume(self._receive)

    async def stop(self) -> None:
        """Take no more messages, finish the batch in hand, return the rest to the queue.

        Cancelled (the shutdown budget ran out), it returns nothing more itself: RabbitMQ
        redelivers every unacknowledged message once the connection is gone."""
        self._stopping = True
        try:
            if self._tag is not None:
                await quietly(self._queue.cancel(self._tag))
            if self._task is not None:
                if not self._handling:
                    self._task.cancel()
                try:
                    await self._task
                except asyncio.CancelledError:
                    if (task := asyncio.current_task()) is not None and task.cancelling():
                        raise  # this stop was cancelled, not just the task it stopped
            returned = 0
            while not self._inbox.empty():
                if await quietly(self._inbox.get_nowait().nack(requeue=True)):
                    returned += 1
        except asyncio.CancelledError:
            log.warning(
                "%s: stopped before settling %d events (in hand or received); RabbitMQ "
                "redelivers them once the connection is gone",
                self.name,
                self._in_hand + self._inbox.qsize(),
            )
            raise
        if returned:
            log.info("%s: returned %d unstarted events to the queue", self.name, returned)

    def retry_queue(self, attempt: int) -> str:
        return self._topology.retry_queue(self.name, self._topology.retry_delay(attempt))

    async def republish(
        self, message: AbstractIncomingMessage, queue: str, *, attempts: int, error: str | None
    ) -> None:
        headers = dict(message.headers or {})
        headers[ATTEMPTS_HEADER] = attempts
        if error is not None:
            headers[ERROR_HEADER] = error
        await self._send(message, queue, headers)

    async def park(self, message: AbstractIncomingMessage, reason: str, attempts: int) -> None:
        headers = dict(message.headers or {})
        headers.update(
            {
                ERROR_HEADER: reason,
                ATTEMPTS_HEADER: attempts,
                QUEUE_HEADER: self.name,
                "x-routing-key": message.routing_key or "",
            }
        )
        await self._send(message, self._topology.dead_queue, headers)

    async def _send(self, message: AbstractIncomingMessage, queue: str, headers: dict) -> None:
        copy = aio_pika.Message(
            message.body,
            headers=headers,
            message_id=message.message_id,
            content_type=message.content_type,
            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
        )
        confirmation = await self._channel.default_exchange.publish(copy, queue, timeout=10)
        if not isinstance(confirmation, Basic.Ack):
            raise ConnectionError(f"RabbitMQ did not confirm the copy to {queue}")

    async def _receive(self, message: AbstractIncomingMessage) -> None:
        self._inbox.put_nowait(message)

    async def _run(self) -> None:
        while not self._stopping:
            batch = [await self._inbox.get()]
            while len(batch) < self._batch_size and not self._inbox.empty():
                batch.append(self._inbox.get_nowait())
            self._handling, self._in_hand = True, len(batch)
            try:
                await self._handle(batch)
            except Exception:
                # Most likely the connection dropped: the unacknowledged batch comes back.
                log.exception("%s: a batch of %d was not settled", self.name, len(batch))
            finally:
                self._handling, self._in_hand = False, 0

    async def _handle(self, batch: list[AbstractIncomingMessage]) -> None:
        deliveries = []
        for message in batch:
            try:
                event = decode_event(message.body)
            except MalformedEvent as error:
                log.error("%s: unreadable message parked as dead: %s", self.name, error)
                await self.park(message, f"malformed body: {error}", attempts=1)
                continue
            attempts = (message.headers or {}).get(ATTEMPTS_HEADER, 0)
            deliveries.append(
                _Delivery(self, message, event, attempts if isinstance(attempts, int) else 0)
            )
        if deliveries:
            await settle_batch(deliveries, self._handler, self._max_attempts)  # type: ignore[arg-type]
        await batch[-1].ack(multiple=True)


@dataclass(slots=True)
class _Held:
    message: AbstractIncomingMessage
    event: DomainEvent

    async def ack(self) -> None:
        await self.message.ack()


class _HoldingConsumer:
    """A queue whose deliveries go one by one to a receiver that settles each itself (at
    most `prefetch` unsettled: the channel's QoS). Whatever is unsettled when the channel or
    connection closes goes back to the queue; a message acked after a reconnect raises (its
    channel is gone) and is delivered again."""

    def __init__(self, parking: _QueueConsumer, queue: AbstractQueue, receiver: HeldReceiver):
        self._parking = parking
        self._queue = queue
        self._receiver = receiver
        self._tag: str | None = None

    async def start(self) -> None:
        self._tag = await self._queue.consume(self._receive)

    async def stop(self) -> None:
        if self._tag is not None:
            await quietly(self._queue.cancel(self._tag))

    async def _receive(self, message: AbstractIncomingMessage) -> None:
        try:
            event = decode_event(message.body)
        except MalformedEvent as error:
            log.error("%s: unreadable message parked as dead: %s", self._parking.name, error)
            await self._parking.park(message, f"malformed body: {error}", attempts=1)
            await message.ack()
            return
        self._receiver(_Held(message, event))


class RabbitConsumer:
    def __init__(
        self,
        url: str,
        *,
        topology: Topology,
        max_attempts: int,
        prefetch: int = 256,
        batch_size: int = 256,
    ) -> None:
        self._url = url
        self._topology = topology
        self._max_attempts = max_attempts
        self._prefetch = prefetch
        self._batch_size = batch_size
        self._connection: AbstractRobustConnection | None = None
        self._consumers: list[_QueueConsumer | _HoldingConsumer] = []

    async def connect(self) -> None:
        async def declare(connection: AbstractRobustConnection) -> None:
            async with connection.channel() as channel:
                await declare_topology(channel, self._topology)

        self._connection = await open_connection(self._url, declare)

    async def ping(self) -> None:
        if self._connection is None or self._connection.is_closed:
            raise ConnectionError("not connected to RabbitMQ")

    async def consume(self, queue: str, handler: BatchHandler) -> None:
        assert self._connection is not None, "connect() first"
        # A channel per queue: a multiple-ack covers only that queue's deliveries.
        channel = await self._connection.channel(publisher_confirms=True)
        await channel.set_qos(prefetch_count=self._prefetch)
        exchange = await declare_exchange(channel, self._topology)
        work_queue = await declare_work_queue(
            channel, self._topology, queue, exchange, BINDINGS[queue]
        )
        consumer = _QueueConsumer(
            queue,
            channel,
            work_queue,
            self._topology,
            handler,
            self._max_attempts,
            self._batch_size,
        )
        await consumer.start()
        self._consumers.append(consumer)

    async def hold(self, queue: str, receiver: HeldReceiver, *, limit: int) -> None:
        assert self._connection is not None, "connect() first"
        channel = await self._connection.channel(publisher_confirms=True)
        await channel.set_qos(prefetch_count=limit)
        exchange = await declare_exchange(channel, self._topology)
        work_queue = await declare_work_queue(
            channel, self._topology, queue, exchange, BINDINGS[queue]
        )
        # Only its park() is used: malformed bodies go to the dead queue as for consume().
        parking = _QueueConsumer(
            queue, channel, work_queue, self._topology, _no_handler, self._max_attempts, 1
        )
        consumer = _HoldingConsumer(parking, work_queue, receiver)
        await consumer.start()
        self._consumers.append(consumer)

    async def close(self) -> None:
        """Stop every queue's consumer at once (each finishes its batch), then close."""
        consumers, self._consumers = self._consumers, []
        await asyncio.gather(*(consumer.stop() for consumer in consumers))
        if self._connection is not None:
            connection, self._connection = self._connection, None
            await quietly(connection.close())


async def _no_handler(events: list[DomainEvent]) -> set[str]:
    raise AssertionError("a holding consumer hands events to its receiver")
