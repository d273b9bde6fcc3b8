"""One contract for the Presence port, run against the embedded presence and a real
redis-server."""

import re

import pytest
import redis.asyncio as redis
from redis.crc import key_slot

from party_engine.backends import open_presence
from party_engine.backends.redis_buckets import bucket_tag
from tests.backend_harness import opened
from tests.broker_helpers import eventually

LONG = 30.0
SHORT = 0.2


@pytest.fixture
async def presence(store_url):
    async with opened(open_presence(store_url)) as presence:
        yield presence


async def report(presence, present=None, left=None, ttl=LONG, left_ttl=LONG):
    await presence.report(present or {}, left or {}, ttl_seconds=ttl, left_ttl_seconds=left_ttl)


async def test_presence_counts_distinct_users_over_every_gateways_report(presence):
    await report(presence, {"a": ["u1", "u2"], "b": ["u1"]})  # one gateway
    await report(presence, {"a": ["u2", "u3"]})  # another: u2 is on both
    assert await presence.totals(["a", "b", "c"]) == {"a": 3, "b": 1, "c": 0}
    await report(presence, {"a": ["u1", "u2", "u3"]})  # reported again: still counted once
    assert await presence.totals(["a"]) == {"a": 3}


async def test_a_user_nobody_reports_again_drops_out_after_the_ttl(presence):
    """A crashed gateway's users, or a report lost: presence expires on its own."""
    await report(presence, {"a": ["steady"]})
    await report(presence, {"a": ["gone"], "b": ["gone"]}, ttl=SHORT)
    assert await presence.totals(["a", "b"]) == {"a": 2, "b": 1}

    async def only_steady_left():
        return await presence.totals(["a", "b"]) == {"a": 1, "b": 0}

    await eventually(only_steady_left, within=5)


async def test_a_shorter_ttl_shortens_no_other_reports(presence):
    await report(presence, {"a": ["u1", "u2"]})
    await report(presence, {"a": ["u1", "witness"]}, ttl=SHORT)

    async def witness_gone():
        return (await presence.totals(["a"]))["a"] == 2

    await eventually(witness_gone, within=5)  # past the short ttl: u1 still counts


async def test_a_user_who_left_drops_out_within_the_left_ttl(presence):
    await report(presence, {"a": ["u1", "u2", "u3"]})
    await report(presence, left={"a": ["u1"]}, left_ttl=SHORT)
    assert (await presence.totals(["a"]))["a"] == 3  # until the left ttl passes

    async def u1_gone():
        return (await presence.totals(["a"]))["a"] == 2

    await eventually(u1_gone, within=5)


async def test_a_user_present_through_another_gateway_keeps_counting_after_leaving_one(presence):
    await report(presence, {"a": ["u1", "u2", "witness"]})
    await report(presence, left={"a": ["u1", "witness"]}, left_ttl=SHORT)  # left gateway A
    await report(presence, {"a": ["u1"]})  # gateway B still has u1

    async def witness_gone():
        return (await presence.totals(["a"]))["a"] == 2

    await eventually(witness_gone, within=5)


async def test_leaving_never_adds_a_user_nor_lengthens_a_presence(presence):
    await report(presence, left={"a": ["ghost"], "z": ["ghost"]})
    assert await presence.totals(["a", "z"]) == {"a": 0, "z": 0}
    await report(presence, {"a": ["u1", "witness"]}, ttl=SHORT)
    await report(presence, left={"a": ["u1"]}, left_ttl=LONG)

    async def both_gone():
        return (await presence.totals(["a"]))["a"] == 0

    await eventually(both_gone, within=5)


async def test_many_parties_and_a_big_party_are_reported_and_read_in_one_call(presence):
    parties = [f"party-{n}" for n in range(1_200)]
    crowd = [f"user-{n}" for n in range(50_000)]
    await report(
        presence, {"big": crowd[:30_000], **{p: [f"u{n % 7}"] for n, p in enumerate(parties)}}
    )
    await report(presence, {"big": crowd[20_000:], **{p: ["u0", "other"] for p in parties[::2]}})
    totals = await presence.totals([*parties, "big", "nobody"])
    assert totals == {
        **{p: (2 + (n % 7 != 0) if n % 2 == 0 else 1) for n, p in enumerate(parties)},
        "big": 50_000,
        "nobody": 0,
    }
    await report(presence, left={"big": crowd[:25_000]}, left_ttl=SHORT)

    async def half_left():
        return (await presence.totals(["big"]))["big"] == 25_000

    await eventually(half_left, within=5)


async def test_one_report_of_arrivals_and_departures_over_many_parties(presence):
    parties = [f"party-{n}" for n in range(40)]  # more parties than buckets: several share one
    await report(presence, {p: ["stays", "goes", f"own-{p}"] for p in parties})
    await report(
        presence,
        {p: ["arrives"] for p in parties},
        left={p: ["goes", "never-here"] for p in parties},
        left_ttl=SHORT,
    )

    async def gone_left():  # and nobody who was never here was added
        return await presence.totals(parties) == {p: 3 for p in parties}

    await eventually(gone_left, within=5)


async def test_on_redis_every_key_is_one_partys_and_carries_its_buckets_hash_tag(redis_url):
    """What makes presence cluster-safe: a script touches the keys of one bucket (one hash
    slot), and each key is one party's."""
    async with opened(open_presence(redis_url, prefix="t:")) as presence:
        await report(presence, {"a": ["u1"], "b{x}": ["u1", "u2"]}, ttl=SHORT)
        await report(presence, {"a": ["u3"], "c": ["u1"]}, ttl=SHORT)
        await presence.totals(["a", "b{x}", "c", "d"])
        client = redis.Redis.from_url(redis_url, decode_responses=True)
        try:
            keys = [key async for key in client.scan_iter("*")]
            parties = set()
            for key in keys:
                match = re.fullmatch(r"t:presence:(\{presence-\d\d\}):(.+)", key)
                assert match, key
                tag, party = match.groups()
                parties.add(party)
                # A bucket's keys share one slot (the first {...} of the key decides it).
                assert tag == bucket_tag("presence", party)
                assert key_slot(key.encode()) == key_slot(tag.encode())
                assert await client.pttl(key) > 0, key  # nothing outlives its reports
            assert parties == {"a", "b{x}", "c"}

            async def nothing_left():
                return [key async for key in client.scan_iter("*")] == []

            await eventually(nothing_left, within=5)
        finally:
            await client.aclose()
