"""Archive throughput: events per second for one archive worker process from a pre-filled
queue, and bytes per event in Parquet against the JSON on the wire.

Starts a private RabbitMQ (tests/servers.py) unless a URL is given, and moto's S3 server for
`--storage s3`. Fills the archive queue through the gateway's publisher with a party mix
(shares, likes, joins, leaves over `--parties` parties, then each party's end, so the last
batches are written at once), then starts one `party-engine archive` and times it from its
first written object until every event is in the archive: what catching up on a backlog takes.
Prints the figures and writes them to loadtests/results/bench_archive.json. Measures; asserts
nothing.

    python -m loadtests.bench_archive [--events 100000] [--parties 10] [--storage file|s3]
"""

import argparse
import asyncio
import contextlib
import io
import os
import random
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import psutil
import pyarrow.parquet as pq

from loadtests.provenance import provenance
from party_engine.backends import open_archive
from party_engine.backends.event_codec import encode_event
from party_engine.backends.queue_rabbitmq import RabbitPublisher
from party_engine.backends.queue_topology import Topology
from party_engine.domain.events import (
    DomainEvent,
    LikeCreated,
    PartyEnded,
    PartyJoined,
    PartyLeft,
    ShareCreated,
)
from party_engine.ports import ArchiveStorage
from tests.servers import MotoServer, RabbitMQServer

ROOT = Path(__file__).resolve().parent.parent
_DEADLINE_SECONDS = 600
_AWS = {
    "AWS_ACCESS_KEY_ID": "bench",
    "AWS_SECRET_ACCESS_KEY": "bench",
    "AWS_DEFAULT_REGION": "us-east-1",
}
START = datetime(2030, 5, 1, 18, 0, tzinfo=UTC)


def party_events(count: int, parties: int, seed: int = 7) -> list[DomainEvent]:
    """A two-hour mix over `parties` parties: 40% shares, 40% likes, 10% joins, 10% leaves,
    then each party's end."""
    rng = random.Random(seed)
    offsets = dict.fromkeys(range(parties), 0)
    events: list[DomainEvent] = []
    for n in range(count):
        p = n % parties
        party, at = f"bench-party-{p}", START + timedelta(seconds=7200 * n / count)
        user, kind = f"shopper-{rng.randrange(50_000)}", rng.random()
        event_id = uuid.uuid4().hex
        if kind < 0.2:
            events.append((PartyJoined if kind < 0.1 else PartyLeft)(event_id, party, user, at))
            continue
        offsets[p] += 1
        offset, listing = offsets[p], f"listing-{rng.randrange(2000)}"
        if kind < 0.6 or offset < 3:
            seller = f"seller-{rng.randrange(500)}"
            events.append(ShareCreated(event_id, party, offset, listing, seller, user, at))
        else:
            share = rng.randrange(1, offset)
            events.append(LikeCreated(event_id, party, offset, share, listing, user, at))
    end = START + timedelta(hours=2)
    events.extend(
        PartyEnded(f"bench-party-{p}:ended", f"bench-party-{p}", end) for p in range(parties)
    )
    return events


async def fill(amqp_url: str, topology: Topology, events: list[DomainEvent]) -> dict:
    publisher = RabbitPublisher(amqp_url, topology=topology, capacity=len(events) + 1)
    await publisher.connect()
    started = time.perf_counter()
    wire_bytes = 0
    for event in events:
        wire_bytes += len(encode_event(event))
        await publisher.publish(event)
    async with asyncio.timeout(_DEADLINE_SECONDS):
        await publisher.flush()
    seconds = time.perf_counter() - started
    await publisher.close()
    return {"fill_events_per_second": round(len(events) / seconds), "json_bytes": wire_bytes}


class Progress:
    """Rows and bytes written so far, from each new object's Parquet footer."""

    def __init__(self, storage: ArchiveStorage) -> None:
        self._storage = storage
        self._seen: dict[str, tuple[int, int]] = {}

    async def update(self) -> None:
        for key in await self._storage.keys("events/"):
            if key not in self._seen:
                data = await self._storage.get(key)
                rows = pq.read_metadata(io.BytesIO(data)).num_rows
                self._seen[key] = (rows, len(data))

    @property
    def rows(self) -> int:
        return sum(rows for rows, _ in self._seen.values())

    @property
    def bytes(self) -> int:
        return sum(size for _, size in self._seen.values())

    @property
    def objects(self) -> int:
        return len(self._seen)


