"""The start push in waves: a theme's followers fall into a fixed number of shards by a stable
hash of their id; wave `i` of a party's start notifies shard `i`. Waves are spaced so that the
followers notified per second stay at what the gateways can take (every notified follower is
counted as a joiner: the conservative case of a push answered at once), and never further apart
than lets the last wave go within the bound after the first: past that rate the bound wins, so
the waves come closer and what each second notifies grows.

Every wave exists for every party (empty shards notify nobody), so a wave's id names the same
followers however the follower count moved between two plans of the same start.
"""

import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta


def shard_of(user_id: str, shards: int) -> int:
    """The user's shard: the same in every process (crc32, not Python's salted hash)."""
    return zlib.crc32(user_id.encode()) % shards


def split_by_shard(user_ids: Iterable[str], shards: int) -> list[list[str]]:
    split: list[list[str]] = [[] for _ in range(shards)]
    for user_id in user_ids:
        split[shard_of(user_id, shards)].append(user_id)
    return split


@dataclass(frozen=True, slots=True)
class WavePlan:
    first_at: datetime
    spacing: timedelta  # from one wave to the next
    waves: int

    def due(self, wave: int) -> datetime:
        return self.first_at + self.spacing * wave

    @property
    def last_at(self) -> datetime:
        return self.due(self.waves - 1)


def plan_waves(
    *,
    first_at: datetime,
    followers: int,
    shards: int,
    joins_per_second: float,
    bound_seconds: float,
) -> WavePlan:
    """One wave per shard from `first_at`, each (about followers / shards people) taking
    followers / shards / joins_per_second seconds of the fleet's join rate, the last one at most
    `bound_seconds` after the first."""
    if shards < 1 or joins_per_second <= 0 or bound_seconds < 0 or followers < 0:
        raise ValueError("shards >= 1, joins_per_second > 0, bound and followers >= 0")
    seconds = followers / shards / joins_per_second
    if shards > 1:
        seconds = min(seconds, bound_seconds / (shards - 1))
    return WavePlan(first_at=first_at, spacing=timedelta(seconds=seconds), waves=shards)
