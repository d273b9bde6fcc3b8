"""The archive role: every event of the pipeline, written as Parquet in batches per party and
day (docs/archive.md).

Deliveries are held, not acknowledged, until the object holding them is written: a batch is
written once it holds `batch_events`, once its oldest event waited `batch_seconds`, or at once
when its party ends (so the host's report is ready within a minute), and the largest open
batch is written early when `max_events` are held (the consumer's prefetch: RabbitMQ sends no
more until some are acknowledged, which bounds memory). A failing write (full disk, S3 down) is
retried with backoff, holding its events: the queue backs up in the broker, nothing is acked
and dropped. A worker killed at any point leaves its held events unacknowledged; RabbitMQ
delivers them again, and readers de-duplicate by event id."""

import asyncio
import contextlib
import logging
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import date

from tenacity import AsyncRetrying, RetryCallState, wait_random_exponential

from party_engine import metrics
from party_engine.archive.layout import batch_key, utc_day
from party_engine.archive.rows import to_parquet
from party_engine.backends.queue_topology import ARCHIVE
from party_engine.domain.events import PartyEnded
from party_engine.ports import ArchiveStorage, EventConsumer, Held

log = logging.getLogger(__name__)

# The longest wait between two attempts to write one batch.
MAX_BACKOFF_SECONDS = 30.0


@dataclass(slots=True)
class _Batch:
    day: date
    party_id: str
    opened: float  # time.monotonic() of its first event
    held: list[Held] = field(default_factory=list)


class ArchiveService:
    def __init__(
        self,
        *,
        consumer: EventConsumer,
        storage: ArchiveStorage,
        batch_events: int,
        batch_seconds: float,
        max_events: int,
    ) -> None:
        self._consumer = consumer
        self._storage = storage
        self._batch_events = batch_events
        self._batch_seconds = batch_seconds
        self._max_events = max_events
        self._open: dict[tuple[date, str], _Batch] = {}
        self._due: deque[_Batch] = deque()
        self._held = 0  # received and not acknowledged: open, due and being written
        self._wakeup = asyncio.Event()
        self._flushed = asyncio.Event()  # set once stopping and every batch is written
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self.written = 0  # events written and acknowledged (benchmarks read it)

    @property
    def held(self) -> int:
        return self._held

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="archive-writer")
        await self._consumer.hold(ARCHIVE, self._receive, limit=self._max_events)

    async def stop(self) -> None:
        """Write every open batch and acknowledge it; cancelled (the shutdown budget ran out),
        what is not written stays unacknowledged and comes back once the connection is gone.
        Events received from now on are held unwritten: they come back the same way."""
        self._stopping = True
        self._due.extend(self._open.values())
        self._open.clear()
        self._wakeup.set()
        if self._task is None:
            return
        flushed = asyncio.create_task(self._flushed.wait())
        try:
            await asyncio.wait({flushed, self._task}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            flushed.cancel()
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):  # logged by _run
                await self._task

    def _receive(self, held: Held) -> None:
        self._held += 1
        metrics.ARCHIVE_HELD.set(self._held)
        if self._stopping:
            return  # never acknowledged: returned to the queue with the connection
        event = held.event
        key = (utc_day(event.at), event.party_id)
        batch = self._open.get(key)
        if batch is None:
            batch = self._open[key] = _Batch(key[0], key[1], time.monotonic())
        batch.held.append(held)
        if len(batch.held) >= self._batch_events:
            self._close(key)
        if isinstance(event, PartyEnded):
            for open_key in [k for k in self._open if k[1] == event.party_id]:
                self._close(open_key)
        # Full: the largest open batch makes room, unless a batch being written already will
        # (its acks let the broker send more, one by one: each must not close another batch).
        if self._held >= self._max_events and self._open and not self._due:
            self._close(max(self._open, key=lambda k: len(self._open[k].held)))

    def _close(self, key: tuple[date, str]) -> None:
        self._due.append(self._open.pop(key))
        self._wakeup.set()

    async def _run(self) -> None:
        try:
            await self._write_due_batches()
        except Exception:
            log.critical(
                "the archive writer stopped; its events stay unacknowledged", exc_info=True
            )
            raise

    async def _write_due_batches(self) -> None:
        while True:
            if not self._due:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wakeup.wait(), self._until_next_age())
            self._wakeup.clear()
            now = time.monotonic()
            for key in [k for k, b in self._open.items() if now - b.opened >= self._batch_seconds]:
                self._close(key)
            while self._due:
                await self._write(self._due[0])
                self._due.popleft()
            if self._stopping:
                self._flushed.set()

    def _until_next_age(self) -> float:
        if not self._open:
            return self._batch_seconds
        oldest = min(batch.opened for batch in self._open.values())
        return max(0.0, oldest + self._batch_seconds - time.monotonic())

    async def _write(self, batch: _Batch) -> None:
        events = [held.event for held in batch.held]
        key = batch_key(batch.day, batch.party_id, (event.id for event in events))
        data = await asyncio.to_thread(to_parquet, events)
        async for attempt in AsyncRetrying(
            wait=wait_random_exponential(multiplier=0.5, max=MAX_BACKOFF_SECONDS),
            before_sleep=_log_retry,
            reraise=True,
        ):
            with attempt:
                await self._storage.put(key, data)
        failed = 0
        for held in batch.held:
            try:
                await held.ack()
            except Exception:
                failed += 1  # its channel is gone: it is delivered again, and read once
        if failed:
            log.warning("%s written, but %d of its events not acknowledged", key, failed)
        self._held -= len(batch.held)
        self.written += len(batch.held)
        metrics.ARCHIVE_HELD.set(self._held)
        metrics.ARCHIVED.inc(len(batch.held))


def _log_retry(state: RetryCallState) -> None:
    metrics.ARCHIVE_WRITE_FAILURES.inc()
    error = state.outcome.exception() if state.outcome else None
    log.error(
        "archive write failed (attempt %d), holding its events and retrying: %r",
        state.attempt_number,
        error,
    )
