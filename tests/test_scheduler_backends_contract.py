"""Contracts of the clock's own ports (leadership lease, reminder ledger): embedded, Redis
and a Redis Cluster."""

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from party_engine.backends import open_lease, open_reminder_ledger
from party_engine.backends.lease_memory import LeaseBoard, MemoryLease
from party_engine.backends.lease_redis import RedisLease
from party_engine.config import is_embedded
from tests.backend_harness import opened
from tests.slot_audit import audited

START = datetime(2030, 5, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
async def lease_pair(store_url):
    """Two replicas' leases on the same name, with a short TTL."""
    if is_embedded(store_url):  # replicas in one process share a board
        board = LeaseBoard()
        leases = [MemoryLease(board, "clock", 0.3), MemoryLease(board, "clock", 0.3)]
    else:
        leases = [open_lease(store_url, "clock", 0.3) for _ in range(2)]
    for lease in leases:
        await lease.connect()
    yield leases
    for lease in leases:
        await lease.close()


async def test_only_one_replica_holds_the_lease_and_keeps_it_by_renewing(lease_pair):
    first, second = lease_pair
    assert await first.hold()
    assert not await second.hold()
    for _ in range(3):  # renewals well inside the TTL keep it
        await asyncio.sleep(0.1)
        assert await first.hold()
        assert not await second.hold()


async def test_a_released_lease_passes_to_the_other_replica_at_once(lease_pair):
    first, second = lease_pair
    assert await first.hold()
    await first.release()
    assert await second.hold()
    assert not await first.hold()


async def test_a_lease_nobody_renews_expires_and_the_other_replica_takes_over(lease_pair):
    first, second = lease_pair
    assert await first.hold()
    deadline = asyncio.get_running_loop().time() + 3.0
    while not await second.hold():  # first stopped renewing (a crashed leader)
        assert asyncio.get_running_loop().time() < deadline, "the lease never expired"
        await asyncio.sleep(0.05)
    assert not await first.hold()  # the old leader learns it lost the lease


async def test_a_redis_lease_reports_loss_when_redis_is_unreachable():
    lease = RedisLease("redis://127.0.0.1:1/0", prefix="pe:", name="clock", ttl_seconds=0.3)
    assert not await lease.hold()
    await lease.close()


@pytest.fixture
async def ledger(store_url):
    async with opened(open_reminder_ledger(store_url)) as ledger:
        yield ledger


async def test_a_reminder_is_claimed_once_per_party_and_start(ledger):
    assert await ledger.claim("p1", START)
    assert not await ledger.claim("p1", START)
    assert await ledger.claim("p2", START)
    assert await ledger.claim("p1", START + timedelta(hours=1))  # moved: a new reminder


async def test_on_redis_every_lease_and_reminder_command_stays_in_one_slot(redis_url):
    async with audited(redis_url) as audit:
        lease = open_lease(redis_url, "clock", 0.3)
        await lease.connect()
        assert await lease.hold()
        assert await lease.hold()
        await lease.release()
        await lease.close()
        async with opened(open_reminder_ledger(redis_url)) as ledger:
            assert await ledger.claim("p1", START)
    assert audit.scripts >= 2
    assert audit.cross_slot == []
