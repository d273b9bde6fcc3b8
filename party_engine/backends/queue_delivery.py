"""What a queue backend does with a batch of deliveries, shared by RabbitMQ and the in-process
queues so that both retry, count attempts and park dead events the same way."""

import logging
from typing import Protocol

from ..domain.events import DomainEvent
from ..ports import BatchHandler

log = logging.getLogger(__name__)


class Delivery(Protocol):
    """One received event and the ways to settle it with the queue."""

    event: DomainEvent
    attempts: int  # failed attempts so far

    async def ack(self) -> None:
        """Done: remove it from the queue."""

    async def retry(self, attempts: int, error: str) -> None:
        """Deliver again after the delay for this many failed attempts."""

    async def later(self) -> None:
        """Deliver again after a short delay without counting an attempt (held elsewhere)."""

    async def dead(self, reason: str) -> None:
        """Park it in the dead queue with the reason."""


def describe(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}"[:1000]


async def settle_batch(
    deliveries: list[Delivery], handler: BatchHandler, max_attempts: int
) -> None:
    """Run the handler over the batch and settle every delivery.

    A failing batch is retried one event at a time, so one poison event costs its neighbours
    a second try but never their place in the queue.
    """
    try:
        later = await handler([d.event for d in deliveries])
    except Exception as error:
        if len(deliveries) > 1:
            for delivery in deliveries:
                await settle_batch([delivery], handler, max_attempts)
            return
        await _failed(deliveries[0], error, max_attempts)
        return
    for delivery in deliveries:
        if delivery.event.id in later:
            await delivery.later()
        else:
            await delivery.ack()


async def _failed(delivery: Delivery, error: Exception, max_attempts: int) -> None:
    attempts = delivery.attempts + 1
    reason = describe(error)
    if attempts >= max_attempts:
        log.error("event %s failed %d times, now dead: %s", delivery.event.id, attempts, reason)
        await delivery.dead(f"failed {attempts} times; last error: {reason}")
    else:
        log.warning("event %s failed (attempt %d): %s", delivery.event.id, attempts, reason)
        await delivery.retry(attempts, reason)
