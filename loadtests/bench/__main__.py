"""python -m loadtests.bench [--profile full|smoke] [--systems ...] [--scenarios ...] [--no-pin]
[--<knob> N ...]"""

import argparse
import dataclasses
import os
import signal
import sys
import tempfile
import time
from pathlib import Path

import redis

from loadtests.provenance import provenance
from tests.servers import RedisServer

from . import report
from .profiles import PROFILES, with_overrides
from .run import SCENARIOS, CPUs, run_all
from .systems import ROOT, node_ready, pin

ALL_SYSTEMS = ["engine", "raw", "raw-batched", "socketio", "node"]
RESULTS = ROOT / "loadtests" / "results"


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m loadtests.bench",
        description="The engine side by side with two raw servers (a frame per share, a "
        "frame per tick), python-socketio and Node Socket.IO, on the same load, on this "
        "machine; `--runs` times, the order of systems rotated each run.",
    )
    parser.add_argument("--profile", choices=sorted(PROFILES), default="full")
    parser.add_argument("--systems", default=",".join(ALL_SYSTEMS),
                        help="comma-separated, from " + ", ".join(ALL_SYSTEMS))  # fmt: skip
    parser.add_argument("--out", type=Path, default=RESULTS, help="where results go")
    parser.add_argument("--scenarios", default=",".join(SCENARIOS),
                        help="comma-separated, from " + ", ".join(SCENARIOS)
                        + " (join storm and hold, one big party, many parties)")  # fmt: skip
    parser.add_argument("--no-pin", dest="pin", action="store_false",
                        help="do not keep the clients off the servers' CPUs")  # fmt: skip
    for field in dataclasses.fields(PROFILES["full"]):
        parser.add_argument(f"--{field.name.replace('_', '-')}", type=field.type, default=None,
                            help=f"(full: {getattr(PROFILES['full'], field.name)})")  # fmt: skip
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    # SIGTERM unwinds like Ctrl-C, so every server this started is stopped on the way out.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    args = parse(sys.argv[1:] if argv is None else argv)
    knobs = {f.name: getattr(args, f.name) for f in dataclasses.fields(PROFILES["full"])}
    profile = with_overrides(PROFILES[args.profile], **knobs)
    systems = [s.strip() for s in args.systems.split(",") if s.strip()]
    scenarios = [s.strip() for s in args.scenarios.split(",") if s.strip()]
    for kind, chosen, known in (
        ("systems", systems, ALL_SYSTEMS),
        ("scenarios", scenarios, SCENARIOS),
    ):
        unknown = set(chosen) - set(known)
        if unknown:
            print(f"unknown {kind}: {', '.join(sorted(unknown))}", file=sys.stderr)
            return 2
    notes = []
    if "node" in systems and (why := node_ready()) is not None:
        systems.remove("node")
        notes.append(f"Node Socket.IO skipped: {why}")
    origin = provenance("loadtests.bench", sys.argv[1:] if argv is None else argv)
    command = origin["command"]
    args.out.mkdir(parents=True, exist_ok=True)
    print(f"{command}\nprofile {args.profile}: {dataclasses.asdict(profile)}")
    for note in notes:
        print(f"NOTE: {note}")
    cpus = _cpus(args.pin)
    print(f"CPUs: {cpus.describe()}")
    if cpus.clients:  # the coordinator too; what it starts (Redis, fleets) inherits this
        os.sched_setaffinity(0, cpus.clients)
    started = time.monotonic()
    with (
        tempfile.TemporaryDirectory(prefix="bench-") as workdir,
        RedisServer(Path(workdir) / "redis", extra_args=("--appendonly", "no")) as redis_server,
    ):
        logdir = Path(workdir) / "logs"
        logdir.mkdir()

        def flush() -> None:
            with redis.Redis.from_url(redis_server.url) as client:
                client.flushall()

        assert redis_server.pid is not None
        pin(redis_server.pid, cpus.servers)
        runs = run_all(
            systems, profile, redis_server.url, redis_server.pid, logdir, flush, cpus, scenarios
        )
    results = report.aggregate(runs, systems)
    checks = report.targets(results, dataclasses.asdict(profile))
    text = report.table(results, dataclasses.asdict(profile))
    many = "median (min to max) of" if profile.runs > 1 else "one run of"
    print(f"\n{many} {profile.runs} run(s); {cpus.describe()}\n\n{text}")
    print(f"\nTargets (engine, issue 14; printed, never asserted):\n{report.targets_text(checks)}")
    document = {
        **origin,
        "seconds": round(time.monotonic() - started, 1),
        "profile_name": args.profile,
        "profile": dataclasses.asdict(profile),
        "notes": notes,
        "cpus": {"servers": sorted(cpus.servers or ()), "clients": sorted(cpus.clients or ())},
        "results": results,  # per system: the median of each figure, `ranges` [min, max]
        "runs": runs,  # every run, in its order of systems, with every sweep step
        "targets": checks,
        "table": text,
    }
    stem = f"bench-{args.profile}"
    report.write_json(args.out / f"{stem}.json", document)
    why_no_chart = report.write_chart(args.out / f"{stem}.png", results)
    if why_no_chart:
        print(f"NOTE: {why_no_chart}")
    print(f"\nWrote {args.out / stem}.json and .png ({document['seconds']} s)")
    return 1 if any("error" in r for run in runs for r in run) else 0


def _cpus(wanted: bool) -> CPUs:
    """Half the CPUs this process may use for the servers (and Redis), the rest for the
    clients; none pinned with fewer than two or when not wanted."""
    mine = sorted(os.sched_getaffinity(0))
    if not wanted or len(mine) < 2:
        return CPUs()
    half = len(mine) // 2
    return CPUs(servers=set(mine[:half]), clients=set(mine[half:]))


if __name__ == "__main__":
    sys.exit(main())
