"""The WebSocket protocol from a real socket, against a gateway served by uvicorn in this
process: on the embedded default and on a real redis-server."""

import asyncio
from datetime import UTC, datetime

import pytest
import websockets

from party_engine.domain.parties import PartyState
from party_engine.gateway.fresh_reads import FreshReads
from tests.gateway_harness import (
    Client,
    InProcessGateway,
    connect_once_admitted,
    connect_or_closed,
    seed_listing,
    seed_party,
    token,
    wait_for,
)


def backends() -> list[str]:
    try:
        import party_engine.backends.broker_redis  # noqa: F401
    except ImportError:
        return ["memory"]
    return ["memory", "redis"]


@pytest.fixture(params=backends())
def redis_or_memory(request) -> str:
    return "memory://" if request.param == "memory" else request.getfixturevalue("redis_url")


@pytest.fixture
async def gateway(redis_or_memory):
    async with InProcessGateway(redis_or_memory, share_rate_limit="3/10 seconds") as gateway:
        yield gateway


@pytest.fixture
async def party(gateway) -> str:
    return await seed_party(gateway.engine)


@pytest.fixture
async def client(gateway):
    client = await Client.connect(gateway.url)
    yield client
    await client.close()


async def closed_with(
    url: str, first_frame: str | None = None, **options
) -> websockets.ConnectionClosed:
    connection = await websockets.connect(url, **options)
    if first_frame is not None:
        await connection.send(first_frame)
    with pytest.raises(websockets.ConnectionClosed) as closed:
        await asyncio.wait_for(connection.recv(), 10)
    return closed.value


# --- the story ------------------------------------------------------------------------


async def test_a_share_is_acknowledged_and_reaches_everyone_in_the_party(gateway, party, client):
    listing = await seed_listing(gateway.engine, "l1")
    other = await Client.connect(gateway.url, user="shopper-2")
    joined = await client.join(party)
    assert joined["snapshot"]["state"] == "live"
    assert joined["position"]["offset"] == 0
    assert "recovered" not in joined
    await other.join(party)

    ack = await client.reply(type="share", id="s1", party=party, listing=listing)

    assert ack == {"type": "ack", "id": "s1", "offset": 1}
    for reader in (client, other):
        events = await reader.until(lambda f: f["type"] == "events")
        (item,) = events["items"]
        assert item["offset"] == item["share"] == 1
        assert item["kind"] == "share" and item["user"] == "shopper-1"
        assert item["listing"]["id"] == listing
    await other.close()


async def test_likes_in_one_tick_go_out_as_one_item_with_the_latest_count(gateway, party):
    listing = await seed_listing(gateway.engine, "l1")
    likers = [await Client.connect(gateway.url, user=f"u{i}") for i in range(4)]
    watcher = await Client.connect(gateway.url, user="watcher")
    for liker in [*likers, watcher]:
        await liker.join(party)
    await likers[0].reply(type="share", id=1, party=party, listing=listing)
    await watcher.until(lambda f: f["type"] == "events")

    await asyncio.gather(*(liker.send(type="like", id=2, party=party, share=1) for liker in likers))
    likes = []
    while sum(likes) < 1 or max(likes) < 4:
        frame = await watcher.until(lambda f: f["type"] == "events")
        likes.extend(item["likes"] for item in frame["items"] if item["kind"] == "like")
    assert max(likes) == 4
    assert len(likes) < 4  # coalesced: fewer like items than likes
    for liker in [*likers, watcher]:
        await liker.close()


class StoppedClock:
    def __init__(self, at: datetime) -> None:
        self.at = at

    def now(self) -> datetime:
        return self.at


async def test_shares_and_likes_are_stamped_by_the_gateways_clock(gateway, party, client):
    assert gateway.engine.gateway.clock is gateway.engine.clock  # the engine's clock, handed on
    at = datetime(2031, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)
    gateway.engine.gateway.clock = StoppedClock(at)
    listing = await seed_listing(gateway.engine, "l1")
    await client.join(party)
    # Not reply(): waiting for an ack would skip the events frames that come before it.
    await client.send(type="share", id=1, party=party, listing=listing)
    await client.send(type="like", id=2, party=party, share=1)  # a session's frames go in order
    stamps = []
    while len(stamps) < 2:
        frame = await client.until(lambda f: f["type"] == "events")
        stamps.extend((item["kind"], item["at"]) for item in frame["items"])
    assert stamps == [("share", at.isoformat()), ("like", at.isoformat())]


