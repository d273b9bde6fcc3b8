"""An ack is a promise: in one process (`party-engine all`, the embedded relay and queue), and
in the production shape as separate processes on real servers: a gateway (`party-engine
serve`), relays (`party-engine relay`) and a worker (`python -m workers`), with RabbitMQ
reachable only through a TCP proxy that a test can make refuse connections."""

import asyncio

import pytest

from party_engine.backends import open_outbox
from party_engine.backends.ledger_redis import RedisLedger
from party_engine.backends.outbox_redis import RedisOutbox
from party_engine.config import DEFAULT_REDIS_PREFIX
from party_engine.ports import PartyStats
from party_engine.roles import ALL_ROLES
from tests.backend_harness import opened
from tests.gateway_harness import (
    SECRET,
    Client,
    GatewayProcess,
    InProcessGateway,
    seed_listing,
    seed_over_http,
    seed_party,
)
from tests.pipeline_helpers import (
    eventually,
    role_processes,
    unique_prefix,
)
from tests.servers import RabbitMQServer
from tests.tcp_proxy import TcpProxy

SHARES = 20


async def test_in_one_process_the_embedded_relay_brings_every_ack_to_the_counters(store_url):
    async with InProcessGateway(store_url, roles=ALL_ROLES) as gateway:
        engine = gateway.engine
        party = await seed_party(engine)
        listing = await seed_listing(engine, "l1")
        client = await Client.connect(gateway.url)
        await client.join(party)
        share = {"type": "share", "party": party, "listing": listing, "key": "tap"}
        shared = await client.reply(id=1, **share)
        await client.reply(id=2, **share)  # a resend: no second event
        await client.reply(id=3, type="like", party=party, share=shared["offset"])
        await client.close()

        async def counted() -> bool:
            return await engine.ledger.party_stats(party) == PartyStats(1, 1, 1, 1)

        await eventually(counted, within=20)
        async with opened(open_outbox(store_url, engine.broker)) as outbox:
            assert await outbox.depth(party) == 0


@pytest.fixture
def private_rabbitmq():
    with RabbitMQServer() as server:
        yield server


@pytest.fixture
def proxy(rabbitmq_server):
    with TcpProxy(rabbitmq_server.port) as proxy:
        yield proxy


@pytest.fixture
def env(redis_url, proxy) -> dict[str, str]:
    return {
        "PARTY_REDIS_URL": redis_url,
        "PARTY_AMQP_URL": f"amqp://guest:guest@127.0.0.1:{proxy.port}/",
        "PARTY_AMQP_PREFIX": unique_prefix(),
        "PARTY_PUSH_URL": "memory://",
        "PARTY_JWT_SECRET": SECRET,
        "PARTY_RETRY_BASE_SECONDS": "0.1",
        "PARTY_EVENT_LOCK_SECONDS": "1",
        "PARTY_RELAY_CLAIM_SECONDS": "1",
        "PARTY_LOG_LEVEL": "warning",
    }


@pytest.fixture
def roles(env, tmp_path):
    with role_processes(tmp_path / "roles.log") as start:
        yield lambda role: start(role, env)


@pytest.fixture
async def ledger(redis_url):
    ledger = RedisLedger(redis_url, prefix=DEFAULT_REDIS_PREFIX, done_seconds=86_400)
    yield ledger
    await ledger.close()


@pytest.fixture
async def outbox(redis_url):
    outbox = RedisOutbox(redis_url, prefix=DEFAULT_REDIS_PREFIX)
    yield outbox
    await outbox.close()


async def share_all(gateway: GatewayProcess, party: str, listing: str) -> list[int]:
    """SHARES shares from as many users (under the rate limit), each acked: their offsets."""
    offsets = []
    for n in range(SHARES):
        client = await Client.connect(gateway.url, user=f"sharer-{n}")
        await client.join(party)
        ack = await client.reply(id=n, type="share", party=party, listing=listing)
        assert ack["type"] == "ack", ack
        offsets.append(ack["offset"])
        await client.close()
    return offsets


