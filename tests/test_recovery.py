"""The pure continuity rules: judging live publications, resyncing, recovering from history."""

import pytest

from party_engine.ports import Publication, StreamPosition
from party_engine.recovery import Next, judge, lost_writes, recover, resync

E = "epoch-1"


def pubs(*offsets: int) -> list[Publication]:
    return [Publication("p", offset, b'{"offset":%d}' % offset) for offset in offsets]


@pytest.mark.parametrize(
    ("offset", "epoch", "verdict"),
    [
        (6, E, Next.DELIVER),
        (5, E, Next.DUPLICATE),
        (1, E, Next.DUPLICATE),
        (7, E, Next.GAP),
        (6, "epoch-2", Next.NEW_EPOCH),
        (1, "epoch-2", Next.NEW_EPOCH),
    ],
)
def test_a_live_publication_is_judged_against_the_last_delivered(offset, epoch, verdict):
    assert judge(StreamPosition(5, E), epoch, offset) is verdict


def test_resync_continues_where_it_was_in_the_same_epoch():
    assert resync(StreamPosition(5, E), StreamPosition(9, E), 0) == StreamPosition(5, E)


def test_resync_starts_a_new_epoch_from_where_it_started():
    new = StreamPosition(3, "epoch-2")
    assert resync(StreamPosition(5, E), new, 0) == StreamPosition(0, "epoch-2")
    assert resync(StreamPosition(5, E), new, 2) == StreamPosition(2, "epoch-2")
    assert resync(StreamPosition(0, "epoch-2"), new, 2) == StreamPosition(2, "epoch-2")


def test_a_stream_behind_what_was_delivered_in_its_epoch_lost_writes():
    assert lost_writes(StreamPosition(9, E), StreamPosition(7, E))
    assert not lost_writes(StreamPosition(7, E), StreamPosition(9, E))
    assert not lost_writes(StreamPosition(9, E), StreamPosition(7, "epoch-2"))


def test_recover_gives_exactly_the_publications_after_since():
    five = StreamPosition(5, E)
    assert recover(StreamPosition(2, E), five, pubs(1, 2, 3, 4, 5), 10) == pubs(3, 4, 5)
    assert recover(StreamPosition(5, E), five, pubs(4, 5), 10) == []


def test_recover_gives_a_page_of_at_most_limit_publications():
    five = StreamPosition(5, E)
    assert recover(StreamPosition(1, E), five, pubs(2, 3, 4, 5), 2) == pubs(2, 3)
    assert recover(StreamPosition(1, E), five, pubs(2, 3), 2) == pubs(2, 3)
    assert recover(StreamPosition(1, E), five, pubs(3, 4), 2) is None  # 2 was trimmed


@pytest.mark.parametrize(
    ("since", "retained", "why"),
    [
        (StreamPosition(2, "other"), pubs(3, 4, 5), "another epoch"),
        (StreamPosition(6, E), pubs(3, 4, 5), "an offset in the future"),
        (StreamPosition(-1, E), pubs(1, 2, 3, 4, 5), "a negative offset"),
        (StreamPosition(1, E), pubs(3, 4, 5), "offset 2 was trimmed"),
        (StreamPosition(2, E), pubs(3, 5), "a hole in the middle"),
        (StreamPosition(2, E), pubs(3, 4), "the newest is missing"),
        (StreamPosition(2, E), pubs(3, 3, 5), "a duplicate in place of 4"),
    ],
)
def test_recover_is_none_unless_history_holds_every_missed_publication(since, retained, why):
    assert recover(since, StreamPosition(5, E), retained, 10) is None, why
