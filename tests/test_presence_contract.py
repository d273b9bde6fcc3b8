"""One contract for the Presence port, run against the embedded presence and a real
redis-server."""

import re

import pytest
import redis.asyncio as redis
from redis.crc import key_slot

from party_engine.backends import open_presence
from tests.backend_harness import opened
from tests.broker_helpers import eventually


@pytest.fixture
async def presence(store_url):
    async with opened(open_presence(store_url)) as presence:
        yield presence


async def test_presence_sums_the_latest_report_of_every_gateway(presence):
    await presence.report("g1", {"a": 3, "b": 1}, ttl_seconds=30)
    await presence.report("g2", {"a": 4}, ttl_seconds=30)
    assert await presence.totals(["a", "b", "c"]) == {"a": 7, "b": 1, "c": 0}
    await presence.report("g1", {"a": 1}, ttl_seconds=30)  # replaces, b left g1
    assert await presence.totals(["a", "b"]) == {"a": 5, "b": 0}


async def test_a_later_report_replaces_the_earlier_one_and_left_parties_drop_out(presence):
    await presence.report("g1", {"a": 2, "b": 3}, ttl_seconds=30)
    await presence.report("g2", {"b": 1, "c": 4}, ttl_seconds=30)
    await presence.report("g1", {"a": 5}, ttl_seconds=30)
    assert await presence.totals(["a", "b", "c"]) == {"a": 5, "b": 1, "c": 4}
    await presence.report("g2", {"b": 0, "c": 4}, ttl_seconds=30)  # counted 0: left as well
    assert await presence.totals(["b", "c"]) == {"b": 0, "c": 4}
    await presence.report("g1", {}, ttl_seconds=30)
    await presence.report("g2", {}, ttl_seconds=30)
    assert await presence.totals(["a", "b", "c"]) == {"a": 0, "b": 0, "c": 0}


async def test_a_gateway_that_stops_reporting_drops_out_after_its_ttl(presence):
    await presence.report("steady", {"a": 2}, ttl_seconds=30)
    await presence.report("gone", {"a": 5, "b": 1}, ttl_seconds=0.2)
    assert await presence.totals(["a", "b"]) == {"a": 7, "b": 1}

    async def only_steady_left():
        return await presence.totals(["a", "b"]) == {"a": 2, "b": 0}

    await eventually(only_steady_left, within=5)


async def test_a_report_renewed_before_its_ttl_keeps_counting(presence):
    await presence.report("g1", {"a": 2}, ttl_seconds=0.2)
    await presence.report("g1", {"a": 3}, ttl_seconds=30)  # renewed
    await presence.report("g2", {"a": 1}, ttl_seconds=0.4)  # a shorter ttl shortens no other
    assert (await presence.totals(["a"]))["a"] == 4

    async def only_g1_left():
        return (await presence.totals(["a"]))["a"] == 3

    await eventually(only_g1_left, within=5)  # past g1's first ttl too


async def test_many_parties_are_reported_and_read_in_one_call(presence):
    parties = [f"party-{n}" for n in range(1_200)]
    await presence.report("g1", {party: 1 + n % 7 for n, party in enumerate(parties)}, 30)
    await presence.report("g2", {party: 2 for party in parties[::2]}, 30)
    totals = await presence.totals([*parties, "nobody"])
    assert totals == {
        **{party: 1 + n % 7 + (2 if n % 2 == 0 else 0) for n, party in enumerate(parties)},
        "nobody": 0,
    }
    await presence.report("g1", {}, 30)
    assert sum((await presence.totals(parties)).values()) == 2 * 600


async def test_on_redis_every_key_is_one_partys_and_carries_its_hash_tag(redis_url):
    """What makes presence cluster-safe: each script touches keys of one hash slot only."""
    async with opened(open_presence(redis_url, prefix="t:")) as presence:
        await presence.report("g1", {"a": 1, "b{x}": 2}, ttl_seconds=30)
        await presence.report("g2", {"a": 3, "c": 1}, ttl_seconds=30)
        await presence.totals(["a", "b{x}", "c", "d"])
        client = redis.Redis.from_url(redis_url, decode_responses=True)
        try:
            keys = [key async for key in client.scan_iter("*")]
            assert keys
            tags = set()
            for key in keys:
                match = re.fullmatch(r"t:presence:\{(.+)\}(:expiry)?", key)
                assert match, key
                tags.add(match.group(1))
                # One party's keys share one slot (the first {...} of the key decides it).
                assert key_slot(key.encode()) == key_slot(
                    f"t:presence:{{{match.group(1)}}}".encode()
                )
                assert await client.pttl(key) > 0, key  # nothing outlives its reports
            assert tags == {"a", "b{x}", "c"}
            await presence.report("g1", {}, ttl_seconds=30)
            await presence.report("g2", {}, ttl_seconds=30)
            assert [key async for key in client.scan_iter("*")] == []
        finally:
            await client.aclose()
