"""A party's stream and leaderboards go PARTY_RETENTION_DAYS after it ends, through the worker
that hears `party.ended`; its record and counters stay. On the embedded store and on Redis."""

from datetime import UTC, datetime, timedelta

import redis.asyncio as redis

from party_engine.config import Settings
from party_engine.domain.events import PartyEnded
from party_engine.engine import Engine
from party_engine.ports import Board
from party_engine.roles import Role
from tests.pipeline_helpers import a_share, eventually

SECRET = "test-secret-that-is-long-enough-for-hs256"


async def started(store_url: str, retention_days: float) -> Engine:
    settings = Settings(redis_url=store_url, jwt_secret=SECRET, retention_days=retention_days)
    engine = Engine(settings, roles=frozenset({Role.WORKER}))
    await engine.start()
    return engine


async def test_an_ended_party_past_its_retention_loses_its_stream_and_boards_not_counters(
    store_url,
):
    engine = await started(store_url, retention_days=1)
    try:
        await engine.broker.publish_share("p1", b'{"kind":"share"}', "l1")
        epoch = (await engine.broker.position("p1")).epoch
        await engine.events.publish(a_share(1, party="p1"))

        async def counted() -> bool:
            return (await engine.ledger.party_stats("p1")).shares == 1

        await eventually(counted, within=10)
        ended_long_ago = datetime.now(UTC) - timedelta(days=2)
        await engine.events.publish(PartyEnded("p1:ended", "p1", ended_long_ago))

        async def retired() -> bool:
            return (await engine.broker.position("p1")).offset == 0

        await eventually(retired, within=10)
        assert (await engine.broker.position("p1")).epoch != epoch
        assert await engine.ledger.leaderboard("p1", Board.LISTINGS, 10) == []
        assert (await engine.ledger.party_stats("p1")).shares == 1
    finally:
        await engine.stop()


async def test_a_party_that_just_ended_keeps_its_keys_with_an_expiry_of_its_retention(
    redis_url,
):
    engine = await started(redis_url, retention_days=7)
    try:
        await engine.broker.publish_share("p1", b'{"kind":"share"}', "l1")
        await engine.events.publish(PartyEnded("p1:ended", "p1", datetime.now(UTC)))
        async with redis.Redis.from_url(redis_url) as admin:

            async def expiring() -> bool:
                return await admin.ttl("pe:stream:{p1}:history") > 0

            await eventually(expiring, within=10)
            assert 6.9 * 86_400 < await admin.ttl("pe:stream:{p1}:meta") <= 7 * 86_400
        assert (await engine.broker.position("p1")).offset == 1
    finally:
        await engine.stop()
