"""How the store's, ledger's and notice book's writes spread over a Redis Cluster's masters,
and what the cluster layout costs on one server and on the cluster: party creates and saves,
counter commits, noted shares per second, and a listing page's latency (16 buckets merged).
Prints the figures and writes them to loadtests/results/bench_store_cluster.json.

    python -m loadtests.bench_store_cluster [--parties 2000] [--concurrency 50]

It starts a private redis-server and a 3-master cluster (tests/servers.py) and stops them.
"""

import argparse
import asyncio
import json
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import redis

from loadtests.provenance import ROOT, provenance
from party_engine.backends import open_ledger, open_notice_book, open_store
from party_engine.domain.events import ShareCreated
from party_engine.domain.parties import schedule_party
from party_engine.domain.tallies import tally
from party_engine.domain.themes import Theme, ThemeKind
from party_engine.ports import EventRef, PartyQuery
from tests.servers import RedisCluster, RedisServer

NOW = datetime(2030, 5, 1, 12, 0, tzinfo=UTC)
THEMES = [Theme(ThemeKind.BRAND, name) for name in ("Nike", "Adidas", "Puma", "Gucci")]


async def _in_parallel(count: int, concurrency: int, work) -> float:
    """Calls of work(n) for n in range(count), `concurrency` at a time; calls per second."""
    queue = iter(range(count))

    async def worker() -> None:
        for n in queue:
            await work(n)

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return count / (time.perf_counter() - started)


async def workload(url: str, parties: int, concurrency: int) -> dict[str, Any]:
    store, ledger, book = open_store(url), open_ledger(url), open_notice_book(url)
    for backend in (store, ledger, book):
        await backend.connect()
    try:
        created = {}

        async def create(n: int) -> None:
            party = schedule_party(
                party_id=f"p{n}",
                host_id="h1",
                title=f"party {n}",
                theme=THEMES[n % len(THEMES)],
                starts_at=NOW + timedelta(minutes=5 + n % 600),
                now=NOW,
            )
            created[n] = await store.create_party(party)

        async def start(n: int) -> None:
            await store.save_party(created[n].start(NOW))

        async def count(n: int) -> None:
            events = [
                ShareCreated(f"s{n}-{k}", f"p{n}", k, f"l{k}", "seller", f"u{k}", NOW)
                for k in range(20)
            ]
            refs = [EventRef.of(event) for event in events]
            await ledger.claim("counters", refs, 30)
            await ledger.commit_tally("counters", refs, tally(events))

        async def note(n: int) -> None:
            await book.note_share(f"p{n % parties}", f"s{n % 7}", f"e{n}", 1e6 + n, 300)

        figures: dict[str, Any] = {
            "creates_per_s": round(await _in_parallel(parties, concurrency, create)),
            "saves_per_s": round(await _in_parallel(parties, concurrency, start)),
            "commits_of_20_events_per_s": round(await _in_parallel(parties, concurrency, count)),
            "noted_shares_per_s": round(await _in_parallel(parties * 5, concurrency, note)),
        }
        pages = []
        for _ in range(200):
            started = time.perf_counter()
            await store.list_parties(PartyQuery(theme=THEMES[0], limit=50))
            pages.append((time.perf_counter() - started) * 1000)
        figures["list_page_of_50_ms_p50"] = round(statistics.median(pages), 2)
        figures["list_page_of_50_ms_p99"] = round(statistics.quantiles(pages, n=100)[98], 2)
        return figures
    finally:
        for backend in (store, ledger, book):
            await backend.close()


def _commands(node: RedisServer) -> int:
    with redis.Redis(host="127.0.0.1", port=node.port) as client:
        return int(client.info("stats")["total_commands_processed"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parties", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=50)
    args = parser.parse_args()

    with RedisServer() as server:
        single = asyncio.run(workload(server.url, args.parties, args.concurrency))
    with RedisCluster() as cluster:
        masters = cluster.masters()
        before = {node.port: _commands(node) for node in masters}
        on_cluster = asyncio.run(workload(cluster.url, args.parties, args.concurrency))
        done = {node.port: _commands(node) - before[node.port] for node in masters}
    total = sum(done.values())
    spread = {
        f"master_{n}_share_of_commands": round(commands / total, 3)
        for n, commands in enumerate(done.values())
    }

    result = {
        "benchmark": "store, ledger and notice book on one server and on a 3-master cluster",
        **provenance("loadtests.bench_store_cluster", sys.argv[1:]),
        "parties": args.parties,
        "concurrency": args.concurrency,
        "one_server": single,
        "cluster": {**on_cluster, **spread},
    }
    for name, figures in (("one server", single), ("cluster", result["cluster"])):
        print(name)
        for key, value in figures.items():
            print(f"  {key}: {value}")
    out = ROOT / "loadtests" / "results" / "bench_store_cluster.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"written to {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
