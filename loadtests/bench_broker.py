"""publish_share calls per second against a real redis-server: sequential, and with many
concurrent publishers. Prints the figures and writes them to loadtests/results/.

    python -m loadtests.bench_broker [--url redis://...] [--calls 20000]

Without --url it starts a private redis-server (tests/servers.py) and stops it afterwards.
"""

import argparse
import asyncio
import contextlib
import json
import sys
import time

import orjson

from loadtests.provenance import ROOT, provenance
from party_engine.backends.broker_redis import RedisBroker
from party_engine.config import DEFAULT_REDIS_PREFIX
from tests.servers import RedisServer

ITEM = orjson.dumps(
    {
        "kind": "share",
        "user": "u-123456",
        "at": "2030-05-01T12:00:00+00:00",
        "listing": {"id": "l-123456", "title": "Nike Air Max 90", "price_cents": 12900},
    }
)


async def sequential(broker: RedisBroker, calls: int) -> float:
    started = time.perf_counter()
    for _ in range(calls):
        await broker.publish_share("bench-seq", ITEM, "listing-1")
    return calls / (time.perf_counter() - started)


async def concurrent(broker: RedisBroker, calls: int, publishers: int) -> float:
    async def publisher(count: int) -> None:
        for _ in range(count):
            await broker.publish_share("bench-conc", ITEM, "listing-1")

    started = time.perf_counter()
    await asyncio.gather(*(publisher(calls // publishers) for _ in range(publishers)))
    return (calls // publishers * publishers) / (time.perf_counter() - started)


async def run(url: str, calls: int, publishers: int) -> dict[str, float]:
    broker = RedisBroker(url, prefix=DEFAULT_REDIS_PREFIX)
    await broker.connect()
    try:
        await sequential(broker, 500)  # warm up: script load, connections
        return {
            "sequential_calls_per_s": round(await sequential(broker, calls)),
            f"concurrent_{publishers}_calls_per_s": round(
                await concurrent(broker, calls, publishers)
            ),
        }
    finally:
        await broker.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", help="an existing Redis (default: start a private one)")
    parser.add_argument("--calls", type=int, default=20_000)
    parser.add_argument("--publishers", type=int, default=50)
    args = parser.parse_args()

    with contextlib.ExitStack() as stack:
        url = args.url or stack.enter_context(RedisServer()).url
        figures = asyncio.run(run(url, args.calls, args.publishers))
    result = {
        "benchmark": "broker publish_share",
        **provenance("loadtests.bench_broker", sys.argv[1:]),
        "calls": args.calls,
        "item_bytes": len(ITEM),
        **figures,
    }
    for key, value in figures.items():
        print(f"{key}: {value}")
    out = ROOT / "loadtests" / "results" / "bench_broker.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"written to {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
