"""The worker role as an engine service: one consumer with a handler per worker queue, and
the sweeper that sends seller-notice summaries. The engine opens, connects and closes the
backends it is given; closing the consumer stops taking events, finishes the batches in hand
and returns the rest to the queue."""

from datetime import timedelta

from party_engine.clock import Clock
from party_engine.ports import (
    BatchHandler,
    Broker,
    EventConsumer,
    Ledger,
    NoticeBook,
    Push,
    Store,
)

from .counters import CountersHandler
from .party_push import PartyPushHandler
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
        clock: Clock,
        notice_window_seconds: float,
        event_lock_seconds: float,
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
            ledger=ledger, store=store, push=push, clock=clock, lock_seconds=event_lock_seconds
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
            await self.consumer.consume(queue, handler)
        await self.sweeper.start()

    async def stop(self) -> None:
        """Stop the sweeper; the engine then closes the consumer and the notice book."""
        await self.sweeper.stop()