async def time_archive(
    amqp_url: str, topology: Topology, archive_url: str, s3_endpoint: str, total: int
) -> dict:
    env = dict(
        os.environ,
        PARTY_AMQP_URL=amqp_url,
        PARTY_AMQP_PREFIX=topology.prefix,
        PARTY_ARCHIVE_URL=archive_url,
        PARTY_ARCHIVE_S3_ENDPOINT=s3_endpoint,
        PARTY_JWT_SECRET="bench-secret-long-enough-for-hs256-keys!",
        PARTY_LOG_LEVEL="warning",
    )
    command = [str(Path(sys.executable).parent / "party-engine"), "archive"]
    storage = open_archive(archive_url, s3_endpoint=s3_endpoint)
    await storage.connect()
    worker = await asyncio.create_subprocess_exec(*command, env=env)
    progress, peak_rss = Progress(storage), 0
    try:
        process = psutil.Process(worker.pid)
        first_at = first_rows = None
        deadline = time.perf_counter() + _DEADLINE_SECONDS
        while progress.rows < total:
            if time.perf_counter() > deadline:
                raise SystemExit(f"only {progress.rows} of {total} archived")
            if worker.returncode is not None:
                raise SystemExit(f"the archive worker exited with {worker.returncode}")
            with contextlib.suppress(psutil.Error):
                peak_rss = max(peak_rss, process.memory_info().rss)
            await progress.update()
            if progress.rows and first_at is None:
                first_at, first_rows = time.perf_counter(), progress.rows
            await asyncio.sleep(0.05)
        done_at = time.perf_counter()
    finally:
        worker.terminate()
        await asyncio.wait_for(worker.wait(), 60)
        await storage.close()
    assert first_at is not None and first_rows is not None
    seconds = done_at - first_at
    return {
        "archived": progress.rows,
        "objects": progress.objects,
        "seconds": round(seconds, 3),
        "events_per_second": round((total - first_rows) / seconds),
        "parquet_bytes": progress.bytes,
        "peak_rss_mib": round(peak_rss / 2**20, 1),
    }


async def run(amqp_url: str, archive_url: str, s3_endpoint: str, events: list) -> dict:
    topology = Topology(prefix=f"bench{uuid.uuid4().hex[:6]}.")
    filled = await fill(amqp_url, topology, events)
    figures = await time_archive(amqp_url, topology, archive_url, s3_endpoint, len(events))
    return {
        "fill_events_per_second": filled["fill_events_per_second"],
        **figures,
        "json_bytes_per_event": round(filled["json_bytes"] / len(events), 1),
        "parquet_bytes_per_event": round(figures["parquet_bytes"] / len(events), 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--parties", type=int, default=10)
    parser.add_argument("--storage", choices=["file", "s3"], default="file")
    parser.add_argument("--amqp-url", help="an existing RabbitMQ (default: a private one)")
    args = parser.parse_args()
    events = party_events(args.events, args.parties)

    with contextlib.ExitStack() as stack:
        amqp_url = args.amqp_url or stack.enter_context(RabbitMQServer()).url
        if args.storage == "s3":
            for name, value in _AWS.items():  # moto takes any credentials
                os.environ.setdefault(name, value)
            s3_endpoint = stack.enter_context(MotoServer()).url
            archive_url = f"s3://bench-{uuid.uuid4().hex[:8]}/archive"  # made at connect
        else:
            folder = stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-archive-"))
            s3_endpoint, archive_url = "", Path(folder).as_uri()
        figures = asyncio.run(run(amqp_url, archive_url, s3_endpoint, events))
    result = {
        "benchmark": "one archive worker process, pre-filled queue, default batch settings",
        **provenance("loadtests.bench_archive", sys.argv[1:]),
        "events": len(events),
        "parties": args.parties,
        "storage": args.storage,
        **figures,
    }
    for key, value in figures.items():
        print(f"{key}: {value}")
    out = ROOT / "loadtests" / "results" / "bench_archive.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(orjson.dumps(result, option=orjson.OPT_INDENT_2) + b"\n")
    print(f"written to {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
