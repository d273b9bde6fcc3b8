"""A burst of calls larger than a port's connection pool queues for a connection instead of
failing (redis-py's default pool raises "Too many connections" past 100, which turned joins
in a storm into `unavailable` errors); and a port opens part of its pool when it connects, so
that the first burst does not pay for connecting."""

import asyncio

import pytest
import redis.asyncio as redis

from party_engine.backends.broker_redis import RedisBroker
from party_engine.backends.rate_limits import RedisRateLimits
from party_engine.backends.redis_backend import POOL_SIZE, WARM_CONNECTIONS
from party_engine.backends.store_redis import RedisStore
from party_engine.config import DEFAULT_REDIS_PREFIX

BURST = POOL_SIZE * 10  # and more than redis-py's default limit of 100


async def test_a_burst_past_the_store_pool_queues_and_succeeds(redis_url):
    store = RedisStore(redis_url, prefix=DEFAULT_REDIS_PREFIX)
    await store.connect()
    try:
        parties = await asyncio.gather(*(store.get_party(f"p{n}") for n in range(BURST)))
        assert parties == [None] * BURST
    finally:
        await store.close()


async def test_a_burst_past_the_broker_pool_queues_and_succeeds(redis_url):
    broker = RedisBroker(redis_url, prefix=DEFAULT_REDIS_PREFIX)
    await broker.connect()
    try:
        snapshots = await asyncio.gather(*(broker.snapshot("party-1") for _ in range(BURST)))
        assert {len(snapshot.shares) for snapshot in snapshots} == {0}
    finally:
        await broker.close()


async def _clients(url: str) -> int:
    async with redis.Redis.from_url(url) as admin:
        return int((await admin.info("clients"))["connected_clients"])


@pytest.mark.parametrize(
    "open_port",
    [
        lambda url: RedisStore(url, prefix=DEFAULT_REDIS_PREFIX),
        lambda url: RedisBroker(url, prefix=DEFAULT_REDIS_PREFIX),
        lambda url: RedisRateLimits(url, prefix=DEFAULT_REDIS_PREFIX),
    ],
    ids=["store", "broker", "rate-limits"],
)
async def test_a_port_opens_its_warm_connections_when_it_connects(redis_url, open_port):
    before = await _clients(redis_url)
    port = open_port(redis_url)
    await port.connect()
    try:
        # The broker's pub/sub link may open one more.
        assert await _clients(redis_url) - before >= WARM_CONNECTIONS
    finally:
        await port.close()


async def test_on_a_cluster_a_port_opens_its_warm_connections_to_every_master(
    redis_cluster, redis_cluster_url
):
    masters = redis_cluster.masters()
    before = [await _clients(master.url) for master in masters]
    store = RedisStore(redis_cluster_url, prefix=DEFAULT_REDIS_PREFIX)
    await store.connect()
    try:
        after = [await _clients(master.url) for master in masters]
        assert all(a - b >= WARM_CONNECTIONS for a, b in zip(after, before, strict=True))
    finally:
        await store.close()
