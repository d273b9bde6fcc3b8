"""Redis Cluster failovers under a live party, every role in its own process: two gateways with
clients on each, a relay and a worker (RabbitMQ), a Redis Cluster of this module's own.

- The master owning the party's slot is SIGKILLed while shares flow, with
  PARTY_REDIS_WAIT_REPLICAS=1: every acked share reaches every client exactly once, in order,
  and the workers count each once.
- A planned `CLUSTER FAILOVER` on its replica: no client notices beyond latency (no resync,
  no error frame).
"""

import asyncio
import contextlib
import threading
import time
from collections.abc import Iterator

import pytest
import websockets

from party_engine.backends.ledger_redis import RedisLedger
from party_engine.backends.outbox_redis import RedisOutbox
from party_engine.config import DEFAULT_REDIS_PREFIX
from tests.gateway_harness import SECRET, Client, GatewayProcess, seed_over_http
from tests.pipeline_helpers import eventually, unique_prefix
from tests.servers import RedisCluster, RedisServer
from tests.test_broker_redis_cluster import restart_once_replaced
from tests.test_delivery_promise import roles  # noqa: F401

SHARES = 45


@pytest.fixture(scope="module")
def cluster() -> Iterator[RedisCluster]:
    with RedisCluster() as own:
        yield own


@pytest.fixture
def env(cluster, rabbitmq_server) -> dict[str, str]:
    cluster.wait_until_healthy()
    cluster.wait_until_replicated()
    cluster.flush()
    return {
        "PARTY_REDIS_URL": cluster.url,
        "PARTY_AMQP_URL": rabbitmq_server.url,
        "PARTY_AMQP_PREFIX": unique_prefix(),
        "PARTY_PUSH_URL": "memory://",
        "PARTY_JWT_SECRET": SECRET,
        "PARTY_REDIS_WAIT_REPLICAS": "1",
        "PARTY_SHARE_RATE_LIMIT": "1000/second",
        "PARTY_RETRY_BASE_SECONDS": "0.1",
        "PARTY_EVENT_LOCK_SECONDS": "1",
        "PARTY_RELAY_CLAIM_SECONDS": "1",
        "PARTY_LOG_LEVEL": "warning",
    }


@pytest.fixture
async def ledger(env):
    ledger = RedisLedger(env["PARTY_REDIS_URL"], prefix=DEFAULT_REDIS_PREFIX, done_seconds=86_400)
    yield ledger
    await ledger.close()


@pytest.fixture
async def outbox(env):
    outbox = RedisOutbox(env["PARTY_REDIS_URL"], prefix=DEFAULT_REDIS_PREFIX)
    yield outbox
    await outbox.close()


@contextlib.contextmanager
def two_gateways(env: dict[str, str]) -> Iterator[tuple[GatewayProcess, GatewayProcess]]:
    gateways = [GatewayProcess(env["PARTY_REDIS_URL"], **env) for _ in range(2)]
    try:
        for gateway in gateways:
            gateway.start()
        yield gateways[0], gateways[1]
    finally:
        for gateway in gateways:
            gateway.stop()


REFUSED: list[int] = []  # shares answered `unavailable` (then resent), for the summary


async def share_until_acked(client: Client, party: str, listing: str, n: int) -> int:
    """A share with a key, resent with that key after `unavailable` (as a client does: the
    write may have happened; the resend is answered with its first offset)."""
    while True:
        reply = await client.reply(id=n, type="share", party=party, listing=listing, key=f"k{n}")
        if reply["type"] == "ack":
            return reply["offset"]
        assert reply["code"] == "unavailable", reply
        REFUSED.append(n)
        await asyncio.sleep(reply.get("retry_after_ms", 100) / 1000)


async def readers_on(party: str, *gateways: GatewayProcess) -> list[Client]:
    readers = [await Client.connect(g.url, user=f"reader-{n}") for n, g in enumerate(gateways)]
    for reader in readers:
        assert (await reader.join(party))["type"] == "joined"
    return readers


def assert_saw_each_once_in_order(reader: Client, party: str, acked: list[int]) -> None:
    offsets = reader.offsets(party)
    assert offsets == sorted(set(offsets)), "an offset twice or out of order"
    assert set(acked) <= set(offsets), f"acked shares missing: {set(acked) - set(offsets)}"
    assert not [f for f in reader.frames if f["type"] == "error"]


