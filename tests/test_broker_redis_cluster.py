"""The Redis broker on a Redis Cluster: fan-out through sharded pub/sub on a bounded number of
connections, and every acknowledged publication delivered exactly once, in order, across a
master kill, a planned failover and a failover that lost writes."""

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Iterator

import orjson
import pytest

from party_engine.backends.broker_redis import RedisBroker
from party_engine.backends.unavailable import unavailable_errors
from party_engine.ports import BackendUnavailable, IdempotencyKey, Publication, StreamPosition
from tests.broker_helpers import Deliveries
from tests.servers import RedisCluster

PREFIX = "pe:"


def item(n: int) -> bytes:
    return orjson.dumps({"kind": "share", "n": n})


@contextlib.asynccontextmanager
async def opened(url: str, **options) -> AsyncIterator[RedisBroker]:
    broker = RedisBroker(url, prefix=PREFIX, keepalive_seconds=1.0, subscribe_timeout=10, **options)
    await broker.connect()
    try:
        yield broker
    finally:
        await broker.close()


def publish_sent(cluster: RedisCluster) -> int:
    """Cluster-bus publish messages sent so far, over every node (PUBLISH fans out over it)."""
    total = 0
    for node in cluster.nodes:
        if node.running:
            info = cluster.cli(node, "CLUSTER", "INFO")
            for line in info.splitlines():
                if line.startswith("cluster_stats_messages_publish_sent:"):
                    total += int(line.split(":")[1])
    return total


async def test_fan_out_stays_in_each_partys_shard_on_one_connection_per_master(
    redis_cluster, redis_cluster_url
):
    parties = [f"party-{n}" for n in range(30)]
    deliveries = Deliveries()
    async with opened(redis_cluster_url) as subscriber, opened(redis_cluster_url) as publisher:
        subscriber.set_handler(deliveries.on_publication, deliveries.on_broadcast)
        for party in parties:
            await subscriber.subscribe(party)
        assert subscriber._links.connections == 3  # one per master, for 30 parties

        before = publish_sent(redis_cluster)
        for party in parties:
            await publisher.publish_share(party, item(1), "listing-1")
            await publisher.broadcast(party, b'{"type":"party"}')
        await deliveries.wait_for(
            lambda: len(deliveries.publications) == 30 and len(deliveries.broadcasts) == 30
        )
        assert publish_sent(redis_cluster) == before  # nothing crossed the cluster bus

        channel = subscriber.channel(parties[0])
        master = redis_cluster.master_of(channel)
        shard_subscribers = redis_cluster.cli(master, "PUBSUB", "SHARDNUMSUB", channel)
        assert shard_subscribers.split() == [channel, "1"]


async def test_plain_publish_on_a_cluster_crosses_the_bus(redis_cluster, redis_cluster_url):
    """The comparison the benchmark makes: PUBLISH goes to every node."""
    deliveries = Deliveries()
    async with (
        opened(redis_cluster_url, sharded=False) as subscriber,
        opened(redis_cluster_url, sharded=False) as publisher,
    ):
        subscriber.set_handler(deliveries.on_publication, deliveries.on_broadcast)
        await subscriber.subscribe("p")
        before = publish_sent(redis_cluster)
        await publisher.publish_share("p", item(1), "listing-1")
        await deliveries.wait_for(lambda: len(deliveries.publications) == 1)
        assert publish_sent(redis_cluster) - before >= 5  # to each other node


async def test_publications_missed_while_a_shard_connection_was_killed_are_backfilled(
    redis_cluster, redis_cluster_url
):
    deliveries = Deliveries()
    async with opened(redis_cluster_url) as subscriber, opened(redis_cluster_url) as publisher:
        subscriber.set_handler(deliveries.on_publication, deliveries.on_broadcast)
        await subscriber.subscribe("p")
        await subscriber.subscribe("q")  # another party, maybe on another master
        acked = [await publisher.publish_share("p", item(n), "listing-1") for n in range(3)]
        await deliveries.wait_for(lambda: len(deliveries.publications) == 3)

        master = redis_cluster.master_of(subscriber.channel("p"))
        assert redis_cluster.cli(master, "CLIENT", "KILL", "TYPE", "pubsub").strip() == "1"
        # Published while nobody listens on the channel: pub/sub drops these.
        acked += [await publisher.publish_share("p", item(n), "listing-1") for n in range(3, 13)]

        await deliveries.wait_for(lambda: len(deliveries.offsets("p")) >= 13)
        assert deliveries.offsets("p") == list(range(1, 14))
        assert [p.payload for p in deliveries.publications] == [p.payload for p in acked]
        assert subscriber.sessions >= 2


