"""The start push in waves against all at once: a party whose theme has N followers starts, and
every follower opens a WebSocket and joins the moment its push arrives.

The gateways are `party-engine serve` processes on a private Redis (tests/servers.py). This
process plays the clock and the worker: it starts the party through the lifecycle, whose
`party.started` goes through the embedded queue to the real push handler
(workers/party_push.py: the plan, the wave events hopping through the queue until due, one
shard publish a wave). The push is the embedded one (`MemoryPush`: the notices recorded), and
the moment a shard's notices are recorded is the push's arrival: its followers are handed to
the client processes, which connect and join at once. Reported per mode: join latency from
push arrival to `joined` (p50, p99, max), the peak joins in one second, the time from the
first push to the last join; and the forecast (GET /capacity, read just before the start)
against the connections observed. Prints a table and writes loadtests/results/
bench_push_waves-<followers>.json. Measures; asserts nothing.

    python -m loadtests.bench_push_waves [--followers 2000] [--joins-per-second 500]
        [--bound-seconds 60] [--gateways 2] [--fleets 2] [--out DIR]

Each process may hold at most 20,000 file descriptors here: 20,000 followers need two gateways
and two client processes (the defaults).
"""

import argparse
import asyncio
import contextlib
import math
import multiprocessing
import sys
import time
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import httpx
import jwt
import orjson

from loadtests.bench.dialects import ClientState, EngineDialect, Stats
from loadtests.bench.run import percentile
from loadtests.bench.systems import BENCH_SECRET, System
from loadtests.bench.wsclient import open_conn
from loadtests.provenance import provenance
from party_engine.announcer import PartyAnnouncer
from party_engine.backends import open_devices, open_ledger
from party_engine.backends.push_memory import MemoryPush
from party_engine.backends.queue_memory import MemoryQueue
from party_engine.backends.queue_topology import PARTY_PUSH, Topology
from party_engine.backends.store_redis import RedisStore
from party_engine.clock import SystemClock
from party_engine.config import DEFAULT_REDIS_PREFIX
from party_engine.domain.events import DomainEvent, PushSent
from party_engine.domain.parties import schedule_party
from party_engine.domain.themes import Theme, ThemeKind
from party_engine.lifecycle import PartyLifecycle
from party_engine.ports import Notification
from tests.servers import RedisServer
from workers.party_push import PartyPushHandler, WaveSettings

ROOT = Path(__file__).resolve().parent.parent
THEME = Theme(ThemeKind.BRAND, "Bench Waves")
HOST_ID = "bench-host"
SHARDS = 32
HOP_SECONDS = 1.0  # PARTY_RETRY_BASE_SECONDS's default: how long a wave not due waits
MINUTE = timedelta(minutes=1)
LEAD_SECONDS = 3.0  # from creating a party to its start
JOIN_PATIENCE_SECONDS = 120.0
# "all at once" is the same pipeline with every wave due at the start.
ALL_AT_ONCE = float("inf")


# --- the client processes ------------------------------------------------------------------


def _fleet_main(pipe: Connection, name: str, source_ip: str, targets: list[tuple[str, int]]):
    with contextlib.suppress(ImportError):
        import uvloop

        uvloop.install()
    asyncio.run(_fleet(pipe, name, source_ip, targets))


async def _fleet(pipe: Connection, name: str, source_ip: str, targets: list[tuple[str, int]]):
    dialect = EngineDialect(Stats(), _token)
    loop = asyncio.get_running_loop()
    conns: list[Any] = []
    pending: set[asyncio.Task[None]] = set()
    joins: list[tuple[float, float]] = []  # (pushed at, joined at), monotonic (system-wide)
    failures: Counter[str] = Counter()
    limit = asyncio.Semaphore(1000)  # handshakes in flight from this process

    async def join(user: str, index: int, party: str, pushed_at: float) -> None:
        conn = None
        async with limit:
            try:
                host, port = targets[index % len(targets)]
                conn = await open_conn(
                    host, port, dialect.path(user), dialect.on_text, source_ip,
                    JOIN_PATIENCE_SECONDS, ClientState(),
                )  # fmt: skip
                await dialect.join(conn, [party], JOIN_PATIENCE_SECONDS)
            except (OSError, TimeoutError, ConnectionError) as error:
                failures[type(error).__name__] += 1
                if conn is not None:
                    conn.close()
                return
        joins.append((pushed_at, time.monotonic()))
        conns.append(conn)

    while True:
        command, arguments = await loop.run_in_executor(None, pipe.recv)
        if command == "join":  # a push arrived: no answer
            for user, index in arguments["users"]:
                task = asyncio.create_task(
                    join(user, index, arguments["party"], arguments["pushed_at"])
                )
                pending.add(task)
                task.add_done_callback(pending.discard)
        elif command == "collect":
            if pending:
                await asyncio.wait(set(pending))
            pipe.send({"joins": joins, "failures": dict(failures)})
        elif command == "close":
            for conn in conns:
                conn.close()
            conns, joins, failures = [], [], Counter()
            pipe.send({"closed": True})
        else:  # stop
            for conn in conns:
                conn.close()
            pipe.send({"stopped": True})
            return


