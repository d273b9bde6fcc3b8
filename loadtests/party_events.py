"""A realistic party's archived events (schema.SCHEMA), generated from a seed.

The shape follows the mission and the forecast's model (domain/forecast.py): the start push
goes out in waves in the first minute to the followers (`shoppers` ÷ `join_ratio`);
shoppers' first joins follow an exponential curve after it (time constant ARRIVAL_MINUTES)
and they stay an exponential time (mean MEAN_STAY_MINUTES), all gone at the end; some hold a
second session on another device and some reconnect (a leave and a join moments apart).
Shares and likes come from present shoppers at a rate that is four times the steady one at
the start and decays to it (SPIKE, SPIKE_MINUTES): "social interactions can quadruple".
Listings, their sellers and sharers are Zipf-like, likes go mostly to recent shares, and the
host picks and removes a few shares. Pure Python `random` (seeded), so a seed is a party.

    python -m loadtests.party_events --shoppers 500 --minutes 30   # prints its counts
"""

import argparse
import bisect
import math
import random
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pyarrow as pa

from party_engine.archive.schema import SCHEMA
from party_engine.domain.forecast import ARRIVAL_MINUTES, MEAN_STAY_MINUTES, PRIOR_JOIN_RATIO

START = datetime(2030, 5, 1, 18, 0, tzinfo=UTC)
# Per present shopper per minute, once the start's spike has decayed.
SHARES_PER_MINUTE = 0.08
LIKES_PER_MINUTE = 0.3
SPIKE = 4.0
SPIKE_MINUTES = 10.0
PUSH_WAVES = 4
SECOND_DEVICE = 0.1
RECONNECT = 0.2


@dataclass(frozen=True, slots=True)
class GeneratedParty:
    party_id: str
    started_at: datetime
    ended_at: datetime
    events: pa.Table


