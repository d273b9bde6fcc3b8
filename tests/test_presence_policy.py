"""When a party's members are sent its participant count."""

import pytest

from party_engine.gateway.service import PRESENCE_MAX_STALE_SECONDS, presence_is_news


@pytest.mark.parametrize(
    ("count", "last_told", "seconds_since", "news"),
    [
        (10, None, 0.0, True),  # never told
        (10, 10, 0.0, False),  # unchanged
        (10, 10, 600.0, False),  # unchanged, however long
        (11, 10, 0.0, True),  # small parties: any change
        (99, 100, 0.0, True),  # 1% of 100
        (10_050, 10_000, 0.0, False),  # 0.5% of a big party: not yet
        (10_100, 10_000, 0.0, True),  # 1%: at once
        (9_900, 10_000, 0.0, True),  # leaving counts the same
        (10_050, 10_000, PRESENCE_MAX_STALE_SECONDS, True),  # small change, stale enough
    ],
)
def test_presence_is_news(count, last_told, seconds_since, news):
    told = None if last_told is None else (last_told, 100.0)
    assert presence_is_news(count, told, 100.0 + seconds_since) is news