async def test_every_acked_share_reaches_every_client_once_when_the_master_is_killed(
    env,
    cluster,
    roles,  # noqa: F811
    ledger,
    outbox,
):
    worker = roles("worker")
    relay = roles("relay")
    with two_gateways(env) as (a, b):
        party, listing = await seed_over_http(a.http)
        readers = await readers_on(party, a, b)
        sharers = [await Client.connect(g.url, user=f"sharer-{g.port}") for g in (a, b)]
        for sharer in sharers:
            assert (await sharer.join(party))["type"] == "joined"
        channel = f"{DEFAULT_REDIS_PREFIX}stream:{{{party}}}"
        master: RedisServer = cluster.master_of(channel)
        revived: asyncio.Task[None] | None = None

        acked: list[int] = []
        for n in range(SHARES):
            if n == SHARES // 3:
                cluster.kill(master)
                # Alone, the promoted replica cannot satisfy WAIT 1: shares are refused as
                # unavailable until the killed node is back as its replica (a supervisor).
                revived = asyncio.create_task(
                    asyncio.to_thread(restart_once_replaced, cluster, master, channel)
                )
            acked.append(await share_until_acked(sharers[n % 2], party, listing, n))
        assert revived is not None
        await revived

        for reader in readers:
            await reader.until(
                lambda f: f["type"] == "events" and f["items"][-1]["offset"] >= max(acked),
                timeout=60,
            )
            assert_saw_each_once_in_order(reader, party, acked)
        assert len(set(acked)) == SHARES

        async def all_counted() -> bool:
            stats = await ledger.party_stats(party)
            assert stats.shares <= SHARES, f"counted twice: {stats}"
            return stats.shares == SHARES and await outbox.depth(party) == 0

        await eventually(all_counted, within=90)
        print(
            f"master kill, WAIT 1: {SHARES} shares acked ({len(REFUSED)} `unavailable` answers"
            f" resent with their key), offsets {min(acked)}..{max(acked)}, each reader saw"
            f" {[len(r.offsets(party)) for r in readers]} events, {SHARES} counted"
        )
        for client in [*readers, *sharers]:
            await client.close()
    assert relay.stop() == 0
    assert worker.stop() == 0


async def test_a_planned_failover_goes_unnoticed_by_clients(env, cluster):
    # The default: acked once the master has it (WAIT 1 would wait, during the switch, for the
    # old master to come back as the new one's replica).
    env = {**env, "PARTY_REDIS_WAIT_REPLICAS": "0"}
    with two_gateways(env) as (a, b):
        party, listing = await seed_over_http(a.http)
        readers = await readers_on(party, a, b)
        sharer = await Client.connect(a.url, user="sharer")
        assert (await sharer.join(party))["type"] == "joined"
        channel = f"{DEFAULT_REDIS_PREFIX}stream:{{{party}}}"
        replica = cluster.replica_of(cluster.master_of(channel))

        switched = threading.Event()

        def fail_over() -> None:
            cluster.cli(replica, "CLUSTER", "FAILOVER")
            while cluster.master_of(channel) is not replica:
                time.sleep(0.05)  # nothing to await: the nodes agree in their own time
            switched.set()

        acked = [await share_until_acked(sharer, party, listing, n) for n in range(10)]
        failover = asyncio.create_task(asyncio.to_thread(fail_over))
        n = len(acked)
        while not switched.is_set() or n < 30:
            reply = await sharer.reply(id=n, type="share", party=party, listing=listing)
            assert reply["type"] == "ack", reply  # not even `unavailable`
            acked.append(reply["offset"])
            n += 1
        await failover

        assert acked == list(range(1, len(acked) + 1))
        for reader in readers:
            await reader.until(lambda f: f["type"] == "events" and f["items"][-1]["offset"] >= n)
            assert reader.offsets(party) == acked  # no gap, no resync, no error
            assert not [f for f in reader.frames if f["type"] == "error"]
        for client in [*readers, sharer]:
            await client.close()


async def share_once_acked(gateway: GatewayProcess, party: str, listing: str, n: int) -> int:
    """A share from a connection of its own, resent with its key until acked (through
    `unavailable` and through a connection closed under it)."""
    while True:
        client = await Client.connect(gateway.url, user=f"sharer-{n}")
        try:
            if (await client.join(party))["type"] == "joined":
                return await share_until_acked(client, party, listing, n)
        except websockets.ConnectionClosed:
            pass
        finally:
            await client.close()
        await asyncio.sleep(0.1)


async def test_writes_lost_in_a_failover_make_the_clients_resync(env, cluster):
    """Without WAIT a promoted replica may lack the latest acked shares: the clients who saw
    them are closed with 4010 and, rejoining with their position, get `recovered: false` and a
    fresh snapshot, rather than later shares under the offsets they already saw."""
    env = {**env, "PARTY_REDIS_WAIT_REPLICAS": "0"}
    with two_gateways(env) as (a, b):
        party, listing = await seed_over_http(a.http)
        (reader,) = await readers_on(party, b)
        epoch = reader.frames[0]["position"]["epoch"]
        channel = f"{DEFAULT_REDIS_PREFIX}stream:{{{party}}}"
        master = cluster.master_of(channel)
        replica = cluster.replica_of(master)
        kept = [await share_once_acked(a, party, listing, n) for n in range(3)]
        cluster.pause(replica)
        cluster.cli(master, "CLIENT", "KILL", "TYPE", "replica")  # it replicates nothing more
        try:
            lost = [await share_once_acked(a, party, listing, n) for n in range(3, 6)]
            await reader.until(lambda f: f["type"] == "events" and f["items"][-1]["offset"] == 6)
            cluster.kill(master)
        finally:
            cluster.resume(replica)
        revived = asyncio.create_task(
            asyncio.to_thread(restart_once_replaced, cluster, master, channel)
        )
        after = await share_once_acked(a, party, listing, 6)
        assert kept + lost == [1, 2, 3, 4, 5, 6] and after == 7  # above what was seen

        with pytest.raises(websockets.ConnectionClosed) as closed:
            await reader.until(lambda f: False, timeout=30)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 4010
        back = await Client.connect(b.url, user="reader-0")
        rejoined = await back.join(party, since={"offset": 6, "epoch": epoch})
        assert rejoined["type"] == "joined" and rejoined["recovered"] is False, rejoined
        assert rejoined["position"]["epoch"] != epoch
        assert rejoined["position"]["offset"] == 7
        await back.close()
        await revived
