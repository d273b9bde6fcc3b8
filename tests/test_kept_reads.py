"""What a gateway keeps between shares: listings for good, a party until it changes or for
at most the keep bound."""

import asyncio
from datetime import UTC, datetime, timedelta

from party_engine.domain.listings import Listing
from party_engine.domain.parties import Party, PartyState
from party_engine.domain.themes import Theme, ThemeKind
from party_engine.gateway.kept_reads import KeptListings, KeptParties


class Reads:
    """A backend's reads, counted; answers whatever `values` holds now."""

    def __init__(self, values: dict) -> None:
        self.values = values
        self.count = 0

    async def read(self, key: str):
        self.count += 1
        value = self.values.get(key)
        await asyncio.sleep(0)  # on its way back
        return value

    async def read_many(self, keys: list[str]) -> dict:
        self.count += 1
        found = {key: self.values[key] for key in keys if key in self.values}
        await asyncio.sleep(0)
        return found


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def a_party(state: PartyState = PartyState.LIVE) -> Party:
    now = datetime.now(UTC)
    return Party(
        id="p1",
        host_id="host-1",
        title="Nike night",
        theme=Theme(ThemeKind.BRAND, "Nike"),
        starts_at=now,
        ends_at=now + timedelta(hours=2),
        duration_minutes=120,
        state=state,
        created_at=now,
    )


def a_listing(listing_id: str) -> Listing:
    return Listing(
        id=listing_id,
        seller_id="seller-1",
        title="Nike shoe",
        brand="Nike",
        category="shoes",
        price_cents=5000,
        currency="EUR",
    )


async def test_a_found_listing_is_read_once():
    reads = Reads({"l1": a_listing("l1")})
    listings = KeptListings(reads.read, size=10)
    assert (await listings.get("l1")).id == "l1"
    assert (await listings.get("l1")).id == "l1"
    assert reads.count == 1


async def test_a_missing_listing_is_read_again_and_kept_once_it_exists():
    reads = Reads({})
    listings = KeptListings(reads.read, size=10)
    assert await listings.get("l1") is None
    reads.values["l1"] = a_listing("l1")
    assert (await listings.get("l1")).id == "l1"
    await listings.get("l1")
    assert reads.count == 2


async def test_past_the_bound_the_least_recently_used_listing_goes():
    reads = Reads({name: a_listing(name) for name in ("a", "b", "c")})
    listings = KeptListings(reads.read, size=2)
    await listings.get("a")
    await listings.get("b")
    await listings.get("a")  # b is now the least recently used
    await listings.get("c")
    assert reads.count == 3
    await listings.get("a")
    assert reads.count == 3
    await listings.get("b")
    assert reads.count == 4


async def test_a_party_is_kept_for_the_keep_bound_then_read_again():
    clock = Clock()
    reads = Reads({"p1": a_party()})
    parties = KeptParties(reads.read, reads.read_many, keep_seconds=1.0, clock=clock)
    await parties.get("p1")
    clock.now += 0.9
    await parties.get("p1")
    assert reads.count == 1
    reads.values["p1"] = a_party(PartyState.ENDED)  # a change whose broadcast was lost
    clock.now += 0.2
    assert (await parties.get("p1")).state is PartyState.ENDED
    assert reads.count == 2


async def test_a_refresh_reads_now_and_keeps_what_it_read():
    clock = Clock()
    reads = Reads({"p1": a_party()})
    parties = KeptParties(reads.read, reads.read_many, keep_seconds=6.0, clock=clock)
    await parties.get("p1")
    reads.values["p1"] = a_party(PartyState.ENDED)  # a change whose broadcast was lost
    clock.now += 5.0
    refreshed = await parties.refresh(["p1", "gone"])  # the state repair's read
    assert list(refreshed) == ["p1"] and refreshed["p1"].state is PartyState.ENDED
    clock.now += 5.0  # past the first read's keep bound, within the refresh's
    assert (await parties.get("p1")).state is PartyState.ENDED
    assert reads.count == 2


async def test_a_refresh_overtaken_by_a_change_keeps_nothing_of_that_party():
    reads = Reads({"p1": a_party()})
    parties = KeptParties(reads.read, reads.read_many, keep_seconds=60.0, clock=Clock())
    refreshing = asyncio.ensure_future(parties.refresh(["p1"]))
    await asyncio.sleep(0)  # the read has begun, with the party still live
    reads.values["p1"] = a_party(PartyState.ENDED)
    parties.changed("p1")
    assert (await refreshing)["p1"].state is PartyState.LIVE
    assert (await parties.get("p1")).state is PartyState.ENDED
    assert reads.count == 2


async def test_a_change_heard_forgets_the_kept_party_at_once():
    reads = Reads({"p1": a_party()})
    parties = KeptParties(reads.read, reads.read_many, keep_seconds=60.0, clock=Clock())
    await parties.get("p1")
    reads.values["p1"] = a_party(PartyState.ENDED)
    parties.changed("p1")
    assert (await parties.get("p1")).state is PartyState.ENDED


async def test_a_read_overtaken_by_a_change_is_not_kept():
    reads = Reads({"p1": a_party()})
    parties = KeptParties(reads.read, reads.read_many, keep_seconds=60.0, clock=Clock())
    reading = asyncio.ensure_future(parties.get("p1"))
    await asyncio.sleep(0)  # the read has begun, with the party still live
    reads.values["p1"] = a_party(PartyState.ENDED)
    parties.changed("p1")
    assert (await reading).state is PartyState.LIVE  # what it read: the caller raced the change
    assert (await parties.get("p1")).state is PartyState.ENDED
    assert reads.count == 2


async def test_a_missing_party_is_not_kept():
    reads = Reads({})
    parties = KeptParties(reads.read, reads.read_many, keep_seconds=60.0, clock=Clock())
    assert await parties.get("p1") is None
    reads.values["p1"] = a_party()
    assert await parties.get("p1") is not None
