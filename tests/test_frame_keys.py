"""Idempotent shares and likes (`key`), and likes refused for a full outbox, from real sockets:
gateways in this process on the embedded default and on redis-server, and two `party-engine
serve` processes sharing one redis-server."""

import pytest

from party_engine.backends import open_outbox
from tests.backend_harness import opened
from tests.gateway_harness import (
    Client,
    InProcessGateway,
    gateway_processes,
    seed_listing,
    seed_over_http,
    seed_party,
)


@pytest.fixture
async def gateway(store_url):
    async with InProcessGateway(store_url, outbox_max_depth=3) as gateway:
        yield gateway


@pytest.fixture
async def client(gateway):
    client = await Client.connect(gateway.url)
    yield client
    await client.close()


async def test_a_share_sent_twice_with_its_key_is_one_share_acked_twice(gateway, client):
    party = await seed_party(gateway.engine)
    listing = await seed_listing(gateway.engine, "l1")
    await client.join(party)
    frame = {"type": "share", "party": party, "listing": listing, "key": "tap-1"}

    first = await client.reply(id="s1", **frame)
    again = await client.reply(id="s2", **frame)
    other = await client.reply(id="s3", type="share", party=party, listing=listing, key="tap-2")

    assert (first["type"], again["type"]) == ("ack", "ack")
    assert again["offset"] == first["offset"]
    assert other["offset"] == first["offset"] + 1, "the resend made no share"
    assert (await gateway.engine.broker.position(party)).offset == other["offset"]


async def test_a_like_sent_twice_with_its_key_gets_the_same_offset(gateway, client):
    party = await seed_party(gateway.engine)
    listing = await seed_listing(gateway.engine, "l1")
    await client.join(party)
    shared = await client.reply(id=1, type="share", party=party, listing=listing)
    frame = {"type": "like", "party": party, "share": shared["offset"], "key": "heart-1"}

    first = await client.reply(id=2, **frame)
    again = await client.reply(id=3, **frame)

    assert first["offset"] == again["offset"] == shared["offset"] + 1


@pytest.mark.parametrize("key", ["", "k" * 65, 7])
async def test_a_bad_key_is_a_bad_frame(gateway, client, key):
    party = await seed_party(gateway.engine)
    await client.join(party)
    reply = await client.reply(id=1, type="share", party=party, listing="l1", key=key)
    assert reply["type"] == "error" and reply["code"] == "bad_frame"


async def test_a_like_refused_for_a_full_outbox_can_be_sent_again_later(gateway, client, store_url):
    party = await seed_party(gateway.engine)
    listing = await seed_listing(gateway.engine, "l1")
    await client.join(party)
    # No relay runs in this process: the outbox fills up to its depth (3) and stays full.
    acks = [await client.reply(id=n, type="share", party=party, listing=listing) for n in range(3)]
    share = acks[0]["offset"]

    refused = await client.reply(id="like-1", type="like", party=party, share=share)
    assert refused["type"] == "error" and refused["code"] == "unavailable"
    assert refused["retry_after_ms"] > 0
    shared = await client.reply(id="s4", type="share", party=party, listing=listing)
    assert shared["type"] == "error" and shared["code"] == "unavailable"

    # A relay carries the outbox away; the like sent again now counts.
    async with opened(open_outbox(store_url, gateway.engine.broker)) as outbox:
        await outbox.done(await outbox.take("test-relay", [party], 100, None))
    liked = await client.reply(id="like-2", type="like", party=party, share=share)

    assert liked["type"] == "ack" and "offset" in liked, "not answered as 'already liked'"
    events = await client.until(
        lambda f: f["type"] == "events" and f["items"][-1]["offset"] == liked["offset"]
    )
    assert events["items"][-1]["likes"] == 1


@pytest.fixture
def gateway_pair(redis_url):
    with gateway_processes(redis_url, {}, {}) as pair:
        yield pair


async def test_a_share_resent_with_its_key_through_another_gateway_is_the_same_share(
    gateway_pair,
):
    a, b = gateway_pair
    party, listing = await seed_over_http(a.http)
    frame = {"type": "share", "party": party, "listing": listing, "key": "tap-1"}
    first_connection = await Client.connect(a.url, user="sharer")
    await first_connection.join(party)
    first = await first_connection.reply(id=1, **frame)
    await first_connection.close()  # the reply was "lost": the phone reconnects elsewhere

    second_connection = await Client.connect(b.url, user="sharer")
    joined = await second_connection.join(party)
    again = await second_connection.reply(id=1, **frame)
    await second_connection.close()

    assert first["type"] == again["type"] == "ack"
    assert again["offset"] == first["offset"]
    assert joined["position"]["offset"] == first["offset"]
    assert [share["offset"] for share in joined["snapshot"]["shares"]] == [first["offset"]]
    reader = await Client.connect(a.url, user="reader")
    assert (await reader.join(party))["position"]["offset"] == first["offset"], "no second share"
    await reader.close()
