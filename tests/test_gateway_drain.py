"""SIGTERM to a gateway process with 100 clients while shares flow on another gateway: every
client is told `drain`, reconnects to the other gateway with `since`, and misses nothing."""

import asyncio

import pytest
import websockets

from tests.gateway_harness import Client, gateway_processes, seed_over_http

CLIENTS = 100
SHARES = 30


@pytest.fixture
def gateways(redis_url):
    leaving = {"PARTY_DRAIN_SECONDS": "2"}
    with gateway_processes(redis_url, leaving, {"PARTY_SHARE_RATE_LIMIT": "100/second"}) as pair:
        yield pair


async def test_a_draining_gateways_clients_resume_elsewhere_and_miss_nothing(gateways):
    leaving, staying = gateways
    party, listing = await seed_over_http(staying.http)
    sender = await Client.connect(staying.url, user="sender")
    await sender.join(party)
    users = [f"shopper-{n}" for n in range(CLIENTS)]
    clients = [await Client.connect(leaving.url, user=user) for user in users]
    epochs = [(await client.join(party))["position"]["epoch"] for client in clients]

    async def share(n: int) -> int:
        ack = await sender.reply(type="share", id=n, party=party, listing=listing)
        assert ack["type"] == "ack", ack
        return ack["offset"]

    acked = [await share(n) for n in range(SHARES // 3)]
    assert leaving.process is not None
    leaving.process.terminate()  # SIGTERM: the gateway drains before it exits

    async def resume(client: Client, user: str, epoch: str) -> Client:
        drain = await client.until(lambda f: f["type"] == "drain")
        assert drain["retry_after_ms"] > 0
        with pytest.raises(websockets.ConnectionClosed):
            while True:
                await client.next()
        seen = client.offsets(party)
        back = await Client.connect(staying.url, user=user)
        since = {"offset": seen[-1] if seen else 0, "epoch": epoch}
        rejoined = await back.join(party, since=since)
        assert rejoined.get("recovered") is True, rejoined
        back.frames[:0] = [f for f in client.frames if f["type"] == "events"]
        return back

    async def keep_sharing() -> None:
        for n in range(SHARES // 3, SHARES):
            acked.append(await share(n))
            await asyncio.sleep(0.05)

    resumed, _ = await asyncio.gather(
        asyncio.gather(*(resume(*args) for args in zip(clients, users, epochs, strict=True))),
        keep_sharing(),
    )
    assert acked == list(range(1, SHARES + 1))
    for client in resumed:
        while not client.offsets(party) or client.offsets(party)[-1] < SHARES:
            await client.next()
        assert client.offsets(party) == acked  # every share once, in order, across both
    for client in [sender, *resumed]:
        await client.close()
