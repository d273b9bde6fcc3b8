"""The pure rules: party state machine, scheduling and the theme rule."""

from datetime import UTC, datetime, timedelta

import pytest

from party_engine.domain.errors import Forbidden, InvalidTransition, InvalidValue
from party_engine.domain.listings import Listing, match_theme
from party_engine.domain.parties import PartyState, comes_after, schedule_party
from party_engine.domain.themes import Theme, ThemeKind

NOW = datetime(2030, 5, 1, 12, 0, tzinfo=UTC)


def a_party(**overrides):
    fields = dict(
        party_id="p1",
        host_id="h1",
        title="Nike night",
        theme=Theme(ThemeKind.BRAND, "Nike"),
        starts_at=NOW + timedelta(hours=1),
        now=NOW,
    )
    return schedule_party(**{**fields, **overrides})


def a_listing(**overrides):
    fields = dict(
        id="l1",
        seller_id="s1",
        title="Air Max",
        brand="Nike",
        category="Shoes",
        price_cents=100,
        currency="USD",
        tags=("Summer", "street"),
    )
    return Listing(**{**fields, **overrides})


def test_a_scheduled_party_ends_after_its_duration():
    party = a_party(duration_minutes=90)
    assert party.state is PartyState.SCHEDULED
    assert party.ends_at == party.starts_at + timedelta(minutes=90)


@pytest.mark.parametrize("starts_in", [timedelta(0), timedelta(minutes=-5)])
def test_a_party_cannot_be_scheduled_in_the_past(starts_in):
    with pytest.raises(InvalidValue) as error:
        a_party(starts_at=NOW + starts_in)
    assert error.value.field == "starts_at"


def test_a_naive_start_time_is_refused():
    with pytest.raises(InvalidValue):
        a_party(starts_at=datetime(2031, 1, 1))


@pytest.mark.parametrize("minutes", [14, 361])
def test_duration_must_be_between_15_minutes_and_6_hours(minutes):
    with pytest.raises(InvalidValue) as error:
        a_party(duration_minutes=minutes)
    assert error.value.field == "duration_minutes"


def test_an_early_start_keeps_the_full_duration():
    party = a_party().start(NOW)
    assert party.state is PartyState.LIVE
    assert party.started_at == NOW
    assert party.ends_at == NOW + timedelta(minutes=120)


def test_a_late_start_does_not_extend_the_party():
    party = a_party()
    late = party.start(party.starts_at + timedelta(minutes=10))
    assert late.ends_at == party.ends_at


def test_an_early_end_moves_ends_at():
    live = a_party().start(NOW)
    ended = live.end(NOW + timedelta(minutes=30))
    assert ended.state is PartyState.ENDED
    assert ended.ends_at == NOW + timedelta(minutes=30)


@pytest.mark.parametrize(
    ("path", "forbidden"),
    [
        ([], "end"),
        (["start", "end"], "start"),
        (["start", "end"], "cancel"),
        (["cancel"], "start"),
        (["start"], "start"),
    ],
)
def test_transitions_outside_the_state_machine_are_refused(path, forbidden):
    party = a_party()
    for step in path:
        party = getattr(party, step)(NOW)
    with pytest.raises(InvalidTransition):
        getattr(party, forbidden)(NOW)


def test_only_the_host_owns_the_party():
    party = a_party()
    party.ensure_owner("h1")
    with pytest.raises(Forbidden):
        party.ensure_owner("someone-else")


def test_only_a_scheduled_party_can_be_revised():
    party = a_party()
    revised = party.revise(NOW, title="New", duration_minutes=60)
    assert (revised.title, revised.ends_at) == ("New", revised.starts_at + timedelta(minutes=60))
    with pytest.raises(InvalidTransition):
        party.start(NOW).revise(NOW, title="Too late")
    with pytest.raises(InvalidValue):
        party.revise(NOW, starts_at=NOW - timedelta(minutes=1))


@pytest.mark.parametrize(
    ("theme", "matches"),
    [
        (Theme(ThemeKind.BRAND, "nike"), True),
        (Theme(ThemeKind.BRAND, "Adidas"), False),
        (Theme(ThemeKind.CATEGORY, "SHOES"), True),
        (Theme(ThemeKind.CATEGORY, "Bags"), False),
        (Theme(ThemeKind.SEASON, "summer"), True),
        (Theme(ThemeKind.SEASON, "winter"), False),
        (Theme(ThemeKind.STYLE, "Street"), True),
        (Theme(ThemeKind.STYLE, "boho"), False),
    ],
)
def test_a_listing_matches_a_theme_by_its_field_or_tags(theme, matches):
    result = match_theme(a_listing(), theme)
    assert result.matches is matches
    assert result.reason


def test_brand_is_not_looked_up_in_tags():
    assert not match_theme(a_listing(tags=("Adidas",)), Theme(ThemeKind.BRAND, "Adidas")).matches


def test_a_state_comes_after_those_it_can_be_reached_from_and_no_other():
    S = PartyState
    later = {
        S.SCHEDULED: {S.LIVE, S.ENDED, S.CANCELLED},
        S.LIVE: {S.ENDED, S.CANCELLED},
        S.ENDED: set(),
        S.CANCELLED: set(),
    }
    for earlier in S:
        for state in S:
            assert comes_after(state, earlier) == (state in later[earlier]), (state, earlier)
