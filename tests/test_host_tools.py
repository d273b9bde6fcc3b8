"""A host's live tools (co-hosts, picks, removals, mutes) over HTTP and WebSocket, against a
gateway served in this process: on the embedded backends and on a real redis-server."""

import httpx
import pytest
from jsonschema import Draft202012Validator

from party_engine.protocol import load_schema
from party_engine.tokens import UserRole
from tests.gateway_harness import Client, InProcessGateway, seed_listing, seed_party, token


@pytest.fixture
async def gateway(store_url):
    async with InProcessGateway(store_url) as gateway:
        yield gateway


def http_as(gateway: InProcessGateway, user: str, role: UserRole) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        base_url=f"http://127.0.0.1:{gateway.settings.port}",
        headers={"Authorization": f"Bearer {token(user, role)}"},
    )


@pytest.fixture
async def host(gateway):
    async with http_as(gateway, "host-1", UserRole.HOST) as http:
        yield http


@pytest.fixture
async def shopper_http(gateway):
    async with http_as(gateway, "shopper-1", UserRole.SHOPPER) as http:
        yield http


@pytest.fixture
async def party(gateway) -> str:
    return await seed_party(gateway.engine)


SERVER = Draft202012Validator(
    load_schema("ws-server.schema.json"), format_checker=Draft202012Validator.FORMAT_CHECKER
)


@pytest.fixture
async def shopper(gateway, party):
    client = await Client.connect(gateway.url, user="shopper-1")
    await client.join(party)
    yield client
    await client.close()
    for frame in client.frames:  # every frame of the new kinds is as the schema says
        SERVER.validate(frame)


async def shares(client: Client, party: str, *listings: str) -> list[int]:
    offsets = []
    for n, listing in enumerate(listings):
        ack = await client.reply(type="share", id=f"s{n}", party=party, listing=listing)
        assert ack["type"] == "ack", ack
        offsets.append(ack["offset"])
    return offsets


async def item(client: Client, kind: str) -> dict:
    frame = await client.until(
        lambda f: f["type"] == "events" and any(i["kind"] == kind for i in f["items"])
    )
    return next(i for i in frame["items"] if i["kind"] == kind)


async def position(gateway: InProcessGateway, party: str) -> int:
    return (await gateway.engine.broker.position(party)).offset


async def test_a_pick_reaches_members_and_joiners_see_it_in_their_snapshot(
    gateway, party, host, shopper
):
    await seed_listing(gateway.engine, "l1")
    first, second = await shares(shopper, party, "l1", "l1")

    response = await host.post(f"/parties/{party}/picks", json={"offset": second})

    assert response.status_code == 201
    assert response.json() == {"offset": 3}
    pick = await item(shopper, "pick")
    assert pick.items() >= {"offset": 3, "share": second, "kind": "pick", "user": "host-1"}.items()
    joiner = await Client.connect(gateway.url, user="joiner")
    joined = await joiner.join(party)
    assert joined["snapshot"]["picks"] == [second]
    await joiner.close()
    again = await host.post(f"/parties/{party}/picks", json={"offset": second})
    assert again.status_code == 409
    unpicked = await host.delete(f"/parties/{party}/picks/{second}")
    assert unpicked.status_code == 200 and unpicked.json() == {"offset": 4}
    assert (await item(shopper, "unpick"))["share"] == second
    assert (await host.delete(f"/parties/{party}/picks/{second}")).status_code == 409
    assert (await host.delete(f"/parties/{party}/picks/{first}")).status_code == 409


async def test_bad_targets_are_404_and_change_nothing(gateway, party, host, shopper):
    await seed_listing(gateway.engine, "l1")
    (share,) = await shares(shopper, party, "l1")
    like = await shopper.reply(type="like", id="k", party=party, share=share)
    before = await position(gateway, party)

    for offset in (like["offset"], 99):
        assert (
            await host.post(f"/parties/{party}/picks", json={"offset": offset})
        ).status_code == 404
        assert (await host.delete(f"/parties/{party}/shares/{offset}")).status_code == 404
    assert (await host.post("/parties/nope/picks", json={"offset": share})).status_code == 404
    assert (await host.post(f"/parties/{party}/picks", json={"offset": 0})).status_code == 422
    assert (await host.post(f"/parties/{party}/picks", json={})).status_code == 422
    assert (await host.put(f"/parties/{party}/mutes/host-1")).status_code == 422
    assert (await host.delete(f"/parties/{party}/mutes/shopper-9")).status_code == 409
    assert await position(gateway, party) == before


async def test_anyone_but_the_host_and_co_hosts_is_refused_and_nothing_changes(
    gateway, party, host, shopper_http, shopper
):
    await seed_listing(gateway.engine, "l1")
    (share,) = await shares(shopper, party, "l1")
    before = await position(gateway, party)

    refused = [
        await shopper_http.post(f"/parties/{party}/picks", json={"offset": share}),
        await shopper_http.delete(f"/parties/{party}/picks/{share}"),
        await shopper_http.delete(f"/parties/{party}/shares/{share}"),
        await shopper_http.put(f"/parties/{party}/mutes/shopper-2"),
        await shopper_http.delete(f"/parties/{party}/mutes/shopper-2"),
        await shopper_http.put(f"/parties/{party}/cohosts/shopper-1"),
    ]
    async with http_as(gateway, "host-2", UserRole.HOST) as other_host:
        refused.append(await other_host.put(f"/parties/{party}/cohosts/host-2"))
        refused.append(await other_host.delete(f"/parties/{party}/shares/{share}"))

    assert [r.status_code for r in refused] == [403] * len(refused)
    error = await shopper.reply(type="pick", id="p", party=party, share=share)
    assert error["type"] == "error" and error["code"] == "forbidden"
    assert await position(gateway, party) == before
    assert (await gateway.engine.broker.snapshot(party)).picks == frozenset()


