"""PARTY_REDIS_WAIT_REPLICAS on one redis-server: a write is acknowledged only once that many
replicas hold it; otherwise the caller is told `unavailable`, and a resend with the same key is
answered with the first offset once the replicas confirm it."""

from collections.abc import AsyncIterator, Iterator

import orjson
import pytest
import redis.asyncio as redis

from party_engine.backends.broker_redis import RedisBroker
from party_engine.ports import BackendUnavailable, IdempotencyKey, OutboxFull, Publication
from tests.broker_helpers import eventually
from tests.servers import HOST, RedisServer

ITEM = orjson.dumps({"kind": "share"})
KEY = IdempotencyKey("u", "k1")


@pytest.fixture(scope="module")
def primary() -> Iterator[RedisServer]:
    with RedisServer() as server:
        yield server


@pytest.fixture
async def url(primary: RedisServer) -> AsyncIterator[str]:
    async with redis.Redis.from_url(primary.url) as client:
        await client.flushall()
    yield primary.url


@pytest.fixture
async def broker(url: str) -> AsyncIterator[RedisBroker]:
    broker = RedisBroker(url, prefix="pe:", wait_replicas=1, wait_timeout_ms=100)
    await broker.connect()
    yield broker
    await broker.close()


async def test_without_the_replica_the_write_is_unavailable_until_one_confirms_it(broker, primary):
    with pytest.raises(BackendUnavailable, match="0 of 1 replicas"):
        await broker.publish_share("p", ITEM, "listing-1", key=KEY, user_id="u")
    # The write happened (it may or may not survive a failover): the resend tells.
    assert (await broker.position("p")).offset == 1

    with RedisServer(extra_args=("--replicaof", HOST, str(primary.port))) as replica:
        async with redis.Redis.from_url(replica.url) as client:

            async def synced() -> bool:  # its first sync takes a moment
                return (await client.info("replication"))["master_link_status"] == "up"

            await eventually(synced)

            async def confirmed() -> Publication | None:  # as a client retries `unavailable`
                try:
                    return await broker.publish_share("p", ITEM, "listing-1", key=KEY, user_id="u")
                except BackendUnavailable:
                    return None  # the replica has not acknowledged it yet

            resent = await eventually(confirmed)
        assert resent.offset == 1 and resent.payload == b""  # answered with the first offset
        second = await broker.publish_share("p", ITEM, "listing-1")
        assert second.offset == 2


async def test_a_refusal_is_answered_at_once_without_waiting(broker):
    broker.outbox_max_depth = 0  # every share is refused before anything is written
    with pytest.raises(OutboxFull):
        await broker.publish_share("p", ITEM, "listing-1")
