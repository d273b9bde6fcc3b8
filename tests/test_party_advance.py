"""The clock's rules in the domain: what is due when, and the scheduled -> ended expiry."""

from datetime import UTC, datetime, timedelta

import pytest

from party_engine.domain.errors import InvalidTransition
from party_engine.domain.parties import PartyState, schedule_party
from party_engine.domain.themes import Theme, ThemeKind

NOW = datetime(2030, 5, 1, 12, 0, tzinfo=UTC)
START = NOW + timedelta(hours=1)


def a_party():
    return schedule_party(
        party_id="p1",
        host_id="h1",
        title="Nike night",
        theme=Theme(ThemeKind.BRAND, "Nike"),
        starts_at=START,
        now=NOW,
        duration_minutes=120,
    )


def test_nothing_is_due_before_the_start():
    with pytest.raises(InvalidTransition):
        a_party().advance(START - timedelta(seconds=1))


def test_a_party_goes_live_at_its_start_and_keeps_its_planned_end():
    live = a_party().advance(START)
    assert live.state is PartyState.LIVE
    assert live.started_at == START
    assert live.ends_at == START + timedelta(hours=2)


def test_a_late_start_does_not_extend_the_party():
    live = a_party().advance(START + timedelta(minutes=30))
    assert live.state is PartyState.LIVE
    assert live.ends_at == START + timedelta(hours=2)


def test_a_live_party_ends_at_its_end_and_not_before():
    live = a_party().advance(START)
    with pytest.raises(InvalidTransition):
        live.advance(START + timedelta(minutes=119))
    ended = live.advance(START + timedelta(hours=2))
    assert ended.state is PartyState.ENDED


def test_a_party_whose_whole_slot_passed_expires_straight_to_ended():
    late = START + timedelta(hours=3)
    expired = a_party().advance(late)
    assert expired.state is PartyState.ENDED
    assert expired.started_at is None  # it never went live
    assert expired.ended_at == late


def test_only_a_scheduled_party_past_its_end_can_expire():
    with pytest.raises(InvalidTransition):
        a_party().expire(START)  # its slot has not passed
    live = a_party().start(START)
    with pytest.raises(InvalidTransition):
        live.expire(START + timedelta(hours=3))


def test_ended_and_cancelled_parties_are_never_due():
    ended = a_party().advance(START + timedelta(hours=3))
    cancelled = a_party().cancel(NOW)
    for party in (ended, cancelled):
        with pytest.raises(InvalidTransition):
            party.advance(START + timedelta(days=1))
