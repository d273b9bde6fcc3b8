"""Seller notices through the in-process worker and the embedded push, on the embedded store
and on Redis: one notice at once, the rest coalesced into one summary per window, and an
event handled twice never notifies twice. The clock is moved by hand."""

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from party_engine.backends.queue_memory import MemoryQueue
from party_engine.backends.queue_topology import SELLER_NOTICES, Topology
from party_engine.config import Settings
from party_engine.domain.parties import schedule_party
from party_engine.domain.themes import Theme, ThemeKind
from party_engine.engine import Engine
from party_engine.roles import Role
from tests.pipeline_helpers import a_share, eventually
from workers.seller_notices import SellerNoticesHandler
from workers.service import WorkerService

WINDOW = 300
START = datetime(2030, 5, 1, 12, 0, tzinfo=UTC)


class HandClock:
    def __init__(self) -> None:
        self.at = START

    def now(self) -> datetime:
        return self.at


@pytest.fixture
async def engine(store_url):
    settings = Settings(
        redis_url=store_url,
        jwt_secret="test-secret-that-is-long-enough-for-hs256",
        notice_window_seconds=WINDOW,
    )
    engine = Engine(settings, roles=frozenset({Role.WORKER}), clock=HandClock())
    await engine.start()
    await engine.store.create_party(
        schedule_party(
            party_id="p1",
            host_id="h1",
            title="Nike night",
            theme=Theme(ThemeKind.BRAND, "Nike"),
            starts_at=START + timedelta(hours=1),
            now=START,
        )
    )
    yield engine
    await engine.stop()


def worker_of(engine: Engine) -> WorkerService:
    return next(s for s in engine.services if isinstance(s, WorkerService))


def share_of(n: int, seller: str):
    share = a_share(n, party="p1")
    return type(share)(**{**{f: getattr(share, f) for f in share.__slots__}, "seller_id": seller})


async def bodies(engine: Engine, user: str) -> list[str]:
    return [notice.body for notice in reversed(await engine.push.notices(user))]


async def counted(engine: Engine, shares: int) -> None:
    async def check() -> bool:
        return (await engine.ledger.party_stats("p1")).shares == shares

    await eventually(check, within=10)


async def test_one_notice_at_once_then_one_summary_when_the_window_closes(engine):
    for n in range(3):
        await engine.events.publish(share_of(n, "ann"))
    await engine.events.publish(share_of(3, "bob"))
    await engine.events.publish(share_of(1, "ann"))  # a duplicate: notifies nobody again
    await counted(engine, 4)

    async def both_told() -> bool:
        return len(await bodies(engine, "ann")) == 1 and len(await bodies(engine, "bob")) == 1

    await eventually(both_told)
    assert await bodies(engine, "ann") == ["Your listing was shared in Nike night"]

    sweeper = worker_of(engine).sweeper
    assert await sweeper.sweep() == 0  # the window is still open
    engine.clock.at = START + timedelta(seconds=WINDOW)
    assert await sweeper.sweep() == 1
    assert await bodies(engine, "ann") == [
        "Your listing was shared in Nike night",
        "Your listings were shared 2 more times in Nike night",
    ]
    assert len(await bodies(engine, "bob")) == 1  # nothing more to tell bob

    # The summary opened a new window: a share now waits for its end.
    await engine.events.publish(share_of(10, "ann"))
    await counted(engine, 5)
    assert await sweeper.sweep() == 0
    engine.clock.at = START + timedelta(seconds=2 * WINDOW)
    assert await sweeper.sweep() == 1
    assert (await bodies(engine, "ann"))[-1] == "Your listings were shared once more in Nike night"


class SlowPush:
    """The engine's push, each send taking `seconds` (SNS throttling)."""

    def __init__(self, push, seconds: float) -> None:
        self._push = push
        self._seconds = seconds

    async def notify_user(self, user_id, notification) -> None:
        await asyncio.sleep(self._seconds)
        await self._push.notify_user(user_id, notification)


async def test_a_batch_slower_than_its_lock_and_replayed_pushes_each_notice_once(engine):
    lock_seconds = 0.3
    handler = SellerNoticesHandler(
        ledger=engine.ledger,
        notices=worker_of(engine).notices,
        store=engine.store,
        push=SlowPush(engine.push, 0.2),
        clock=engine.clock,
        window_seconds=WINDOW,
        lock_seconds=lock_seconds,
    )
    queue = MemoryQueue(topology=Topology(retry_delays=(0.05,)))
    await queue.consume(SELLER_NOTICES, handler)
    sellers = [f"seller-{n}" for n in range(4)]
    try:
        for n, seller in enumerate(sellers):  # one batch: the lock runs out after two pushes
            await queue.publish(share_of(100 + n, seller))

        async def all_told() -> bool:
            return all([await bodies(engine, seller) for seller in sellers])

        await eventually(all_told, within=10)
    finally:
        await queue.close()
    assert [len(await bodies(engine, seller)) for seller in sellers] == [1, 1, 1, 1]
