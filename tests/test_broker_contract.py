"""One contract for the Broker port, run against the embedded broker and a real redis-server."""

from datetime import UTC, datetime, timedelta

import orjson
import pytest

from party_engine.backends import open_broker
from party_engine.ports import HistoryPage, ShareNotFound, StreamPosition
from tests.backend_harness import opened
from tests.broker_helpers import Deliveries

HISTORY = 20


@pytest.fixture
async def broker(store_url):
    async with opened(open_broker(store_url, history_size=HISTORY)) as broker:
        yield broker


@pytest.fixture
def deliveries(broker) -> Deliveries:
    deliveries = Deliveries()
    broker.set_handler(deliveries.on_publication, deliveries.on_broadcast)
    return deliveries


def share(n: int) -> bytes:
    return orjson.dumps({"kind": "share", "listing": {"id": f"l{n}"}, "user": "u1"})


LIKE = b'{"kind":"like","user":"u2"}'


async def test_offsets_increase_by_one_per_party_and_parties_are_independent(broker):
    a = [await broker.publish_share("a", share(n), "listing-1") for n in range(3)]
    b = await broker.publish_share("b", share(9), "listing-1")
    assert [p.offset for p in a] == [1, 2, 3]
    assert b.offset == 1
    assert (await broker.position("a")).offset == 3
    assert (await broker.position("a")).epoch == (await broker.position("a")).epoch


async def test_a_new_party_is_at_offset_zero_with_a_stable_epoch(broker):
    first = await broker.position("fresh")
    assert first.offset == 0 and first.epoch
    await broker.publish_share("fresh", share(1), "listing-1")
    assert await broker.position("fresh") == StreamPosition(1, first.epoch)
    assert (await broker.position("other")).epoch != first.epoch


async def test_a_share_payload_is_the_item_with_offset_and_share_spliced_in_front(broker):
    publication = await broker.publish_share("p", share(1), "listing-1")
    decoded = orjson.loads(publication.payload)
    assert list(decoded)[:2] == ["offset", "share"]
    assert decoded == {"offset": 1, "share": 1, **orjson.loads(share(1))}
    assert publication.payload.startswith(b'{"offset":1,')
    assert orjson.loads((await broker.publish_share("p", b"{}", "listing-1")).payload) == {
        "offset": 2,
        "share": 2,
    }


@pytest.mark.parametrize("item", [b"", b"[1]", b'"text"', b"not json"])
async def test_an_item_that_is_not_a_json_object_is_refused(broker, item):
    with pytest.raises(ValueError):
        await broker.publish_share("p", item, "listing-1")
    assert (await broker.position("p")).offset == 0


async def test_history_since_gives_exactly_the_missed_publications_in_order(broker):
    published = [await broker.publish_share("p", share(n), "listing-1") for n in range(5)]
    position = await broker.position("p")
    epoch = position.epoch
    assert await broker.history_since("p", StreamPosition(2, epoch), 100) == HistoryPage(
        position, published[2:]
    )
    assert await broker.history_since("p", StreamPosition(0, epoch), 100) == HistoryPage(
        position, published
    )
    assert await broker.history_since("p", StreamPosition(5, epoch), 100) == HistoryPage(
        position, []
    )


async def test_history_since_gives_a_page_at_a_time_and_the_pages_add_up(broker):
    published = [await broker.publish_share("p", share(n), "listing-1") for n in range(7)]
    position = await broker.position("p")
    pages = []
    since = StreamPosition(1, position.epoch)
    while since.offset < position.offset:
        page = await broker.history_since("p", since, 3)
        assert page is not None and page.position == position
        assert 0 < len(page.publications) <= 3
        pages.append(page.publications)
        since = StreamPosition(page.publications[-1].offset, position.epoch)
    assert pages == [published[1:4], published[4:7]]


async def test_history_since_is_none_when_recovery_is_impossible(broker):
    for n in range(3):
        await broker.publish_share("p", share(n), "listing-1")
    epoch = (await broker.position("p")).epoch
    assert await broker.history_since("p", StreamPosition(1, "another-epoch"), 100) is None
    assert await broker.history_since("p", StreamPosition(4, epoch), 100) is None  # the future
    assert await broker.history_since("p", StreamPosition(-1, epoch), 100) is None


async def test_the_latest_history_size_publications_survive_and_older_ones_are_trimmed(broker):
    # Redis trims approximately (whole nodes of 100 entries): publish well past the bound.
    published = [
        await broker.publish_share("p", share(n), "listing-1") for n in range(HISTORY + 300)
    ]
    epoch = (await broker.position("p")).epoch
    assert await broker.history_since("p", StreamPosition(0, epoch), 5) is None
    since = len(published) - HISTORY
    page = await broker.history_since("p", StreamPosition(since, epoch), HISTORY)
    assert page is not None and page.publications == published[since:]


