"""What a host's report holds (archive/report.py computes it): plain dataclasses, encoded with
orjson, so that the API can document and serve a report without loading pyarrow."""

from dataclasses import dataclass
from datetime import datetime

import orjson

# How many minutes after the start push the report follows joins minute by minute.
JOIN_WINDOW_MINUTES = 30


@dataclass(frozen=True, slots=True)
class Ranked:
    id: str
    shares: int
    likes: int


@dataclass(frozen=True, slots=True)
class PushConversion:
    # The first wave of the start push, and the followers notified over every wave.
    pushed_at: datetime
    notified: int
    # Users whose first join came at or after pushed_at, and that over notified.
    joined: int
    ratio: float | None
    # Those users by the minute of their first join, for JOIN_WINDOW_MINUTES after the push.
    joins_per_minute: list[int]


@dataclass(frozen=True, slots=True)
class PartyReport:
    party_id: str
    started_at: datetime
    ended_at: datetime
    minutes: int
    shares: int
    likes: int
    picks: int
    removed: int
    # Sessions that joined, and the distinct users behind them.
    joins: int
    shoppers: int
    shares_per_minute: list[int]
    likes_per_minute: list[int]
    # The most users present at once in each minute; the party's most, and when first reached.
    presence_per_minute: list[int]
    peak_presence: int
    peak_at: datetime | None
    push: PushConversion | None
    top_sellers: list[Ranked]
    top_listings: list[Ranked]
    top_sharers: list[Ranked]


@dataclass(frozen=True, slots=True)
class StoredReport:
    # False while the archive may still be writing the party's last events.
    final: bool
    report: PartyReport


def encode(report: PartyReport | StoredReport) -> bytes:
    return orjson.dumps(report)
