"""The Push port: one contract for the embedded push and SNS (a real moto server), then what
only SNS does (endpoints, topics, subscriptions, per-platform payloads, disabled endpoints)."""

import json
import urllib.request
from datetime import UTC, datetime, timedelta

import boto3
import pytest

from party_engine.announcer import PartyAnnouncer
from party_engine.backends import open_devices, open_ledger, open_push, open_store
from party_engine.clock import SystemClock
from party_engine.config import Settings
from party_engine.domain.devices import Platform
from party_engine.domain.errors import InvalidValue, NotFound
from party_engine.domain.parties import schedule_party
from party_engine.domain.themes import Theme, ThemeKind
from party_engine.lifecycle import PartyLifecycle
from party_engine.ports import Notification
from tests.test_scheduler import RecordingEvents
from workers.party_push import PartyPushHandler

NIKE = Theme(ThemeKind.BRAND, "Nike")
START = Notification("Nike night is live", "Join now", {"party_id": "p1", "kind": "party.started"})


@pytest.fixture
def aws_env(monkeypatch):
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)


@pytest.fixture
def moto(moto_server, aws_env):
    moto_server.reset()
    return moto_server


async def open_test_push(push_url: str):
    store, devices = open_store("memory://"), open_devices("memory://")
    settings = Settings(push_url=push_url, jwt_secret="a-test-secret-that-is-long-enough-for-hs256")
    push = open_push(settings, store, devices, SystemClock())
    await push.connect()
    return store, push


@pytest.fixture(params=["memory", "sns"])
async def both(request):
    url = "memory://" if request.param == "memory" else request.getfixturevalue("moto").url
    store, push = await open_test_push(url)
    yield store, push
    await push.close()


@pytest.fixture
async def sns(moto):
    store, push = await open_test_push(moto.url)
    yield store, push
    await push.close()


# --- the contract both implementations keep ---------------------------------------------


async def test_registering_a_token_twice_gives_the_same_device(both):
    _, push = both
    first = await push.register_device("u1", Platform.APNS, "token-a")
    again = await push.register_device("u1", Platform.APNS, " token-a ")
    other = await push.register_device("u1", Platform.FCM, "token-b")
    assert again.id == first.id
    assert [d.id for d in await push.devices("u1")] == [first.id, other.id]


@pytest.mark.parametrize("token", ["", "   ", "x" * 5000, "has space"])
async def test_a_bad_token_is_refused_and_nothing_is_created(both, token):
    _, push = both
    with pytest.raises(InvalidValue):
        await push.register_device("u1", Platform.FCM, token)
    assert await push.devices("u1") == []


async def test_a_device_of_another_user_cannot_be_removed(both):
    _, push = both
    device = await push.register_device("u1", Platform.APNS, "token-a")
    with pytest.raises(NotFound):
        await push.remove_device("u2", device.id)
    assert [d.id for d in await push.devices("u1")] == [device.id]
    await push.remove_device("u1", device.id)
    assert await push.devices("u1") == []
    with pytest.raises(NotFound):
        await push.remove_device("u1", device.id)


async def test_a_token_registered_by_a_new_user_moves_to_them(both):
    _, push = both
    await push.register_device("u1", Platform.APNS, "token-a")
    moved = await push.register_device("u2", Platform.APNS, "token-a")
    assert await push.devices("u1") == []
    assert [d.id for d in await push.devices("u2")] == [moved.id]


# --- the embedded push records what it sends --------------------------------------------


async def test_the_embedded_push_records_a_theme_push_for_each_follower():
    store, push = await open_test_push("memory://")
    await store.follow("fan-1", NIKE)
    await store.follow("fan-2", Theme(ThemeKind.BRAND, " NIKE "))
    await push.notify_theme(NIKE, START)
    await push.notify_user("fan-1", Notification("Your listing was shared", "!", {}))
    assert [n.title for n in await push.notices("fan-1")] == [
        "Your listing was shared",
        "Nike night is live",
    ]
    [notice] = await push.notices("fan-2")
    assert notice.data["party_id"] == "p1"
    assert await push.notices("stranger") == []


# --- SNS, against a real moto server -----------------------------------------------------


def moto_state(moto) -> dict:
    with urllib.request.urlopen(f"{moto.url}/moto-api/data.json", timeout=10) as reply:
        return json.load(reply)["sns"]


def boto(moto):
    return boto3.client("sns", endpoint_url=moto.url, region_name="us-east-1")


# moto's data.json keeps deleted subscriptions and endpoints: ask the API what exists.
def subscriptions(moto) -> list[dict]:
    return boto(moto).list_subscriptions()["Subscriptions"]


def endpoints(moto) -> list[str]:
    client = boto(moto)
    return [
        endpoint["EndpointArn"]
        for app in client.list_platform_applications()["PlatformApplications"]
        for endpoint in client.list_endpoints_by_platform_application(
            PlatformApplicationArn=app["PlatformApplicationArn"]
        )["Endpoints"]
    ]