async def test_a_repeated_like_is_acknowledged_without_a_new_event(gateway, party, client):
    listing = await seed_listing(gateway.engine, "l1")
    await client.join(party)
    await client.reply(type="share", id=1, party=party, listing=listing)
    first = await client.reply(type="like", id=2, party=party, share=1)
    again = await client.reply(type="like", id=3, party=party, share=1)
    assert first == {"type": "ack", "id": 2, "offset": 2}
    assert again == {"type": "ack", "id": 3}


async def test_rejoin_with_since_replays_exactly_what_was_missed(gateway, party, client):
    listing = await seed_listing(gateway.engine, "l1")
    joined = await client.join(party)
    epoch = joined["position"]["epoch"]
    sharer = await Client.connect(gateway.url, user="sharer")
    await sharer.join(party)
    await sharer.reply(type="share", id=1, party=party, listing=listing)
    await client.until(lambda f: f["type"] == "events")
    await client.close()
    for n in range(2, 4):
        await sharer.reply(type="share", id=n, party=party, listing=listing)

    back = await Client.connect(gateway.url)
    rejoined = await back.join(party, since={"offset": 1, "epoch": epoch})
    assert rejoined["recovered"] is True
    assert rejoined["position"] == {"offset": 3, "epoch": epoch}
    await back.until(lambda f: f["type"] == "events" and f["items"][-1]["offset"] == 3)
    await sharer.reply(type="like", id=9, party=party, share=2)
    await back.until(lambda f: f["type"] == "events" and f["items"][-1]["offset"] == 4)
    assert back.offsets(party) == [2, 3, 4]  # no gap, no duplicate between replay and live
    await back.close()
    await sharer.close()


async def test_rejoin_with_another_epoch_gets_a_fresh_snapshot(gateway, party, client):
    listing = await seed_listing(gateway.engine, "l1")
    await client.join(party)
    await client.reply(type="share", id=1, party=party, listing=listing)

    again = await client.join(party, since={"offset": 1, "epoch": "not-the-epoch"})

    assert again["recovered"] is False
    assert [share["offset"] for share in again["snapshot"]["shares"]] == [1]
    assert again["position"]["offset"] == 1


async def test_ping_gets_pong(client):
    assert await client.reply(type="ping", id="p") == {"type": "pong", "id": "p"}


async def test_presence_counts_the_participants_about_once_a_second(gateway, party, client):
    other = await Client.connect(gateway.url, user="shopper-2")
    await client.join(party)
    await other.join(party)
    presence = await client.until(lambda f: f["type"] == "presence", timeout=5)
    assert presence == {"type": "presence", "party": party, "count": 2}
    await other.close()


async def test_one_user_with_several_sockets_in_a_party_counts_once(gateway, party):
    sockets = [await Client.connect(gateway.url, user="shopper-1") for _ in range(3)]
    other = await Client.connect(gateway.url, user="shopper-2")
    for socket in sockets:
        await socket.join(party)
    joined = await other.join(party)
    assert joined["snapshot"]["presence"] == 2

    await gateway.engine.gateway.presence_round()

    assert gateway.engine.gateway.presence_of(party) == 2
    presence = await other.until(lambda f: f["type"] == "presence", timeout=5)
    assert presence == {"type": "presence", "party": party, "count": 2}
    for client in [*sockets, other]:
        await client.close()


