"""One contract for the Store port, run against the embedded store, a real redis-server and a
Redis Cluster (tests/conftest.py STORE_BACKENDS)."""

import asyncio
from dataclasses import fields, replace
from datetime import UTC, datetime, timedelta

import pytest
import redis.asyncio as redis
from redis.crc import key_slot

from party_engine.backends import open_store
from party_engine.backends.records import listing_from_hash, listing_to_hash
from party_engine.backends.redis_buckets import BUCKETS
from party_engine.domain.errors import Conflict, InvalidValue
from party_engine.domain.listings import Listing
from party_engine.domain.parties import PartyState, schedule_party
from party_engine.domain.themes import Theme, ThemeKind
from party_engine.ports import PartyQuery
from tests.backend_harness import opened
from tests.slot_audit import audited

NOW = datetime(2030, 5, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
async def store(store_url):
    async with opened(open_store(store_url)) as store:
        yield store


NIKE = Theme(ThemeKind.BRAND, "Nike")


def a_party(party_id: str, *, hours: float = 1, theme: Theme = NIKE, host: str = "h1"):
    return schedule_party(
        party_id=party_id,
        host_id=host,
        title=f"party {party_id}",
        theme=theme,
        starts_at=NOW + timedelta(hours=hours),
        now=NOW,
    )


async def test_a_created_party_reads_back_equal_with_version_one(store):
    party = a_party("p1")
    created = await store.create_party(party)
    assert created.version == 1
    assert await store.get_party("p1") == created


async def test_an_unknown_party_is_none(store):
    assert await store.get_party("nope") is None


async def test_parties_read_together_are_those_that_exist_as_stored(store):
    created = [await store.create_party(a_party(f"p{n}")) for n in range(40)]  # every bucket
    saved = await store.save_party(created[3])
    wanted = [party.id for party in created[::2]] + ["nope", saved.id]
    expected = {party.id: party for party in created[::2]} | {saved.id: saved}
    assert await store.get_parties(wanted) == expected
    assert await store.get_parties([]) == {}


async def test_creating_the_same_id_twice_conflicts(store):
    await store.create_party(a_party("p1"))
    with pytest.raises(Conflict):
        await store.create_party(a_party("p1"))


async def test_a_save_bumps_the_version_and_a_stale_save_conflicts(store):
    created = await store.create_party(a_party("p1"))
    started = await store.save_party(created.start(NOW))
    assert started.version == 2
    assert (await store.get_party("p1")).state is PartyState.LIVE
    with pytest.raises(Conflict):
        await store.save_party(created.cancel(NOW))  # read at version 1, stale now
    assert (await store.get_party("p1")).state is PartyState.LIVE


async def test_saving_a_party_that_does_not_exist_conflicts(store):
    with pytest.raises(Conflict):
        await store.save_party(replace(a_party("ghost"), version=1))


async def test_parties_list_soonest_first_and_page_by_cursor(store):
    for index, hours in enumerate([5, 1, 3, 2, 4]):
        await store.create_party(a_party(f"p{index}", hours=hours))
    first = await store.list_parties(PartyQuery(limit=2))
    assert [p.id for p in first.items] == ["p1", "p3"]
    second = await store.list_parties(PartyQuery(limit=2, cursor=first.next_cursor))
    assert [p.id for p in second.items] == ["p2", "p4"]
    third = await store.list_parties(PartyQuery(limit=2, cursor=second.next_cursor))
    assert [p.id for p in third.items] == ["p0"]
    assert third.next_cursor is None


async def test_parties_with_the_same_start_page_by_id_without_loss(store):
    for party_id in ["b", "a", "c"]:
        await store.create_party(a_party(party_id))
    first = await store.list_parties(PartyQuery(limit=2))
    second = await store.list_parties(PartyQuery(limit=2, cursor=first.next_cursor))
    assert [p.id for p in first.items + second.items] == ["a", "b", "c"]


async def test_paging_over_many_parties_with_tied_starts_loses_and_repeats_nothing(store):
    # 60 parties over 7 start times: on Redis they are spread over every bucket, and each
    # page merges the buckets from the cursor on.
    for n in range(60):
        await store.create_party(a_party(f"p{n:02}", hours=1 + n % 7))
    seen, cursor = [], None
    while True:
        page = await store.list_parties(PartyQuery(limit=7, cursor=cursor))
        seen += [(p.starts_at, p.id) for p in page.items]
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert seen == sorted(seen)
    assert len(seen) == len(set(seen)) == 60


async def test_of_two_racing_creates_of_one_id_exactly_one_wins(store):
    outcomes = await asyncio.gather(
        *(store.create_party(a_party("p1", host=f"h{n}")) for n in range(5)),
        return_exceptions=True,
    )
    winners = [o for o in outcomes if not isinstance(o, Exception)]
    assert len(winners) == 1
    assert all(isinstance(o, Conflict) for o in outcomes if o not in winners)
    assert await store.get_party("p1") == winners[0]


async def test_of_two_racing_saves_of_one_version_exactly_one_wins(store):
    created = await store.create_party(a_party("p1"))
    outcomes = await asyncio.gather(
        store.save_party(created.start(NOW)),
        store.save_party(created.cancel(NOW)),
        return_exceptions=True,
    )
    [winner] = [o for o in outcomes if not isinstance(o, Exception)]
    assert any(isinstance(o, Conflict) for o in outcomes)
    assert await store.get_party("p1") == winner
    other = PartyState.CANCELLED if winner.state is PartyState.LIVE else PartyState.LIVE
    assert (await store.list_parties(PartyQuery(state=other))).items == []
    assert [p.id for p in (await store.list_parties(PartyQuery(state=winner.state))).items] == [
        "p1"
    ]


async def test_parties_filter_by_state_and_theme_case_insensitively(store):
    nike = await store.create_party(a_party("nike"))
    await store.create_party(a_party("adidas", theme=Theme(ThemeKind.BRAND, "Adidas")))
    await store.create_party(a_party("summer", theme=Theme(ThemeKind.SEASON, "Nike")))
    await store.save_party(nike.start(NOW))

    by_theme = await store.list_parties(PartyQuery(theme=Theme(ThemeKind.BRAND, " NIKE ")))
    assert [p.id for p in by_theme.items] == ["nike"]
    live = await store.list_parties(PartyQuery(state=PartyState.LIVE))
    assert [p.id for p in live.items] == ["nike"]
    scheduled = await store.list_parties(PartyQuery(state=PartyState.SCHEDULED))
    assert sorted(p.id for p in scheduled.items) == ["adidas", "summer"]
    both = await store.list_parties(
        PartyQuery(state=PartyState.SCHEDULED, theme=Theme(ThemeKind.BRAND, "nike"))
    )
    assert both.items == []


async def test_a_changed_theme_moves_the_party_between_theme_indexes(store):
    created = await store.create_party(a_party("p1"))
    await store.save_party(created.revise(NOW, theme=Theme(ThemeKind.CATEGORY, "Shoes")))
    assert (await store.list_parties(PartyQuery(theme=Theme(ThemeKind.BRAND, "Nike")))).items == []
    moved = await store.list_parties(PartyQuery(theme=Theme(ThemeKind.CATEGORY, "shoes")))
    assert [p.id for p in moved.items] == ["p1"]


async def test_a_cursor_this_server_never_made_is_an_invalid_value(store):
    with pytest.raises(InvalidValue):
        await store.list_parties(PartyQuery(cursor="not a cursor"))


async def test_due_parties_are_started_and_ended_ones_in_deadline_order(store):
    soon = await store.create_party(a_party("soon", hours=1))
    await store.create_party(a_party("later", hours=2.25))
    await store.create_party(a_party("future", hours=10))
    cancelled = await store.create_party(a_party("cancelled", hours=1))
    await store.save_party(cancelled.cancel(NOW))
    live = await store.save_party(soon.start(NOW))  # ends at NOW + 2h (early start)

    at = NOW + timedelta(hours=2, minutes=30)
    due = await store.due_parties(at)
    assert live.ends_at == NOW + timedelta(hours=2)  # started early: keeps its full duration
    assert [p.id for p in due] == ["soon", "later"]  # soon ends at 2h, later starts at 2h15
    assert [p.id for p in await store.due_parties(NOW)] == []
    assert [p.id for p in await store.due_parties(at, limit=1)] == ["soon"]


async def test_changed_parties_are_recent_state_changes_oldest_first(store):
    started = await store.create_party(a_party("started"))
    ended = await store.create_party(a_party("ended"))
    cancelled = await store.create_party(a_party("cancelled"))
    await store.create_party(a_party("untouched"))
    await store.save_party(started.start(NOW + timedelta(minutes=2)))
    live = await store.save_party(ended.start(NOW))
    await store.save_party(live.end(NOW + timedelta(minutes=3)))
    await store.save_party(cancelled.cancel(NOW + timedelta(minutes=1)))
    revised = await store.get_party("started")
    await store.save_party(revised)  # saved again without a state change: still at its start

    changed = await store.changed_parties(NOW + timedelta(minutes=1))
    assert [(p.id, p.state) for p in changed] == [
        ("cancelled", PartyState.CANCELLED),
        ("started", PartyState.LIVE),
        ("ended", PartyState.ENDED),
    ]
    assert [p.id for p in await store.changed_parties(NOW + timedelta(minutes=2, seconds=1))] == [
        "ended"
    ]
    assert [p.id for p in await store.changed_parties(NOW, limit=1)] == ["cancelled"]


async def test_listings_round_trip_with_optional_fields(store):
    listing = Listing(
        id="l1",
        seller_id="s1",
        title="Air Max",
        brand="Nike",
        category="Shoes",
        price_cents=12000,
        currency="USD",
        image_urls=("https://img.example/1.jpg",),
        size=None,
        tags=("summer", "street"),
        created_at=1.5,
    )
    await store.create_listing(listing)
    assert await store.get_listing("l1") == listing
    assert await store.get_listing("l2") is None


def test_the_redis_listing_record_keeps_every_field_of_the_domain_listing():
    # backends/records.py spells each field with its own string encoding; a field added to
    # Listing must be added there too, or Redis would silently drop it.
    listing = Listing("l1", "s1", "Air", "Nike", "Shoes", 1, "EUR", ("u",), "42", ("t",), 2.5)
    record = listing_to_hash(listing)
    assert set(record) - {"has_size"} == {field.name for field in fields(Listing)}
    assert all(isinstance(value, str) for value in record.values())
    assert listing_from_hash(record) == listing


async def test_follows_are_normalised_idempotent_and_reversible(store):
    await store.follow("u1", Theme(ThemeKind.BRAND, "Nike"))
    await store.follow("u1", Theme(ThemeKind.BRAND, " nike "))
    await store.follow("u1", Theme(ThemeKind.SEASON, "Summer"))
    await store.follow("u2", Theme(ThemeKind.BRAND, "NIKE"))
    assert await store.follows("u1") == [
        Theme(ThemeKind.BRAND, "nike"),
        Theme(ThemeKind.SEASON, "summer"),
    ]
    assert await store.followers(Theme(ThemeKind.BRAND, "Nike")) == ["u1", "u2"]
    await store.unfollow("u1", Theme(ThemeKind.BRAND, "Nike"))
    assert await store.followers(Theme(ThemeKind.BRAND, "nike")) == ["u2"]
    assert await store.follows("nobody") == []


async def test_stores_under_other_prefixes_share_one_redis_without_seeing_each_other(redis_url):
    async with (
        opened(open_store(redis_url, prefix="a:")) as a,
        opened(open_store(redis_url, prefix="b:")) as b,
    ):
        await a.create_party(a_party("p1"))
        assert await b.get_party("p1") is None
        async with redis.Redis.from_url(redis_url) as admin:
            assert all(key.startswith(b"a:") for key in await admin.keys("*"))


async def test_listing_by_theme_and_a_rare_state_reads_only_the_parties_it_returns(redis_url):
    async with opened(open_store(redis_url)) as store:
        for n in range(300):
            party = await store.create_party(a_party(f"p{n:03}", hours=1 + n / 100))
            if n != 150:
                await store.save_party(party.cancel(NOW))
        async with redis.Redis.from_url(redis_url) as admin:
            before = (await admin.info("commandstats"))["cmdstat_hgetall"]["calls"]
            page = await store.list_parties(
                PartyQuery(state=PartyState.SCHEDULED, theme=NIKE, limit=10)
            )
            after = (await admin.info("commandstats"))["cmdstat_hgetall"]["calls"]
        assert [party.id for party in page.items] == ["p150"]
        assert after - before <= 2  # the one party, not the 299 cancelled ones


async def test_on_redis_each_write_stays_in_one_slot_and_parties_spread_over_buckets(redis_url):
    """What makes the store cluster-safe without a hot slot: a create or save is one script in
    the party's bucket (its hash and index entries), and the buckets spread over many slots."""
    async with opened(open_store(redis_url)) as store, audited(redis_url) as audit:
        for n in range(64):
            party = await store.create_party(a_party(f"p{n}", hours=1 + n / 10))
            if n % 2:
                party = await store.save_party(party.start(NOW))
            if n % 4 == 1:
                await store.save_party(party.end(NOW + timedelta(minutes=5)))
        await store.list_parties(PartyQuery(state=PartyState.LIVE, theme=NIKE, limit=5))
        await store.due_parties(NOW + timedelta(days=1))
        await store.changed_parties(NOW)
        await store.follow("u1", NIKE)
        await store.unfollow("u1", NIKE)
    assert audit.scripts >= 64 + 32 + 16  # (the first one again after NOSCRIPT)
    assert audit.cross_slot == []
    party_slots = {key_slot(k) for _, keys in audit.units for k in keys if b"party:" in k}
    assert len(party_slots) == BUCKETS
