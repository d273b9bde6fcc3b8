"""The capacity forecast: the documented join curve over a made-up schedule (pure), the
forecaster over the store (memory and Redis), GET /capacity, and the scheduler's gauges."""

import math
from datetime import UTC, datetime, timedelta

import pytest
from prometheus_client import REGISTRY

from party_engine import metrics
from party_engine.capacity import CapacityForecaster, PriorJoinRatios
from party_engine.config import Settings
from party_engine.domain.forecast import (
    ARRIVAL_MINUTES,
    MEAN_STAY_MINUTES,
    PRIOR_JOIN_RATIO,
    PlannedParty,
    forecast,
)
from party_engine.domain.parties import schedule_party
from party_engine.domain.themes import Theme, ThemeKind
from party_engine.engine import Engine
from party_engine.roles import Role
from party_engine.tokens import UserRole, issue_token
from tests.api_harness import PROBLEM, SECRET, api_client, started_engine
from tests.pipeline_helpers import eventually

START = datetime(2026, 6, 1, 18, 0, tzinfo=UTC)
NIKE = Theme(ThemeKind.BRAND, "Nike")
ADIDAS = Theme(ThemeKind.BRAND, "Adidas")


def minutes(n: float) -> timedelta:
    return timedelta(minutes=n)


def present(joiners: float, u: float) -> float:
    """The documented curve: exponential arrivals (time constant ARRIVAL_MINUTES), a constant
    leaving rate (mean stay MEAN_STAY_MINUTES)."""
    a, leave = 1 / ARRIVAL_MINUTES, 1 / MEAN_STAY_MINUTES
    return joiners * a / (a - leave) * (math.exp(-leave * u) - math.exp(-a * u))


U_STAR = math.log(MEAN_STAY_MINUTES / ARRIVAL_MINUTES) / (
    1 / ARRIVAL_MINUTES - 1 / MEAN_STAY_MINUTES
)


def joined_by(joiners: float, u: float) -> float:
    return joiners * (1 - math.exp(-u / ARRIVAL_MINUTES))


def a_party(id: str, opens_in: float, lasts: float, joiners: float) -> PlannedParty:
    return PlannedParty(
        id, id.title(), START + minutes(opens_in), START + minutes(opens_in + lasts), joiners
    )


# --- the curve, pure -------------------------------------------------------------------------


def test_a_party_peaks_seven_minutes_after_its_start_and_joins_come_first():
    buckets = forecast([a_party("a", 10, 60, 1000)], START, 90)
    assert [b.starts_at for b in buckets[:2]] == [START, START + minutes(1)]
    assert all(
        b.connections == 0 and b.joins_per_second == 0 and not b.parties for b in buckets[:10]
    )
    # The curve peaks at ln(a/l)/(a-l) = 7.04 minutes: in the start's 8th minute.
    peak = max(range(90), key=lambda i: buckets[i].connections)
    assert peak == 17
    assert buckets[17].connections == pytest.approx(present(1000, U_STAR))
    # Before the peak a bucket holds its end's presence, after it its start's.
    assert buckets[12].connections == pytest.approx(present(1000, 3))
    assert buckets[40].connections == pytest.approx(present(1000, 30))
    # Joins come fastest in the first minute after the start.
    assert buckets[10].joins_per_second == pytest.approx(joined_by(1000, 1) / 60)
    assert buckets[11].joins_per_second == pytest.approx(
        (joined_by(1000, 2) - joined_by(1000, 1)) / 60
    )
    assert max(range(90), key=lambda i: buckets[i].joins_per_second) == 10
    assert [p.id for p in buckets[10].parties] == ["a"]
    # All are gone at the end.
    assert buckets[69].connections == pytest.approx(present(1000, 59))
    assert buckets[70].connections == 0 and not buckets[70].parties


def test_overlapping_parties_add_up_and_an_ended_party_counts_nothing():
    one = forecast([a_party("a", 0, 60, 1000)], START, 60)
    both = forecast(
        [a_party("a", 0, 60, 1000), a_party("b", 5, 60, 500), a_party("old", -90, 60, 9000)],
        START,
        60,
    )
    other = forecast([a_party("b", 5, 60, 500)], START, 60)
    for index in range(60):
        assert both[index].connections == pytest.approx(
            one[index].connections + other[index].connections
        )
        assert both[index].joins_per_second == pytest.approx(
            one[index].joins_per_second + other[index].joins_per_second
        )
        assert "old" not in [p.id for p in both[index].parties]
    assert [p.id for p in both[7].parties] == ["a", "b"]