async def test_a_connection_past_the_per_user_cap_closes_with_4409(redis_or_memory):
    async with InProcessGateway(redis_or_memory, max_connections_per_user=2) as gateway:
        party = await seed_party(gateway.engine)
        first, second = [await Client.connect(gateway.url, user="u1") for _ in range(2)]
        for client in (first, second):
            await client.join(party)

        refused = await connect_or_closed(gateway.url, "u1")

        assert isinstance(refused, websockets.ConnectionClosed)
        assert refused.rcvd is not None and refused.rcvd.code == 4409
        assert refused.rcvd.reason == "too_many_connections"
        for client in (first, second):  # the user's other connections keep working
            assert await client.reply(type="ping", id="p") == {"type": "pong", "id": "p"}
        someone_else = await connect_or_closed(gateway.url, "u2")
        assert isinstance(someone_else, Client)
        await first.close()
        third = await connect_once_admitted(gateway.url, "u1")
        assert (await third.join(party))["type"] == "joined"
        for client in (second, third, someone_else):
            await client.close()


def count_snapshot_reads(gateway) -> list[str]:
    reads: list[str] = []
    read = gateway.engine.broker.snapshot

    async def counted(party_id: str):
        reads.append(party_id)
        return await read(party_id)

    gateway.engine.gateway.snapshots = FreshReads(counted)
    return reads


async def test_joiners_of_a_quiet_party_share_one_snapshot_read(gateway, party, client):
    reads = count_snapshot_reads(gateway)
    others = [await Client.connect(gateway.url, user=f"shopper-{n}") for n in range(2, 6)]
    await client.join(party)
    for other in others:
        await other.join(party)
    assert reads == [party]
    for other in others:
        await other.close()


async def test_a_share_after_a_kept_snapshot_follows_it_to_the_next_joiner_without_a_read(
    gateway, party, client
):
    reads = count_snapshot_reads(gateway)
    listing = await seed_listing(gateway.engine, "l1")
    await client.join(party)  # read, and kept
    await client.reply(type="share", id="s1", party=party, listing=listing)
    await client.until(lambda f: f["type"] == "events")  # the hub has seen the share

    other = await Client.connect(gateway.url, user="shopper-2")
    joined = await other.join(party)
    events = await other.until(lambda f: f["type"] == "events")

    assert (joined["snapshot"]["shares"], joined["position"]["offset"]) == ([], 0)
    assert [item["offset"] for item in events["items"]] == [1]  # the share, right after
    assert reads == [party]
    await other.close()


async def test_presence_goes_out_only_when_the_count_changes(gateway, party, client):
    other = await Client.connect(gateway.url, user="shopper-2")
    await client.join(party)
    await other.join(party)
    await client.until(lambda f: f["type"] == "presence" and f["count"] == 2, timeout=5)
    seen = len(client.frames)
    await gateway.engine.gateway.presence_round()  # nothing new: nothing sent
    await client.reply(type="ping", id="after")
    assert [f for f in client.frames[seen:] if f["type"] == "presence"] == []
    await other.close()
    presence = await client.until(lambda f: f["type"] == "presence", timeout=5)
    assert presence == {"type": "presence", "party": party, "count": 1}


async def test_a_party_that_ends_is_announced_and_refuses_shares(gateway, party, client):
    listing = await seed_listing(gateway.engine, "l1")
    await client.join(party)
    await gateway.engine.lifecycle.end(party)
    state = await client.until(lambda f: f["type"] == "party")
    assert state == {"type": "party", "party": party, "state": "ended"}
    refused = await client.reply(type="share", id=1, party=party, listing=listing)
    assert refused["code"] == "party_not_live"


async def test_a_state_is_told_once_and_never_followed_by_an_older_one(gateway, party, client):
    await client.join(party)  # told "live" in its snapshot
    engine = gateway.engine
    assert engine.gateway is not None
    await engine.gateway.repair_states()  # live again: not news
    await engine.lifecycle.end(party)
    await engine.gateway.repair_states()  # ended, as the broadcast already told
    engine.gateway.hub.tell_state(party, PartyState.LIVE)  # a late, older one
    await client.reply(type="ping", id="after")  # every frame sent before the pong is read
    states = [f["state"] for f in client.frames if f["type"] == "party"]
    assert states == ["ended"]