def _token(user_id: str, role: str = "shopper") -> str:
    claims = {"sub": user_id, "role": role, "exp": int(time.time()) + 86_400}
    return jwt.encode(claims, BENCH_SECRET, algorithm="HS256")


class Fleets:
    """The client processes; follower `f-<n>` lives in process n % count."""

    def __init__(self, count: int, targets: list[tuple[str, int]]) -> None:
        context = multiprocessing.get_context("spawn")
        self.pipes: list[Connection] = []
        self.processes = []
        for index in range(count):
            mine, theirs = context.Pipe()
            process = context.Process(
                target=_fleet_main,
                args=(theirs, f"f{index}", f"127.0.0.{20 + index}", targets),
                daemon=True,
            )
            process.start()
            self.pipes.append(mine)
            self.processes.append(process)

    def push(self, party: str, users: list[str], pushed_at: float) -> None:
        by_fleet: dict[int, list[tuple[str, int]]] = {}
        for user in users:
            index = int(user.removeprefix("f-"))
            by_fleet.setdefault(index % len(self.pipes), []).append((user, index))
        for fleet, mine in by_fleet.items():
            self.pipes[fleet].send(
                ("join", {"party": party, "users": mine, "pushed_at": pushed_at})
            )

    def all(self, command: str) -> list[dict[str, Any]]:
        for pipe in self.pipes:
            pipe.send((command, {}))
        return [pipe.recv() for pipe in self.pipes]

    def stop(self) -> None:
        with contextlib.suppress(OSError):
            self.all("stop")
        for process in self.processes:
            process.join(10)
            if process.is_alive():
                process.kill()


# --- the push, the worker and the clock, in this process -----------------------------------


class ArrivingPush(MemoryPush):
    """The embedded push; a shard's followers get their push the moment it is recorded."""

    fleets: Fleets
    party: str

    async def notify_shard(
        self, theme: Theme, shard: int, followers: list[str], notification: Notification
    ) -> None:
        await super().notify_shard(theme, shard, followers, notification)
        self.fleets.push(self.party, followers, time.monotonic())


class TappedQueue(MemoryQueue):
    """The embedded queue, keeping the push.sent events (no queue takes them)."""

    def __post_init__(self) -> None:
        super().__post_init__()
        self.sent: list[tuple[float, PushSent]] = []
        self.all_sent = asyncio.Event()

    async def publish(self, event: DomainEvent) -> None:
        if isinstance(event, PushSent):
            self.sent.append((time.monotonic(), event))
            if len(self.sent) == SHARDS:
                self.all_sent.set()
        await super().publish(event)


@dataclass
class Setup:
    store: RedisStore
    fleets: Fleets
    gateway: str  # http://host:port of one gateway
    followers: int
    joins_per_second: float
    bound_seconds: float


async def follow_all(store: RedisStore, followers: int) -> None:
    for first in range(0, followers, 500):
        await asyncio.gather(
            *(store.follow(f"f-{n}", THEME) for n in range(first, min(followers, first + 500)))
        )


