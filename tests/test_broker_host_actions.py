"""The Broker contract for host actions (picks, removals, mutes), on memory and Redis."""

import time

import orjson
import pytest

from party_engine.backends import open_broker
from party_engine.ports import HostAction, Muted, NothingToChange, ShareNotFound
from tests.backend_harness import opened
from tests.broker_helpers import Deliveries, eventually


@pytest.fixture
async def broker(store_url):
    async with opened(open_broker(store_url, history_size=50)) as broker:
        yield broker


def share(n: int) -> bytes:
    return orjson.dumps({"kind": "share", "listing": {"id": f"l{n}"}, "user": "u1"})


def host_item(kind: str) -> bytes:
    return orjson.dumps({"kind": kind, "user": "host"})


async def test_a_pick_is_an_event_at_its_own_offset_and_in_the_snapshot(broker):
    first = await broker.publish_share("p", share(1), "l1")
    await broker.publish_share("p", share(2), "l2")
    picked = await broker.publish_host_action("p", HostAction.PICK, "1", host_item("pick"))
    assert picked.offset == 3
    assert orjson.loads(picked.payload) == {"offset": 3, "share": 1, "kind": "pick", "user": "host"}
    snapshot = await broker.snapshot("p")
    assert snapshot.picks == {first.offset}
    assert snapshot.position.offset == 3
    with pytest.raises(NothingToChange):
        await broker.publish_host_action("p", HostAction.PICK, "1", host_item("pick"))
    unpicked = await broker.publish_host_action("p", HostAction.UNPICK, "1", host_item("unpick"))
    assert unpicked.offset == 4
    assert (await broker.snapshot("p")).picks == frozenset()
    with pytest.raises(NothingToChange):
        await broker.publish_host_action("p", HostAction.UNPICK, "1", host_item("unpick"))
    assert (await broker.position("p")).offset == 4


async def test_only_a_share_can_be_picked_or_removed(broker):
    await broker.publish_share("p", share(1), "l1")
    await broker.publish_like("p", 1, "u2", b'{"kind":"like","user":"u2"}')
    for action in (HostAction.PICK, HostAction.UNPICK, HostAction.REMOVE):
        for target in ("2", "99"):
            with pytest.raises(ShareNotFound):
                await broker.publish_host_action("p", action, target, host_item("x"))
    assert (await broker.position("p")).offset == 2


async def test_a_removed_share_leaves_the_snapshot_and_the_picks_and_takes_no_likes(broker):
    for n in (1, 2, 3):
        await broker.publish_share("p", share(n), f"l{n}")
    await broker.publish_host_action("p", HostAction.PICK, "2", host_item("pick"))
    removed = await broker.publish_host_action("p", HostAction.REMOVE, "2", host_item("removed"))
    assert orjson.loads(removed.payload)["share"] == 2
    snapshot = await broker.snapshot("p")
    assert [orjson.loads(s)["share"] for s in snapshot.shares] == [1, 3]
    assert set(snapshot.likes) == {1, 3}
    assert snapshot.picks == frozenset()
    with pytest.raises(ShareNotFound):
        await broker.publish_like("p", 2, "u2", b'{"kind":"like","user":"u2"}')
    with pytest.raises(ShareNotFound):
        await broker.publish_host_action("p", HostAction.REMOVE, "2", host_item("removed"))


async def test_host_actions_are_delivered_in_order_with_the_shares(broker):
    deliveries = Deliveries()
    broker.set_handler(deliveries.on_publication, deliveries.on_broadcast)
    await broker.subscribe("p")
    await broker.publish_share("p", share(1), "l1")
    await broker.publish_host_action("p", HostAction.PICK, "1", host_item("pick"))
    await broker.publish_host_action("p", HostAction.REMOVE, "1", host_item("removed"))
    await deliveries.wait_for(lambda: len(deliveries.offsets("p")) >= 3)
    assert deliveries.offsets("p") == [1, 2, 3]
    kinds = [orjson.loads(p.payload)["kind"] for p in deliveries.publications]
    assert kinds == ["share", "pick", "removed"]


async def test_a_muted_user_can_neither_share_nor_like_until_unmuted(broker):
    await broker.publish_share("p", share(1), "l1", user_id="u1")
    await broker.publish_host_action("p", HostAction.MUTE, "u2", host_item("mute"))
    with pytest.raises(Muted):
        await broker.publish_share("p", share(2), "l2", user_id="u2")
    with pytest.raises(Muted):
        await broker.publish_like("p", 1, "u2", b'{"kind":"like","user":"u2"}')
    position = await broker.position("p")
    assert position.offset == 2  # the share, the mute: nothing of the refused frames
    await broker.publish_share("p", share(3), "l3", user_id="u3")  # others go on
    await broker.publish_share("other", share(3), "l3", user_id="u2")  # other parties too
    await broker.publish_host_action("p", HostAction.UNMUTE, "u2", host_item("unmute"))
    with pytest.raises(NothingToChange):
        await broker.publish_host_action("p", HostAction.UNMUTE, "u2", host_item("unmute"))
    assert (await broker.publish_share("p", share(4), "l4", user_id="u2")).offset == 5


async def test_a_timed_mute_ends_by_itself(broker):
    until_ms = int(time.time() * 1000) + 300
    await broker.publish_host_action(
        "p", HostAction.MUTE, "u2", host_item("mute"), mute_until_ms=until_ms
    )
    with pytest.raises(Muted):
        await broker.publish_share("p", share(1), "l1", user_id="u2")

    async def shares() -> bool:
        try:
            await broker.publish_share("p", share(1), "l1", user_id="u2")
        except Muted:
            return False
        return True

    # A mute's end sends no event: this polls under a deadline.
    await eventually(shares, within=5)
    assert int(time.time() * 1000) >= until_ms - 50
