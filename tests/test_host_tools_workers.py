"""What the workers make of host actions, with every role in this process (gateway, relay,
worker) on the embedded backends and on Redis: a removal takes its share's counts back out
of the counters and leaderboards, exactly once; picks count per seller and push the seller."""

import httpx
import pytest

from party_engine.domain.events import SharePicked, ShareRemoved, ShareUnpicked
from party_engine.domain.tallies import tally
from party_engine.ports import Board
from party_engine.roles import ALL_ROLES
from party_engine.tokens import UserRole
from tests.broker_helpers import eventually
from tests.gateway_harness import Client, InProcessGateway, seed_listing, seed_party, token
from tests.test_ledger_contract import AT, like, share
from workers.counters import CountersHandler


@pytest.fixture
async def gateway(store_url):
    async with InProcessGateway(store_url, roles=ALL_ROLES) as gateway:
        yield gateway


def http_as(gateway: InProcessGateway, user: str, role: UserRole) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        base_url=f"http://127.0.0.1:{gateway.settings.port}",
        headers={"Authorization": f"Bearer {token(user, role)}"},
    )


async def test_a_removal_corrects_the_counters_and_picks_count_per_seller(gateway):
    engine = gateway.engine
    party = await seed_party(engine)
    await seed_listing(engine, "l1")  # sold by seller-1
    await seed_listing(engine, "l2")
    ann = await Client.connect(gateway.url, user="ann")
    bob = await Client.connect(gateway.url, user="bob")
    for client in (ann, bob):
        await client.join(party)
    kept = (await ann.reply(type="share", id=1, party=party, listing="l1"))["offset"]
    gone = (await bob.reply(type="share", id=2, party=party, listing="l2"))["offset"]
    for n, client in enumerate((ann, bob)):
        like = await client.reply(type="like", id=f"k{n}", party=party, share=gone)
        assert like["type"] == "ack"
    await ann.reply(type="like", id="k3", party=party, share=kept)

    async with http_as(gateway, "host-1", UserRole.HOST) as host:
        assert (await host.post(f"/parties/{party}/picks", json={"offset": kept})).is_success
        assert (await host.post(f"/parties/{party}/picks", json={"offset": gone})).is_success
        assert (await host.delete(f"/parties/{party}/shares/{gone}")).is_success

        async def corrected():
            stats = (await host.get(f"/parties/{party}/stats")).json()
            board = (await host.get(f"/parties/{party}/leaderboard?by=picks")).json()["items"]
            return stats["shares"] == 1 and board == [{"id": "seller-1", "score": 1}]

        await eventually(corrected, within=15)
        stats = (await host.get(f"/parties/{party}/stats")).json()
        assert (stats["shares"], stats["likes"]) == (1, 1)
        listings = (await host.get(f"/parties/{party}/leaderboard?by=listings")).json()
        assert listings["items"] == [{"id": "l1", "score": 2}]
        sharers = (await host.get(f"/parties/{party}/leaderboard?by=sharers")).json()
        assert sharers["items"] == [{"id": "ann", "score": 1}]

    async with http_as(gateway, "seller-1", UserRole.SHOPPER) as seller:

        async def picked_notices():
            notices = (await seller.get("/me/notifications")).json()["items"]
            return [n for n in notices if n["title"] == "Your listing was picked"]

        assert len(await eventually(picked_notices, within=15)) == 2
    for client in (ann, bob):
        await client.close()


async def test_a_removal_delivered_twice_counts_once(gateway):
    engine = gateway.engine
    await seed_listing(engine, "l9")
    handler = CountersHandler(engine.ledger, engine.store, lock_seconds=5)
    created = share(1, party="px", listing="l9", sharer="ann")
    removed = ShareRemoved("r1", "px", 2, 1, "l9", "ann", 0, 0, "host-1", AT)
    await handler([created])
    await handler([removed])
    await handler([removed])
    assert (await engine.ledger.party_stats("px")).shares == 0
    assert await engine.ledger.leaderboard("px", Board.SHARERS, 10) == []
    assert not tally([created, removed]).party_shares["px"]


def test_a_removal_takes_back_all_its_share_added_whatever_the_order():
    created = share(1, listing="l1", sharer="ann")
    liked = [like(2, listing="l1"), like(3, listing="l1")]
    picked = SharePicked("p4", "p1", 4, 1, "l1", "host-1", AT)
    removed = ShareRemoved("r5", "p1", 5, 1, "l1", "ann", 2, 1, "host-1", AT)
    sellers = {"l1": "seller-1"}
    for events in ([created, *liked, picked, removed], [removed, picked, *liked, created]):
        counted = tally(events, sellers)
        assert not any(counted.party_shares.values())
        assert not any(counted.party_likes.values())
        assert not any(counted.listing_scores().values())
        assert not any(counted.sharer_shares.values())
        assert not any(counted.seller_picks.values())
    unpicked = ShareUnpicked("u6", "p1", 6, 1, "l1", "host-1", AT)
    assert tally([picked], sellers).seller_picks == {("p1", "seller-1"): 1}
    assert not any(tally([picked, unpicked], sellers).seller_picks.values())


def test_a_tally_split_by_party_is_each_partys_events_counted_alone():
    sellers = {"l1": "seller-1", "l2": "seller-2"}
    events = [
        share(1, listing="l1", sharer="ann"),
        share(2, party="p2", listing="l2", sharer="bob"),
        like(3, listing="l1"),
        SharePicked("p4", "p2", 4, 2, "l2", "host-1", AT),
        ShareRemoved("r5", "p1", 5, 1, "l1", "ann", 1, 0, "host-1", AT),
    ]
    parts = tally(events, sellers).by_party()
    assert set(parts) == {"p1", "p2"}
    for party_id, part in parts.items():
        assert part == tally([e for e in events if e.party_id == party_id], sellers)