async def forecast_of(gateway: str, party_id: str) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {_token(HOST_ID, 'host')}"}
    async with httpx.AsyncClient(base_url=gateway, headers=headers, timeout=30) as http:
        reply = (await http.get("/capacity", params={"hours": 1})).raise_for_status().json()
    [party] = [p for p in reply["parties"] if p["id"] == party_id]
    mine = [b for b in reply["buckets"] if party_id in b["parties"]]
    opens = datetime.fromisoformat(party["opens_at"])
    first = next(
        b for b in mine if datetime.fromisoformat(b["starts_at"]) + timedelta(minutes=1) > opens
    )
    peak = max(mine, key=lambda b: b["connections"])
    return {
        "expected_joiners": party["expected_joiners"],
        "first_minute_connections": first["connections"],
        "first_minute_joins_per_second": first["joins_per_second"],
        "peak_connections": peak["connections"],
        "peak_minutes_after_start": round(
            (datetime.fromisoformat(peak["starts_at"]) - opens).total_seconds() / 60, 1
        ),
        "peak_joins_per_second": max(b["joins_per_second"] for b in mine),
    }


async def run_mode(setup: Setup, label: str, joins_per_second: float) -> dict[str, Any]:
    clock = SystemClock()
    party_id = f"bench-{label.replace(' ', '-')}-{int(time.time())}"
    now = clock.now()
    await setup.store.create_party(
        schedule_party(
            party_id=party_id,
            host_id=HOST_ID,
            title=f"Bench: {label}",
            theme=THEME,
            starts_at=now + timedelta(seconds=LEAD_SECONDS),
            now=now,
        )
    )
    forecast = await forecast_of(setup.gateway, party_id)
    push = ArrivingPush(setup.store, open_devices("memory://"), clock)
    push.fleets, push.party = setup.fleets, party_id
    queue = TappedQueue(topology=Topology(retry_delays=(HOP_SECONDS,)))
    waves = WaveSettings(
        shards=SHARDS,
        joins_per_second=joins_per_second,
        bound_seconds=setup.bound_seconds,
        hold_seconds=HOP_SECONDS,
    )
    handler = PartyPushHandler(
        ledger=open_ledger("memory://"),
        store=setup.store,
        push=push,
        events=queue,
        clock=clock,
        lock_seconds=30,
        waves=waves,
    )
    await queue.consume(PARTY_PUSH, handler)
    lifecycle = PartyLifecycle(setup.store, clock)
    lifecycle.on_change(PartyAnnouncer(queue, clock).on_change)
    await asyncio.sleep(LEAD_SECONDS)
    started = time.monotonic()
    await lifecycle.start(party_id, actor=HOST_ID)
    with contextlib.suppress(TimeoutError):  # reported: fewer waves than shards
        await asyncio.wait_for(queue.all_sent.wait(), setup.bound_seconds + 30)
    answers = await asyncio.to_thread(setup.fleets.all, "collect")
    await queue.close()
    await lifecycle.end(party_id, actor=HOST_ID)
    await asyncio.to_thread(setup.fleets.all, "close")

    joins = [pair for answer in answers for pair in answer["joins"]]
    failures: Counter[str] = Counter()
    for answer in answers:
        failures.update(answer["failures"])
    latencies = [(joined - pushed) * 1000 for pushed, joined in joins]
    per_second = Counter(int(joined - started) for _, joined in joins)
    per_tenth = Counter(int((joined - started) * 10) for _, joined in joins)
    seconds = max(per_second, default=0) + 1
    curve = [0] * seconds
    total = 0
    for second in range(seconds):
        total += per_second.get(second, 0)
        curve[second] = total
    sent_at = sorted(at - started for at, _ in queue.sent)
    return {
        "mode": label,
        "joins_per_second_setting": None if math.isinf(joins_per_second) else joins_per_second,
        "waves": len(queue.sent),
        "notified": sum(event.notified for _, event in queue.sent),
        "first_push_s": round(sent_at[0], 3) if sent_at else None,
        "last_push_s": round(sent_at[-1], 3) if sent_at else None,
        "joined": len(joins),
        "failed": sum(failures.values()),
        "failures": dict(failures),
        "join_p50_ms": _round(percentile(latencies, 0.50)),
        "join_p99_ms": _round(percentile(latencies, 0.99)),
        "join_max_ms": _round(max(latencies, default=None)),
        "peak_joins_per_second": max(per_second.values(), default=0),
        # The same over 100 ms: a burst shorter than a second, as a rate.
        "peak_joins_per_second_100ms": 10 * max(per_tenth.values(), default=0),
        "last_join_s": round(max((j - started for _, j in joins), default=0), 3),
        "observed_connections_per_second": curve,
        "observed_peak_connections": curve[-1] if curve else 0,
        "forecast": forecast,
    }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