async def test_a_like_counts_once_per_user_and_share(broker):
    shared = await broker.publish_share("p", share(1), "listing-1")
    first = await broker.publish_like("p", shared.offset, "u2", LIKE)
    assert first is not None and first.publication.offset == 2
    assert first.listing_id == "listing-1"
    assert orjson.loads(first.publication.payload) == {
        "offset": 2,
        "share": 1,
        "likes": 1,
        "kind": "like",
        "user": "u2",
    }
    assert await broker.publish_like("p", shared.offset, "u2", LIKE) is None
    assert (await broker.position("p")).offset == 2  # an ignored like takes no offset
    second = await broker.publish_like("p", shared.offset, "u3", LIKE)
    assert orjson.loads(second.publication.payload)["likes"] == 2


async def test_a_like_of_anything_but_a_share_of_this_party_is_share_not_found(broker):
    shared = await broker.publish_share("p", share(1), "listing-1")
    like = await broker.publish_like("p", shared.offset, "u2", LIKE)
    like_offset = like.publication.offset
    for party, offset in [("p", 99), ("p", like_offset), ("p", 0), ("other", shared.offset)]:
        with pytest.raises(ShareNotFound):
            await broker.publish_like(party, offset, "u4", LIKE)


async def test_snapshot_has_the_latest_shares_oldest_first_with_their_likes(broker):
    shares = [await broker.publish_share("p", share(n), "listing-1") for n in range(3)]
    await broker.publish_like("p", shares[2].offset, "u2", LIKE)
    await broker.publish_like("p", shares[2].offset, "u3", LIKE)
    await broker.publish_like("p", shares[0].offset, "u2", LIKE)
    snapshot = await broker.snapshot("p", shares=2)
    assert snapshot.shares == [shares[1].payload, shares[2].payload]
    assert snapshot.likes == {shares[1].offset: 0, shares[2].offset: 2}
    assert snapshot.position == await broker.position("p")


async def test_snapshot_holds_the_latest_shares_that_fit_in_its_bytes(broker):
    big = [
        await broker.publish_share("p", b'{"kind":"share","pad":"' + b"x" * 1000 + b'"}', "l")
        for _ in range(5)
    ]
    weight = len(big[-1].payload)
    snapshot = await broker.snapshot("p", shares=5, max_bytes=2 * weight + weight // 2)
    assert snapshot.shares == [big[3].payload, big[4].payload]
    assert snapshot.likes == {big[3].offset: 0, big[4].offset: 0}
    assert (await broker.snapshot("p", shares=5, max_bytes=weight - 1)).shares == []
    assert len((await broker.snapshot("p", shares=5)).shares) == 5  # the default: 256 KiB


async def test_snapshot_of_a_quiet_party_is_empty_and_a_negative_count_is_refused(broker):
    snapshot = await broker.snapshot("quiet")
    assert (snapshot.position.offset, snapshot.shares, snapshot.likes) == (0, [], {})
    with pytest.raises(ValueError):
        await broker.snapshot("quiet", shares=-1)


async def test_a_subscriber_gets_every_publication_after_its_position_in_order(broker, deliveries):
    before = await broker.publish_share("p", share(0), "listing-1")
    position = await broker.subscribe("p")
    assert position == await broker.position("p")
    published = [await broker.publish_share("p", share(n), "listing-1") for n in range(1, 6)]
    published.append((await broker.publish_like("p", before.offset, "u2", LIKE)).publication)
    await broker.publish_share("not-subscribed", share(9), "listing-1")
    await deliveries.wait_for(lambda: len(deliveries.publications) >= len(published))
    assert deliveries.publications == published


async def test_after_unsubscribe_nothing_more_is_delivered(broker, deliveries):
    await broker.subscribe("a")
    await broker.subscribe("b")
    await broker.publish_share("a", share(1), "listing-1")
    await deliveries.wait_for(lambda: deliveries.offsets("a") == [1])
    await broker.unsubscribe("a")
    await broker.publish_share("a", share(2), "listing-1")
    await broker.broadcast("a", b'{"type":"presence"}')
    last = await broker.publish_share("b", share(3), "listing-1")
    # Both parties travel on one ordered stream: once b's arrives, a's would have too.
    await deliveries.wait_for(lambda: last in deliveries.publications)
    assert deliveries.offsets("a") == [1]
    assert deliveries.broadcasts == []


async def test_a_broadcast_reaches_subscribers_without_taking_an_offset(broker, deliveries):
    await broker.subscribe("p")
    frame = b'{"type":"party","party":"p","state":"live"}'
    await broker.broadcast("p", frame)
    await deliveries.wait_for(lambda: deliveries.broadcasts)
    assert deliveries.broadcasts == [("p", frame)]
    assert (await broker.position("p")).offset == 0


async def test_a_retired_stream_is_kept_until_its_time_then_starts_over_in_a_new_epoch(broker):
    first = await broker.publish_share("p1", share(1), "listing-1")
    await broker.publish_share("p2", share(1), "listing-1")
    before = await broker.position("p1")
    await broker.retire("p1", datetime.now(UTC) + timedelta(days=7))
    assert await broker.position("p1") == before  # not yet
    await broker.retire("p1", datetime.now(UTC) - timedelta(seconds=1))
    after = await broker.position("p1")
    assert after.offset == 0 and after.epoch != before.epoch
    assert (await broker.snapshot("p1")).shares == []
    assert await broker.history_since("p1", StreamPosition(0, before.epoch), 10) is None
    assert first.offset == 1 and (await broker.position("p2")).offset == 1  # others untouched
