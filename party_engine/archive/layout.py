"""Where a batch of archived events goes: `events/dt=YYYY-MM-DD/party_id=<id>/<name>.parquet`
(Hive partitions; dt is the UTC date of the events' `at`).

The name is a digest of the batch's event ids, so a batch written again (its write succeeded
but the acknowledgement was lost, and the same events came back in the same batch) replaces
its own object. A redelivery batched differently makes another object: readers de-duplicate by
event id (reading.py), which is what makes the archive exactly once."""

import hashlib
from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta

from ..domain.parties import Party

ROOT = "events"


def batch_key(day: date, party_id: str, event_ids: Iterable[str]) -> str:
    digest = hashlib.sha256()
    for event_id in sorted(set(event_ids)):
        digest.update(event_id.encode())
        digest.update(b"\n")
    return f"{party_prefix(day, party_id)}{digest.hexdigest()[:32]}.parquet"


def party_prefix(day: date, party_id: str) -> str:
    return f"{ROOT}/dt={day.isoformat()}/party_id={party_id}/"


def utc_day(at: datetime) -> date:
    return at.astimezone(UTC).date()


def party_days(party: Party, now: datetime) -> list[date]:
    """The dates a party's events can fall on: from the day before it was due to start or
    started (its reminder) to the day after it ended (late push outcomes), or today."""
    first = min(party.starts_at, party.started_at or party.starts_at)
    last = party.ended_at or now
    day, end = utc_day(first) - timedelta(days=1), utc_day(last) + timedelta(days=1)
    days = []
    while day <= end:
        days.append(day)
        day += timedelta(days=1)
    return days