# --- what each bad input gets -----------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        ("not json", "JSON"),
        ("[1, 2]", "object"),
        ('{"type": "dance", "id": 7}', "frame.type"),
        ('{"type": "join", "id": 7}', "party"),
        ('{"type": "like", "id": 7, "party": "p", "share": "x"}', "share"),
    ],
)
async def test_a_bad_frame_gets_bad_frame_and_the_connection_stays_open(client, raw, field):
    await client.connection.send(raw)
    error = await client.until(lambda f: f["type"] == "error")
    assert error["code"] == "bad_frame"
    assert field in error["message"]
    if '"id": 7' in raw:
        assert error["id"] == 7
    assert (await client.reply(type="ping", id="alive"))["type"] == "pong"


async def test_refusals_carry_their_code(gateway, party, client):
    await seed_listing(gateway.engine, "l1")
    await seed_listing(gateway.engine, "adidas-1", brand="Adidas")
    scheduled = await seed_party(gateway.engine, live=False)

    assert (await client.reply(type="share", id=1, party=party, listing="l1"))[
        "code"
    ] == "not_joined"
    assert (await client.reply(type="leave", id=2, party=party))["code"] == "not_joined"
    assert (await client.join("nope"))["code"] == "party_not_found"
    await client.join(party)
    await client.join(scheduled)
    assert (await client.reply(type="share", id=3, party=scheduled, listing="l1"))[
        "code"
    ] == "party_not_live"
    assert (await client.reply(type="share", id=4, party=party, listing="missing"))[
        "code"
    ] == "listing_not_found"
    mismatch = await client.reply(type="share", id=5, party=party, listing="adidas-1")
    assert mismatch["code"] == "theme_mismatch" and "Adidas" in mismatch["message"]
    assert (await client.reply(type="like", id=6, party=party, share=99))[
        "code"
    ] == "share_not_found"
    assert (await client.reply(type="leave", id=7, party=scheduled)) == {"type": "ack", "id": 7}


async def test_the_fourth_share_in_the_window_is_rate_limited(gateway, party, client):
    await seed_listing(gateway.engine, "l1")
    await client.join(party)
    for n in range(3):
        assert (await client.reply(type="share", id=n, party=party, listing="l1"))["type"] == "ack"
    limited = await client.reply(type="share", id=9, party=party, listing="l1")
    assert limited["code"] == "rate_limited"
    assert 0 < limited["retry_after_ms"] <= 10_000


async def test_a_frame_over_the_size_limit_closes_with_1009(gateway, client):
    await client.connection.send('{"type":"ping","id":"' + "x" * 20_000 + '"}')
    with pytest.raises(websockets.ConnectionClosed) as closed:
        await client.next()
    assert closed.value.rcvd.code == 1009


async def test_a_bad_token_closes_with_4401(gateway):
    closed = await closed_with(f"{gateway.url}?token=garbage")
    assert closed.rcvd.code == 4401
    for first in ('{"type":"ping"}', '{"type":"auth","token":"garbage"}', "not json"):
        assert (await closed_with(gateway.url, first_frame=first)).rcvd.code == 4401


async def test_a_token_in_the_first_frame_authenticates_without_a_query_string(gateway, party):
    connection = await websockets.connect(gateway.url)
    client = Client(connection)
    try:
        await client.send(type="auth", token=token("shopper-9"), id="a1")
        assert await client.next() == {"type": "ack", "id": "a1"}
        await client.send(type="join", party=party, id="j1")
        assert (await client.until(lambda f: f["type"] == "joined"))["party"] == party
        await client.send(type="auth", token=token("shopper-9"), id="a2")
        refused = await client.until(lambda f: f["type"] == "error")
        assert (refused["id"], refused["code"]) == ("a2", "bad_frame")
    finally:
        await client.close()


async def test_an_origin_not_allowed_closes_with_4403(redis_or_memory):
    async with InProcessGateway(redis_or_memory, allowed_origins="https://app.example") as gateway:
        url = f"{gateway.url}?token={token('u1')}"
        closed = await closed_with(url, origin="https://evil.example")
        assert closed.rcvd.code == 4403
        allowed = await websockets.connect(url, origin="https://app.example")
        await allowed.send('{"type":"ping"}')
        assert "pong" in await asyncio.wait_for(allowed.recv(), 10)
        await allowed.close()


