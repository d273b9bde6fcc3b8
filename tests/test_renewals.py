"""The renewal queue: entries renewed oldest first once due, spread over rounds."""

from party_engine.gateway.renewals import Renewals


def test_entries_set_together_are_renewed_over_several_rounds_and_stay_spread():
    renewals: Renewals[int] = Renewals(renew_after=10.0, round_seconds=1.0)
    for user in range(1_000):  # a join storm: all set at once
        renewals.set(user, 0.0)
    assert renewals.take_due(9.0) == []
    rounds = [renewals.take_due(now) for now in range(10, 20)]
    # At most twice the fair share (1,000 over ten rounds) a round: due, but not all at once.
    assert [len(due) for due in rounds[:5]] == [200] * 5
    assert [user for due in rounds for user in due] == list(range(1_000))  # oldest first, once
    # Renewed in five rounds, they come due again in five.
    later = [len(renewals.take_due(now)) for now in range(20, 30)]
    assert later == [200] * 5 + [0] * 5


def test_a_new_entry_waits_its_turn_and_a_failed_one_goes_first():
    renewals: Renewals[str] = Renewals(renew_after=10.0, round_seconds=1.0)
    renewals.set("old", 0.0)
    renewals.keep_place("old", 5.0)  # already here: keeps its older place
    renewals.set("new", 5.0)
    assert renewals.take_due(10.0) == ["old"]
    renewals.set_first("failed")
    renewals.discard("new")
    assert renewals.take_due(10.0) == ["failed"]
    assert "new" not in renewals and len(renewals) == 2
    renewals.failed(["old", "gone"])  # "gone" was discarded meanwhile: not put back
    assert renewals.take_due(10.0) == ["old"] and "gone" not in renewals
