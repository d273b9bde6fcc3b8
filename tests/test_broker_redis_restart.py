"""The Redis broker across Redis trouble: a subscriber delivers every acknowledged publication
exactly once and in order, whatever happened to its pub/sub connection or to Redis."""

import asyncio
from collections.abc import AsyncIterator, Iterator

import orjson
import pytest
import redis.asyncio as redis

from party_engine.backends import broker_redis
from party_engine.backends.broker_redis import RedisBroker
from party_engine.ports import BackendUnavailable, Publication, StreamPosition
from tests.broker_helpers import Deliveries
from tests.servers import RedisServer

PREFIX = "pe:"


@pytest.fixture(scope="module")
def own_redis() -> Iterator[RedisServer]:
    """A server of this module's own, since these tests restart it; fsync always, so a restart
    keeps every acknowledged write."""
    with RedisServer(extra_args=("--appendfsync", "always")) as server:
        yield server


@pytest.fixture
async def url(own_redis: RedisServer) -> AsyncIterator[str]:
    async with redis.Redis.from_url(own_redis.url) as client:
        await client.flushall()
    yield own_redis.url


@pytest.fixture
async def subscriber(url: str) -> AsyncIterator[RedisBroker]:
    broker = RedisBroker(url, prefix=PREFIX, keepalive_seconds=1.0, subscribe_timeout=10.0)
    await broker.connect()
    yield broker
    await broker.close()


@pytest.fixture
async def publisher(url: str) -> AsyncIterator[RedisBroker]:
    broker = RedisBroker(url, prefix=PREFIX)
    await broker.connect()
    yield broker
    await broker.close()


@pytest.fixture
def deliveries(subscriber: RedisBroker) -> Deliveries:
    deliveries = Deliveries()
    subscriber.set_handler(
        deliveries.on_publication, deliveries.on_broadcast, deliveries.on_new_epoch
    )
    return deliveries


def item(n: int) -> bytes:
    return orjson.dumps({"kind": "share", "n": n})


async def publish_until_acked(publisher: RedisBroker, n: int) -> Publication:
    """Publish like a gateway whose client retries after `unavailable`."""
    while True:
        try:
            return await publisher.publish_share("p", item(n), "listing-1")
        except (redis.ConnectionError, redis.TimeoutError):
            await asyncio.sleep(0.02)


def assert_delivered_exactly_once_in_order(deliveries: Deliveries, acked: list[Publication]):
    offsets = deliveries.offsets("p")
    # Gap-free and without duplicates (publications that failed on the client side but ran on
    # the server may be among them: they got an offset, so they are delivered too).
    assert offsets == list(range(1, len(offsets) + 1))
    delivered = {p.offset: p for p in deliveries.publications}
    assert [delivered[p.offset] for p in acked] == acked


async def test_no_acknowledged_publication_is_lost_when_redis_restarts(
    own_redis, subscriber, publisher, deliveries
):
    await subscriber.subscribe("p")
    acked = [await publish_until_acked(publisher, n) for n in range(20)]
    restart = asyncio.create_task(asyncio.to_thread(own_redis.restart))
    while not restart.done():
        acked.append(await publish_until_acked(publisher, len(acked)))
    await restart
    acked += [await publish_until_acked(publisher, len(acked) + n) for n in range(20)]

    last = acked[-1].offset
    await deliveries.wait_for(lambda: last in deliveries.offsets("p"), within=30)
    assert_delivered_exactly_once_in_order(deliveries, acked)
    assert subscriber.sessions >= 2  # it really lost its connection and came back


@pytest.mark.parametrize("page", [broker_redis.CATCH_UP_PAGE, 4])
async def test_publications_missed_while_the_pubsub_connection_was_killed_are_backfilled(
    url, subscriber, publisher, deliveries, monkeypatch, page
):
    monkeypatch.setattr(broker_redis, "CATCH_UP_PAGE", page)  # 4: the 10 missed in 3 reads
    await subscriber.subscribe("p")
    acked = [await publisher.publish_share("p", item(n), "listing-1") for n in range(3)]
    await deliveries.wait_for(lambda: len(deliveries.publications) == 3)

    async with redis.Redis.from_url(url) as admin:
        assert await admin.client_kill_filter(_type="pubsub") == 1
        # Published while nobody listens on the channel: pub/sub drops these.
        assert (await admin.pubsub_numsub(subscriber.channel("p")))[0][1] == 0
        acked += [await publisher.publish_share("p", item(n), "listing-1") for n in range(3, 13)]

    await deliveries.wait_for(lambda: len(deliveries.publications) >= 13)
    assert_delivered_exactly_once_in_order(deliveries, acked)
    assert len(deliveries.publications) == 13
    assert subscriber.sessions == 2


async def test_a_live_publication_after_a_gap_is_preceded_by_the_missing_ones(
    subscriber, publisher, deliveries
):
    await subscriber.subscribe("p")
    first = await publisher.publish_share("p", item(1), "listing-1")
    # Stored in history but published on another channel: as if its message were lost.
    offset, payload = await publisher._scripts["publish_share"](
        keys=publisher._stream_keys("p"),
        # No event, no idempotency key, no outbox bound, no sharer (no mute check).
        args=["unused-epoch", item(2), 100, 10, "pe:elsewhere", "listing-1", "", "", 100, ""],
    )
    third = await publisher.publish_share("p", item(3), "listing-1")
    await deliveries.wait_for(lambda: third in deliveries.publications)
    assert deliveries.publications == [first, Publication("p", offset, payload), third]
    assert subscriber.sessions == 1  # the gap was filled without any reconnect


async def test_a_lost_stream_starts_a_new_epoch_that_subscribers_follow(
    url, subscriber, publisher, deliveries
):
    await subscriber.subscribe("p")
    old = [await publisher.publish_share("p", item(n), "listing-1") for n in range(3)]
    old_epoch = (await publisher.position("p")).epoch
    await deliveries.wait_for(lambda: len(deliveries.publications) == 3)
    async with redis.Redis.from_url(url) as admin:
        await admin.flushall()  # Redis lost its data

    new = [await publisher.publish_share("p", item(n), "listing-1") for n in range(2)]
    position = await publisher.position("p")
    assert position.epoch != old_epoch and position.offset == 2
    assert await publisher.history_since("p", StreamPosition(3, old_epoch), 100) is None
    await deliveries.wait_for(lambda: len(deliveries.publications) == 5)
    assert deliveries.publications == old + new
    assert deliveries.new_epochs == ["p"]  # the gateway makes its members resync


async def test_a_subscribe_that_cannot_complete_is_unavailable_not_a_hang(url):
    broker = RedisBroker(url, prefix=PREFIX, subscribe_timeout=0.3)
    await broker.connect()
    try:
        broker._follower.cancel()  # no pub/sub session will ever confirm anything
        with pytest.raises(BackendUnavailable):
            await broker.subscribe("p")
        pending = asyncio.ensure_future(broker.subscribe("q"))
        await asyncio.sleep(0)  # one loop turn: the subscribe registers and waits
        await broker.unsubscribe("q")
        with pytest.raises(BackendUnavailable):
            await pending
    finally:
        await broker.close()
