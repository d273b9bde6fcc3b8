"""The Push port: one contract for the embedded push and SNS (a real moto server), then what
only SNS does (endpoints, topics, subscriptions, per-platform payloads, disabled endpoints)."""

import json
import urllib.request
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import boto3
import pytest

from party_engine.announcer import PartyAnnouncer
from party_engine.backends import open_devices, open_ledger, open_push, open_store
from party_engine.backends.embedded import InProcess
from party_engine.backends.queue_memory import MemoryQueue
from party_engine.backends.queue_topology import PARTY_PUSH, Topology
from party_engine.clock import SystemClock
from party_engine.config import Settings
from party_engine.domain.devices import Platform
from party_engine.domain.errors import InvalidValue, NotFound
from party_engine.domain.events import DomainEvent, PartyReminder, PartyStarted, PushSent, PushWave
from party_engine.domain.parties import schedule_party
from party_engine.domain.push_waves import shard_of
from party_engine.domain.themes import Theme, ThemeKind
from party_engine.lifecycle import PartyLifecycle
from party_engine.ports import Claim, EventRef, Notification
from tests.pipeline_helpers import eventually
from tests.test_scheduler import RecordingEvents
from workers.party_push import PartyPushHandler, WaveSettings

NIKE = Theme(ThemeKind.BRAND, "Nike")
SHARDS = 4  # the push backends' and the wave handlers' (one setting in production)
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
    settings = Settings(
        push_url=push_url,
        push_shards=SHARDS,
        jwt_secret="a-test-secret-that-is-long-enough-for-hs256",
    )
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


async def test_the_embedded_push_records_a_shard_push_for_each_follower_given():
    _, push = await open_test_push("memory://")
    await push.notify_shard(NIKE, 0, ["fan-1", "fan-2"], START)
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


async def test_a_shard_push_is_one_topic_publish_with_a_payload_per_platform(sns, moto):
    _, push = sns
    await push.notify_shard(NIKE, 3, ["fan-1"], START)
    [topic] = moto_state(moto)["Topic"]
    assert topic["arn"].endswith(f"-3of{SHARDS}")
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


# --- the start push in waves, on both implementations ---------------------------------------


@dataclass
class KeptEvents(InProcess):
    """An EventPublisher that keeps what it is given (a queue nobody consumes yet)."""

    events: list[DomainEvent] = field(default_factory=list)
    refuse_flush: bool = False

    def has_room(self) -> bool:
        return True

    async def publish(self, event: DomainEvent) -> None:
        self.events.append(event)

    async def flush(self) -> None:
        if self.refuse_flush:
            raise ConnectionError("RabbitMQ did not confirm")

    def of(self, kind: type) -> list:
        return [event for event in self.events if isinstance(event, kind)]


class TappedQueue(MemoryQueue):
    """The embedded queue, keeping a copy of every event published (push.sent has no queue)."""

    def __post_init__(self) -> None:
        super().__post_init__()
        self.seen: list[DomainEvent] = []

    async def publish(self, event: DomainEvent) -> None:
        self.seen.append(event)
        await super().publish(event)


@pytest.fixture(params=["memory", "sns"])
async def reach(request):
    """(store, push, received): received(user) counts the pushes that reached the user's
    devices (embedded: recorded notices; SNS: publishes to topics their endpoints subscribe)."""
    moto = request.getfixturevalue("moto") if request.param == "sns" else None
    store, push = await open_test_push(moto.url if moto else "memory://")

    async def received(user: str) -> int:
        if moto is None:
            return len(await push.notices(user))
        mine = {device.endpoint_arn for device in await push.devices(user)}
        topics = {s["TopicArn"] for s in subscriptions(moto) if s["Endpoint"] in mine}
        return sum(
            len(topic["sent_notifications"])
            for topic in moto_state(moto)["Topic"]
            if topic["arn"] in topics
        )

    yield store, push, received
    await push.close()


