"""When a party's members are sent its participant count."""

import pytest

from party_engine.gateway.service import (
    PRESENCE_MAX_STALE_SECONDS,
    PRESENCE_SECONDS,
    PRESENCE_WRITES_PER_SECOND,
    presence_is_news,
)

SMALL = 100  # members here: told at every round
ROUND = PRESENCE_SECONDS  # the next presence round


@pytest.mark.parametrize(
    ("count", "last_told", "seconds_since", "members", "news"),
    [
        (10, None, ROUND, SMALL, True),  # never told
        (10, 10, ROUND, SMALL, False),  # unchanged
        (10, 10, 600.0, SMALL, False),  # unchanged, however long
        (11, 10, ROUND, SMALL, True),  # small parties: any change
        (99, 100, ROUND, SMALL, True),  # 1% of 100
        (10_050, 10_000, ROUND, SMALL, False),  # 0.5% of a big party: not yet
        (10_100, 10_000, ROUND, SMALL, True),  # 1%: at once
        (9_900, 10_000, ROUND, SMALL, True),  # leaving counts the same
        (10_050, 10_000, PRESENCE_MAX_STALE_SECONDS, SMALL, True),  # small change, stale enough
        # many members here: frames to them all at most PRESENCE_WRITES_PER_SECOND writes a second
        (12_000, 10_000, 1.0, 2 * PRESENCE_WRITES_PER_SECOND, False),
        (12_000, 10_000, 2.0, 2 * PRESENCE_WRITES_PER_SECOND, True),
        # however many, told within the stale bound
        (12_000, 10_000, PRESENCE_MAX_STALE_SECONDS - 0.1, 100 * PRESENCE_WRITES_PER_SECOND, False),
        (12_000, 10_000, PRESENCE_MAX_STALE_SECONDS, 100 * PRESENCE_WRITES_PER_SECOND, True),
    ],
)
def test_presence_is_news(count, last_told, seconds_since, members, news):
    told = None if last_told is None else (last_told, 100.0)
    assert presence_is_news(count, told, 100.0 + seconds_since, members) is news
