"""The Parquet schema of archived events: the contract for every reader.

schemas/archive-events.schema.json documents the same columns (tests/test_archive_schema.py
checks they agree). A column is null where the event type has no such field (docs/archive.md
has the table of which type fills what)."""

import pyarrow as pa

COMPRESSION = "zstd"

SCHEMA = pa.schema(
    [
        pa.field("event_id", pa.string(), nullable=False),
        pa.field("party_id", pa.string(), nullable=False),
        pa.field("type", pa.string(), nullable=False),
        pa.field("at", pa.timestamp("ms", tz="UTC"), nullable=False),
        pa.field("offset", pa.int64()),
        pa.field("share_offset", pa.int64()),
        pa.field("user_id", pa.string()),
        pa.field("listing_id", pa.string()),
        pa.field("seller_id", pa.string()),
        pa.field("push_kind", pa.string()),
        pa.field("notified", pa.int64()),
        pa.field("failed", pa.int64()),
        pa.field("likes", pa.int64()),
    ]
)