def test_a_live_party_goes_on_from_where_its_curve_is():
    buckets = forecast([a_party("a", -30, 60, 1000)], START, 40)
    assert buckets[0].connections == pytest.approx(present(1000, 30))
    assert buckets[0].joins_per_second == pytest.approx(
        (joined_by(1000, 31) - joined_by(1000, 30)) / 60
    )
    assert buckets[30].connections == 0


# --- the forecaster over the store -----------------------------------------------------------


class FixedClock:
    def __init__(self, now: datetime) -> None:
        self._now = now

    def now(self) -> datetime:
        return self._now


async def seed_schedule(store) -> None:
    for user in range(10):
        await store.follow(f"fan-{user}", NIKE)
    await store.follow("fan-0", ADIDAS)
    soon = schedule_party(
        party_id="soon",
        host_id="h1",
        title="Nike night",
        theme=NIKE,
        starts_at=START + minutes(20),
        now=START - minutes(60),
        duration_minutes=60,
    )
    await store.create_party(soon)
    live = schedule_party(
        party_id="live",
        host_id="h1",
        title="Adidas day",
        theme=ADIDAS,
        starts_at=START - minutes(10),
        now=START - minutes(60),
        duration_minutes=60,
    )
    live = await store.create_party(live)
    await store.save_party(live.start(START - minutes(10)))
    late = schedule_party(
        party_id="late",
        host_id="h1",
        title="Later",
        theme=NIKE,
        starts_at=START + minutes(200),
        now=START - minutes(60),
        duration_minutes=60,
    )
    await store.create_party(late)


async def test_the_forecaster_applies_the_prior_ratio_to_each_themes_followers(store_url):
    async with started_engine(store_url) as engine:
        await seed_schedule(engine.store)
        forecaster = CapacityForecaster(
            engine.store, PriorJoinRatios(), FixedClock(START + minutes(0.5))
        )
        result = await forecaster.forecast(2)
    assert result.complete and len(result.buckets) == 120
    assert result.buckets[0].starts_at == START
    nike = 10 * PRIOR_JOIN_RATIO
    assert [(p.id, p.expected_joiners) for p in result.buckets[20].parties] == [
        ("live", pytest.approx(PRIOR_JOIN_RATIO)),
        ("soon", pytest.approx(nike)),
    ]
    assert result.buckets[0].connections == pytest.approx(present(PRIOR_JOIN_RATIO, 10))
    # "soon" peaks in its start's 8th minute; "live" went live ten minutes before START.
    assert result.buckets[27].connections == pytest.approx(
        present(nike, U_STAR) + present(PRIOR_JOIN_RATIO, 37)
    )
    assert result.buckets[20].joins_per_second == pytest.approx(
        (joined_by(nike, 1) + joined_by(PRIOR_JOIN_RATIO, 31) - joined_by(PRIOR_JOIN_RATIO, 30))
        / 60
    )
    assert all("late" not in [p.id for p in b.parties] for b in result.buckets)


# --- GET /capacity ---------------------------------------------------------------------------


def auth(user: str, role: UserRole = UserRole.HOST) -> dict[str, str]:
    return {"Authorization": f"Bearer {issue_token(SECRET, user, role)}"}


