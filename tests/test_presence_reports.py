"""What a gateway reports each round: arrivals and departures at once, everyone else only
when due, and a failed report again."""

from party_engine.gateway.presence_reports import PresenceReports


def sorted_users(users: dict[str, list[str]]) -> dict[str, list[str]]:
    return {party: sorted(ids) for party, ids in users.items()}


def test_a_round_reports_changes_and_renews_only_the_due():
    reports = PresenceReports(renew_after=10.0, round_seconds=1.0)
    present, left = reports.take({"p": {"u1", "u2"}}, {}, 0.0)
    assert sorted_users(present) == {"p": ["u1", "u2"]} and left == {}
    assert reports.take({"p": {"u3"}}, {"p": {"u1"}}, 1.0) == ({"p": ["u3"]}, {"p": ["u1"]})
    assert reports.take({}, {}, 5.0) == ({}, {})  # nothing changed, nothing due
    assert reports.take({}, {}, 10.0) == ({"p": ["u2"]}, {})  # u1 left: not renewed
    assert reports.take({}, {}, 11.0) == ({"p": ["u3"]}, {})


def test_a_failed_report_is_sent_again_with_the_next_round():
    reports = PresenceReports(renew_after=10.0, round_seconds=1.0)
    reports.take({"p": {"u1", "u2"}}, {}, 0.0)
    present, left = reports.take({"q": {"u3"}}, {"p": {"u1"}}, 1.0)
    reports.failed(present, left)
    assert reports.take({}, {}, 2.0) == ({"q": ["u3"]}, {"p": ["u1"]})

    present, left = reports.take({}, {"p": {"u2"}}, 3.0)
    reports.failed(present, left)
    # u2 came back before the retry: present, no longer reported as gone.
    assert reports.take({"p": {"u2"}}, {}, 4.0) == ({"p": ["u2"]}, {})