async def test_a_party_whose_slot_moves_to_another_master_is_followed_there(cluster, url):
    deliveries = Deliveries()
    async with opened(url) as subscriber, opened(url) as publisher:
        subscriber.set_handler(deliveries.on_publication, deliveries.on_broadcast)
        await subscriber.subscribe("p")
        acked = [await publisher.publish_share("p", item(n), "listing-1") for n in range(3)]
        await deliveries.wait_for(lambda: len(deliveries.publications) == 3)
        channel = subscriber.channel("p")
        source = cluster.master_of(channel)
        target = next(node for node in cluster.masters() if node is not source)

        await asyncio.to_thread(cluster.move_slot_of, channel, target)
        acked += [await publisher.publish_share("p", item(n), "listing-1") for n in range(3, 6)]

        await deliveries.wait_for(lambda: len(deliveries.publications) >= 6, within=20)
        assert deliveries.offsets("p") == [1, 2, 3, 4, 5, 6]
        assert [p.payload for p in deliveries.publications] == [p.payload for p in acked]
        numsub = cluster.cli(target, "PUBSUB", "SHARDNUMSUB", channel).split()
        assert numsub == [channel, "1"]  # its subscription lives on the new master


# -- failovers, on a cluster of this module's own ------------------------------------------


@pytest.fixture(scope="module")
def cluster() -> Iterator[RedisCluster]:
    with RedisCluster() as own:
        yield own


@pytest.fixture
def url(cluster: RedisCluster) -> str:
    for node in cluster.nodes:
        if not node.running:
            cluster.revive(node)
    cluster.wait_until_healthy()
    cluster.wait_until_replicated()  # after a planned failover, the old master resyncs
    cluster.flush()
    return cluster.url


async def publish_until_acked(publisher: RedisBroker, party: str, n: int) -> Publication:
    """Publish like a gateway whose client retries after `unavailable`, with a key, so a retry
    of a write that did happen is answered with its first offset."""
    while True:
        try:
            return await publisher.publish_share(
                party, item(n), "listing-1", key=IdempotencyKey("u", f"k{n}"), user_id="u"
            )
        except BackendUnavailable:
            await asyncio.sleep(0.05)
        except Exception as error:  # the unavailable errors of redis-py (connection, cluster)
            if not isinstance(error, unavailable_errors()):
                raise
            await asyncio.sleep(0.05)


def restart_once_replaced(cluster: RedisCluster, master, key: str) -> None:
    """Start a killed master again once its replica serves `key` (it rejoins as a replica)."""
    deadline = time.monotonic() + 30
    while True:
        with contextlib.suppress(LookupError):  # no master serves it: not promoted yet
            if cluster.master_of(key) is not master:
                break
        assert time.monotonic() < deadline, "no replica took over"
        time.sleep(0.1)
    cluster.revive(master)


def assert_each_once_in_order(deliveries: Deliveries, acked: list[Publication]) -> None:
    offsets = deliveries.offsets("p")
    assert offsets == sorted(set(offsets))  # no duplicate, never backwards
    delivered = {p.offset: p.payload for p in deliveries.publications}
    assert [delivered.get(p.offset) for p in acked if p.payload] == [
        p.payload for p in acked if p.payload
    ]


