"""Prometheus metrics: every role serves its own on PARTY_METRICS_PORT, counted where the thing
happens; the dashboard and the alerts name only metrics that exist."""

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
import yaml
from prometheus_client import REGISTRY

from party_engine import metrics
from party_engine.domain.events import DomainEvent
from party_engine.domain.parties import PartyState
from party_engine.gateway.hub import Hub, Member
from party_engine.ports import Publication
from party_engine.tokens import UserRole
from tests.gateway_harness import (
    SECRET,
    Client,
    InProcessGateway,
    seed_over_http,
    seed_party,
    token,
)
from tests.metered_role import MeteredRole
from tests.pipeline_helpers import a_share, eventually, unique_prefix
from workers.service import Metered

ROOT = Path(__file__).parent.parent


# --- the dashboard and the alerts ------------------------------------------------------------


SUFFIXES = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count"), "gauge": ("",)}


def registered_names() -> set[str]:
    """The names PromQL can read of every metric of ours in the default registry: a
    counter's _total, a histogram's _bucket, _sum and _count, a gauge's own name (labelled
    ones too, before any sample of theirs exists)."""
    return {
        family.name + suffix
        for family in REGISTRY.collect()
        if family.name.startswith("party_")
        for suffix in SUFFIXES[family.type]
    }


def metric_names(expression: str) -> set[str]:
    """The metric names a PromQL expression reads (ours all start with party_; labels don't)."""
    without_strings = re.sub(r'"[^"]*"', '""', expression)
    return set(re.findall(r"\bparty_[a-z0-9_]+\b", without_strings))


def dashboard_expressions() -> list[str]:
    dashboard = json.loads((ROOT / "deploy/grafana/party-engine.json").read_text())
    return [target["expr"] for panel in dashboard["panels"] for target in panel["targets"]]


def alert_expressions() -> list[str]:
    rules = yaml.safe_load((ROOT / "deploy/prometheus/alerts.yml").read_text())
    return [rule["expr"] for group in rules["groups"] for rule in group["rules"]]


@pytest.mark.parametrize("source", [dashboard_expressions, alert_expressions])
def test_the_dashboard_and_the_alerts_name_only_metrics_that_exist(source):
    expressions = source()
    assert expressions
    named = set().union(*(metric_names(expression) for expression in expressions))
    assert named, "no metric named at all"
    assert named - registered_names() == set()


def test_the_alerts_cover_what_an_operator_is_paged_for():
    named = set().union(*(metric_names(expression) for expression in alert_expressions()))
    assert {
        "party_pubsub_lag_seconds_bucket",
        "party_outbox_depth",
        "party_slow_consumer_closes_total",
        "party_transition_lateness_seconds_bucket",
        "party_push_sent_total",
    } <= named


def test_a_metric_name_in_a_label_value_is_not_taken_for_a_metric():
    assert metric_names('sum(rate(party_push_sent_total{kind="party_started"}[5m]))') == {
        "party_push_sent_total"
    }


# --- counted where it happens ----------------------------------------------------------------


