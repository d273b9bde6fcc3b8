"""Host actions across two gateways (`party-engine serve` processes) on one redis-server: a
pick, a removal and a mute made through gateway A reach a client of gateway B exactly once,
in order, and survive its reconnect with `since`."""

import httpx
import pytest

from party_engine.tokens import UserRole
from tests.gateway_harness import Client, GatewayProcess, seed_over_http, token


@pytest.fixture
def gateways(redis_url):
    pair = [GatewayProcess(redis_url), GatewayProcess(redis_url)]
    try:
        for gateway in pair:
            gateway.start()
        yield pair
    finally:
        for gateway in pair:
            gateway.stop()


def items(client: Client, party: str) -> list[dict]:
    return [
        item
        for frame in client.frames
        if frame["type"] == "events" and frame["party"] == party
        for item in frame["items"]
    ]


async def test_host_actions_on_one_gateway_reach_the_other_once_in_order_and_after_a_reconnect(
    gateways,
):
    a, b = gateways
    party, listing = await seed_over_http(a.http)
    sharer = await Client.connect(a.url, user="sharer")
    reader = await Client.connect(b.url, user="reader")
    await sharer.join(party)
    joined = await reader.join(party)
    shares = [
        (await sharer.reply(type="share", id=n, party=party, listing=listing))["offset"]
        for n in range(3)
    ]
    host = {"Authorization": f"Bearer {token('host-1', UserRole.HOST)}"}
    async with httpx.AsyncClient(base_url=a.http, headers=host) as http:
        pick = (await http.post(f"/parties/{party}/picks", json={"offset": shares[0]})).json()
        removal = (await http.delete(f"/parties/{party}/shares/{shares[1]}")).json()

        await reader.until(
            lambda f: f["type"] == "events" and f["items"][-1]["offset"] == removal["offset"]
        )
        seen = items(reader, party)
        assert [i["offset"] for i in seen] == [*shares, pick["offset"], removal["offset"]]
        assert [(i["kind"], i["share"]) for i in seen[3:]] == [
            ("pick", shares[0]),
            ("removed", shares[1]),
        ]
        await reader.close()

        # Away on B while the host acts on A; back with `since`: exactly what was missed.
        since = {"offset": removal["offset"], "epoch": joined["position"]["epoch"]}
        unpick = (await http.delete(f"/parties/{party}/picks/{shares[0]}")).json()
        removal2 = (await http.delete(f"/parties/{party}/shares/{shares[2]}")).json()
        mute = (await http.put(f"/parties/{party}/mutes/sharer")).json()

    back = await Client.connect(b.url, user="reader")
    rejoined = await back.join(party, since=since)
    assert rejoined["recovered"] is True
    await back.until(lambda f: f["type"] == "events" and f["items"][-1]["offset"] == mute["offset"])
    replayed = items(back, party)
    assert [i["offset"] for i in replayed] == [
        unpick["offset"],
        removal2["offset"],
        mute["offset"],
    ]
    assert [i["kind"] for i in replayed] == ["unpick", "removed", "mute"]

    refused = await sharer.reply(type="share", id="late", party=party, listing=listing)
    assert refused["code"] == "muted"
    fresh = await Client.connect(b.url, user="fresh")
    snapshot = (await fresh.join(party))["snapshot"]
    assert [s["share"] for s in snapshot["shares"]] == [shares[0]]
    assert snapshot["picks"] == []
    for client in (sharer, back, fresh):
        await client.close()