async def test_no_acked_publication_is_lost_when_the_master_is_killed_with_wait_replicas(
    cluster, url
):
    deliveries = Deliveries()
    async with opened(url) as subscriber, opened(url, wait_replicas=1) as publisher:
        subscriber.set_handler(deliveries.on_publication, deliveries.on_broadcast)
        await subscriber.subscribe("p")
        others = [f"other-{n}" for n in range(12)]  # spread over the masters
        for party in others:
            await subscriber.subscribe(party)
        acked = [await publish_until_acked(publisher, "p", n) for n in range(20)]
        master = cluster.master_of(subscriber.channel("p"))
        cluster.kill(master)
        # Its replica is promoted, alone: WAIT 1 refuses every write until the killed node is
        # back (a supervisor restarts it) and replicates the new master.
        revived = asyncio.create_task(
            asyncio.to_thread(restart_once_replaced, cluster, master, subscriber.channel("p"))
        )
        while len(acked) < 60:
            acked.append(await publish_until_acked(publisher, "p", len(acked)))
        await revived
        last = acked[-1].offset
        await deliveries.wait_for(lambda: last in deliveries.offsets("p"), within=30)
        assert_each_once_in_order(deliveries, acked)
        assert cluster.master_of(subscriber.channel("p")) is not master
        # Every party's subscription followed its slot: one publication each arrives.
        for party in others:
            await publish_until_acked(publisher, party, 0)
        await deliveries.wait_for(lambda: all(deliveries.offsets(p) == [1] for p in others))
        assert subscriber._links.connections <= 3


async def test_a_planned_failover_is_seamless(cluster, url):
    deliveries = Deliveries()
    async with opened(url) as subscriber, opened(url) as publisher:
        subscriber.set_handler(
            deliveries.on_publication, deliveries.on_broadcast, deliveries.on_new_epoch
        )
        first = await subscriber.subscribe("p")
        acked = [await publish_until_acked(publisher, "p", n) for n in range(10)]
        replica = cluster.replica_of(cluster.master_of(subscriber.channel("p")))
        cluster.cli(replica, "CLUSTER", "FAILOVER")
        while cluster.master_of(subscriber.channel("p")) is not replica or len(acked) < 30:
            acked.append(await publish_until_acked(publisher, "p", len(acked)))
        last = acked[-1].offset
        await deliveries.wait_for(lambda: last in deliveries.offsets("p"), within=30)
        assert deliveries.offsets("p") == list(range(1, last + 1))  # no gap, no new epoch
        assert deliveries.new_epochs == []
        assert (await publisher.position("p")).epoch == first.epoch


async def test_writes_a_failover_lost_start_a_new_epoch(cluster, url):
    """Without WAIT a promoted replica may lack the latest acked writes. The publisher, like a
    gateway that had members in the party, knows what was published."""
    deliveries = Deliveries()
    async with opened(url) as subscriber, opened(url) as publisher:
        subscriber.set_handler(
            deliveries.on_publication, deliveries.on_broadcast, deliveries.on_new_epoch
        )
        await subscriber.subscribe("p")
        await publisher.subscribe("p")
        kept = [await publish_until_acked(publisher, "p", n) for n in range(3)]
        old = await publisher.position("p")
        master = cluster.master_of(subscriber.channel("p"))
        replica = cluster.replica_of(master)
        cluster.pause(replica)
        cluster.cli(master, "CLIENT", "KILL", "TYPE", "replica")  # it replicates nothing more
        try:
            lost = [await publish_until_acked(publisher, "p", n) for n in range(3, 6)]
            await deliveries.wait_for(lambda: len(deliveries.publications) == 6)
            # Its members left: it still remembers what it delivered them.
            await publisher.unsubscribe("p")
            cluster.kill(master)
        finally:
            cluster.resume(replica)  # promoted without the last three writes
        after = [await publish_until_acked(publisher, "p", n) for n in range(6, 9)]
        await deliveries.wait_for(lambda: after[-1].offset in deliveries.offsets("p"), within=30)

        now = await publisher.position("p")
        assert now.epoch != old.epoch
        # Offsets once delivered never name another publication: the new epoch starts above.
        assert [p.offset for p in after] == [7, 8, 9]
        assert deliveries.offsets("p") == [1, 2, 3, 4, 5, 6, 7, 8, 9]
        assert [p.payload for p in deliveries.publications] == [
            p.payload for p in kept + lost + after
        ]
        assert deliveries.new_epochs == ["p"]  # before offset 7: the gateway's members resync
        # A client holding a position of the old epoch is told to resync.
        assert await publisher.history_since("p", StreamPosition(6, old.epoch), 100) is None
