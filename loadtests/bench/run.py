"""The benchmark's course: for each system in turn, on the same machine and the same load,
a join storm, connections held (and RSS per connection), fan-out throughput and
share-to-delivery latency across two server processes."""

import multiprocessing
import statistics
import sys
import threading
import time
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import psutil

from . import fleet
from .profiles import Profile
from .systems import BENCH_SECRET, System


def percentile(values: list[float], share: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


@dataclass
class Progress:
    """The live progress line: phase, time, and the servers' fds, RSS and CPU."""

    system: System | None = None
    phase: str = ""
    started: float = field(default_factory=time.monotonic)
    stop: threading.Event = field(default_factory=threading.Event)
    printed: str = ""

    def run(self) -> None:
        processes: dict[int, psutil.Process] = {}
        while not self.stop.wait(0.5):
            system = self.system
            if system is None:
                continue
            fds = rss = cpu = 0.0
            for pid in system.pids():
                try:
                    process = processes.setdefault(pid, psutil.Process(pid))
                    fds += process.num_fds()
                    rss += process.memory_info().rss
                    cpu += process.cpu_percent()
                except psutil.NoSuchProcess:
                    pass
            line = (
                f"  {system.name:<9} {self.phase:<28} {time.monotonic() - self.started:6.1f} s"
                f" | server fds {fds:>7,.0f} | RSS {rss / 2**20:7.1f} MiB | CPU {cpu:4.0f}%"
            )
            if sys.stdout.isatty():
                sys.stdout.write("\r" + line[:118].ljust(118))
                sys.stdout.flush()
            elif self.phase != self.printed:  # a log, not a terminal: one line per phase
                self.printed = self.phase
                print(line, flush=True)

    def set(self, phase: str) -> None:
        self.phase = phase
        self.started = time.monotonic()


class Fleets:
    """The client processes of one system, driven over pipes."""

    def __init__(self, system: System, count: int) -> None:
        context = multiprocessing.get_context("spawn")
        self.pipes: list[Connection] = []
        self.processes = []
        for index in range(count):
            mine, theirs = context.Pipe()
            process = context.Process(
                target=fleet.main,
                args=(
                    theirs,
                    f"{system.name}-f{index}",
                    f"127.0.0.{10 + index}",
                    system.dialect,
                    BENCH_SECRET,
                ),
                daemon=True,
            )
            process.start()
            self.pipes.append(mine)
            self.processes.append(process)

    def run(self, commands: dict[int, tuple[str, dict[str, Any]]]) -> dict[int, dict[str, Any]]:
        """Run one command on each named fleet process at once; their answers by index."""
        for index, command in commands.items():
            self.pipes[index].send(command)
        answers = {index: self.pipes[index].recv() for index in commands}
        for index, answer in answers.items():
            if "error" in answer:
                raise RuntimeError(f"fleet {index}: {answer['error']}")
        return answers

    def all(self, command: str, **arguments: Any) -> list[dict[str, Any]]:
        return list(self.run({i: (command, arguments) for i in range(len(self.pipes))}).values())

    def stop(self) -> None:
        for pipe in self.pipes:
            try:
                pipe.send(("stop", {}))
            except OSError:
                pass
        for pipe, process in zip(self.pipes, self.processes, strict=True):
            # A fleet still busy with a command (we are unwinding an error) does not answer.
            if not (pipe.poll(10) and process.join(5) is None and not process.is_alive()):
                process.kill()
                process.join(5)


def split(total: int, parts: int) -> list[int]:
    return [total // parts + (1 if i < total % parts else 0) for i in range(parts)]


def tally(result: dict[str, Any], phase: str, *runs: dict[int, dict[str, Any]]) -> int:
    """Add the failures of a phase's connect runs to `result`, as `<phase>_failed` and
    `<phase>_failures` (by kind); how many of these runs' clients connected and joined."""
    failures = result.setdefault(f"{phase}_failures", {})
    answers = [answer for run in runs for answer in run.values()]
    for answer in answers:
        for kind, n in answer["failures"].items():
            failures[kind] = failures.get(kind, 0) + n
    result[f"{phase}_failed"] = sum(failures.values())
    return sum(answer["ok"] for answer in answers)


def bench_system(system: System, profile: Profile, progress: Progress) -> dict[str, Any]:
    p = profile
    targets = system.targets
    parties, listings = system.prepare(p.latency_parties + 3)
    storm_party, hold_party, fan_party, latency_parties = (
        parties[0],
        parties[1],
        parties[2],
        parties[3:],
    )
    fleets = Fleets(system, p.fleet_processes)
    result: dict[str, Any] = {"system": system.name}
    try:
        rss_idle = system.rss_bytes()
        count = p.fleet_processes

        progress.set(f"join storm {p.storm_clients:,} in {p.storm_seconds:g}s")
        storm = fleets.run({
            i: ("connect", {"targets": targets[:2], "parties": [storm_party], "count": n,
                            "seconds": p.storm_seconds})
            for i, n in enumerate(split(p.storm_clients, count))
        })  # fmt: skip
        join_ms = [ms for a in storm.values() for ms in a["join_ms"]]
        result["storm_ok"] = tally(result, "storm", storm)
        result["storm_p99_join_ms"] = percentile(join_ms, 0.99)
        result["storm_seconds"] = max(a["seconds"] for a in storm.values())

        # Fill every server process to an equal share (one may hold at most 20,000 fds);
        # the storm's clients sit on the first two.
        storm_on = split(result["storm_ok"], min(2, len(targets))) + [0] * len(targets)
        progress.set(f"holding {p.hold_connections:,}")
        connected = result["storm_ok"]  # the storm's clients stay, and count
        for index, (target, share) in enumerate(
            zip(targets, split(p.hold_connections, len(targets)), strict=True)
        ):
            rest = max(0, share - storm_on[index])
            hold = fleets.run({
                i: ("connect", {"targets": [target], "parties": [hold_party], "count": n,
                                "seconds": 0})
                for i, n in enumerate(split(rest, count))
            })  # fmt: skip
            connected += tally(result, "hold", hold)
        time.sleep(2.0)  # let allocations settle before reading RSS
        held = sum(a["held"] for a in fleets.all("measure", seconds=0.5))
        result["connections_held"] = held
        result["hold_dropped"] = connected - held  # connected and joined, gone by now
        result["rss_per_connection_kib"] = (system.rss_bytes() - rss_idle) / max(1, held) / 1024
        fleets.all("close")

        progress.set(f"fan-out to {p.fanout_receivers:,}")
        result.update(_fanout(system, fleets, profile, fan_party, listings))
        fleets.all("close")

        if system.name != "raw":
            progress.set(f"latency {p.latency_rate:g} shares/s")
            result.update(_latency(system, fleets, profile, latency_parties, listings))
            fleets.all("close")
    finally:
        fleets.stop()
    return result


def _fanout(
    system: System, fleets: Fleets, p: Profile, party: str, listings: list[str]
) -> dict[str, Any]:
    """Receivers in one party on one server; fleet 0 holds the senders and probes."""
    target = system.targets[:1]
    receivers = split(p.fanout_receivers, p.fleet_processes - 1)
    joined = fleets.run({
        i + 1: ("connect", {"targets": target, "parties": [party], "count": n, "seconds": 0})
        for i, n in enumerate(receivers)
    })  # fmt: skip
    senders = fleets.run({0: ("connect", {"targets": target, "parties": [party],
                                          "count": p.senders, "seconds": 0,
                                          "role": "sender"})})  # fmt: skip
    probes = fleets.run({0: ("connect", {"targets": target, "parties": [party], "count": 4,
                                         "seconds": 0, "role": "probe"})})  # fmt: skip
    result: dict[str, Any] = {}
    connected = tally(result, "fanout", joined)
    tally(result, "fanout", senders, probes)
    commands = {i: ("measure", {"seconds": p.fanout_seconds}) for i in range(1, p.fleet_processes)}
    commands[0] = ("send", {"seconds": p.fanout_seconds, "rate": 0, "window": p.fanout_window,
                            "listings": listings})  # fmt: skip
    answers = fleets.run(commands)
    measured = [answers[i] for i in range(1, p.fleet_processes)]
    seconds = statistics.mean(a["seconds"] for a in measured)
    frames = sum(a["frames"] for a in measured)
    events = sum(a["events"] for a in measured)
    held = sum(a["held"] for a in measured)
    return result | {
        "fanout_receivers": held,
        "fanout_dropped": connected - held,  # receivers connected and joined, gone by now
        "frames_per_s": frames / seconds,
        "events_per_s": events / seconds,
        "events_per_frame": events / frames if frames else None,
        # Frames of one system may be larger than another's (a batch of events vs one).
        "fanout_mib_per_s": sum(a["bytes"] for a in measured) / seconds / 2**20,
        "fanout_shares_sent": answers[0].get("sent", 0),
    }


def _latency(
    system: System, fleets: Fleets, p: Profile, parties: list[str], listings: list[str]
) -> dict[str, Any]:
    """Senders on server 1 (fleet 0); receivers on both servers; probes on server 2."""
    first, second = system.targets[0], system.targets[1 % len(system.targets)]
    receivers = p.latency_connections - p.senders - p.probes_per_party * len(parties)
    shares = split(receivers, p.fleet_processes - 1)
    joined = fleets.run({
        i + 1: ("connect", {"targets": [first, second], "parties": parties, "count": n,
                            "seconds": 0})
        for i, n in enumerate(shares)
    })  # fmt: skip
    probes = split(p.probes_per_party * len(parties), p.fleet_processes - 1)
    probing = fleets.run({
        i + 1: ("connect", {"targets": [second], "parties": parties, "count": n, "seconds": 0,
                            "role": "probe"})
        for i, n in enumerate(probes)
    })  # fmt: skip
    per_sender = -(-len(parties) // p.senders)
    senders = fleets.run({0: ("connect", {"targets": [first], "parties": parties,
                                          "count": p.senders, "seconds": 0, "role": "sender",
                                          "parties_per_client": per_sender})})  # fmt: skip
    result: dict[str, Any] = {}
    connected = tally(result, "latency", joined, probing, senders)
    timing = {"seconds": p.latency_seconds, "warmup": p.latency_warmup_seconds}
    commands = {i: ("measure", timing) for i in range(1, p.fleet_processes)}
    commands[0] = ("send", {**timing, "rate": p.latency_rate, "window": 0,
                            "listings": listings})  # fmt: skip
    answers = fleets.run(commands)
    measured = [answers[i] for i in range(1, p.fleet_processes)]
    latencies = [ms for a in measured for ms in a["latencies_ms"]]
    sent_at = {(party, offset): t for party, offset, t in answers[0]["sends"]}
    for a in measured:
        for party, offset, t in a["arrivals"]:
            if (party, offset) in sent_at:
                latencies.append((t - sent_at[(party, offset)]) * 1000.0)
    seconds = statistics.mean(a["seconds"] for a in measured)
    held = sum(a.get("held", 0) for a in answers.values())  # fleet 0: its senders
    return result | {
        "latency_connections": held,
        "latency_dropped": connected - held,  # connected and joined, gone by now
        "latency_shares_per_s": answers[0].get("sent", 0) / p.latency_seconds,
        "latency_events_per_s": sum(a["events"] for a in measured) / seconds,
        "latency_samples": len(latencies),
        "latency_p50_ms": percentile(latencies, 0.50),
        "latency_p99_ms": percentile(latencies, 0.99),
    }


def run_all(
    systems: list[str], profile: Profile, redis_url: str, logdir: Path, flush
) -> list[dict[str, Any]]:
    progress = Progress()
    ticker = threading.Thread(target=progress.run, daemon=True)
    ticker.start()
    results = []
    try:
        for name in systems:
            flush()
            system = System(name, redis_url, logdir)
            system.start(profile.gateways)
            progress.system = system
            try:
                results.append(bench_system(system, profile, progress))
            except Exception as error:
                results.append({"system": name, "error": f"{type(error).__name__}: {error}"})
            finally:
                progress.system = None
                system.stop()
            if sys.stdout.isatty():
                sys.stdout.write("\r" + " " * 118 + "\r")
            print(f"  {name}: done", flush=True)
    finally:
        progress.stop.set()
    return results
