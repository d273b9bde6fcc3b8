"""Fan-out on a Redis Cluster: where publications travel, and what the cluster and WAIT cost.

Starts a private redis-server and a private Redis Cluster (3 masters + 3 replicas,
tests/servers.py). In each setup, `--gateways` brokers (as gateways) subscribe to `--parties`
parties and one broker publishes `--shares` shares into each party, one publisher task per
party. Per setup it prints and records:

- ack p50 / p99 (publish_share called -> returned) of one publisher alone, one share at a
  time (the ack's own cost: Redis and WAIT), then with one publisher task per party at once,
  and the fan-out events/s of that second run (deliveries to every gateway, from the first
  publish to the last delivery);
- on the cluster, per master: EVALSHA calls, bytes written to clients (INFO stats
  total_net_output_bytes, the fan-out traffic) and cluster-bus messages sent for PUBLISH
  (cluster_stats_messages_publish_sent: to every node) and SPUBLISH
  (cluster_stats_messages_publishshard_sent: within the shard).

Setups, in one run, interleaved over `--rounds` (timings: the median of the rounds):
`server` (one redis-server, PUBLISH), `cluster` (sharded pub/sub),
`cluster-wait1` (sharded, PARTY_REDIS_WAIT_REPLICAS=1), `cluster-publish` (PUBLISH/SUBSCRIBE
forced on the cluster, for comparison). Measures; asserts nothing. Writes
loadtests/results/bench_cluster.json.

    python -m loadtests.bench_cluster [--parties 30] [--shares 200] [--gateways 2] [--rounds 3]
"""

import argparse
import asyncio
import os
import statistics
import sys
import time
from typing import Any

import orjson

from loadtests.provenance import ROOT, provenance
from party_engine.backends.broker_redis import RedisBroker
from party_engine.config import DEFAULT_REDIS_PREFIX
from party_engine.ports import Publication
from tests.servers import RedisCluster, RedisServer

ITEM = orjson.dumps(
    {
        "kind": "share",
        "user": "u-123456",
        "at": "2030-05-01T12:00:00+00:00",
        "listing": {"id": "l-123456", "title": "Nike Air Max 90", "price_cents": 12900},
    }
)
_DEADLINE_SECONDS = 120


class Counter:
    """Counts deliveries; `done` is set once `expected` arrived."""

    def __init__(self, expected: int) -> None:
        self.expected = expected
        self.count = 0
        self.done = asyncio.Event()

    def on_publication(self, _: Publication) -> None:
        self.count += 1
        if self.count >= self.expected:
            self.done.set()

    def on_broadcast(self, _party: str, _frame: bytes) -> None:
        pass


def node_stats(cluster: RedisCluster) -> dict[int, dict[str, int]]:
    """Per master (by port): the counters this benchmark compares."""
    stats: dict[int, dict[str, int]] = {}
    for node in cluster.masters():
        fields: dict[str, int] = {}
        text = cluster.cli(node, "INFO", "all") + cluster.cli(node, "CLUSTER", "INFO")
        for line in text.splitlines():
            name, _, value = line.strip().partition(":")
            if name in (
                "total_net_output_bytes",
                "cluster_stats_messages_publish_sent",
                "cluster_stats_messages_publishshard_sent",
            ):
                fields[name] = int(value)
            elif name == "cmdstat_evalsha":
                fields["evalsha_calls"] = int(value.split(",")[0].split("=")[1])
        stats[node.port] = fields
    return stats


def per_master(before: dict[int, dict[str, int]], after: dict[int, dict[str, int]]) -> list[Any]:
    rows = []
    total_out = sum(
        after[p].get("total_net_output_bytes", 0) - before[p].get("total_net_output_bytes", 0)
        for p in after
    )
    for port in sorted(after):
        delta = {k: v - before.get(port, {}).get(k, 0) for k, v in after[port].items()}
        out = delta.get("total_net_output_bytes", 0)
        rows.append(
            {
                "master": port,
                "evalsha_calls": delta.get("evalsha_calls", 0),
                "net_output_bytes": out,
                "share_of_output": round(out / total_out, 3) if total_out else 0.0,
                "bus_publish_sent": delta.get("cluster_stats_messages_publish_sent", 0),
                "bus_publishshard_sent": delta.get("cluster_stats_messages_publishshard_sent", 0),
            }
        )
    return rows


