"""Events as rows of the archive's schema, and a batch of them as one Parquet object.

Each routing key names the event fields that fill its columns (the rest stay null). The table
goes by routing key and attribute name, not by class, so an event type added elsewhere (such
as `push.sent`) is archived once its key is here and bound to the archive queue."""

import io
from collections.abc import Iterable, Sequence
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from ..domain.events import DomainEvent
from .schema import COMPRESSION, SCHEMA

# routing key -> {column: event attribute}, beyond event_id, party_id, type and at.
COLUMNS_OF: dict[str, dict[str, str]] = {
    "share.created": {
        "offset": "offset",
        "user_id": "sharer_id",
        "listing_id": "listing_id",
        "seller_id": "seller_id",
    },
    "like.created": {
        "offset": "offset",
        "share_offset": "share_offset",
        "user_id": "liker_id",
        "listing_id": "listing_id",
    },
    "share.picked": {
        "offset": "offset",
        "share_offset": "share_offset",
        "user_id": "picker_id",
        "listing_id": "listing_id",
    },
    "share.unpicked": {
        "offset": "offset",
        "share_offset": "share_offset",
        "user_id": "picker_id",
        "listing_id": "listing_id",
    },
    "share.removed": {
        "offset": "offset",
        "share_offset": "share_offset",
        "user_id": "remover_id",
        "listing_id": "listing_id",
        "likes": "likes",
    },
    "party.started": {},
    "party.ended": {},
    "party.reminder": {},
    "party.joined": {"user_id": "user_id"},
    "party.left": {"user_id": "user_id"},
    "push.sent": {"push_kind": "kind", "notified": "notified", "failed": "failed"},
}
ARCHIVED_KEYS = tuple(COLUMNS_OF)


def to_table(events: Iterable[DomainEvent]) -> pa.Table:
    """The events as a table of SCHEMA, each event id once (the first copy)."""
    columns: dict[str, list[Any]] = {name: [] for name in SCHEMA.names}
    seen: set[str] = set()
    for event in events:
        if event.id in seen:
            continue
        seen.add(event.id)
        filled = COLUMNS_OF[event.routing_key]
        columns["event_id"].append(event.id)
        columns["party_id"].append(event.party_id)
        columns["type"].append(event.routing_key)
        columns["at"].append(event.at)
        for name in SCHEMA.names[4:]:
            attribute = filled.get(name)
            columns[name].append(None if attribute is None else getattr(event, attribute))
    return pa.Table.from_pydict(columns, schema=SCHEMA)


def to_parquet(events: Sequence[DomainEvent]) -> bytes:
    sink = io.BytesIO()
    pq.write_table(to_table(events), sink, compression=COMPRESSION)
    return sink.getvalue()


def from_parquet(data: bytes) -> pa.Table:
    return pq.read_table(io.BytesIO(data), schema=SCHEMA)
