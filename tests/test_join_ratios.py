"""The themes' join ratios from the archive (archive/join_ratios.py): a theme's latest ended
parties' start-push conversion, summed; the prior for a theme without any; what GET /capacity
forecasts with them."""

from datetime import UTC, datetime, timedelta

import pytest

from party_engine.archive.join_ratios import ArchiveJoinRatios
from party_engine.domain.forecast import PRIOR_JOIN_RATIO
from party_engine.domain.themes import Theme, ThemeKind
from party_engine.tokens import UserRole, issue_token
from tests.api_harness import SECRET, api_client, started_engine
from tests.report_helpers import NIKE, an_ended_party, archive

ADIDAS = Theme(ThemeKind.BRAND, "Adidas")
HOST = {"Authorization": f"Bearer {issue_token(SECRET, 'host-1', UserRole.HOST)}"}


@pytest.fixture
async def engine(store_url, tmp_path):
    async with started_engine(store_url, archive_url=(tmp_path / "archive").as_uri()) as engine:
        yield engine


async def observed(engine, party_id: str, *, ended_ago: timedelta, shoppers: int, ratio: float):
    """An ended Nike party whose start push notified shoppers / ratio followers: (joined,
    notified) counted from its events."""
    party = await an_ended_party(engine.store, party_id, ended_ago=ended_ago)
    events = await archive(engine.backends.archive, party, shoppers=shoppers, join_ratio=ratio)
    rows = events.to_pylist()
    pushed = min(r["at"] for r in rows if r["push_kind"] == "party.started")
    first: dict[str, datetime] = {}
    for r in sorted(rows, key=lambda r: r["at"]):
        if r["type"] == "party.joined":
            first.setdefault(r["user_id"], r["at"])
    notified = sum(r["notified"] or 0 for r in rows if r["push_kind"] == "party.started")
    return sum(at >= pushed for at in first.values()), notified


async def test_a_theme_sums_its_latest_parties_and_a_theme_without_any_gets_the_prior(engine):
    oldest = await observed(engine, "n1", ended_ago=timedelta(days=3), shoppers=90, ratio=0.9)
    middle = await observed(engine, "n2", ended_ago=timedelta(days=2), shoppers=120, ratio=0.5)
    latest = await observed(engine, "n3", ended_ago=timedelta(days=1), shoppers=40, ratio=0.1)
    # Ended, but nothing archived (no push): it counts for nothing.
    await an_ended_party(engine.store, "n4", ended_ago=timedelta(hours=2))

    ratios = ArchiveJoinRatios(engine.store, engine.reports, engine.clock, history=3)
    joined, notified = (sum(pair) for pair in zip(middle, latest, strict=True))
    assert await ratios.ratio(NIKE) == pytest.approx(joined / notified)
    assert joined / notified != pytest.approx(PRIOR_JOIN_RATIO, abs=0.02)

    every = ArchiveJoinRatios(engine.store, engine.reports, engine.clock, history=10)
    joined, notified = (sum(pair) for pair in zip(oldest, middle, latest, strict=True))
    assert await every.ratio(NIKE) == pytest.approx(joined / notified)
    assert await every.ratio(ADIDAS) == PRIOR_JOIN_RATIO


async def test_a_ratio_is_kept_for_its_ttl(engine):
    ratios = ArchiveJoinRatios(engine.store, engine.reports, engine.clock)
    assert await ratios.ratio(NIKE) == PRIOR_JOIN_RATIO
    await observed(engine, "late", ended_ago=timedelta(hours=1), shoppers=50, ratio=0.8)
    assert await ratios.ratio(NIKE) == PRIOR_JOIN_RATIO  # kept
    fresh = ArchiveJoinRatios(engine.store, engine.reports, engine.clock, ttl=timedelta(0))
    assert await fresh.ratio(NIKE) == pytest.approx(0.8, abs=0.01)


async def test_the_capacity_forecast_expects_followers_times_the_observed_ratio(engine):
    joined, notified = await observed(
        engine, "past", ended_ago=timedelta(days=1), shoppers=100, ratio=0.6
    )
    for n in range(50):
        await engine.store.follow(f"fan-{n}", NIKE)
    async with api_client(engine) as http:
        http.headers.update(HOST)
        starts_at = (datetime.now(UTC) + timedelta(minutes=20)).isoformat()
        body = {
            "title": "Next",
            "theme": {"kind": "brand", "value": "Nike"},
            "starts_at": starts_at,
        }
        party = (await http.post("/parties", json=body)).raise_for_status().json()["id"]
        forecast = (await http.get("/capacity", params={"hours": 1})).raise_for_status().json()
    [planned] = [p for p in forecast["parties"] if p["id"] == party]
    assert planned["expected_joiners"] == round(50 * joined / notified, 1)
