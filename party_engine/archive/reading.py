"""What readers get from the archive: one party's events, each event id once, in order.

A party's objects are found under the dates its events can fall on (layout.party_days), read
a few at a time, and merged. The same event can be in two objects (a batch redelivered after a
worker died is batched differently): de-duplicating by event id here is what makes the archive
exactly once for every reader."""

import asyncio
from collections.abc import Iterable
from datetime import date

import pyarrow as pa

from ..ports import ArchiveStorage
from .layout import party_prefix
from .rows import from_parquet
from .schema import SCHEMA

_READS_AT_ONCE = 8


async def read_party(storage: ArchiveStorage, party_id: str, days: Iterable[date]) -> pa.Table:
    """The party's archived events (SCHEMA), each once, sorted by `at` then offset."""
    listings = await asyncio.gather(*(storage.keys(party_prefix(day, party_id)) for day in days))
    keys = [key for found in listings for key in found]
    slots = asyncio.Semaphore(_READS_AT_ONCE)

    async def read(key: str) -> pa.Table:
        async with slots:
            data = await storage.get(key)
        return await asyncio.to_thread(from_parquet, data)

    tables = await asyncio.gather(*(read(key) for key in keys))
    return await asyncio.to_thread(merge, tables)


def merge(tables: list[pa.Table]) -> pa.Table:
    """One table of every event once, sorted by `at`, then offset (events without one last)."""
    if not tables:
        return SCHEMA.empty_table()
    table = pa.concat_tables(tables)
    if table.num_rows == 0:
        return table
    rows = table.append_column("row", pa.array(range(table.num_rows), pa.int64()))
    first = rows.group_by("event_id", use_threads=False).aggregate([("row", "min")])
    unique = table.take(first.column("row_min"))
    return unique.sort_by([("at", "ascending"), ("offset", "ascending")])
