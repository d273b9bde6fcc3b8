"""The embedded event queue: one in-process asyncio queue per worker queue.

It is both the gateway's publisher and the workers' consumer (one process holds both ends),
routes by the same table as RabbitMQ and settles deliveries with the same code, so retries,
attempt counting and dead events behave alike. Dead events are kept in `dead` for inspection.
Bounded: past `capacity` queued events, has_room() says no.
"""

import asyncio
import logging
from dataclasses import dataclass, field

from ..domain.events import DomainEvent
from ..ports import BackendUnavailable, BatchHandler, HeldReceiver
from .embedded import InProcess
from .queue_delivery import settle_batch
from .queue_limits import hard_limit
from .queue_topology import BINDINGS, Topology

log = logging.getLogger(__name__)

_DRAIN_SECONDS = 10.0


@dataclass(frozen=True, slots=True)
class DeadEvent:
    queue: str
    event: DomainEvent
    reason: str


@dataclass(slots=True)
class _Delivery:
    owner: "MemoryQueue"
    queue: str
    event: DomainEvent
    attempts: int = 0

    async def ack(self) -> None:
        pass

    async def retry(self, attempts: int, error: str) -> None:
        self.attempts = attempts
        self.owner._put_later(self, self.owner.topology.retry_delay(attempts))

    async def later(self) -> None:
        self.owner._put_later(self, self.owner.topology.retry_delays[0])

    async def dead(self, reason: str) -> None:
        self.owner.dead.append(DeadEvent(self.queue, self.event, reason))


@dataclass(slots=True)
class _Held:
    delivery: _Delivery
    slots: asyncio.Semaphore

    @property
    def event(self) -> DomainEvent:
        return self.delivery.event

    async def ack(self) -> None:
        self.slots.release()


@dataclass(eq=False)
class MemoryQueue(InProcess):
    capacity: int = 10_000
    max_attempts: int = 5
    topology: Topology = field(default_factory=Topology)
    batch_size: int = 256
    dead: list[DeadEvent] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._queues: dict[str, asyncio.Queue[_Delivery | None]] = {
            name: asyncio.Queue() for name in BINDINGS
        }
        self._consumers: dict[str, asyncio.Task[None]] = {}
        self._holders: dict[str, asyncio.Task[None]] = {}
        self._waiting: set[asyncio.TimerHandle] = set()

    def has_room(self) -> bool:
        return self._pending() < self.capacity

    async def publish(self, event: DomainEvent) -> None:
        if self._pending() >= hard_limit(self.capacity):
            raise BackendUnavailable(f"the event queue holds {self._pending()} events")
        for name, keys in BINDINGS.items():
            if event.routing_key in keys:
                self._queues[name].put_nowait(_Delivery(self, name, event))

    async def flush(self) -> None:
        pass  # publish() has queued the event already

    async def consume(self, queue: str, handler: BatchHandler) -> None:
        if queue in self._consumers:
            raise ValueError(f"the {queue} queue has a consumer already")
        self._consumers[queue] = asyncio.create_task(self._consume(self._queues[queue], handler))

    async def hold(self, queue: str, receiver: HeldReceiver, *, limit: int) -> None:
        if queue in self._consumers or queue in self._holders:
            raise ValueError(f"the {queue} queue has a consumer already")
        self._holders[queue] = asyncio.create_task(self._hold(self._queues[queue], receiver, limit))

    async def close(self) -> None:
        """Stop the consumers after they have handled what is queued (within a deadline).

        A holding consumer stops at once: what its receiver holds unsettled, and what is
        still queued for it, is lost with the process (this queue is in memory)."""
        holders, self._holders = self._holders, {}
        for task in holders.values():
            task.cancel()
        consumers, self._consumers = self._consumers, {}
        for name in consumers:
            self._queues[name].put_nowait(None)  # behind everything already queued
        if consumers:
            _, unfinished = await asyncio.wait(consumers.values(), timeout=_DRAIN_SECONDS)
            for task in unfinished:
                task.cancel()
        for timer in self._waiting:
            timer.cancel()
        lost = len(self._waiting) + sum(_drain(queue) for queue in self._queues.values())
        self._waiting.clear()
        if lost:
            log.error("event queue stopped with %d deliveries not handled; they are lost", lost)

    def _pending(self) -> int:
        return max(queue.qsize() for queue in self._queues.values())

    def _put_later(self, delivery: _Delivery, delay: float) -> None:
        queue = self._queues[delivery.queue]

        def put() -> None:
            self._waiting.discard(timer)
            queue.put_nowait(delivery)

        timer = asyncio.get_running_loop().call_later(delay, put)
        self._waiting.add(timer)

    async def _hold(
        self, queue: asyncio.Queue[_Delivery | None], receiver: HeldReceiver, limit: int
    ) -> None:
        slots = asyncio.Semaphore(limit)
        while True:
            await slots.acquire()
            delivery = await queue.get()
            if delivery is None:
                return
            receiver(_Held(delivery, slots))

    async def _consume(self, queue: asyncio.Queue[_Delivery | None], handler: BatchHandler) -> None:
        while True:
            batch: list[_Delivery] = []
            item = await queue.get()
            while item is not None:
                batch.append(item)
                if len(batch) >= self.batch_size or queue.empty():
                    break
                item = queue.get_nowait()
            if batch:
                await settle_batch(batch, handler, self.max_attempts)  # type: ignore[arg-type]
            if item is None:
                return


def _drain(queue: asyncio.Queue[_Delivery | None]) -> int:
    """Empty the queue; how many deliveries it held."""
    count = 0
    while not queue.empty():
        count += queue.get_nowait() is not None
    return count
