"""Scale out: a 3-node RabbitMQ cluster (tests/servers.py's RabbitMQCluster) with quorum
queues. A gateway, a relay and a worker run as processes with PARTY_AMQP_URL naming all three
nodes; one node is SIGKILLed while shares flow, and every acked share is counted once."""

import asyncio

import pytest

from party_engine.ports import PartyStats
from tests.gateway_harness import SECRET, GatewayProcess, seed_over_http
from tests.pipeline_helpers import eventually, unique_prefix
from tests.test_delivery_promise import ledger, outbox, roles, share_while  # noqa: F401


@pytest.fixture
def env(redis_url, rabbitmq_cluster) -> dict[str, str]:
    return {
        "PARTY_REDIS_URL": redis_url,
        "PARTY_AMQP_URL": rabbitmq_cluster.url,
        "PARTY_AMQP_PREFIX": unique_prefix(),
        "PARTY_PUSH_URL": "memory://",
        "PARTY_JWT_SECRET": SECRET,
        "PARTY_RETRY_BASE_SECONDS": "0.1",
        "PARTY_EVENT_LOCK_SECONDS": "1",
        "PARTY_RELAY_CLAIM_SECONDS": "1",
        "PARTY_LOG_LEVEL": "warning",
    }


async def test_every_ack_is_counted_once_when_a_node_dies_mid_stream(
    env,
    rabbitmq_cluster,
    roles,  # noqa: F811
    ledger,  # noqa: F811
    outbox,  # noqa: F811
):
    gateway = GatewayProcess(env["PARTY_REDIS_URL"], **env).start()
    worker = roles("worker")
    relay = roles("relay")
    # The first node: every process connected to it first, and it leads the queues it declared.
    doomed = rabbitmq_cluster.nodes[0]
    try:
        party, listing = await seed_over_http(gateway.http)
        acked = await share_while(gateway, party, listing, doomed.kill, shares=60)

        async def all_counted() -> bool:
            stats = await ledger.party_stats(party)
            assert stats.shares <= len(acked), f"counted twice: {stats}"
            return stats.shares == len(acked) and await outbox.depth(party) == 0

        await eventually(all_counted, within=90)
        assert sorted(acked) == list(range(1, len(acked) + 1)), "an offset twice or skipped"
        assert relay.stop() == 0
        assert worker.stop() == 0
        assert await ledger.party_stats(party) == PartyStats(
            shares=len(acked), likes=0, listings=1, sharers=len(acked)
        )
    finally:
        gateway.stop()
        await asyncio.to_thread(doomed.start)  # it rejoins: the cluster is whole again