async def test_a_client_that_never_reads_is_cut_with_4008_and_others_keep_up(redis_or_memory):
    async with InProcessGateway(redis_or_memory, max_pending_bytes=64 * 1024) as gateway:
        party = await seed_party(gateway.engine)
        listing = await seed_listing(gateway.engine, "l1")
        # Small client buffers, so that the gateway's send buffer is what fills up.
        stalled = await Client.connect(gateway.url, user="stalled", max_queue=1)
        await stalled.join(party)
        reader = await Client.connect(gateway.url, user="reader")
        await reader.join(party)
        stalled.connection.transport.pause_reading()
        broker = gateway.engine.broker
        item = b'{"kind":"share","listing":{"id":"l1","title":"' + b"x" * 4000 + b'"}}'
        published = 0
        while gateway.engine.gateway.hub.local_count(party) and published < 2000:
            await broker.publish_share(party, item, "listing-1")
            published += 1
            if gateway.engine.gateway.hub.local_count(party) == 1:
                break
            await asyncio.sleep(0.001)
        assert gateway.engine.gateway.hub.local_count(party) == 1  # only the reader is left
        await reader.until(
            lambda f: f["type"] == "events" and f["items"][-1]["offset"] == published
        )
        assert reader.offsets(party) == list(range(1, published + 1))
        stalled.connection.transport.resume_reading()
        with pytest.raises(websockets.ConnectionClosed) as closed:
            while True:
                await stalled.next()
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 4008
        assert closed.value.rcvd.reason == "slow_consumer"
        del listing
        await reader.close()


async def test_a_draining_gateway_tells_clients_to_come_back_later(gateway, party, client):
    await client.join(party)
    await gateway.engine.gateway.drain(1.0)
    drain = await client.until(lambda f: f["type"] == "drain")
    assert 100 <= drain["retry_after_ms"] <= 1000
    with pytest.raises(websockets.ConnectionClosed) as closed:
        await client.next()
    assert closed.value.rcvd.code == 1001
    refused = await closed_with(f"{gateway.url}?token={token('late')}")
    assert refused.rcvd.code == 1013
    await wait_for(lambda: not gateway.engine.gateway.sessions, "sessions to end")


async def test_joiners_where_the_gateway_hears_the_party_are_served_its_kept_read(
    gateway, party, client, monkeypatch
):
    service = gateway.engine.gateway
    reads: list[str] = []
    fresh_get = FreshReads.get

    async def counted(self, key):
        if self is service.parties:
            reads.append(key)
        return await fresh_get(self, key)

    monkeypatch.setattr(FreshReads, "get", counted)
    await client.join(party)  # nobody here yet: the gateway does not hear the party, reads it
    assert reads == [party]
    await service.repair_states()  # its periodic read of the parties with members here, kept
    others = [await Client.connect(gateway.url, user=f"shopper-{n}") for n in range(2, 5)]
    for other in others:
        assert (await other.join(party))["snapshot"]["state"] == "live"
    assert reads == [party]

    # A change heard forgets the kept read: the next joiner is told the party ended.
    await gateway.engine.lifecycle.end(party)
    await client.until(lambda f: f["type"] == "party")
    late = await Client.connect(gateway.url, user="shopper-9")
    assert (await late.join(party))["snapshot"]["state"] == "ended"
    for other in [*others, late]:
        await other.close()


async def test_a_party_kept_by_earlier_shares_refuses_shares_once_it_ends(gateway, party, client):
    listing = await seed_listing(gateway.engine, "l1")
    await client.join(party)
    accepted = await client.reply(type="share", id=1, party=party, listing=listing)
    assert accepted["type"] == "ack"  # the gateway now keeps the party (live)
    await gateway.engine.lifecycle.end(party)
    await client.until(lambda f: f["type"] == "party")
    refused = await client.reply(type="share", id=2, party=party, listing=listing)
    assert refused["code"] == "party_not_live"
