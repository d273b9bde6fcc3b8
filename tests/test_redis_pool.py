"""A burst of calls larger than a port's connection pool queues for a connection instead of
failing (redis-py's default pool raises "Too many connections" past 100, which turned joins
in a storm into `unavailable` errors)."""

import asyncio

from party_engine.backends.broker_redis import RedisBroker
from party_engine.backends.redis_backend import POOL_SIZE
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