async def test_a_co_host_has_the_live_tools_but_not_ownership(gateway, party, host, shopper):
    await seed_listing(gateway.engine, "l1")
    first, second = await shares(shopper, party, "l1", "l1")
    named = await host.put(f"/parties/{party}/cohosts/cohost-1")
    assert named.status_code == 200 and named.json()["cohosts"] == ["cohost-1"]
    assert (await host.put(f"/parties/{party}/cohosts/cohost-1")).json()["cohosts"] == ["cohost-1"]
    assert (await host.put(f"/parties/{party}/cohosts/host-1")).status_code == 422
    assert (await host.get(f"/parties/{party}")).json()["cohosts"] == ["cohost-1"]

    async with http_as(gateway, "cohost-1", UserRole.SHOPPER) as cohost:
        picked = await cohost.post(f"/parties/{party}/picks", json={"offset": first})
        assert picked.status_code == 201
        assert (await item(shopper, "pick"))["user"] == "cohost-1"
        assert (await cohost.put(f"/parties/{party}/mutes/shopper-2")).status_code == 200
        assert (await cohost.put(f"/parties/{party}/cohosts/cohost-2")).status_code == 403
        assert (await cohost.post(f"/parties/{party}/end")).status_code == 403
        assert (await cohost.delete(f"/parties/{party}")).status_code == 403

    console = await Client.connect(gateway.url, user="cohost-1")
    await console.join(party)
    ack = await console.reply(type="pick", id="p2", party=party, share=second)
    assert ack["type"] == "ack" and ack["offset"] > picked.json()["offset"]
    again = await console.reply(type="pick", id="p3", party=party, share=second)
    assert again == {"type": "ack", "id": "p3"}  # picked already: nothing new
    gone = await console.reply(type="pick", id="p4", party=party, share=999)
    assert gone["code"] == "share_not_found"

    assert (await host.delete(f"/parties/{party}/cohosts/cohost-1")).json()["cohosts"] == []
    assert (await host.delete(f"/parties/{party}/cohosts/cohost-1")).status_code == 404
    refused = await console.reply(type="unpick", id="p5", party=party, share=second)
    assert refused["code"] == "forbidden"
    await console.close()


async def test_a_removed_share_leaves_the_feed_the_snapshot_and_takes_no_likes(
    gateway, party, host, shopper
):
    await seed_listing(gateway.engine, "l1")
    first, second = await shares(shopper, party, "l1", "l1")
    await host.post(f"/parties/{party}/picks", json={"offset": first})

    removed = await host.delete(f"/parties/{party}/shares/{first}")

    assert removed.status_code == 200
    assert (await item(shopper, "removed"))["share"] == first
    joiner = await Client.connect(gateway.url, user="joiner")
    snapshot = (await joiner.join(party))["snapshot"]
    assert [s["share"] for s in snapshot["shares"]] == [second]
    assert snapshot["picks"] == []
    await joiner.close()
    like = await shopper.reply(type="like", id="k", party=party, share=first)
    assert like["code"] == "share_not_found"
    assert (await host.delete(f"/parties/{party}/shares/{first}")).status_code == 404


async def test_a_muted_shopper_is_refused_until_unmuted(gateway, party, host, shopper):
    await seed_listing(gateway.engine, "l1")
    (share,) = await shares(shopper, party, "l1")

    muted = await host.put(f"/parties/{party}/mutes/shopper-1", params={"minutes": 30})

    assert muted.status_code == 200 and muted.json()["until"] is not None
    mute = await item(shopper, "mute")
    assert mute["target"] == "shopper-1" and mute["until"]
    refused = await shopper.reply(type="share", id="m1", party=party, listing="l1")
    assert refused["type"] == "error" and refused["code"] == "muted"
    refused = await shopper.reply(type="like", id="m2", party=party, share=share)
    assert refused["code"] == "muted"
    other = await Client.connect(gateway.url, user="shopper-2")
    await other.join(party)
    assert (await other.reply(type="like", id="o", party=party, share=share))["type"] == "ack"
    await other.close()

    assert (await host.delete(f"/parties/{party}/mutes/shopper-1")).status_code == 200
    assert (await item(shopper, "unmute"))["target"] == "shopper-1"
    assert (await shopper.reply(type="share", id="m3", party=party, listing="l1"))["type"] == "ack"
    forever = await host.put(f"/parties/{party}/mutes/shopper-1")
    assert forever.json()["until"] is None
    assert (await shopper.reply(type="share", id="m4", party=party, listing="l1"))[
        "code"
    ] == "muted"


async def test_the_live_tools_need_a_live_party(gateway, host):
    party = await seed_party(gateway.engine, live=False)
    assert (await host.post(f"/parties/{party}/picks", json={"offset": 1})).status_code == 409
    assert (await host.put(f"/parties/{party}/mutes/shopper-1")).status_code == 409
    assert (await host.put(f"/parties/{party}/cohosts/cohost-1")).status_code == 200
