"""The share limit (PARTY_SHARE_RATE_LIMIT) on each rate-limit storage: in process, one
redis-server, and a Redis Cluster (where `limits` runs its own cluster client)."""

import pytest

from party_engine.backends import open_rate_limits
from party_engine.gateway.rate_limit import ShareLimiter
from tests.backend_harness import opened


@pytest.fixture
async def limits(store_url):
    async with opened(open_rate_limits(store_url)) as limits:
        yield limits


async def test_the_fourth_share_in_the_window_is_refused_with_when_to_retry(limits):
    limiter = ShareLimiter(limits.storage, "3/10 seconds")
    assert [await limiter.hit("u1") for _ in range(3)] == [None, None, None]
    retry_after_ms = await limiter.hit("u1")
    assert retry_after_ms is not None
    assert 0 < retry_after_ms <= 10_000
    assert await limiter.hit("u2") is None  # per user


async def test_every_gateway_counts_into_one_window(store_url, limits):
    if store_url.startswith("memory"):
        pytest.skip("the embedded storage is one process's")
    async with opened(open_rate_limits(store_url)) as other_gateways:
        here = ShareLimiter(limits.storage, "3/10 seconds")
        there = ShareLimiter(other_gateways.storage, "3/10 seconds")
        assert await here.hit("u1") is None
        assert await there.hit("u1") is None
        assert await here.hit("u1") is None
        assert await there.hit("u1") is not None