async def a_follower(store, push, user: str) -> None:
    await push.register_device(user, Platform.FCM, f"token-{user}")
    await store.follow(user, NIKE)
    await push.follow(user, NIKE)


async def a_party(store, party_id: str = "p9") -> None:
    now = datetime.now(UTC)
    await store.create_party(
        schedule_party(
            party_id=party_id,
            host_id="h1",
            title="Nike night",
            theme=NIKE,
            starts_at=now + timedelta(minutes=5),
            now=now,
        )
    )


def a_pusher(store, push, events, ledger=None, **waves) -> PartyPushHandler:
    settings = {
        "shards": SHARDS,
        "joins_per_second": 1000.0,
        "bound_seconds": 1.0,
        "hold_seconds": 0.1,
    }
    return PartyPushHandler(
        ledger=ledger or open_ledger("memory://"),
        store=store,
        push=push,
        events=events,
        clock=SystemClock(),
        lock_seconds=30,
        waves=WaveSettings(**{**settings, **waves}),
    )


async def test_a_shard_push_reaches_the_followers_of_that_shard_only(reach):
    store, push, received = reach
    fans = [f"fan-{n}" for n in range(8)]
    for fan in fans:
        await a_follower(store, push, fan)
    shard = shard_of(fans[0], SHARDS)
    await push.notify_shard(NIKE, shard, [f for f in fans if shard_of(f, SHARDS) == shard], START)
    assert {fan: await received(fan) for fan in fans} == {
        fan: int(shard_of(fan, SHARDS) == shard) for fan in fans
    }


async def test_a_start_goes_out_in_waves_every_follower_once_and_no_wave_early(reach):
    store, push, received = reach
    fans = [f"fan-{n}" for n in range(12)]
    for fan in fans:
        await a_follower(store, push, fan)
    await a_party(store)
    # 12 followers in 4 waves at 20 a second: 0.15 s apart, so the last two come back from the
    # queue (held at most 0.1 s) before they are due.
    queue = TappedQueue(topology=Topology(retry_delays=(0.1,)))
    await queue.consume(PARTY_PUSH, a_pusher(store, push, queue, joins_per_second=20.0))
    clock = SystemClock()
    lifecycle = PartyLifecycle(store, clock)
    lifecycle.on_change(PartyAnnouncer(queue, clock).on_change)
    try:
        await lifecycle.start("p9", actor="h1")

        def sent() -> list[PushSent]:
            return [e for e in queue.seen if isinstance(e, PushSent)]

        async def all_sent() -> bool:
            return len(sent()) == 4

        await eventually(all_sent, within=10)
        due = {e.wave: e.due for e in queue.seen if isinstance(e, PushWave)}
        started = (await store.get_party("p9")).started_at
        assert due[0] == started and due[3] - due[0] == timedelta(seconds=0.45)
        assert sorted(e.wave for e in sent()) == [0, 1, 2, 3]
        assert all(e.at >= due[e.wave] and e.kind == "party.started" for e in sent())
        assert sum(e.notified for e in sent()) == 12 and {e.failed for e in sent()} == {0}
        assert [await received(fan) for fan in fans] == [1] * 12
    finally:
        await queue.close()


async def test_a_start_planned_again_after_a_crash_notifies_nobody_twice(reach):
    store, push, received = reach
    fans = [f"fan-{n}" for n in range(12)]
    for fan in fans:
        await a_follower(store, push, fan)
    await a_party(store)
    await PartyLifecycle(store, SystemClock()).start("p9", actor="h1")
    started = PartyStarted("p9:started", "p9", datetime.now(UTC))
    ledger = open_ledger("memory://")
    # The first worker publishes the waves, but RabbitMQ does not confirm them before it dies:
    # the start is not marked done. Two of its waves reached the queue and were sent.
    first = KeptEvents(refuse_flush=True)
    with pytest.raises(ConnectionError):
        await a_pusher(store, push, first, ledger)([started])
    assert await a_pusher(store, push, first, ledger)(first.of(PushWave)[:2]) == set()
    # The start comes again: planned again, the same waves; every copy is delivered.
    again = KeptEvents()
    pusher = a_pusher(store, push, again, ledger)
    assert await pusher([started]) == set()
    assert [w.id for w in again.of(PushWave)] == [w.id for w in first.of(PushWave)]
    assert await pusher(first.of(PushWave) + again.of(PushWave)) == set()
    assert [await received(fan) for fan in fans] == [1] * 12
    sent = first.of(PushSent) + again.of(PushSent)
    assert sorted(e.wave for e in sent) == [0, 1, 2, 3]
    assert sum(e.notified for e in sent) == 12