async def bench(setup: Setup) -> list[dict[str, Any]]:
    await follow_all(setup.store, setup.followers)
    results = []
    for label, rate in (("all at once", ALL_AT_ONCE), ("waves", setup.joins_per_second)):
        print(f"{label}: {setup.followers:,} followers ...", flush=True)
        results.append(await run_mode(setup, label, rate))
    return results


def table(results: list[dict[str, Any]]) -> str:
    def cells(r: dict[str, Any]) -> dict[str, str]:
        forecast = r["forecast"]
        return {
            "waves sent (first, last push at s)": (
                f"{r['waves']} ({r['first_push_s']}, {r['last_push_s']})"
            ),
            "joined / failed": f"{r['joined']:,} / {r['failed']}",
            "join p50 ms (push → joined)": str(r["join_p50_ms"]),
            "join p99 ms": str(r["join_p99_ms"]),
            "join max ms": str(r["join_max_ms"]),
            "peak joins in one second": str(r["peak_joins_per_second"]),
            "peak joins/s over 100 ms": str(r["peak_joins_per_second_100ms"]),
            "start → last join, s": str(r["last_join_s"]),
            "observed peak connections": f"{r['observed_peak_connections']:,}",
            "forecast: expected joiners": str(forecast["expected_joiners"]),
            "forecast: 1st minute conns / joins/s": (
                f"{forecast['first_minute_connections']} / "
                f"{forecast['first_minute_joins_per_second']}"
            ),
            "forecast: peak conns (min after start)": (
                f"{forecast['peak_connections']} ({forecast['peak_minutes_after_start']})"
            ),
        }

    columns = [cells(r) for r in results]
    lines = ["| | " + " | ".join(r["mode"] for r in results) + " |"]
    lines.append("|---" * (len(results) + 1) + "|")
    for name in columns[0]:
        lines.append(f"| {name} | " + " | ".join(column[name] for column in columns) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--followers", type=int, default=2_000)
    parser.add_argument("--joins-per-second", type=float, default=500.0, help="the wave rate")
    parser.add_argument("--bound-seconds", type=float, default=60.0)
    parser.add_argument("--gateways", type=int, default=2)
    parser.add_argument("--fleets", type=int, default=2, help="client processes")
    parser.add_argument("--out", type=Path, default=ROOT / "loadtests" / "results")
    args = parser.parse_args()

    with contextlib.ExitStack() as stack:
        redis = stack.enter_context(RedisServer())
        logdir = args.out / "bench_push_waves-logs"
        logdir.mkdir(parents=True, exist_ok=True)
        gateways = System("engine", redis.url, logdir, redis.pid)
        targets = gateways.start(args.gateways)
        stack.callback(gateways.stop)
        fleets = Fleets(args.fleets, targets)
        stack.callback(fleets.stop)

        async def run() -> list[dict[str, Any]]:
            store = RedisStore(redis.url, prefix=DEFAULT_REDIS_PREFIX)
            await store.connect()
            try:
                host, port = targets[0]
                setup = Setup(
                    store=store,
                    fleets=fleets,
                    gateway=f"http://{host}:{port}",
                    followers=args.followers,
                    joins_per_second=args.joins_per_second,
                    bound_seconds=args.bound_seconds,
                )
                return await bench(setup)
            finally:
                await store.close()

        results = asyncio.run(run())
    document = {
        "benchmark": "start push in waves vs all at once: followers join when their push arrives",
        **provenance("loadtests.bench_push_waves", sys.argv[1:]),
        "followers": args.followers,
        "shards": SHARDS,
        "gateways": args.gateways,
        "client_processes": args.fleets,
        "results": results,
    }
    print(table(results))
    out = args.out / f"bench_push_waves-{args.followers}.json"
    out.write_bytes(orjson.dumps(document, option=orjson.OPT_INDENT_2) + b"\n")
    print(f"written to {out}")


if __name__ == "__main__":
    main()
