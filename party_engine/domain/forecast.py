"""How many people the schedule will bring, minute by minute: the capacity forecast.

A party's expected joiners (followers of its theme x the theme's join ratio) arrive after its
start push as an exponential arrival: the share arrived `u` minutes after the start is
`1 - exp(-u / ARRIVAL_MINUTES)` (about 40 % in the first minute, 92 % within five). Everyone
present leaves at a constant rate (a mean stay of `MEAN_STAY_MINUTES`), and all are gone at the
party's end. So, with N joiners, a = 1 / ARRIVAL_MINUTES and l = 1 / MEAN_STAY_MINUTES:

    present(u) = N * a / (a - l) * (exp(-l u) - exp(-a u))      for 0 <= u < duration

which rises to its peak at u* = ln(a / l) / (a - l) (about 7 minutes with the defaults) and then
decays slowly. Parties add up. Buckets are one minute (`BUCKET`): short enough to show the
join burst, whose rate changes by a factor of 1.6 each minute. A bucket's connections are the
sum over its parties of each party's most present within the bucket (an upper bound of the
total's peak: what capacity is sized by); its joins per second are the joins expected within
the bucket over its 60 seconds. Pure: no I/O, no clock.
"""

import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

BUCKET = timedelta(minutes=1)
# The time constant of the arrivals after the start push (minutes).
ARRIVAL_MINUTES = 2.0
# The mean time a joiner stays (minutes): the attrition while the party runs.
MEAN_STAY_MINUTES = 60.0
# The share of a theme's followers expected to join one of its parties, until observed ratios
# per theme exist (capacity.JoinRatios).
PRIOR_JOIN_RATIO = 0.3


@dataclass(frozen=True, slots=True)
class PlannedParty:
    """A party as the forecast sees it: when the joiners start arriving (its start, or when it
    went live), when they are all gone, and how many are expected."""

    id: str
    title: str
    opens_at: datetime
    ends_at: datetime
    expected_joiners: float


@dataclass(frozen=True, slots=True)
class Bucket:
    starts_at: datetime
    connections: float
    joins_per_second: float
    parties: tuple[PlannedParty, ...]


def present(joiners: float, minutes: float) -> float:
    """How many of `joiners` are present `minutes` after the start (before the end)."""
    if minutes <= 0:
        return 0.0
    arrival, leave = 1 / ARRIVAL_MINUTES, 1 / MEAN_STAY_MINUTES
    return (
        joiners
        * arrival
        / (arrival - leave)
        * (math.exp(-leave * minutes) - math.exp(-arrival * minutes))
    )


def arrived(joiners: float, minutes: float) -> float:
    """How many of `joiners` have arrived `minutes` after the start."""
    return joiners * -math.expm1(-max(0.0, minutes) / ARRIVAL_MINUTES)


def peak_minutes() -> float:
    """Minutes after the start at which a party is fullest."""
    arrival, leave = 1 / ARRIVAL_MINUTES, 1 / MEAN_STAY_MINUTES
    return math.log(arrival / leave) / (arrival - leave)


def forecast(parties: Iterable[PlannedParty], start: datetime, buckets: int) -> list[Bucket]:
    """`buckets` one-minute buckets from `start` (floored to its minute by the caller)."""
    connections = [0.0] * buckets
    joins = [0.0] * buckets
    behind: list[list[PlannedParty]] = [[] for _ in range(buckets)]
    peak = peak_minutes()
    width = _minutes(BUCKET)
    for party in parties:
        # Minutes from `start` (floats: a 48-hour forecast of 500 parties is 180,000 steps).
        opens = _minutes(party.opens_at - start)
        lasts = _minutes(party.ends_at - party.opens_at)
        first = max(0, math.floor(opens / width))
        last = min(buckets, math.ceil((opens + lasts) / width))
        for index in range(first, last):
            low = max(index * width - opens, 0.0)
            high = min((index + 1) * width - opens, lasts)
            if high <= low:
                continue
            connections[index] += present(party.expected_joiners, min(max(peak, low), high))
            joins[index] += arrived(party.expected_joiners, high) - arrived(
                party.expected_joiners, low
            )
            behind[index].append(party)
    seconds = BUCKET.total_seconds()
    return [
        Bucket(
            start + index * BUCKET, connections[index], joins[index] / seconds, tuple(behind[index])
        )
        for index in range(buckets)
    ]


def peak_within(buckets: list[Bucket], horizon: timedelta) -> tuple[float, float]:
    """The most connections and joins per second among the buckets starting within `horizon`
    of the first."""
    if not buckets:
        return 0.0, 0.0
    end = buckets[0].starts_at + horizon
    inside = [bucket for bucket in buckets if bucket.starts_at < end]
    return (
        max(bucket.connections for bucket in inside),
        max(bucket.joins_per_second for bucket in inside),
    )


def _minutes(delta: timedelta) -> float:
    return delta.total_seconds() / 60