async def test_registering_creates_an_endpoint_in_the_platform_application(sns, moto):
    _, push = sns
    apns = await push.register_device("u1", Platform.APNS, "apns-token")
    fcm = await push.register_device("u1", Platform.FCM, "fcm-token")
    endpoints = {e["arn"]: e for e in moto_state(moto)["PlatformEndpoint"]}
    assert endpoints[apns.endpoint_arn]["token"] == "apns-token"
    assert "/APNS/party-engine-apns/" in apns.endpoint_arn
    assert "/GCM/party-engine-fcm/" in fcm.endpoint_arn


async def test_following_subscribes_the_users_endpoints_and_unfollowing_unsubscribes(sns, moto):
    store, push = sns
    device = await push.register_device("u1", Platform.APNS, "apns-token")
    await store.follow("u1", NIKE)
    await push.follow("u1", NIKE)
    [subscription] = subscriptions(moto)
    assert subscription["Endpoint"] == device.endpoint_arn
    assert subscription["Protocol"] == "application"
    assert "party-engine-brand-nike-" in subscription["TopicArn"]

    await push.unfollow("u1", NIKE)
    assert subscriptions(moto) == []


async def test_a_device_registered_later_joins_the_topics_the_user_follows(sns, moto):
    store, push = sns
    await store.follow("u1", NIKE)
    await push.follow("u1", NIKE)  # no device yet: nothing to subscribe
    device = await push.register_device("u1", Platform.FCM, "fcm-token")
    [subscription] = subscriptions(moto)
    assert subscription["Endpoint"] == device.endpoint_arn

    await push.remove_device("u1", device.id)
    assert subscriptions(moto) == []
    assert endpoints(moto) == []


async def test_a_party_start_is_one_topic_publish_with_a_payload_per_platform(sns, moto):
    _, push = sns
    await push.notify_theme(NIKE, START)
    [topic] = moto_state(moto)["Topic"]
    [(_, raw, *_)] = topic["sent_notifications"]
    message = json.loads(raw)
    assert message["default"] == "Join now"
    apns = json.loads(message["APNS"])
    assert apns["aps"]["alert"] == {"title": "Nike night is live", "body": "Join now"}
    assert apns["party_id"] == "p1"
    gcm = json.loads(message["GCM"])
    assert gcm["notification"] == {"title": "Nike night is live", "body": "Join now"}
    assert gcm["data"] == {"party_id": "p1", "kind": "party.started"}


async def test_a_direct_push_reaches_every_endpoint_of_the_user(sns, moto):
    _, push = sns
    await push.register_device("u1", Platform.APNS, "apns-token")
    await push.register_device("u1", Platform.FCM, "fcm-token")
    await push.register_device("u2", Platform.FCM, "someone-else")
    await push.notify_user("u1", Notification("Sold!", "Your listing sold", {"listing": "l1"}))
    messages = {
        e["token"]: list(e["messages"].values()) for e in moto_state(moto)["PlatformEndpoint"]
    }
    assert len(messages["apns-token"]) == len(messages["fcm-token"]) == 1
    assert messages["someone-else"] == []
    assert json.loads(json.loads(messages["fcm-token"][0])["GCM"])["data"] == {"listing": "l1"}


async def test_a_disabled_endpoint_is_removed_on_the_next_direct_push(sns, moto):
    _, push = sns
    dead = await push.register_device("u1", Platform.APNS, "uninstalled")
    alive = await push.register_device("u1", Platform.FCM, "fcm-token")
    boto(moto).set_endpoint_attributes(
        EndpointArn=dead.endpoint_arn, Attributes={"Enabled": "false"}
    )
    await push.notify_user("u1", Notification("Sold!", "Your listing sold", {}))
    assert [d.id for d in await push.devices("u1")] == [alive.id]
    assert endpoints(moto) == [alive.endpoint_arn]


async def test_re_registering_a_disabled_token_enables_its_endpoint_again(sns, moto):
    _, push = sns
    device = await push.register_device("u1", Platform.APNS, "apns-token")
    boto(moto).set_endpoint_attributes(
        EndpointArn=device.endpoint_arn, Attributes={"Enabled": "false"}
    )
    again = await push.register_device("u1", Platform.APNS, "apns-token")
    assert again.endpoint_arn == device.endpoint_arn
    attributes = boto(moto).get_endpoint_attributes(EndpointArn=device.endpoint_arn)["Attributes"]
    assert attributes["Enabled"].lower() == "true"


async def test_a_party_going_live_publishes_its_start_to_the_theme_topic(sns, moto):
    store, push = sns
    now = datetime.now(UTC)
    await store.create_party(
        schedule_party(
            party_id="p9",
            host_id="h1",
            title="Nike night",
            theme=NIKE,
            starts_at=now + timedelta(minutes=5),
            now=now,
        )
    )
    # The start event goes to the party-push worker handler, which publishes to the topic.
    pusher = PartyPushHandler(
        ledger=open_ledger("memory://"),
        store=store,
        push=push,
        clock=SystemClock(),
        lock_seconds=30,
    )
    lifecycle = PartyLifecycle(store, SystemClock())
    lifecycle.on_change(PartyAnnouncer(RecordingEvents(pusher), SystemClock()).on_change)
    await lifecycle.start("p9", actor="h1")

    [topic] = moto_state(moto)["Topic"]
    [(_, raw, *_)] = topic["sent_notifications"]
    assert json.loads(json.loads(raw)["GCM"])["data"] == {"party_id": "p9", "kind": "party.started"}