async def test_capacity_lists_each_minute_with_the_parties_behind_it(store_url):
    async with started_engine(store_url) as engine, api_client(engine) as client:
        for user in range(20):
            await client.put(
                "/me/follows/brand/Nike", headers=auth(f"fan-{user}", UserRole.SHOPPER)
            )
        starts_at = (engine.clock.now() + minutes(30)).replace(second=0, microsecond=0)
        created = await client.post(
            "/parties",
            json={
                "title": "Nike night",
                "theme": {"kind": "brand", "value": "Nike"},
                "starts_at": starts_at.isoformat(),
                "duration_minutes": 60,
            },
            headers=auth("host-1"),
        )
        assert created.status_code == 201, created.text
        response = await client.get("/capacity", params={"hours": 2}, headers=auth("host-1"))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["bucket_seconds"] == 60 and body["complete"] is True
    assert len(body["buckets"]) == 120
    by_start = {datetime.fromisoformat(b["starts_at"]): b for b in body["buckets"]}
    first = by_start[starts_at]
    party_id = created.json()["id"]
    (party,) = body["parties"]
    assert party["id"] == party_id and party["title"] == "Nike night"
    assert party["expected_joiners"] == pytest.approx(20 * PRIOR_JOIN_RATIO)
    assert datetime.fromisoformat(party["opens_at"]) == starts_at
    assert datetime.fromisoformat(party["ends_at"]) == starts_at + minutes(60)
    assert first["parties"] == [party_id]
    assert first["joins_per_second"] == pytest.approx(joined_by(6, 1) / 60, abs=1e-3)
    assert by_start[starts_at + minutes(7)]["connections"] == pytest.approx(
        present(6, U_STAR), abs=0.05
    )
    assert by_start[starts_at - minutes(1)]["parties"] == []
    assert by_start[starts_at + minutes(60)]["connections"] == 0


async def test_capacity_is_for_hosts_and_hours_between_1_and_48(store_url):
    async with started_engine(store_url) as engine, api_client(engine) as client:
        shopper = await client.get("/capacity", headers=auth("fan", UserRole.SHOPPER))
        assert shopper.status_code == 403
        assert shopper.headers["content-type"] == PROBLEM
        for hours in ("0", "49", "-1", "two"):
            bad = await client.get("/capacity", params={"hours": hours}, headers=auth("host-1"))
            assert bad.status_code == 422, hours
            assert bad.headers["content-type"] == PROBLEM
        longest = await client.get("/capacity", params={"hours": 48}, headers=auth("host-1"))
        assert longest.status_code == 200 and len(longest.json()["buckets"]) == 48 * 60


# --- the gauges ------------------------------------------------------------------------------


def gauge(name: str, horizon: str) -> float | None:
    return REGISTRY.get_sample_value(name, {"horizon": horizon})


async def test_the_scheduler_role_sets_the_forecast_gauges_on_its_first_round(store_url):
    clock = FixedClock(START + minutes(0.5))
    engine = Engine(
        Settings(redis_url=store_url, jwt_secret=SECRET),
        roles=frozenset({Role.SCHEDULER, Role.WORKER}),
        clock=clock,
    )
    await seed_schedule(engine.store)  # before start: the first round runs as it starts
    nike = 10 * PRIOR_JOIN_RATIO
    live_now = present(PRIOR_JOIN_RATIO, 10)
    expected = {
        # Within 15 minutes only the live party: past its peak, fullest in the first minute.
        "15m": (live_now, (joined_by(PRIOR_JOIN_RATIO, 11) - joined_by(PRIOR_JOIN_RATIO, 10)) / 60),
        # Then "soon" (starting at minute 20): the sum is fullest where "soon" rising meets
        # "live" falling, each at its most within the minute.
        "30m": (
            max(
                present(nike, min(max(U_STAR, k), k + 1)) + present(PRIOR_JOIN_RATIO, 30 + k)
                for k in range(10)
            ),
            (joined_by(nike, 1) + joined_by(PRIOR_JOIN_RATIO, 31) - joined_by(PRIOR_JOIN_RATIO, 30))
            / 60,
        ),
    }
    expected["60m"] = expected["30m"]
    for horizon in expected:
        metrics_reset(horizon)
    await engine.start()
    try:
        await eventually(lambda: _gauges_set(expected), within=10)
    finally:
        await engine.stop()
    for horizon, (connections, joins) in expected.items():
        assert gauge("party_forecast_connections", horizon) == pytest.approx(connections)
        assert gauge("party_forecast_joins_per_second", horizon) == pytest.approx(joins)


def metrics_reset(horizon: str) -> None:
    metrics.FORECAST_CONNECTIONS.labels(horizon=horizon).set(-1)
    metrics.FORECAST_JOINS_PER_SECOND.labels(horizon=horizon).set(-1)


async def _gauges_set(expected) -> bool:
    return all(gauge("party_forecast_connections", h) not in (None, -1) for h in expected)
