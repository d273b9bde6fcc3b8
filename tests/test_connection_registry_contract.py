"""One contract for the ConnectionRegistry port (the per-user connection cap), run against the
embedded registry and a real redis-server."""

import re

import pytest
import redis.asyncio as redis
from redis.crc import key_slot

from party_engine.backends import open_connection_registry
from party_engine.backends.redis_buckets import bucket_tag
from tests.backend_harness import opened
from tests.broker_helpers import eventually

LONG = 30.0
SHORT = 0.2


@pytest.fixture
async def registry(store_url):
    async with opened(open_connection_registry(store_url)) as registry:
        yield registry


async def register(registry, user, connection, limit=2, ttl=LONG) -> bool:
    [counted] = await registry.register([(user, connection)], limit=limit, ttl_seconds=ttl)
    return counted


async def test_connections_registered_together_are_counted_in_order(registry):
    counted = await registry.register(
        [("u1", "a"), ("u2", "x"), ("u1", "b"), ("u1", "c"), ("u1", "a")],
        limit=2,
        ttl_seconds=LONG,
    )
    # u1's third is refused within the batch; `a` again is counted already
    assert counted == [True, True, True, False, True]
    # many of one user at once (a cluster sends them concurrently): still counted in order
    many = await registry.register([("u3", f"c{n}") for n in range(40)], limit=2, ttl_seconds=LONG)
    assert many == [True, True] + [False] * 38
    assert await registry.register([], limit=2, ttl_seconds=LONG) == []


async def test_a_user_gets_at_most_the_limit_and_others_are_not_affected(registry):
    assert await register(registry, "u1", "g1:1", limit=3)
    assert await register(registry, "u1", "g2:1", limit=3)  # another gateway: same user
    assert await register(registry, "u1", "g1:2", limit=3)
    assert not await register(registry, "u1", "g1:3", limit=3)
    assert await register(registry, "u1", "g1:2", limit=3)  # counted already
    assert await register(registry, "u2", "g1:4", limit=3)


async def test_an_unregistered_connection_frees_its_slot_at_once(registry):
    assert await register(registry, "u1", "a")
    assert await register(registry, "u1", "b")
    assert not await register(registry, "u1", "c")
    await registry.unregister([("u1", "a")])
    await registry.unregister([("u1", "unknown")])  # a no-op
    await registry.unregister([])
    assert await register(registry, "u1", "c")
    assert not await register(registry, "u1", "d")


async def test_connections_closed_together_free_each_ones_slot(registry):
    users = [f"user-{n}" for n in range(40)]  # more users than buckets
    opened = [(u, f"{u}:{c}") for u in users for c in ("a", "b")]
    assert await registry.register(opened, limit=2, ttl_seconds=LONG) == [True] * len(opened)
    await registry.unregister([(u, f"{u}:a") for u in users] + [("nobody", "x")])
    again = await registry.register(
        [(u, f"{u}:{c}") for u in users for c in ("c", "d")], limit=2, ttl_seconds=LONG
    )
    assert again == [True, False] * len(users)  # each got back the one slot freed


async def test_connections_nobody_renews_stop_counting_after_the_ttl(registry):
    """A crashed gateway renews nothing: its connections free their user's slots."""
    assert await register(registry, "u1", "crashed", ttl=SHORT)
    assert await register(registry, "u1", "alive")
    assert not await register(registry, "u1", "new")

    async def slot_freed():
        return await register(registry, "u1", "new")

    await eventually(slot_freed, within=5)


async def test_renewed_connections_keep_counting(registry):
    assert await register(registry, "u1", "renewed", ttl=SHORT)
    assert await register(registry, "u1", "witness", ttl=SHORT)
    await registry.renew({"u1": ["renewed"], "u2": []}, ttl_seconds=LONG)

    async def witness_expired():
        return await register(registry, "u1", "new")

    await eventually(witness_expired, within=5)
    assert not await register(registry, "u1", "one-more")  # `renewed` still counts


async def test_many_users_renewed_together_each_keep_their_own_connections(registry):
    users = [f"user-{n}" for n in range(60)]  # more users than buckets: several share one
    await registry.register(
        [(u, f"{u}:{c}") for u in users for c in ("renewed", "witness")], limit=2, ttl_seconds=SHORT
    )
    await registry.renew({u: [f"{u}:renewed"] for u in users}, ttl_seconds=LONG)

    async def witnesses_expired():
        counted = await registry.register(
            [(u, f"{u}:new") for u in users], limit=2, ttl_seconds=LONG
        )
        return all(counted)

    await eventually(witnesses_expired, within=5)
    # each user's `renewed` still counts, and only theirs: each is full at 2
    assert await registry.register(
        [(u, f"{u}:more") for u in users], limit=2, ttl_seconds=LONG
    ) == [False] * len(users)


async def test_renewing_counts_again_a_connection_that_expired(registry):
    """A gateway that stalled past the ttl: its connections are open, so they count again."""
    assert await register(registry, "u1", "stalled", limit=1, ttl=SHORT)

    async def expired():
        if await register(registry, "u1", "probe", limit=1):
            await registry.unregister([("u1", "probe")])
            return True
        return False

    await eventually(expired, within=5)
    await registry.renew({"u1": ["stalled"]}, ttl_seconds=LONG)
    assert not await register(registry, "u1", "new", limit=1)


async def test_on_redis_every_key_is_one_users_and_carries_its_buckets_hash_tag(redis_url):
    """What makes the registry cluster-safe: a script touches the keys of one bucket (one
    hash slot), and each key is one user's."""
    async with opened(open_connection_registry(redis_url, prefix="t:")) as registry:
        await register(registry, "u1", "a")
        await register(registry, "u{x}", "b")
        await registry.renew({"u1": ["a"], "u2": ["c"]}, ttl_seconds=LONG)
        client = redis.Redis.from_url(redis_url, decode_responses=True)
        try:
            keys = [key async for key in client.scan_iter("*")]
            users = set()
            for key in keys:
                match = re.fullmatch(r"t:connections:(\{connections-\d\d\}):(.+)", key)
                assert match, key
                tag, user = match.groups()
                users.add(user)
                assert tag == bucket_tag("connections", user)
                assert key_slot(key.encode()) == key_slot(tag.encode())
                assert await client.pttl(key) > 0, key  # a crashed gateway's keys expire too
            assert users == {"u1", "u{x}", "u2"}
            await registry.unregister([("u1", "a"), ("u{x}", "b"), ("u2", "c")])
            assert [key async for key in client.scan_iter("*")] == []
        finally:
            await client.aclose()