async def test_shares_acked_while_rabbitmq_is_away_are_counted_once_after_the_gateway_dies(
    env, proxy, roles, ledger, outbox
):
    gateway = GatewayProcess(env["PARTY_REDIS_URL"], **env).start()
    try:
        party, listing = await seed_over_http(gateway.http)
        proxy.cut(refuse_new=True)  # RabbitMQ stalls: every connection to it fails

        offsets = await share_all(gateway, party, listing)

        assert offsets == list(range(1, SHARES + 1))
        gateway.process.kill()  # SIGKILL: whatever it held in memory is gone
        gateway.process.wait()
    finally:
        gateway.stop()
    assert await outbox.depth(party) == SHARES

    proxy.resume()
    worker = roles("worker")
    relays = [roles("relay"), roles("relay")]  # replicas share the work

    async def all_counted() -> bool:
        stats = await ledger.party_stats(party)
        assert stats.shares <= SHARES, f"counted twice: {stats}"
        return stats.shares == SHARES and await outbox.depth(party) == 0

    await eventually(all_counted, within=60)
    for relay in relays:
        assert relay.stop() == 0
    assert worker.stop() == 0, "the worker finished what it had"
    assert await ledger.party_stats(party) == PartyStats(
        shares=SHARES, likes=0, listings=1, sharers=SHARES
    )


async def test_entries_a_dead_relay_took_are_relayed_by_another(env, roles, ledger, outbox):
    gateway = GatewayProcess(env["PARTY_REDIS_URL"], **env).start()
    try:
        party, listing = await seed_over_http(gateway.http)
        await share_all(gateway, party, listing)
    finally:
        gateway.stop()
    # A relay took every entry and died before delivering any (it never marks them done).
    taken = await outbox.take("dead-relay", [party], 100, None)
    assert len(taken) == SHARES

    roles("worker")
    relay = roles("relay")  # claims them after PARTY_RELAY_CLAIM_SECONDS (1 s)

    async def all_counted() -> bool:
        stats = await ledger.party_stats(party)
        return stats.shares == SHARES and await outbox.depth(party) == 0

    await eventually(all_counted, within=60)
    assert relay.stop() == 0


async def share_while(
    gateway: GatewayProcess, party: str, listing: str, fault, shares: int = 40
) -> list[int]:
    """`shares` shares from as many users, `fault` run in a thread after the first third; the
    offsets acked (a share refused as `unavailable` is retried after its retry_after_ms, as a
    client does: refused, nothing of it was kept)."""
    acked: list[int] = []
    for n in range(shares):
        if n == shares // 3:
            await asyncio.to_thread(fault)
        client = await Client.connect(gateway.url, user=f"sharer-{n}")
        while True:
            joined = await client.join(party)
            if joined["type"] == "joined":
                break
            assert joined["code"] == "unavailable", joined
            await asyncio.sleep(joined["retry_after_ms"] / 1000)
        while True:
            reply = await client.reply(id=n, type="share", party=party, listing=listing)
            if reply["type"] == "ack":
                acked.append(reply["offset"])
                break
            assert reply["code"] == "unavailable", reply
            await asyncio.sleep(reply["retry_after_ms"] / 1000)
        await client.close()
    return acked


@pytest.mark.parametrize("server", ["rabbitmq", "redis"])
async def test_every_ack_is_counted_once_across_a_restart_mid_stream(
    server, env, roles, ledger, outbox, redis_server, request
):
    """(b) RabbitMQ restarted mid-stream, (c) Redis (AOF) restarted mid-stream: gateway, relay
    and worker as processes; every acked share is counted exactly once."""
    if server == "rabbitmq":
        # A RabbitMQ of this test's own: the session's holds the quorum queues every earlier
        # test declared, and after a restart each of them recovers before ours may.
        rabbitmq = request.getfixturevalue("private_rabbitmq")
        env["PARTY_AMQP_URL"] = rabbitmq.url  # roles() starts with this same env
        restart = rabbitmq.restart
    else:
        restart = redis_server.restart
    gateway = GatewayProcess(env["PARTY_REDIS_URL"], **env).start()
    roles("worker")
    roles("relay")
    try:
        party, listing = await seed_over_http(gateway.http)
        acked = await share_while(gateway, party, listing, restart)
    finally:
        gateway.stop()
    assert sorted(acked) == list(range(1, len(acked) + 1)), "an offset given twice or skipped"

    async def all_counted() -> bool:
        stats = await ledger.party_stats(party)
        assert stats.shares <= len(acked), f"counted twice: {stats}"
        return stats.shares == len(acked) and await outbox.depth(party) == 0

    await eventually(all_counted, within=90)
