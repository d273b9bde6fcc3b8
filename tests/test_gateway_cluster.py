"""Two gateways sharing one real redis-server: real processes (`party-engine serve`), or in
this process where a test looks inside them."""

import asyncio

import pytest
import websockets

from tests.gateway_harness import (
    Client,
    InProcessGateway,
    connect_or_closed,
    gateway_processes,
    seed_over_http,
    seed_party,
)


@pytest.fixture
def gateways(redis_url):
    with gateway_processes(redis_url, {}, {}) as pair:
        yield pair


@pytest.fixture(params=["redis", "redis-cluster"])
def any_redis_gateways(request):
    """Two gateways on one redis-server, then on a Redis Cluster (sharded pub/sub)."""
    url = request.getfixturevalue("redis_url" if request.param == "redis" else "redis_cluster_url")
    with gateway_processes(url, {}, {}) as pair:
        yield pair


async def test_a_share_on_one_gateway_reaches_both_exactly_once_in_order(any_redis_gateways):
    gateways = any_redis_gateways
    a = gateways[0]
    party, listing = await seed_over_http(a.http)
    sender = await Client.connect(a.url, user="sender")
    readers = [await Client.connect(g.url, user=f"reader-{n}") for n, g in enumerate(gateways)]
    for client in [sender, *readers]:
        assert (await client.join(party))["type"] == "joined"

    acks = [await sender.reply(type="share", id=n, party=party, listing=listing) for n in range(5)]

    assert [ack["offset"] for ack in acks] == [1, 2, 3, 4, 5]
    for reader in readers:
        await reader.until(lambda f: f["type"] == "events" and f["items"][-1]["offset"] == 5)
        assert reader.offsets(party) == [1, 2, 3, 4, 5]
    for client in [sender, *readers]:
        await client.close()


async def test_no_acknowledged_share_is_lost_when_redis_restarts(gateways, redis_server):
    a, b = gateways
    party, listing = await seed_over_http(a.http)
    sender = await Client.connect(a.url, user="sender")
    reader = await Client.connect(b.url, user="reader")
    away = await Client.connect(b.url, user="away")
    for client in (sender, reader, away):
        await client.join(party)
    acked: list[int] = []

    async def share(n: int) -> None:
        reply = await sender.reply(type="share", id=n, party=party, listing=listing)
        if reply["type"] == "ack":
            acked.append(reply["offset"])
        else:
            assert reply["code"] == "unavailable", reply  # refused, never silently lost

    for n in range(3):
        await share(n)
    await away.until(lambda f: f["type"] == "events" and f["items"][-1]["offset"] == 3)
    epoch = away.frames[0]["position"]["epoch"]
    await away.close()  # this one reconnects after the restart
    await asyncio.to_thread(redis_server.restart)
    for n in range(3, 20):
        await share(n)
        await asyncio.sleep(0.05)
    assert len(acked) >= 10

    await reader.until(lambda f: f["type"] == "events" and f["items"][-1]["offset"] >= acked[-1])
    assert set(acked) <= set(reader.offsets(party))
    assert reader.offsets(party) == sorted(set(reader.offsets(party)))  # in order, no repeats

    back = await Client.connect(b.url, user="away")
    for _ in range(5):  # as a client does: `unavailable` says when to try again
        rejoined = await back.join(party, since={"offset": 3, "epoch": epoch})
        if rejoined["type"] != "error":
            break
        assert rejoined["code"] == "unavailable"
        await asyncio.sleep(rejoined["retry_after_ms"] / 1000)
    assert rejoined.get("recovered") is True, rejoined
    await back.until(lambda f: f["type"] == "events" and f["items"][-1]["offset"] >= acked[-1])
    assert {offset for offset in acked if offset > 3} <= set(back.offsets(party))
    for client in (sender, reader, back):
        await client.close()


async def test_a_user_on_two_gateways_counts_once_and_is_capped_over_both(redis_url):
    async with (
        InProcessGateway(redis_url, max_connections_per_user=2) as a,
        InProcessGateway(redis_url, max_connections_per_user=2) as b,
    ):
        party = await seed_party(a.engine)
        on_a = await Client.connect(a.url, user="u1")
        on_b = await Client.connect(b.url, user="u1")
        other = await Client.connect(b.url, user="u2")
        for client in (on_a, on_b, other):
            await client.join(party)

        for gateway in (a, b, a):  # each has reported before the last one reads
            await gateway.engine.gateway.presence_round()

        assert a.engine.gateway.presence_of(party) == 2
        on_a_told = await on_a.until(lambda f: f["type"] == "presence" and f["count"] == 2)
        assert on_a_told["party"] == party
        for gateway in (a, b):
            refused = await connect_or_closed(gateway.url, "u1")
            assert isinstance(refused, websockets.ConnectionClosed)
            assert refused.rcvd is not None and refused.rcvd.code == 4409
        for client in (on_a, on_b):
            assert await client.reply(type="ping", id="p") == {"type": "pong", "id": "p"}
        for client in (on_a, on_b, other):
            await client.close()
