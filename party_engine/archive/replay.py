"""A party's archived events as NDJSON, in offset order: what GET /parties/{id}/archive sends.

Only events with an offset (shares, likes, picks, unpicks, removals: the party's stream) are
replayed; null columns are left out of each line (schemas/archive-events.schema.json)."""

from collections.abc import Iterator
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.compute as pc

PAGE_ROWS = 1000


def stream_slice(table: pa.Table, after: int, limit: int) -> pa.Table:
    """The first `limit` events with an offset above `after`, by offset."""
    offsets = table.column("offset")
    chosen = table.filter(pc.and_(pc.is_valid(offsets), pc.greater(offsets, after)))
    return chosen.sort_by([("offset", "ascending")]).slice(0, limit)


def ndjson_pages(table: pa.Table) -> Iterator[bytes]:
    """The table's rows as NDJSON, PAGE_ROWS lines per chunk (one page in Python at a time)."""
    for start in range(0, table.num_rows, PAGE_ROWS):
        rows = table.slice(start, PAGE_ROWS).to_pylist()
        yield b"".join(orjson.dumps(_without_nulls(row)) + b"\n" for row in rows)


def _without_nulls(row: dict[str, Any]) -> dict[str, Any]:
    return {name: value for name, value in row.items() if value is not None}
