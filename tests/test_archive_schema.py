"""The archive's contract: the checked-in schema, the rows each event type fills, the layout,
and what the reader returns (each event once, in order)."""

import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pyarrow as pa

from party_engine.archive.layout import batch_key, party_days
from party_engine.archive.reading import merge, read_party
from party_engine.archive.rows import ARCHIVED_KEYS, from_parquet, to_parquet, to_table
from party_engine.archive.schema import SCHEMA
from party_engine.backends import open_archive
from party_engine.backends.event_codec import EVENT_TYPES
from party_engine.domain.events import (
    LikeCreated,
    PartyEnded,
    PartyJoined,
    PartyLeft,
    PushWave,
    ShareRemoved,
)
from party_engine.domain.parties import Party, PartyState
from party_engine.domain.themes import Theme, ThemeKind
from tests.pipeline_helpers import AT, a_share

DOCUMENT = json.loads(
    (Path(__file__).resolve().parent.parent / "schemas" / "archive-events.schema.json").read_text()
)


def test_the_checked_in_schema_is_the_one_in_code():
    properties = DOCUMENT["properties"]
    assert list(properties) == SCHEMA.names
    for field in SCHEMA:
        assert properties[field.name]["x-parquet"] == str(field.type).replace("tz=", "tz="), field
        assert (field.name in DOCUMENT["required"]) == (not field.nullable), field.name
    assert properties["type"]["enum"] == list(ARCHIVED_KEYS)


def test_every_event_the_pipeline_knows_is_archived():
    # A push wave is the push worker's own work item, not something that happened in a party:
    # what it did is archived as push.sent.
    assert set(EVENT_TYPES) - {PushWave.routing_key} <= set(ARCHIVED_KEYS)


def test_each_type_fills_its_columns_and_leaves_the_rest_null():
    events = [
        a_share(1),
        LikeCreated("like-1", "p1", 2, 1, "l1", "u9", AT),
        ShareRemoved("rm-1", "p1", 3, 1, "l1", "u1", 4, 0, "host", AT),
        PartyJoined("join-1", "p1", "u7", AT),
        PartyLeft("left-1", "p1", "u7", AT + timedelta(minutes=3)),
        PartyEnded("p1:ended", "p1", AT + timedelta(hours=1)),
    ]
    rows = from_parquet(to_parquet(events)).to_pylist()
    assert [{k: v for k, v in row.items() if v is not None} for row in rows] == [
        {
            "event_id": "share-1",
            "party_id": "p1",
            "type": "share.created",
            "at": AT,
            "offset": 1,
            "user_id": "u1",
            "listing_id": "l1",
            "seller_id": "seller-1",
        },
        {
            "event_id": "like-1",
            "party_id": "p1",
            "type": "like.created",
            "at": AT,
            "offset": 2,
            "share_offset": 1,
            "user_id": "u9",
            "listing_id": "l1",
        },
        {
            "event_id": "rm-1",
            "party_id": "p1",
            "type": "share.removed",
            "at": AT,
            "offset": 3,
            "share_offset": 1,
            "user_id": "host",
            "listing_id": "l1",
            "likes": 4,
        },
        {"event_id": "join-1", "party_id": "p1", "type": "party.joined", "at": AT, "user_id": "u7"},
        {
            "event_id": "left-1",
            "party_id": "p1",
            "type": "party.left",
            "at": AT + timedelta(minutes=3),
            "user_id": "u7",
        },
        {
            "event_id": "p1:ended",
            "party_id": "p1",
            "type": "party.ended",
            "at": AT + timedelta(hours=1),
        },
    ]


def test_a_batch_holds_each_event_once_and_is_zstd_compressed():
    table = to_table([a_share(1), a_share(1), a_share(2)])
    assert table.column("event_id").to_pylist() == ["share-1", "share-2"]
    import io

    import pyarrow.parquet as pq

    metadata = pq.ParquetFile(io.BytesIO(to_parquet([a_share(1)]))).metadata
    assert metadata.row_group(0).column(0).compression == "ZSTD"


def test_a_batch_name_depends_on_its_events_only():
    day = date(2030, 5, 1)
    assert batch_key(day, "p1", ["b", "a", "a"]) == batch_key(day, "p1", ["a", "b"])
    assert batch_key(day, "p1", ["a"]) != batch_key(day, "p1", ["a", "b"])
    assert batch_key(day, "p1", ["a"]).startswith("events/dt=2030-05-01/party_id=p1/")
    assert batch_key(day, "p1", ["a"]).endswith(".parquet")


def test_a_party_is_looked_for_from_the_day_before_its_start_to_the_day_after_its_end():
    party = Party(
        id="p1",
        host_id="h",
        title="t",
        theme=Theme(ThemeKind.BRAND, "Nike"),
        starts_at=datetime(2030, 5, 1, 23, 30, tzinfo=UTC),
        ends_at=datetime(2030, 5, 2, 1, 30, tzinfo=UTC),
        duration_minutes=120,
        state=PartyState.ENDED,
        created_at=datetime(2030, 4, 1, tzinfo=UTC),
        started_at=datetime(2030, 5, 1, 23, 31, tzinfo=UTC),
        ended_at=datetime(2030, 5, 2, 1, 31, tzinfo=UTC),
    )
    assert party_days(party, now=datetime(2031, 1, 1, tzinfo=UTC)) == [
        date(2030, 4, 30),
        date(2030, 5, 1),
        date(2030, 5, 2),
        date(2030, 5, 3),
    ]


def test_merge_keeps_each_event_once_sorted_by_time_then_offset():
    later = AT + timedelta(seconds=1)
    first = to_table([a_share(3), a_share(1), PartyJoined("j", "p1", "u1", AT)])
    second = to_table([a_share(1), a_share(2), PartyEnded("e", "p1", later)])
    merged = merge([first, second])
    assert merged.column("event_id").to_pylist() == ["share-1", "share-2", "share-3", "j", "e"]
    assert merge([]).schema == SCHEMA
    assert merge([SCHEMA.empty_table()]).num_rows == 0


async def test_read_party_reads_only_its_own_days_and_party(tmp_path):
    storage = open_archive(tmp_path.as_uri())
    await storage.connect()
    day = AT.date()
    mine = [a_share(1), a_share(2)]
    await storage.put(batch_key(day, "p1", ["share-1", "share-2"]), to_parquet(mine))
    await storage.put(batch_key(day, "p1", ["share-2"]), to_parquet([a_share(2)]))
    await storage.put(batch_key(day, "p2", ["x"]), to_parquet([a_share(9, party="p2")]))
    other_day = day + timedelta(days=5)
    await storage.put(batch_key(other_day, "p1", ["y"]), to_parquet([a_share(7)]))
    table = await read_party(storage, "p1", [day])
    assert isinstance(table, pa.Table)
    assert table.column("event_id").to_pylist() == ["share-1", "share-2"]
