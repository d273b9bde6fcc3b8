"""The host report's compute time for a 2-hour, 50,000-shopper party (loadtests/party_events.py),
and what that party weighs in the archive.

Generates the party, writes it as the archive's batches would be (Parquet, zstd, one object per
`--batch-events`), then times, each best of `--runs`: decoding those objects, merging them
(archive/reading.merge: each event once, in order), the report (archive/report.py) on the
merged table, and all of it as GET /parties/{id}/report does it the first time
(archive/reports.py, from the objects in a folder archive to the JSON body). Prints the
figures and writes them to loadtests/results/bench_report.json. Measures; asserts nothing.

    python -m loadtests.bench_report [--shoppers 50000] [--minutes 120] [--runs 5]
"""

import argparse
import asyncio
import io
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TypeVar

import orjson
import pyarrow.compute as pc
import pyarrow.parquet as pq

from loadtests.party_events import GeneratedParty, generate
from loadtests.provenance import provenance
from party_engine.archive.layout import batch_key
from party_engine.archive.reading import merge
from party_engine.archive.report import party_report
from party_engine.archive.report_types import encode
from party_engine.archive.reports import PartyReports
from party_engine.archive.rows import from_parquet
from party_engine.archive.schema import COMPRESSION
from party_engine.backends.archive_file import FileArchive
from party_engine.domain.parties import schedule_party
from party_engine.domain.themes import Theme, ThemeKind

ROOT = Path(__file__).resolve().parent.parent
RESULT = ROOT / "loadtests" / "results" / "bench_report.json"
T = TypeVar("T")


def best_of(runs: int, work: Callable[[], T]) -> tuple[float, T]:
    times, result = [], None
    for _ in range(runs):
        began = time.perf_counter()
        result = work()
        times.append(time.perf_counter() - began)
    assert result is not None
    return min(times), result


class _Now:
    def now(self) -> datetime:
        return datetime.now(UTC)


async def first_request(
    party: GeneratedParty, objects: list[bytes], folder: Path, runs: int
) -> float:
    """The best of `runs` computations of the party's report by PartyReports from a folder
    archive holding `objects` (never final: the generated party ends in the future)."""
    storage = FileArchive(folder.as_uri())
    await storage.connect()
    for data in objects:
        ids = from_parquet(data)["event_id"].to_pylist()
        await storage.put(batch_key(party.started_at.date(), party.party_id, ids), data)
    minutes = round((party.ended_at - party.started_at) / timedelta(minutes=1))
    record = schedule_party(
        party_id=party.party_id,
        host_id="host",
        title="Bench",
        theme=Theme(ThemeKind.BRAND, "Bench"),
        starts_at=party.started_at,
        now=party.started_at - timedelta(hours=1),
        duration_minutes=minutes,
    )
    record = record.start(party.started_at).end(party.ended_at)
    best = float("inf")
    for _ in range(runs):
        reports = PartyReports(storage, _Now(), settle=timedelta(minutes=1))
        began = time.perf_counter()
        await reports.encoded(record)
        best = min(best, time.perf_counter() - began)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shoppers", type=int, default=50_000)
    parser.add_argument("--minutes", type=int, default=120)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--runs", type=int, default=5)
    # The archive's default batch size (PARTY_ARCHIVE_BATCH_EVENTS).
    parser.add_argument("--batch-events", type=int, default=10_000)
    parser.add_argument("--out", type=Path, default=RESULT, help="the result file")
    arguments = parser.parse_args()

    began = time.perf_counter()
    party = generate(shoppers=arguments.shoppers, minutes=arguments.minutes, seed=arguments.seed)
    generated = time.perf_counter() - began
    events = party.events
    objects = []
    for start in range(0, events.num_rows, arguments.batch_events):
        sink = io.BytesIO()
        pq.write_table(events.slice(start, arguments.batch_events), sink, compression=COMPRESSION)
        objects.append(sink.getvalue())
    parquet_bytes = sum(len(data) for data in objects)

    decode_s, tables = best_of(arguments.runs, lambda: [from_parquet(data) for data in objects])
    merge_s, merged = best_of(arguments.runs, lambda: merge(tables))
    report_s, report = best_of(
        arguments.runs,
        lambda: party_report(party.party_id, merged, party.started_at, party.ended_at),
    )
    body = encode(report)
    with tempfile.TemporaryDirectory(prefix="bench-report-") as folder:
        request_s = asyncio.run(first_request(party, objects, Path(folder), arguments.runs))
    kinds = pc.value_counts(events["type"])
    figures = {
        "shoppers": arguments.shoppers,
        "minutes": arguments.minutes,
        "events": events.num_rows,
        "events_by_type": dict(
            zip(kinds.field("values").to_pylist(), kinds.field("counts").to_pylist(), strict=True)
        ),
        "generate_seconds": round(generated, 2),
        "parquet_objects": len(objects),
        "parquet_bytes": parquet_bytes,
        "parquet_bytes_per_event": round(parquet_bytes / events.num_rows, 2),
        "decode_seconds": round(decode_s, 3),
        "merge_seconds": round(merge_s, 3),
        # What the merged table holds in memory while a report is computed from it.
        "arrow_bytes": merged.nbytes,
        "report_seconds": round(report_s, 3),
        "first_request_seconds": round(request_s, 3),
        "report_json_bytes": len(body),
        "peak_presence": report.peak_presence,
        "push_join_ratio": report.push and report.push.ratio,
    }
    result = {"provenance": provenance("loadtests.bench_report", sys.argv[1:]), **figures}
    arguments.out.parent.mkdir(parents=True, exist_ok=True)
    arguments.out.write_bytes(orjson.dumps(result, option=orjson.OPT_INDENT_2) + b"\n")
    for name, value in figures.items():
        print(f"{name}: {value}")
    print(f"written to {arguments.out}")


if __name__ == "__main__":
    main()
