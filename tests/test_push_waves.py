"""The wave plan of a start push (domain/push_waves.py): the rate holds until the bound would
not, then the bound wins; shards are stable and even."""

from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest

from party_engine.domain.push_waves import plan_waves, shard_of, split_by_shard

AT = datetime(2030, 5, 1, 12, 0, tzinfo=UTC)


def plan(followers: int, joins_per_second: float, shards: int = 32, bound: float = 60.0):
    return plan_waves(
        first_at=AT,
        followers=followers,
        shards=shards,
        joins_per_second=joins_per_second,
        bound_seconds=bound,
    )


def test_waves_are_spaced_at_the_rate_the_fleet_takes():
    waves = plan(50_000, 2_000)  # 1,562.5 followers a wave, 0.78 s of joins each
    assert waves.waves == 32 and waves.due(0) == AT
    assert waves.spacing == timedelta(seconds=0.78125)
    assert waves.last_at - AT == timedelta(seconds=24.21875)


def test_past_the_bound_the_waves_come_closer_and_the_last_goes_at_the_bound():
    waves = plan(50_000, 500)  # at 500 a second the last wave would go after 97 s
    assert (waves.last_at - AT).total_seconds() == pytest.approx(60)
    assert 50_000 / 32 / waves.spacing.total_seconds() > 500  # each second notifies more


def test_few_followers_go_out_at_once_and_one_shard_is_one_wave():
    assert plan(10, 2_000).last_at - AT < timedelta(milliseconds=5)
    assert plan(0, 2_000).last_at == AT
    single = plan(50_000, 500, shards=1)
    assert (single.waves, single.last_at) == (1, AT)


@pytest.mark.parametrize(
    "followers, rate, shards, bound", [(-1, 1, 1, 1), (1, 0, 1, 1), (1, 1, 0, 1), (1, 1, 1, -1)]
)
def test_a_plan_refuses_nonsense(followers, rate, shards, bound):
    with pytest.raises(ValueError):
        plan(followers, rate, shards, bound)


def test_shards_are_stable_and_even():
    assert shard_of("fan-1", 32) == shard_of("fan-1", 32) == 9  # crc32: the same everywhere
    users = [f"user-{n}" for n in range(50_000)]
    sizes = Counter(shard_of(user, 32) for user in users)
    assert len(sizes) == 32
    assert max(sizes.values()) < 1.1 * 50_000 / 32 and min(sizes.values()) > 0.9 * 50_000 / 32
    split = split_by_shard(users, 32)
    assert [len(part) for part in split] == [sizes[n] for n in range(32)]
    assert all(shard_of(user, 32) == n for n, part in enumerate(split) for user in part)