def value(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


class Recorder(Member):
    def __init__(self) -> None:
        self.frames: list[bytes] = []

    def deliver(self, frame: bytes, publications: list[Publication]) -> None:
        self.frames.append(frame)

    def send_prepared(self, frame: bytes) -> None:
        self.frames.append(frame)

    def tell_state(self, state: PartyState, frame: bytes) -> None:
        self.frames.append(frame)


async def test_the_hub_counts_a_batch_once_for_all_its_members(memory_broker):
    hub = Hub(memory_broker, tick_seconds=0.001, loop_share=0.5)
    members = [Recorder() for _ in range(30)]
    for n, member in enumerate(members):
        await hub.join("p1", member, f"u{n}")
    at = (datetime.now(UTC) - timedelta(seconds=0.2)).isoformat()
    before = {
        name: value(name)
        for name in (
            "party_frames_sent_total",
            "party_bytes_sent_total",
            "party_events_delivered_total",
            "party_pubsub_lag_seconds_count",
            "party_pubsub_lag_seconds_sum",
        )
    }
    for offset in (1, 2):
        item = f'{{"offset":{offset},"share":{offset},"kind":"share","at":"{at}"}}'.encode()
        hub.on_publication(Publication("p1", offset, item))
    await eventually_true(lambda: all(member.frames for member in members))

    frame = members[0].frames[0]
    assert value("party_frames_sent_total") - before["party_frames_sent_total"] == 30
    assert value("party_bytes_sent_total") - before["party_bytes_sent_total"] == 30 * len(frame)
    assert value("party_events_delivered_total") - before["party_events_delivered_total"] == 60
    assert value("party_pubsub_lag_seconds_count") - before["party_pubsub_lag_seconds_count"] == 1
    lag = value("party_pubsub_lag_seconds_sum") - before["party_pubsub_lag_seconds_sum"]
    assert 0.2 <= lag < 5


async def eventually_true(check, within: float = 5.0) -> None:
    async def checked() -> bool:
        return bool(check())

    await eventually(checked, within)


@pytest.fixture
def memory_broker():
    from party_engine.backends.broker_memory import MemoryBroker

    return MemoryBroker(history_size=100)


def test_the_publication_time_is_read_from_an_items_at():
    at = datetime(2026, 1, 2, 3, 4, 5, 600000, tzinfo=UTC)
    item = (
        b'{"offset":3,"share":1,"kind":"like","user":"u","at":"' + at.isoformat().encode() + b'"}'
    )
    assert metrics.published_at(item) == at.timestamp()
    assert metrics.published_at(b'{"offset":3,"kind":"share"}') is None
    assert metrics.published_at(b'{"offset":3,"at":"not a time"}') is None


async def test_a_worker_queue_counts_its_events_by_outcome_and_times_its_batches():
    events: list[DomainEvent] = [a_share(n) for n in range(3)]

    async def handler(batch: list[DomainEvent]) -> set[str]:
        return {batch[0].id}  # another worker holds it

    async def failing(batch: list[DomainEvent]) -> set[str]:
        raise RuntimeError("Redis is away")

    def outcome(name: str) -> float:
        return value("party_worker_events_total", queue="test-queue", outcome=name)

    handled, later, failed = outcome("handled"), outcome("later"), outcome("failed")
    batches = value("party_worker_batch_seconds_count", queue="test-queue")
    assert await Metered("test-queue", handler)(events) == {events[0].id}
    with pytest.raises(RuntimeError):
        await Metered("test-queue", failing)(events)
    assert outcome("handled") - handled == 2
    assert outcome("later") - later == 1
    assert outcome("failed") - failed == 3
    assert value("party_worker_batch_seconds_count", queue="test-queue") - batches == 2


def test_a_push_is_counted_by_kind_and_outcome():
    def sent(outcome: str) -> float:
        return value("party_push_sent_total", kind="test_kind", outcome=outcome)

    ok, failed = sent("ok"), sent("failed")
    with metrics.push_sent("test_kind"):
        pass
    with pytest.raises(ConnectionError), metrics.push_sent("test_kind"):
        raise ConnectionError("SNS is away")
    assert (sent("ok") - ok, sent("failed") - failed) == (1, 1)


async def test_a_session_counts_its_joins_by_outcome_and_its_recoveries():
    def joins(outcome: str) -> float:
        return value("party_joins_total", outcome=outcome)

    before = {
        "ok": joins("ok"),
        "party_not_found": joins("party_not_found"),
        "recovered": value("party_recoveries_total", recovered="true"),
        "fresh": value("party_recoveries_total", recovered="false"),
    }
    async with InProcessGateway() as gateway:
        party = await seed_party(gateway.engine)
        client = await Client.connect(gateway.url)
        assert (await client.join("no-such-party"))["code"] == "party_not_found"
        joined = await client.join(party)
        position = joined["position"]
        assert (await client.join(party, since=position))["recovered"] is True
        assert (await client.join(party, since={**position, "epoch": "other"}))[
            "recovered"
        ] is False
        await client.close()
    assert joins("ok") - before["ok"] == 3
    assert joins("party_not_found") - before["party_not_found"] == 1
    assert value("party_recoveries_total", recovered="true") - before["recovered"] == 1
    assert value("party_recoveries_total", recovered="false") - before["fresh"] == 1


# --- every role as its own process -----------------------------------------------------------


@pytest.fixture
def split_roles(redis_url, rabbitmq_server, tmp_path):
    env = {
        "PARTY_REDIS_URL": redis_url,
        "PARTY_AMQP_URL": rabbitmq_server.url,
        "PARTY_AMQP_PREFIX": unique_prefix(),
        "PARTY_PUSH_URL": "memory://",
        "PARTY_JWT_SECRET": SECRET,
        "PARTY_LOG_LEVEL": "warning",
        "PARTY_GC_FREEZE_SECONDS": "0",
    }
    names = ("gateway", "worker", "relay", "scheduler")
    roles = {role: MeteredRole(role, env, tmp_path) for role in names}
    yield roles
    for role in roles.values():
        role.stop()
    for role in roles.values():
        print(f"--- {role.role}\n{role.log_path.read_text(errors='replace')[-3000:]}")


async def wait_for_sample(role: MeteredRole, name: str, at_least: float, **labels: str) -> float:
    got: list[float | None] = [None]

    async def reached() -> bool:
        got[0] = await role.sample(name, **labels)
        return got[0] is not None and got[0] >= at_least

    try:
        await eventually(reached, within=30)
    except AssertionError:
        raise AssertionError(
            f"{role.role}: {name}{labels} is {got[0]}, not >= {at_least}"
        ) from None
    assert got[0] is not None
    return got[0]


async def test_each_role_as_a_process_serves_what_it_counted(split_roles):
    gateway, worker, relay, scheduler = (
        split_roles[role] for role in ("gateway", "worker", "relay", "scheduler")
    )
    gateway.wait_serving(gateway.port)
    for role in split_roles.values():
        role.wait_serving(role.metrics_port)
    async with httpx.AsyncClient() as http:  # not on the public port
        assert (await http.get(f"http://127.0.0.1:{gateway.port}/metrics")).status_code == 404

    party, listing = await seed_over_http(f"http://127.0.0.1:{gateway.port}")
    client = await Client.connect(f"ws://127.0.0.1:{gateway.port}/ws")
    assert (await client.join(party))["type"] == "joined"
    share = await client.reply(id=1, type="share", party=party, listing=listing)
    assert share["type"] == "ack", share
    like = await client.reply(id=2, type="like", party=party, share=share["offset"])
    assert like["type"] == "ack", like

    assert await gateway.sample("party_connections") == 1
    assert await gateway.sample("party_joins_total", outcome="ok") == 1
    assert await gateway.sample("party_shares_accepted_total") == 1
    assert await gateway.sample("party_likes_accepted_total") == 1
    assert await gateway.sample("party_ack_seconds_count") == 2
    await wait_for_sample(gateway, "party_events_delivered_total", 2)
    await wait_for_sample(gateway, "party_pubsub_lag_seconds_count", 1)
    await wait_for_sample(relay, "party_relayed_events_total", 2)
    await wait_for_sample(
        worker, "party_worker_events_total", 2, queue="counters", outcome="handled"
    )
    assert await relay.sample("party_outbox_depth") is not None
    await client.close()
    await wait_for_sample(gateway, "party_disconnects_total", 1, code="1000")
    assert await gateway.sample("party_connections") == 0

    # A party scheduled a second ahead: the scheduler starts it and measures how late.
    host = {"Authorization": f"Bearer {token('host-1', UserRole.HOST)}"}
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{gateway.port}", headers=host) as http:
        starts_at = (datetime.now(UTC) + timedelta(seconds=1)).isoformat()
        body = {
            "title": "Soon",
            "theme": {"kind": "brand", "value": "Nike"},
            "starts_at": starts_at,
        }
        (await http.post("/parties", json=body)).raise_for_status()
    count = await wait_for_sample(
        scheduler, "party_transition_lateness_seconds_count", 1, state="live"
    )
    lateness = await scheduler.sample("party_transition_lateness_seconds_sum", state="live")
    assert lateness is not None and 0 <= lateness / count < 10
