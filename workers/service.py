"""The worker role as an engine service: one consumer with a handler per worker queue, and
the sweeper that sends seller-notice summaries. The engine opens, connects and closes the
backends it is given; closing the consumer stops taking events, finishes the batches in hand
and returns the rest to the queue."""

import time
from datetime import timedelta

from party_engine import metrics
from party_engine.clock import Clock
from party_engine.domain.events import DomainEvent
from party_engine.ports import (
    BatchHandler,
    Broker,
    EventConsumer,
    EventPublisher,
    Ledger,
    NoticeBook,
    Push,
    Store,
)

from .counters import CountersHandler
from .party_push import PartyPushHandler, WaveSettings
from .retention import RetentionHandler
from .seller_notices import NoticeSweeper, SellerNoticesHandler


class WorkerService:
    def __init__(
        self,
        *,
        consumer: EventConsumer,
        notices: NoticeBook,
        ledger: Ledger,
        broker: Broker,
        store: Store,
        push: Push,
        events: EventPublisher,
        clock: Clock,
        notice_window_seconds: float,
        event_lock_seconds: float,
        push_waves: WaveSettings,
        retention: timedelta,
    ) -> None:
        self.consumer = consumer
        self.notices = notices
        window = float(notice_window_seconds)
        counters = CountersHandler(ledger, store, event_lock_seconds)
        seller_notices = SellerNoticesHandler(
            ledger=ledger,
            notices=self.notices,
            store=store,
            push=push,
            clock=clock,
            window_seconds=window,
            lock_seconds=event_lock_seconds,
        )
        party_push = PartyPushHandler(
            ledger=ledger,
            store=store,
            push=push,
            events=events,
            clock=clock,
            lock_seconds=event_lock_seconds,
            waves=push_waves,
        )
        retention_handler = RetentionHandler(broker, ledger, retention)
        self.handlers: dict[str, BatchHandler] = {
            counters.queue: counters,
            seller_notices.queue: seller_notices,
            party_push.queue: party_push,
            retention_handler.queue: retention_handler,
        }
        self.sweeper = NoticeSweeper(
            notices=self.notices,
            store=store,
            push=push,
            clock=clock,
            window_seconds=window,
        )

    async def start(self) -> None:
        for queue, handler in self.handlers.items():
            await self.consumer.consume(queue, Metered(queue, handler))
        await self.sweeper.start()

    async def stop(self) -> None:
        """Stop the sweeper; the engine then closes the consumer and the notice book."""
        await self.sweeper.stop()


class Metered:
    """A queue's handler, timed and its events counted by outcome (party_worker_*)."""

    def __init__(self, queue: str, handler: BatchHandler) -> None:
        self._handler = handler
        self._seconds = metrics.WORKER_BATCH_SECONDS.labels(queue=queue)
        self._handled = metrics.WORKER_EVENTS.labels(queue=queue, outcome="handled")
        self._later = metrics.WORKER_EVENTS.labels(queue=queue, outcome="later")
        self._failed = metrics.WORKER_EVENTS.labels(queue=queue, outcome="failed")

    async def __call__(self, events: list[DomainEvent]) -> set[str]:
        started = time.perf_counter()
        try:
            later = await self._handler(events)
        except Exception:
            self._failed.inc(len(events))
            raise
        finally:
            self._seconds.observe(time.perf_counter() - started)
        self._handled.inc(len(events) - len(later))
        self._later.inc(len(later))
        return later
