"""The host report's compute time for a 2-hour, 50,000-shopper party (loadtests/party_events.py),
and what that party weighs in the archive.

Generates the party, writes it as the archive's batches would be (Parquet, zstd, one object per
`--batch-events`), then times, each best of `--runs`: decoding those objects, merging them
(archive/reading.merge: each event once, in order), and the report (archive/report.py) on the
merged table. Prints the figures and writes them to loadtests/results/bench_report.json.
Measures; asserts nothing.

    python -m loadtests.bench_report [--shoppers 50000] [--minutes 120] [--runs 5]
"""

import argparse
import io
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import orjson
import pyarrow.compute as pc
import pyarrow.parquet as pq

from loadtests.party_events import generate
from loadtests.provenance import provenance
from party_engine.archive.reading import merge
from party_engine.archive.report import encode, party_report
from party_engine.archive.rows import from_parquet
from party_engine.archive.schema import COMPRESSION

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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shoppers", type=int, default=50_000)
    parser.add_argument("--minutes", type=int, default=120)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--runs", type=int, default=5)
    # The archive's default batch size (PARTY_ARCHIVE_BATCH_EVENTS).
    parser.add_argument("--batch-events", type=int, default=10_000)
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
        "report_seconds": round(report_s, 3),
        "report_json_bytes": len(body),
        "peak_presence": report.peak_presence,
        "push_join_ratio": report.push and report.push.ratio,
    }
    result = {"provenance": provenance("loadtests.bench_report", sys.argv[1:]), **figures}
    RESULT.parent.mkdir(parents=True, exist_ok=True)
    RESULT.write_bytes(orjson.dumps(result, option=orjson.OPT_INDENT_2) + b"\n")
    for name, value in figures.items():
        print(f"{name}: {value}")
    print(f"written to {RESULT.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
