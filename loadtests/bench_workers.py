"""Events per second for one worker process with idempotency on, from a pre-filled queue.

Starts a private RabbitMQ and Redis (tests/servers.py) unless URLs are given, fills the worker
queues with share events through the gateway's publisher, then starts one `python -m workers`
and times it from its first counted event until every event is counted. Prints the figures and
writes them to loadtests/results/bench_workers.json. Measures; asserts nothing.

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

import orjson

from loadtests.provenance import provenance
from party_engine.backends.ledger_redis import RedisLedger
from party_engine.backends.queue_rabbitmq import RabbitPublisher
from party_engine.backends.queue_topology import ARCHIVE, BINDINGS, Topology
from party_engine.config import DEFAULT_REDIS_PREFIX
from party_engine.domain.events import ShareCreated
from tests.servers import RabbitMQServer, RedisServer

ROOT = Path(__file__).resolve().parent.parent
PARTY = "bench-party"
_DEADLINE_SECONDS = 300
# The worker role's queues (the archive's is another role's: it just fills here).
WORKER_QUEUES = [name for name in BINDINGS if name != ARCHIVE]
_SHARE_QUEUES = sum("share.created" in BINDINGS[name] for name in WORKER_QUEUES)


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


async def fill(amqp_url: str, topology: Topology, events: int) -> float:
    publisher = RabbitPublisher(amqp_url, topology=topology, capacity=events + 1)
    await publisher.connect()
    started = time.perf_counter()
    for n in range(events):
        await publisher.publish(share(n))
    async with asyncio.timeout(_DEADLINE_SECONDS):
        await publisher.flush()
    rate = events / (time.perf_counter() - started)
    await publisher.close()
    return rate


async def time_worker(amqp_url: str, redis_url: str, topology: Topology, events: int) -> dict:
    env = dict(
        os.environ,
        PARTY_AMQP_URL=amqp_url,
        PARTY_REDIS_URL=redis_url,
        PARTY_AMQP_PREFIX=topology.prefix,
        PARTY_JWT_SECRET="bench-secret-long-enough-for-hs256-keys!",
        PARTY_LOG_LEVEL="warning",
    )
    ledger = RedisLedger(redis_url, prefix=DEFAULT_REDIS_PREFIX, done_seconds=86_400)
    worker = await asyncio.create_subprocess_exec(sys.executable, "-m", "workers", env=env)
    try:
        first_at = first_count = None
        count = 0
        deadline = time.perf_counter() + _DEADLINE_SECONDS
        while count < events:
            if time.perf_counter() > deadline:
                raise SystemExit(f"only {count} of {events} counted in {_DEADLINE_SECONDS} s")
            if worker.returncode is not None:
                raise SystemExit(f"the worker exited with {worker.returncode}")
            count = (await ledger.party_stats(PARTY)).shares
            if count and first_at is None:
                first_at, first_count = time.perf_counter(), count
            await asyncio.sleep(0.01)
        done_at = time.perf_counter()
    finally:
        worker.terminate()
        await asyncio.wait_for(worker.wait(), 30)
        await ledger.close()
    assert first_at is not None and first_count is not None
    seconds = done_at - first_at
    return {
        "counted": count,
        "seconds": round(seconds, 3),
        "events_per_second": round((events - first_count) / seconds),
        # Each share is one delivery per worker queue bound to share.created.
        "deliveries_per_second": round((events - first_count) / seconds * _SHARE_QUEUES),
    }


async def run(amqp_url: str, redis_url: str, events: int) -> dict:
    topology = Topology(prefix=f"bench{uuid.uuid4().hex[:6]}.")
    fill_rate = await fill(amqp_url, topology, events)
    figures = await time_worker(amqp_url, redis_url, topology, events)
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
