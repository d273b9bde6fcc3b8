"""One contract for the outbox the broker writes and the relays read, run against the embedded
broker and a real redis-server: an event in the same step as its offset, the depth bound
checked before anything is written, idempotency keys, and relays sharing the work."""

import dataclasses
from datetime import UTC, datetime

import orjson
import pytest

from party_engine.backends import open_broker, open_outbox
from party_engine.backends.event_codec import decode_event
from party_engine.domain.events import LikeCreated, ShareCreated
from party_engine.ports import (
    UNASSIGNED_LISTING,
    UNASSIGNED_OFFSET,
    IdempotencyKey,
    OutboxEntry,
    OutboxFull,
)
from tests.backend_harness import opened
from tests.broker_helpers import eventually

DEPTH = 5
AT = datetime(2030, 5, 1, 12, 0, tzinfo=UTC)
ITEM = orjson.dumps({"kind": "share", "listing": {"id": "l1"}, "user": "u1"})
LIKE = b'{"kind":"like","user":"u2"}'


@pytest.fixture
async def broker(store_url):
    async with opened(open_broker(store_url, history_size=50, outbox_max_depth=DEPTH)) as broker:
        yield broker


@pytest.fixture
async def outbox(store_url, broker):
    async with opened(open_outbox(store_url, broker)) as outbox:
        yield outbox


def share_event(n: int, party: str = "p") -> ShareCreated:
    return ShareCreated(
        id=f"share-{n}",
        party_id=party,
        offset=UNASSIGNED_OFFSET,
        listing_id="listing-1",
        seller_id="seller-1",
        sharer_id="u1",
        at=AT,
    )


def like_event(n: int, share: int, party: str = "p") -> LikeCreated:
    return LikeCreated(
        id=f"like-{n}",
        party_id=party,
        offset=UNASSIGNED_OFFSET,
        share_offset=share,
        listing_id=UNASSIGNED_LISTING,
        liker_id="u2",
        at=AT,
    )


async def share(broker, n: int, party: str = "p", key: IdempotencyKey | None = None):
    return await broker.publish_share(
        party, ITEM, "listing-1", event=share_event(n, party), key=key
    )


def events(entries: list[OutboxEntry]):
    return [decode_event(entry.event) for entry in entries]


async def test_a_share_and_a_like_come_out_with_the_offsets_they_were_given(broker, outbox):
    shared = await share(broker, 1)
    liked = await broker.publish_like("p", shared.offset, "u2", LIKE, event=like_event(1, 1))
    assert liked is not None
    assert await outbox.parties() == ["p"]
    assert await outbox.depth("p") == 2

    taken = await outbox.take("relay-a", ["p"], 10, None)

    assert events(taken) == [
        dataclasses.replace(share_event(1), offset=shared.offset),
        dataclasses.replace(
            like_event(1, 1), offset=liked.publication.offset, listing_id="listing-1"
        ),
    ]
    await outbox.done(taken)
    assert await outbox.depth("p") == 0
    assert await outbox.take("relay-a", ["p"], 10, 0.0) == []


async def test_without_an_event_nothing_goes_into_the_outbox(broker, outbox):
    await broker.publish_share("p", ITEM, "listing-1")
    assert await outbox.depth("p") == 0


async def test_entries_come_oldest_first_in_batches_per_party(broker, outbox):
    for n in range(4):
        await share(broker, n, "a")
    await share(broker, 9, "b")
    first = await outbox.take("relay-a", ["a", "b"], 3, None)
    assert [event.id for event in events(first)] == ["share-0", "share-1", "share-2", "share-9"]
    second = await outbox.take("relay-a", ["a", "b"], 3, None)
    assert [event.id for event in events(second)] == ["share-3"]


async def test_an_entry_taken_by_one_relay_is_taken_by_another_only_after_the_claim_time(
    broker, outbox
):
    await share(broker, 1)
    held = await outbox.take("relay-a", ["p"], 10, None)
    assert len(held) == 1
    assert await outbox.take("relay-b", ["p"], 10, 30.0) == [], "held by a live relay"

    # relay-a died holding it: after the claim time, relay-b takes it over.
    claimed = await eventually(lambda: outbox.take("relay-b", ["p"], 10, 0.2), within=10)
    assert events(claimed) == events(held)
    await outbox.done(claimed)
    assert await outbox.depth("p") == 0


async def test_past_its_depth_a_party_refuses_shares_before_writing_anything(broker, outbox):
    shares = [await share(broker, n) for n in range(DEPTH)]
    before = await broker.position("p")

    with pytest.raises(OutboxFull):
        await share(broker, 99)
    with pytest.raises(OutboxFull):
        await broker.publish_like("p", shares[0].offset, "u2", LIKE, event=like_event(1, 1))

    assert await broker.position("p") == before
    assert await outbox.depth("p") == DEPTH
    assert await share(broker, 7, "other-party"), "the bound is per party"


async def test_a_like_refused_for_depth_can_be_sent_again_once_the_outbox_drains(broker, outbox):
    shares = [await share(broker, n) for n in range(DEPTH)]
    with pytest.raises(OutboxFull):
        await broker.publish_like("p", shares[0].offset, "u2", LIKE, event=like_event(1, 1))

    await outbox.done(await outbox.take("relay-a", ["p"], 100, None))
    liked = await broker.publish_like("p", shares[0].offset, "u2", LIKE, event=like_event(1, 1))

    assert liked is not None, "the refused like left no 'already liked' mark"
    assert orjson.loads(liked.publication.payload)["likes"] == 1


async def test_a_repeated_key_gets_the_first_offset_and_writes_nothing(broker, outbox):
    key = IdempotencyKey("u1", "k-1")
    first = await share(broker, 1, key=key)
    position = await broker.position("p")

    again = await share(broker, 2, key=key)

    assert again.offset == first.offset
    assert await broker.position("p") == position
    assert await outbox.depth("p") == 1
    # The same key from another user, or into another party, is a new share.
    assert (await share(broker, 3, key=IdempotencyKey("u2", "k-1"))).offset == first.offset + 1
    assert (await share(broker, 4, "other", key=key)).offset == 1


async def test_a_repeated_like_key_gets_the_first_offset(broker, outbox):
    shared = await share(broker, 1)
    key = IdempotencyKey("u2", "like-key")
    first = await broker.publish_like(
        "p", shared.offset, "u2", LIKE, event=like_event(1, 1), key=key
    )
    again = await broker.publish_like(
        "p", shared.offset, "u2", LIKE, event=like_event(2, 1), key=key
    )
    assert first is not None and again is not None
    assert again.publication.offset == first.publication.offset
    assert await outbox.depth("p") == 2  # the share and one like


async def test_a_key_repeated_past_the_depth_still_gets_its_ack(broker, outbox):
    key = IdempotencyKey("u1", "k-1")
    first = await share(broker, 0, key=key)
    for n in range(1, DEPTH):
        await share(broker, n)
    assert (await share(broker, 9, key=key)).offset == first.offset


async def test_a_party_with_entries_stays_listed(broker, outbox):
    await share(broker, 1, "busy")
    await outbox.forget_idle(["busy"])
    assert "busy" in await outbox.parties()
    await outbox.done(await outbox.take("relay-a", ["busy"], 10, None))
    await outbox.forget_idle(["busy"])
    assert await outbox.depth("busy") == 0