async def test_a_wave_not_due_yet_goes_back_to_the_queue_unlocked():
    store, push = await open_test_push("memory://")
    await a_party(store)
    await PartyLifecycle(store, SystemClock()).start("p9", actor="h1")
    ledger = open_ledger("memory://")
    soon = datetime.now(UTC) + timedelta(minutes=1)
    wave = PushWave("p9:started:wave:3", "p9", "party.started", 3, soon, datetime.now(UTC))
    assert await a_pusher(store, push, KeptEvents(), ledger)([wave]) == {wave.id}
    assert await ledger.claim(PARTY_PUSH, [EventRef.of(wave)], 30) == [Claim.FRESH]


async def test_a_shard_refused_is_counted_failed_and_the_rest_is_not_sent_again():
    store, push = await open_test_push("memory://")
    fans = [f"fan-{n}" for n in range(12)]
    for fan in fans:
        await store.follow(fan, NIKE)
    await store.create_party(
        schedule_party(
            party_id="p9",
            host_id="h1",
            title="Nike night",
            theme=NIKE,
            starts_at=datetime.now(UTC) + timedelta(minutes=5),
            now=datetime.now(UTC),
        )
    )
    refused = shard_of(fans[0], SHARDS)
    original = push.notify_shard

    async def notify_shard(theme, shard, followers, notification):
        if shard == refused:
            raise ConnectionError("SNS is down for this topic")
        await original(theme, shard, followers, notification)

    push.notify_shard = notify_shard
    events = KeptEvents()
    reminder = PartyReminder("p9:reminder", "p9", datetime.now(UTC))
    assert await a_pusher(store, push, events)([reminder]) == set()
    [sent] = events.of(PushSent)
    in_refused = sum(shard_of(fan, SHARDS) == refused for fan in fans)
    assert (sent.wave, sent.kind, sent.failed, sent.notified) == (
        0,
        "party.reminder",
        in_refused,
        12 - in_refused,
    )


async def test_a_party_going_live_publishes_one_wave_per_shard_topic(sns, moto):
    store, push = sns
    fans = [f"fan-{n}" for n in range(12)]
    for fan in fans:
        await a_follower(store, push, fan)
    await a_party(store)
    # The start event goes to the party-push worker handler, which publishes each wave.
    events = RecordingEvents()
    events.handler = PartyPushHandler(
        ledger=open_ledger("memory://"),
        store=store,
        push=push,
        events=events,
        clock=SystemClock(),
        lock_seconds=30,
        waves=WaveSettings(
            shards=SHARDS, joins_per_second=1e6, bound_seconds=1.0, hold_seconds=0.1
        ),
    )
    lifecycle = PartyLifecycle(store, SystemClock())
    lifecycle.on_change(PartyAnnouncer(events, SystemClock()).on_change)
    await lifecycle.start("p9", actor="h1")

    shards = {shard_of(fan, SHARDS) for fan in fans}
    topics = {t["arn"]: t["sent_notifications"] for t in moto_state(moto)["Topic"]}
    assert len(topics) == len(shards)  # one topic per shard with followers, no other
    for sent in topics.values():
        [(_, raw, *_)] = sent
        assert json.loads(json.loads(raw)["GCM"])["data"] == {
            "party_id": "p9",
            "kind": "party.started",
        }
