"""Ended parties with generated events in the archive, for the report and join ratio tests."""

import io
from datetime import UTC, datetime, timedelta

import pyarrow as pa
import pyarrow.parquet as pq

from loadtests.party_events import generate
from party_engine.archive.layout import batch_key, utc_day
from party_engine.archive.schema import COMPRESSION
from party_engine.domain.forecast import PRIOR_JOIN_RATIO
from party_engine.domain.parties import Party, schedule_party
from party_engine.domain.themes import Theme, ThemeKind

NIKE = Theme(ThemeKind.BRAND, "Nike")


async def an_ended_party(
    store,
    party_id: str,
    *,
    ended_ago: timedelta,
    minutes: int = 20,
    theme: Theme = NIKE,
    host_id: str = "host-1",
) -> Party:
    ended_at = datetime.now(UTC).replace(microsecond=0) - ended_ago
    started_at = ended_at - timedelta(minutes=minutes)
    party = schedule_party(
        party_id=party_id,
        host_id=host_id,
        title="Nike night",
        theme=theme,
        starts_at=started_at,
        now=started_at - timedelta(hours=1),
        duration_minutes=minutes,
    )
    party = party.start(started_at).end(ended_at)
    return await store.create_party(party)


async def archive(
    storage,
    party: Party,
    *,
    shoppers: int = 150,
    seed: int = 5,
    join_ratio: float = PRIOR_JOIN_RATIO,
    listings: int | None = None,
) -> pa.Table:
    """A generated party's events written as the archive does, in batches of 1,000, each
    batch's first 100 events in the one before it too (readers de-duplicate). With `listings`,
    the listing ids are folded onto l0 ... l<listings - 1>."""
    assert party.started_at is not None and party.ended_at is not None
    minutes = round((party.ended_at - party.started_at) / timedelta(minutes=1))
    events = generate(
        shoppers=shoppers,
        minutes=minutes,
        seed=seed,
        party_id=party.id,
        start=party.started_at,
        join_ratio=join_ratio,
    ).events
    if listings is not None:
        folded = [
            None if listing is None else f"l{int(listing[1:]) % listings}"
            for listing in events["listing_id"].to_pylist()
        ]
        column = events.schema.get_field_index("listing_id")
        events = events.set_column(column, "listing_id", pa.array(folded, pa.string()))
    for start in range(0, events.num_rows, 1000):
        batch = events.slice(start, 1100)
        sink = io.BytesIO()
        pq.write_table(batch, sink, compression=COMPRESSION)
        ids = batch["event_id"].to_pylist()
        await storage.put(batch_key(utc_day(party.started_at), party.id, ids), sink.getvalue())
    return events