def generate(
    *,
    shoppers: int,
    minutes: int,
    seed: int = 1,
    party_id: str = "bench-party",
    start: datetime = START,
    join_ratio: float = PRIOR_JOIN_RATIO,
) -> GeneratedParty:
    rng = random.Random(seed)
    start_ms = round(start.timestamp() * 1000)
    end_ms = start_ms + minutes * 60_000
    rows = _Rows(party_id)
    rows.add("party.started", start_ms)
    rows.add("party.ended", end_ms)
    rows.add("party.reminder", start_ms - 15 * 60_000)
    followers = round(shoppers / join_ratio)
    wave_ms = [start_ms + 1_000 + wave * 15_000 for wave in range(PUSH_WAVES)]
    for wave, at in enumerate(wave_ms):
        share_of = followers // PUSH_WAVES + (wave < followers % PUSH_WAVES)
        failed = rng.randrange(0, 1 + share_of // 500)
        rows.add("push.sent", at, push_kind="party.started", notified=share_of, failed=failed)

    sessions = _sessions(rng, shoppers, wave_ms[0], end_ms)
    for user, joined, left in sessions:
        rows.add("party.joined", joined, user_id=user)
        if left < end_ms:
            rows.add("party.left", left, user_id=user)

    listings = max(10, shoppers // 2)
    sellers = max(3, listings // 4)
    seller_of = [f"s{_zipf(rng, sellers)}" for _ in range(listings)]
    shares = sorted(
        (at, user, _zipf(rng, listings))
        for user, at in _acts(rng, sessions, SHARES_PER_MINUTE, start_ms, end_ms)
    )
    share_times = [at for at, _, _ in shares]
    liked: set[tuple[str, int]] = set()
    likes = []
    for user, at in _acts(rng, sessions, LIKES_PER_MINUTE, start_ms, end_ms):
        newest = bisect.bisect_left(share_times, at) - 1
        if newest < 0:
            continue
        share = max(0, newest - int(rng.expovariate(1 / 20)))
        if (user, share) not in liked:
            liked.add((user, share))
            likes.append((at, user, share))
    picks = sorted(rng.sample(range(len(shares)), min(len(shares), max(1, len(shares) // 500))))
    removed = sorted(rng.sample(range(len(shares)), min(len(shares), max(1, len(shares) // 2000))))

    # Every share, like, pick and removal takes the party's next offset, in time order.
    acts: list[tuple[int, int, str, int, str]] = [
        (at, 0, "share.created", index, user) for index, (at, user, _) in enumerate(shares)
    ]
    acts += [(at, 1, "like.created", share, user) for at, user, share in likes]
    acts += [(_later(rng, shares[i][0], end_ms), 2, "share.picked", i, "host") for i in picks]
    acts += [(_later(rng, shares[i][0], end_ms), 3, "share.removed", i, "host") for i in removed]
    acts.sort()
    offset_of_share: dict[int, int] = {}
    likes_of_share: Counter[int] = Counter()
    for offset, (at, _, kind, share, user) in enumerate(acts, start=1):
        listing = f"l{shares[share][2]}"
        if kind == "share.created":
            offset_of_share[share] = offset
            seller = seller_of[shares[share][2]]
            rows.add(kind, at, offset=offset, user_id=user, listing_id=listing, seller_id=seller)
            continue
        fields = {"offset": offset, "share_offset": offset_of_share[share], "user_id": user}
        if kind == "like.created":
            likes_of_share[share] += 1
        if kind == "share.removed":
            fields["likes"] = likes_of_share[share]
        rows.add(kind, at, listing_id=listing, **fields)
    return GeneratedParty(
        party_id=party_id,
        started_at=start,
        ended_at=start + timedelta(minutes=minutes),
        events=rows.table(),
    )


def _sessions(
    rng: random.Random, shoppers: int, pushed_ms: int, end_ms: int
) -> list[tuple[str, int, int]]:
    """(user, joined, left) per session; `left` past the end means still there at the end."""
    sessions = []
    for n in range(shoppers):
        user = f"u{n}"
        joined = pushed_ms + round(rng.expovariate(1 / ARRIVAL_MINUTES) * 60_000)
        if joined >= end_ms:
            continue
        left = joined + round(rng.expovariate(1 / MEAN_STAY_MINUTES) * 60_000)
        if rng.random() < RECONNECT and left - joined > 120_000:
            cut = rng.randrange(joined + 60_000, left - 30_000)
            back = cut + rng.randrange(500, 20_000)
            sessions += [(user, joined, cut), (user, back, max(left, back + 1))]
        else:
            sessions.append((user, joined, max(left, joined + 1)))
        if rng.random() < SECOND_DEVICE:
            other = rng.randrange(joined, min(left, end_ms - 1) + 1)
            sessions.append((user, other, other + round(rng.expovariate(1 / 20) * 60_000)))
    return sessions


def _acts(
    rng: random.Random,
    sessions: list[tuple[str, int, int]],
    per_minute: float,
    start_ms: int,
    end_ms: int,
) -> list[tuple[str, int]]:
    """(user, at) of acts at `per_minute` times the start's spike, over each session (thinning
    a Poisson process at the spike's top rate)."""
    acts = []
    top = per_minute * SPIKE / 60_000
    for user, joined, left in sessions:
        since, until = max(joined, start_ms), min(left, end_ms)
        at = since
        while True:
            at += max(1, round(rng.expovariate(top)))
            if at >= until:
                break
            if rng.random() * SPIKE < _spike((at - start_ms) / 60_000):
                acts.append((user, at))
    return acts


def _spike(minutes: float) -> float:
    return 1 + (SPIKE - 1) * math.exp(-minutes / SPIKE_MINUTES)


def _zipf(rng: random.Random, n: int) -> int:
    """An index in [0, n), rank r about as likely as 1/r."""
    return min(n - 1, int(math.exp(rng.random() * math.log(n + 1))) - 1)


def _later(rng: random.Random, at: int, end_ms: int) -> int:
    return rng.randrange(at + 1, max(at + 2, end_ms))


class _Rows:
    def __init__(self, party_id: str) -> None:
        self._party = party_id
        self._columns: dict[str, list] = {name: [] for name in SCHEMA.names}

    def add(self, kind: str, at_ms: int, **fields: object) -> None:
        columns = self._columns
        columns["event_id"].append(f"e{len(columns['event_id'])}")
        columns["party_id"].append(self._party)
        columns["type"].append(kind)
        columns["at"].append(at_ms)
        for name in SCHEMA.names[4:]:
            columns[name].append(fields.get(name))

    def table(self) -> pa.Table:
        return pa.table(
            {
                name: pa.array(values, SCHEMA.field(name).type)
                for name, values in self._columns.items()
            },
            schema=SCHEMA,
        ).sort_by([("at", "ascending")])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shoppers", type=int, default=500)
    parser.add_argument("--minutes", type=int, default=30)
    parser.add_argument("--seed", type=int, default=1)
    arguments = parser.parse_args()
    party = generate(shoppers=arguments.shoppers, minutes=arguments.minutes, seed=arguments.seed)
    kinds = Counter(party.events["type"].to_pylist())
    print(f"{party.events.num_rows} events: " + ", ".join(f"{k} {n}" for k, n in kinds.items()))


if __name__ == "__main__":
    main()
