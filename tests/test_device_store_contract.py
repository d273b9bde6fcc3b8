"""One contract for the DeviceStore port: the embedded store, a real redis-server and a
Redis Cluster."""

import hashlib
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from party_engine.backends import open_devices
from party_engine.domain.devices import NOTICES_KEPT, Device, Platform, SentNotice
from party_engine.domain.themes import Theme, ThemeKind
from tests.backend_harness import opened
from tests.slot_audit import audited

AT = datetime(2030, 5, 1, 12, 0, tzinfo=UTC)
NIKE = Theme(ThemeKind.BRAND, "Nike")


@pytest.fixture
async def devices(store_url):
    async with opened(open_devices(store_url)) as devices:
        yield devices


def a_device(device_id: str, user: str = "u1", token: str = "tok", minutes: int = 0) -> Device:
    return Device(device_id, user, Platform.FCM, token, AT + timedelta(minutes=minutes), "arn:x")


async def test_devices_read_back_by_id_token_and_user_oldest_first(devices):
    later, earlier = a_device("d2", token="t2", minutes=5), a_device("d1", token="t1")
    await devices.save_device(later)
    await devices.save_device(earlier)
    assert await devices.get_device("d1") == earlier
    assert await devices.device_by_token(Platform.FCM, "t2") == later
    assert await devices.device_by_token(Platform.APNS, "t2") is None
    assert await devices.devices("u1") == [earlier, later]
    assert await devices.devices("u2") == []


async def test_a_saved_new_token_replaces_the_old_one_in_the_index(devices):
    device = a_device("d1", token="old")
    await devices.save_device(device)
    await devices.save_device(replace(device, token="new", endpoint_arn=None))
    assert await devices.device_by_token(Platform.FCM, "old") is None
    assert (await devices.device_by_token(Platform.FCM, "new")).endpoint_arn is None


async def test_a_token_taken_over_by_another_device_stays_with_it(devices):
    first = a_device("d1", token="shared")
    await devices.save_device(first)
    second = a_device("d2", user="u2", token="shared", minutes=1)
    await devices.save_device(second)  # the phone changed hands; its token went with it
    await devices.save_device(replace(first, token="fresh"))
    assert await devices.device_by_token(Platform.FCM, "shared") == second
    await devices.remove_device("d1")
    assert await devices.device_by_token(Platform.FCM, "shared") == second


async def test_a_device_moved_to_another_user_is_only_theirs(devices):
    device = a_device("d1")
    await devices.save_device(device)
    await devices.save_device(replace(device, user_id="u2"))
    assert await devices.devices("u1") == []
    assert await devices.devices("u2") == [replace(device, user_id="u2")]


async def test_on_redis_each_write_stays_in_one_slot(redis_url):
    async with opened(open_devices(redis_url)) as devices, audited(redis_url) as audit:
        for n in range(10):
            device = a_device(f"d{n}", user=f"u{n % 3}", token=f"t{n}")
            await devices.save_device(device)
            await devices.save_device(replace(device, token=f"t{n}b"))
            await devices.set_subscription(device.id, NIKE, "sub-1")
            await devices.pop_subscription(device.id, NIKE)
        await devices.record_notice(["u0", "u1", "u2"], SentNotice("n1", "t", "b", {}, AT))
        await devices.remove_device("d3")
    assert audit.cross_slot == []
    assert any(what == "MULTI block" for what, _ in audit.units)  # the pop, in one slot


async def test_a_removed_device_is_gone_with_its_subscriptions(devices):
    await devices.save_device(a_device("d1"))
    await devices.set_subscription("d1", NIKE, "sub-1")
    assert await devices.subscriptions("d1") == {"brand:nike": "sub-1"}
    await devices.remove_device("d1")
    await devices.remove_device("d1")  # a no-op the second time
    assert await devices.get_device("d1") is None
    assert await devices.device_by_token(Platform.FCM, "tok") is None
    assert await devices.devices("u1") == []
    assert await devices.subscriptions("d1") == {}


async def test_a_subscription_is_popped_once(devices):
    await devices.set_subscription("d1", NIKE, "sub-1")
    assert await devices.pop_subscription("d1", Theme(ThemeKind.BRAND, "NIKE")) == "sub-1"
    assert await devices.pop_subscription("d1", NIKE) is None


async def test_notices_are_kept_per_user_newest_first_and_bounded(devices):
    for index in range(NOTICES_KEPT + 5):
        notice = SentNotice(f"n{index}", "t", "b", {"i": str(index)}, AT)
        await devices.record_notice(["u1", "u2"] if index == 0 else ["u1"], notice)
    kept = await devices.notices("u1", limit=NOTICES_KEPT + 10)
    assert len(kept) == NOTICES_KEPT
    assert kept[0].id == f"n{NOTICES_KEPT + 4}"
    assert [n.id for n in await devices.notices("u2")] == ["n0"]
    assert (await devices.notices("u2"))[0].data == {"i": "0"}
    assert await devices.notices("nobody") == []


async def test_on_redis_an_index_entry_left_by_a_dead_process_is_never_answered(redis_url):
    """The user zset and the token key are written after the device's hash (other slots): an
    entry a process left behind when it died between the writes is checked against the hash."""
    async with opened(open_devices(redis_url)) as devices:
        await devices.save_device(a_device("d1", token="t1"))
        stale_token = f"pe:device-token:fcm:{hashlib.sha256(b'gone').hexdigest()}"
        await devices.client.set(stale_token, "d1")
        await devices.client.zadd("pe:devices:u2", {"d1": 0})
        assert await devices.device_by_token(Platform.FCM, "gone") is None
        assert await devices.devices("u2") == []
        assert [d.id for d in await devices.devices("u1")] == ["d1"]