async def setup_run(
    url: str, parties: int, shares: int, gateways: int, **options: Any
) -> dict[str, Any]:
    names = [f"bench-{n}" for n in range(parties)]
    counters = [Counter(shares) for _ in range(gateways)]  # the first run's
    subscribers = [
        RedisBroker(url, prefix=DEFAULT_REDIS_PREFIX, subscribe_timeout=30, **options)
        for _ in range(gateways)
    ]
    publisher = RedisBroker(url, prefix=DEFAULT_REDIS_PREFIX, **options)
    await publisher.connect()
    try:
        for subscriber, counter in zip(subscribers, counters, strict=True):
            await subscriber.connect()
            subscriber.set_handler(counter.on_publication, counter.on_broadcast)
            for name in names:
                await subscriber.subscribe(name)
        for name in names:  # warm up: scripts loaded, connections open (not counted)
            await publisher.position(name)
        acks: list[float] = []

        async def publish(name: str) -> None:
            for _ in range(shares):
                started = time.perf_counter()
                await publisher.publish_share(name, ITEM, "listing-1")
                acks.append(time.perf_counter() - started)

        # One publisher alone, one share at a time: the ack's own cost (Redis, WAIT).
        await publish(names[0])
        alone = statistics.quantiles(acks, n=100)
        async with asyncio.timeout(_DEADLINE_SECONDS):
            for counter in counters:
                await counter.done.wait()
        counters = [Counter(parties * shares) for _ in range(gateways)]
        for subscriber, counter in zip(subscribers, counters, strict=True):
            subscriber.set_handler(counter.on_publication, counter.on_broadcast)
        acks.clear()

        started = time.perf_counter()
        await asyncio.gather(*(publish(name) for name in names))
        async with asyncio.timeout(_DEADLINE_SECONDS):
            for counter in counters:
                await counter.done.wait()
        elapsed = time.perf_counter() - started
        quantiles = statistics.quantiles(acks, n=100)
        connections = max(s._links.connections for s in subscribers)
        return {
            "alone_ack_p50_ms": round(alone[49] * 1000, 3),
            "alone_ack_p99_ms": round(alone[98] * 1000, 3),
            "publishes": len(acks),
            "ack_p50_ms": round(quantiles[49] * 1000, 3),
            "ack_p99_ms": round(quantiles[98] * 1000, 3),
            "fanout_events_per_s": round(sum(c.count for c in counters) / elapsed),
            "pubsub_connections_per_gateway": connections,
        }
    finally:
        for broker in [publisher, *subscribers]:
            await broker.close()


def measure(url: str, cluster: RedisCluster | None, args, **options) -> dict:
    before = node_stats(cluster) if cluster else {}
    figures = asyncio.run(setup_run(url, args.parties, args.shares, args.gateways, **options))
    if cluster is not None:
        figures["per_master"] = per_master(before, node_stats(cluster))
    return figures


def median_of(rounds: list[dict]) -> dict:
    """Each timing's median over the rounds (the rest from the last round)."""
    merged = dict(rounds[-1])
    timings = ("alone_ack_p50_ms", "alone_ack_p99_ms", "ack_p50_ms", "ack_p99_ms")
    for name in (*timings, "fanout_events_per_s"):
        merged[name] = statistics.median(r[name] for r in rounds)
        merged[f"{name}_rounds"] = [r[name] for r in rounds]
    return merged


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parties", type=int, default=30)
    parser.add_argument("--shares", type=int, default=200, help="per party")
    parser.add_argument("--gateways", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3, help="setups interleaved, medians kept")
    args = parser.parse_args()

    rounds: dict[str, list[dict]] = {}
    load_before = os.getloadavg()
    with RedisServer(extra_args=("--appendfsync", "always")) as server, RedisCluster() as cluster:
        setups = {
            "server": (server.url, None, {}),
            "cluster": (cluster.url, cluster, {}),
            "cluster-wait1": (cluster.url, cluster, {"wait_replicas": 1}),
            "cluster-publish": (cluster.url, cluster, {"sharded": False}),
        }
        for round_number in range(args.rounds):
            for name, (url, nodes, options) in setups.items():
                figures = measure(url, nodes, args, **options)
                rounds.setdefault(name, []).append(figures)
                print(f"round {round_number + 1} {name}: {orjson.dumps(figures).decode()}")
    results = {name: median_of(figures) for name, figures in rounds.items()}
    for name, figures in results.items():
        print(
            f"{name:16} alone: ack p50 {figures['alone_ack_p50_ms']:.2f} ms"
            f" p99 {figures['alone_ack_p99_ms']:.2f} ms | {args.parties} publishers:"
            f" ack p50 {figures['ack_p50_ms']:.2f} ms p99 {figures['ack_p99_ms']:.2f} ms,"
            f" fan-out {figures['fanout_events_per_s']:.0f} events/s"
        )
    result = {
        "benchmark": "fan-out on a Redis Cluster",
        **provenance("loadtests.bench_cluster", sys.argv[1:]),
        "parties": args.parties,
        "shares_per_party": args.shares,
        "gateways": args.gateways,
        "rounds": args.rounds,
        "item_bytes": len(ITEM),
        "load_average_before": load_before,
        "load_average_after": os.getloadavg(),
        "note": "every node AOF with appendfsync always; publisher and gateways in one process;"
        " all on one machine",
        "setups": results,
    }
    out = ROOT / "loadtests" / "results" / "bench_cluster.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(orjson.dumps(result, option=orjson.OPT_INDENT_2))
    print(f"written to {out}")


if __name__ == "__main__":
    main()
