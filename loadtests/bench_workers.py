"""Events per second for one worker process with idempotency on, from pre-filled queues.

Starts a private RabbitMQ and Redis (tests/servers.py) unless URLs are given, fills the worker
queues with share events through the gateway's publisher, then starts one `python -m workers`
and times it from its first counted event until every queue that gets shares (counters and
seller notices) has done every event (its done-mark in the ledger): the clock stops when
every queue is drained. Each event counts once in events/s, however many queues get it.
Prints the figures and writes them to loadtests/results/bench_workers.json. Measures;
asserts nothing.

    python -m loadtests.bench_workers [--events 50000] [--amqp-url URL --redis-url URL]
"""

import argparse
import asyncio
import contextlib
import os
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from loadtests.provenance import provenance
from party_engine.backends.ledger_redis import RedisLedger
from party_engine.backends.queue_rabbitmq import RabbitPublisher
from party_engine.backends.queue_topology import ARCHIVE, BINDINGS, Topology
from party_engine.config import DEFAULT_REDIS_PREFIX
from party_engine.domain.events import ShareCreated
from party_engine.ports import EventRef
from tests.servers import RabbitMQServer, RedisServer

ROOT = Path(__file__).resolve().parent.parent
PARTY = "bench-party"
_DEADLINE_SECONDS = 300
# The worker role's queues (the archive's is another role's: it just fills here).
WORKER_QUEUES = [name for name in BINDINGS if name != ARCHIVE]
_SHARE_QUEUES = [name for name in WORKER_QUEUES if "share.created" in BINDINGS[name]]
_CHUNK = 1_000  # done-marks read per poll and queue (more than a worker does in a poll)
_POLL_SECONDS = 0.05


def share(n: int) -> ShareCreated:
    return ShareCreated(
        id=f"bench-{uuid.uuid4().hex}",
        party_id=PARTY,
        offset=n,
        listing_id=f"listing-{n % 500}",
        seller_id=f"seller-{n % 200}",
        sharer_id=f"shopper-{n % 5000}",
        at=datetime.now(UTC),
    )


async def fill(amqp_url: str, topology: Topology, events: int) -> tuple[float, list[str]]:
    publisher = RabbitPublisher(amqp_url, topology=topology, capacity=events + 1)
    await publisher.connect()
    shares = [share(n) for n in range(events)]
    started = time.perf_counter()
    for event in shares:
        await publisher.publish(event)
    async with asyncio.timeout(_DEADLINE_SECONDS):
        await publisher.flush()
    rate = events / (time.perf_counter() - started)
    await publisher.close()
    return rate, [event.id for event in shares]


async def advance(ledger: RedisLedger, queue: str, ids: list[str], done: int) -> int:
    """How far along `ids` (in publish order) `queue` has done every event, read from `done`
    on, at most _CHUNK further: the worker takes them roughly in order."""
    marks = await ledger.done_marks(queue, [EventRef(PARTY, i) for i in ids[done : done + _CHUNK]])
    return done + next((i for i, mark in enumerate(marks) if not mark), len(marks))


async def time_worker(
    amqp_url: str, redis_url: str, topology: Topology, ids: list[str]
) -> dict[str, Any]:
    env = dict(
        os.environ,
        PARTY_AMQP_URL=amqp_url,
        PARTY_REDIS_URL=redis_url,
        PARTY_AMQP_PREFIX=topology.prefix,
        PARTY_JWT_SECRET="bench-secret-long-enough-for-hs256-keys!",
        PARTY_LOG_LEVEL="warning",
    )
    events = len(ids)
    ledger = RedisLedger(redis_url, prefix=DEFAULT_REDIS_PREFIX, done_seconds=86_400)
    worker = await asyncio.create_subprocess_exec(sys.executable, "-m", "workers", env=env)
    try:
        first_at = first_count = None
        count = 0
        done = dict.fromkeys(_SHARE_QUEUES, 0)
        deadline = time.perf_counter() + _DEADLINE_SECONDS
        while min(done.values()) < events:
            if time.perf_counter() > deadline:
                raise SystemExit(f"not drained in {_DEADLINE_SECONDS} s: {done} of {events}")
            if worker.returncode is not None:
                raise SystemExit(f"the worker exited with {worker.returncode}")
            count = (await ledger.party_stats(PARTY)).shares
            if count and first_at is None:
                first_at, first_count = time.perf_counter(), count
            for queue in _SHARE_QUEUES:
                done[queue] = await advance(ledger, queue, ids, done[queue])
            await asyncio.sleep(_POLL_SECONDS)
        done_at = time.perf_counter()
    finally:
        worker.terminate()
        await asyncio.wait_for(worker.wait(), 30)
        await ledger.close()
    assert first_at is not None and first_count is not None
    seconds = done_at - first_at
    events_per_second = (events - first_count) / seconds
    return {
        "counted": count,
        "seconds": round(seconds, 3),
        "events_per_second": round(events_per_second),  # each event once
        # Each share is one delivery per worker queue bound to share.created (not a rate of
        # events: kept so earlier results compare).
        "deliveries_per_second": round(events_per_second * len(_SHARE_QUEUES)),
        "queues_drained": _SHARE_QUEUES,
    }


async def run(amqp_url: str, redis_url: str, events: int) -> dict:
    topology = Topology(prefix=f"bench{uuid.uuid4().hex[:6]}.")
    fill_rate, ids = await fill(amqp_url, topology, events)
    figures = await time_worker(amqp_url, redis_url, topology, ids)
    return {"fill_events_per_second": round(fill_rate), **figures}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=50_000)
    parser.add_argument("--amqp-url", help="an existing RabbitMQ (default: a private one)")
    parser.add_argument("--redis-url", help="an existing Redis (default: a private one)")
    args = parser.parse_args()

    with contextlib.ExitStack() as stack:
        amqp_url = args.amqp_url or stack.enter_context(RabbitMQServer()).url
        redis_url = args.redis_url or stack.enter_context(RedisServer()).url
        figures = asyncio.run(run(amqp_url, redis_url, args.events))
    result = {
        "benchmark": "one worker process, idempotency on, pre-filled queue of shares",
        **provenance("loadtests.bench_workers", sys.argv[1:]),
        "events": args.events,
        "worker_queues": WORKER_QUEUES,
        **figures,
    }
    for key, value in figures.items():
        print(f"{key}: {value}")
    out = ROOT / "loadtests" / "results" / "bench_workers.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(orjson.dumps(result, option=orjson.OPT_INDENT_2) + b"\n")
    print(f"written to {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
