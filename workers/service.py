"""The worker role as an engine service: one consumer with a handler per worker queue, and
the sweeper that sends seller-notice summaries."""

from typing import TYPE_CHECKING

from party_engine.backends import open_consumer, open_notice_book
from party_engine.ports import BatchHandler

from .counters import CountersHandler
from .seller_notices import NoticeSweeper, SellerNoticesHandler

if TYPE_CHECKING:
    from party_engine.engine import Engine


class WorkerService:
    def __init__(self, engine: "Engine") -> None:
        settings = engine.settings
        self.consumer = open_consumer(
            settings.amqp_url,
            engine.events,
            topology=engine.topology,
            max_attempts=settings.max_attempts,
        )
        self.notices = open_notice_book(settings.redis_url, prefix=settings.redis_prefix)
        window = float(settings.notice_window_seconds)
        counters = CountersHandler(engine.ledger, settings.event_lock_seconds)
        seller_notices = SellerNoticesHandler(
            ledger=engine.ledger,
            notices=self.notices,
            store=engine.store,
            push=engine.push,
            clock=engine.clock,
            window_seconds=window,
            lock_seconds=settings.event_lock_seconds,
        )
        self.handlers: dict[str, BatchHandler] = {
            counters.queue: counters,
            seller_notices.queue: seller_notices,
        }
        self.sweeper = NoticeSweeper(
            notices=self.notices,
            store=engine.store,
            push=engine.push,
            clock=engine.clock,
            window_seconds=window,
        )

    async def start(self) -> None:
        await self.notices.connect()
        await self.consumer.connect()
        for queue, handler in self.handlers.items():
            await self.consumer.consume(queue, handler)
        await self.sweeper.start()

    async def stop(self) -> None:
        """Stop taking events, finish the batches in hand and return the rest to the queue."""
        await self.consumer.close()
        await self.sweeper.stop()
        await self.notices.close()
