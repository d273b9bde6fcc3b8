"""The benchmark's course: for each system in turn, on the same machine and the same load,
a join storm with shares flowing, connections held (and RSS per connection), then the
capacity at a latency objective of one big party and of many parties (open-loop sweeps of
share rates), a closed-loop fan-out, the many parties' connections held with nothing sent, and
the old fixed-rate latency run.

Every figure has one definition for every system: the same clients, parties, server
processes and rates; a share is timed from its scheduled send time to each probe that
receives it, and a share a probe never receives counts as lost (in delivered ÷ expected
and, as an infinite latency, in the percentiles).
"""

import math
import multiprocessing
import statistics
import sys
import threading
import time
from collections.abc import Collection
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import psutil

from . import fleet
from .profiles import Profile
from .systems import BENCH_SECRET, System, cpu_seconds, listen_overflows


def percentile(values: list[float], share: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def percentile_with_losses(latencies: list[float], lost: int, share: float) -> float | None:
    """The percentile of the latencies where `lost` more samples are infinitely late;
    None when it falls among the lost ones (or there is nothing to rank)."""
    total = len(latencies) + max(0, lost)
    if total == 0:
        return None
    index = int(share * total)
    if index >= len(latencies):
        return None
    return sorted(latencies)[index]


@dataclass
class CPUs:
    """Where the processes run: servers (and their Redis) on some CPUs, clients on others."""

    servers: set[int] | None = None
    clients: set[int] | None = None

    def describe(self) -> str:
        if not self.servers or not self.clients:
            return "not pinned: servers and clients share every CPU (client CPU share reported)"
        return (
            f"servers and Redis pinned to CPU {sorted(self.servers)}, clients and the "
            f"coordinator to CPU {sorted(self.clients)}"
        )


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
                f"  {system.name:<11} {self.phase:<34} {time.monotonic() - self.started:6.1f} s"
                f" | server fds {fds:>7,.0f} | RSS {rss / 2**20:7.1f} MiB | CPU {cpu:4.0f}%"
            )
            if sys.stdout.isatty():
                sys.stdout.write("\r" + line[:126].ljust(126))
                sys.stdout.flush()
            elif self.phase != self.printed:  # a log, not a terminal: one line per phase
                self.printed = self.phase
                print(line, flush=True)

    def set(self, phase: str) -> None:
        self.phase = phase
        self.started = time.monotonic()


class Fleets:
    """The client processes of one system, driven over pipes."""

    def __init__(self, system: System, count: int, cpus: set[int] | None) -> None:
        context = multiprocessing.get_context("spawn")
        self.cpus = cpus
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
                    sorted(cpus or ()),
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

    def cpu_seconds(self) -> float:
        return cpu_seconds([process.pid for process in self.processes if process.pid])

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


def level(held: list[int], extra: int) -> list[int]:
    """How many of `extra` connections each fleet process takes so that the fullest ends
    as empty as it can be (the emptiest fill first)."""
    add = [0] * len(held)
    for _ in range(extra):
        index = min(range(len(held)), key=lambda i: held[i] + add[i])
        add[index] += 1
    return add


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


@dataclass
class Scenario:
    """The clients of one load: who is in which party, which fleets receive."""

    members: dict[str, int] = field(default_factory=dict)  # party -> clients joined
    probes: dict[str, int] = field(default_factory=dict)  # party -> probes joined
    receiver_fleets: list[int] = field(default_factory=list)

    def add(self, *runs: dict[int, dict[str, Any]]) -> None:
        for run in runs:
            for answer in run.values():
                for party, n in answer["joined_by_party"].items():
                    self.members[party] = self.members.get(party, 0) + n
                for party, n in answer["probes_by_party"].items():
                    self.probes[party] = self.probes.get(party, 0) + n


def step(
    system: System,
    fleets: Fleets,
    scenario: Scenario,
    p: Profile,
    rate: float,
    listings: list[str],
    seconds: float | None = None,
    window: int = 0,
    drain: float | None = None,
) -> dict[str, Any]:
    """One load step: fleet 0 shares (open loop at `rate`, or closed loop with `window`),
    the others receive; figures of the measured window, CPU of the whole step."""
    if seconds is None:
        # At least step_min_shares shares, within three windows.
        wanted = p.step_min_shares / rate if rate else 0.0
        seconds = max(p.step_seconds, min(wanted, 3 * p.step_seconds))
    timing = {
        "seconds": seconds,
        "warmup": p.latency_warmup_seconds,
        "drain": p.step_drain_seconds if drain is None else drain,
        "quiet": p.step_quiet_seconds,
    }
    server_before, client_before = system.cpu_seconds(), fleets.cpu_seconds()
    redis_before, kernel_before = system.redis_cpu_seconds(), system.kernel_cpu_seconds()
    began = time.monotonic()
    commands = {i: ("measure", timing) for i in scenario.receiver_fleets}
    commands[0] = ("send", {**timing, "rate": rate, "window": window, "listings": listings})
    answers = fleets.run(commands)
    wall = time.monotonic() - began
    server_cpu = system.cpu_seconds() - server_before
    redis_cpu = system.redis_cpu_seconds() - redis_before
    kernel_cpu = system.kernel_cpu_seconds() - kernel_before
    client_cpu = fleets.cpu_seconds() - client_before
    sender = answers[0]
    low, high = sender["measured_from"], sender["measured_until"]
    measured = [(party, key) for party, key, t in sender["sends"] if low <= t < high]
    sent_at = {(party, key): t for party, key, t in sender["sends"] if key is not None}
    in_window = set(measured)
    latencies = [
        (t - sent_at[(party, key)]) * 1000.0
        for answer in answers.values()
        for party, key, t in answer["arrivals"]
        if (party, key) in in_window
    ]
    expected = sum(scenario.probes.get(party, 0) for party, _ in measured)
    lost = max(0, expected - len(latencies))
    expected_all = sum(scenario.members.get(party, 0) for party, _, _ in sender["sends"])
    events_step = sum(a["events_step"] for a in answers.values())
    window_seconds = sender["seconds"]
    p99 = percentile_with_losses(latencies, lost, 0.99)
    delivered_ratio = len(latencies) / expected if expected else None
    delivered_all = events_step / expected_all if expected_all else None
    client_cores = len(fleets.cpus) if fleets.cpus else psutil.cpu_count()
    return {
        "rate": rate,
        "sent": sender["sent"],
        "expected": expected,
        "delivered": len(latencies),
        "delivered_ratio": delivered_ratio,
        "delivered_ratio_all": delivered_all,
        "events_per_s": sum(a["events"] for a in answers.values()) / window_seconds,
        "p50_ms": percentile_with_losses(latencies, lost, 0.50),
        "p99_ms": p99,
        "p999_ms": percentile_with_losses(latencies, lost, 0.999),
        "server_cpu_s": server_cpu,
        # How busy the servers were (cores): near the cores they have, they were the limit.
        "server_cores": server_cpu / wall,
        "client_cpu_s": client_cpu,
        "cpu_s_per_m_deliveries": server_cpu / events_step * 1e6 if events_step else None,
        # How much of the server CPU is Redis's (0 for systems without one).
        "redis_cpu_share": redis_cpu / server_cpu if server_cpu else None,
        # How much of it is the kernel's (system time): the sockets' work, the same for all.
        "kernel_cpu_share": kernel_cpu / server_cpu if server_cpu else None,
        "client_cpu_share": client_cpu / (client_cpu + server_cpu) if client_cpu else 0.0,
        "client_busy": client_cpu / wall / client_cores,  # near 1: the clients were the limit
        "send_lag_p99_ms": sender["send_lag_p99_ms"],
        # The clients, not the servers, may have been the limit of this step.
        "client_limited": sender["send_lag_p99_ms"] > p.objective_ms / 2
        or client_cpu / wall / client_cores > 0.9,
        "passed": bool(
            expected
            and len(latencies) >= expected
            and (delivered_all or 0) >= 0.999
            and p99 is not None
            and p99 <= p.objective_ms
        ),
        "answers": answers,  # for the callers' own figures; dropped before the JSON
    }


def sweep(try_step, start: float, steps: int, refine: int) -> list[dict[str, Any]]:
    """Rates doubled from `start` until one fails (at most `steps`), halved from `start`
    when the first fails (at most twice), then bisected `refine` times (geometric mean)
    between the best that passed and the lowest that failed. A rate fails only if it fails
    twice: one stall of a shared machine (or of the clients) does not end a sweep (both
    tries stay in the list)."""
    done: list[dict[str, Any]] = []

    def run_step(rate: float) -> dict[str, Any]:
        result = try_step(rate)
        if not result["passed"]:
            done.append(result | {"retried": True})
            result = try_step(rate)
        return result

    rate = start
    for _ in range(steps):
        done.append(run_step(rate))
        if not done[-1]["passed"]:
            break
        rate *= 2
    for _ in range(2):
        if any(s["passed"] for s in done):
            break
        rate = min(s["rate"] for s in done) / 2  # every one failed
        done.append(run_step(rate))
    for _ in range(refine):
        passed = [s["rate"] for s in done if s["passed"]]
        failed = [s["rate"] for s in done if not s["passed"] and not s.get("retried")]
        if not passed or not failed:
            break
        done.append(run_step(math.sqrt(max(passed) * min(failed))))
    return done


def capacity(scope: str, steps: list[dict[str, Any]]) -> dict[str, Any]:
    """The highest rate that passed, with its step's figures, as `capacity_<scope>_*`."""
    steps = [{k: v for k, v in s.items() if k != "answers"} for s in steps]
    passed = [s for s in steps if s["passed"]]
    best = max(passed, key=lambda s: s["rate"]) if passed else None
    out: dict[str, Any] = {f"capacity_{scope}_steps": steps}
    out[f"capacity_{scope}_shares_per_s"] = best["rate"] if best else 0.0
    above = [s for s in steps if not s["passed"] and (best is None or s["rate"] > best["rate"])]
    # What failed the next rate up: the servers, or the clients (their CPU, or the sender's
    # lag past half the objective, in both tries): then the capacity is a floor, not a limit.
    out[f"capacity_{scope}_limited_by"] = (
        "not reached"
        if not above
        else "clients"
        if all(s["client_limited"] for s in above)
        else "servers"
    )
    # How busy the servers were at the next rate up (the mean of its tries): whether it failed
    # because their CPU ran out.
    next_rate = min((s["rate"] for s in above), default=None)
    out[f"capacity_{scope}_next_server_cores"] = (
        statistics.fmean(s["server_cores"] for s in above if s["rate"] == next_rate)
        if above
        else None
    )
    # The sweep's first rate is the same load for every system: its CPU is like for like.
    first = [s for s in steps if s["rate"] == steps[0]["rate"] and not s.get("retried")]
    out[f"capacity_{scope}_first_rate"] = steps[0]["rate"]
    for key in ("p50_ms", "p99_ms", "cpu_s_per_m_deliveries", "redis_cpu_share",
                "kernel_cpu_share"):  # fmt: skip
        out[f"capacity_{scope}_first_{key}"] = first[0].get(key) if first else None
    for key in ("events_per_s", "p50_ms", "p99_ms", "p999_ms", "cpu_s_per_m_deliveries",
                "client_cpu_share", "client_busy", "send_lag_p99_ms",
                "redis_cpu_share", "kernel_cpu_share"):  # fmt: skip
        out[f"capacity_{scope}_{key}"] = best.get(key) if best else None
    return out


SCENARIOS = ("storm", "big", "many")  # join storm and hold; one big party; many parties


def bench_system(
    system: System, p: Profile, progress: Progress, cpus: CPUs, chosen: Collection[str]
) -> dict[str, Any]:
    """The chosen scenarios of one system; one that fails is recorded in `scenario_errors`
    and the next runs (a failure should not hide the others' figures)."""
    parties, listings = system.prepare(p.latency_parties + 3)
    storm_party, hold_party, big_party = parties[:3]
    many_parties = parties[3:]
    fleets = Fleets(system, p.fleet_processes, cpus.clients)
    scenarios = {
        "storm": lambda: _storm_and_hold(
            system, fleets, p, storm_party, hold_party, listings, progress
        ),
        "big": lambda: _big_party(system, fleets, p, big_party, listings, progress),
        "many": lambda: _many_parties(system, fleets, p, many_parties, listings, progress),
    }
    result: dict[str, Any] = {"system": system.name}
    try:
        for name, scenario in scenarios.items():
            if name not in chosen:
                continue
            try:
                result.update(scenario())
            except Exception as error:
                errors = result.setdefault("scenario_errors", [])
                errors.append(f"{name}: {type(error).__name__}: {error}")
            fleets.all("close")
    finally:
        fleets.stop()
    return result


def _storm_and_hold(
    system: System,
    fleets: Fleets,
    p: Profile,
    storm_party: str,
    hold_party: str,
    listings: list[str],
    progress: Progress,
) -> dict[str, Any]:
    """The join storm, then connections held up to `hold_connections` (the storm's count)
    over every server process: what each connection costs in memory."""
    targets = system.targets
    rss_idle = system.rss_bytes()
    result = _storm(system, fleets, p, storm_party, listings, progress)
    connected = result["storm_ok"] + 1  # and the storm's sender

    # Fill every server process to an equal share, and every fleet process too (one
    # may hold at most 20,000 fds); the storm's clients sit on the first two servers.
    storm_on = split(result["storm_ok"], min(2, len(targets))) + [0] * len(targets)
    stormed = result.pop("storm_ok_by_fleet")
    per_fleet = [stormed.get(i, 0) for i in range(p.fleet_processes)]
    progress.set(f"holding {p.hold_connections:,}")
    for index, (target, share) in enumerate(
        zip(targets, split(p.hold_connections, len(targets)), strict=True)
    ):
        counts = level(per_fleet, max(0, share - storm_on[index]))
        per_fleet = [a + b for a, b in zip(per_fleet, counts, strict=True)]
        hold = fleets.run({
            i: ("connect", {"targets": [target], "parties": [hold_party], "count": n,
                            "seconds": 0})
            for i, n in enumerate(counts)
        })  # fmt: skip
        connected += tally(result, "hold", hold)
    time.sleep(p.settle_seconds)  # let allocations settle before reading RSS
    held = sum(a["held"] for a in fleets.all("measure", seconds=0.5))
    result["connections_held"] = held
    result["hold_dropped"] = connected - held  # connected and joined, gone by now
    result["rss_per_connection_kib"] = (system.rss_bytes() - rss_idle) / max(1, held) / 1024
    return result


def _storm(
    system: System,
    fleets: Fleets,
    p: Profile,
    party: str,
    listings: list[str],
    progress: Progress,
) -> dict[str, Any]:
    """Clients arrive over two server processes at scheduled times (fleets 1..), while
    fleet 0's sender shares into the party, so no joiner is served a kept snapshot."""
    progress.set(f"join storm {p.storm_clients:,} in {p.storm_seconds:g}s")
    targets = system.targets
    sender = fleets.run({0: ("connect", {"targets": targets[:1], "parties": [party],
                                         "count": 1, "seconds": 0, "role": "sender"})})  # fmt: skip
    if sender[0]["ok"] != 1:
        raise RuntimeError(f"the storm's sender did not join: {sender[0]['failures']}")
    joiners = list(range(1, len(fleets.pipes))) or [0]
    commands = {
        i: ("connect", {"targets": targets[:2], "parties": [party], "count": n,
                        "seconds": p.storm_seconds})
        for i, n in zip(joiners, split(p.storm_clients, len(joiners)), strict=True)
    }  # fmt: skip
    if 0 not in commands:
        # Shares for as long as the storm is scheduled, and a little after (it may run late).
        commands[0] = ("send", {"seconds": p.storm_seconds * 1.2, "rate": p.storm_share_rate,
                                "window": 0, "listings": listings})  # fmt: skip
    server_before, kernel_before = system.cpu_seconds(), system.kernel_cpu_seconds()
    overflows_before = listen_overflows()
    began = time.monotonic()
    answers = fleets.run(commands)
    storm_wall = time.monotonic() - began
    server_cpu = system.cpu_seconds() - server_before
    kernel_cpu = system.kernel_cpu_seconds() - kernel_before
    overflows_after = listen_overflows()
    storm = {i: a for i, a in answers.items() if i in joiners}
    join_ms = [ms for a in storm.values() for ms in a["join_ms"]]
    lag_ms = [ms for a in storm.values() for ms in a["lag_ms"]]
    result: dict[str, Any] = {}
    result["storm_ok"] = tally(result, "storm", storm)
    # With the fan-out of the shares flowing meanwhile: what a join costs at a party's start.
    result["storm_server_cpu_ms_per_join"] = server_cpu * 1000 / max(1, result["storm_ok"])
    result["storm_kernel_cpu_share"] = kernel_cpu / server_cpu if server_cpu else None
    result["storm_server_cores"] = server_cpu / storm_wall
    result["storm_p50_join_ms"] = percentile(join_ms, 0.50)
    result["storm_p99_join_ms"] = percentile(join_ms, 0.99)
    result["storm_seconds"] = max(a["seconds"] for a in storm.values())
    result["storm_client_lag_p99_ms"] = percentile(lag_ms, 0.99)
    if overflows_before is not None and overflows_after is not None:
        result["storm_listen_overflows"] = overflows_after - overflows_before
    result["storm_ok_by_fleet"] = {i: a["ok"] for i, a in storm.items()}
    result["storm_ok_by_fleet"][0] = result["storm_ok_by_fleet"].get(0, 0) + 1  # the sender
    result["storm_shares_sent"] = answers[0].get("sent_all", 0) if 0 not in joiners else 0
    return result


JOIN_ROUNDS = 4  # receivers and probes join in rounds: probes all through the join order


def _join(
    fleets: Fleets,
    p: Profile,
    targets: list[tuple[str, int]],
    parties: list[str],
    count: int,
    sender_targets: list[tuple[str, int]],
) -> tuple[Scenario, dict[str, Any], int]:
    """`count` clients in `parties` (round-robin), on `targets` (round-robin): every
    `probe_every`th a probe, in fleet 0 beside the senders, the rest in fleets 1.. . Fleet 0
    is a light process, so it reads a probe's frame when it comes: what the probes time is the
    servers' delay, not the bulk receivers' own lag (which shows as client CPU). The probes
    join in rounds with the bulk, so they are spread through each party's join order (a
    server writes to a party's members in that order). Then the senders (fleet 0) join,
    `parties` split among them. Returns the scenario, the failures, and how many joined."""
    bulk_fleets = list(range(1, len(fleets.pipes)))
    probes = count // p.probe_every if p.probe_every else 0
    bulk = split(count - probes, len(bulk_fleets))
    scenario = Scenario(receiver_fleets=bulk_fleets)
    result: dict[str, Any] = {}
    joined = 0
    offsets = dict.fromkeys(range(len(fleets.pipes)), 0)
    for round_ in range(JOIN_ROUNDS):
        counts = {i: split(n, JOIN_ROUNDS)[round_] for i, n in zip(bulk_fleets, bulk, strict=True)}
        counts[0] = split(probes, JOIN_ROUNDS)[round_]
        answers = fleets.run({
            i: ("connect", {"targets": targets, "parties": parties, "count": n, "seconds": 0,
                            "role": "probe" if i == 0 else "receiver", "offset": offsets[i]})
            for i, n in counts.items()
        })  # fmt: skip
        for i, n in counts.items():
            offsets[i] += n
        scenario.add(answers)
        joined += tally(result, "join", answers)
    per_sender = -(-len(parties) // p.senders)
    senders = fleets.run({0: ("connect", {"targets": sender_targets, "parties": parties,
                                          "count": p.senders, "seconds": 0, "role": "sender",
                                          "parties_per_client": per_sender})})  # fmt: skip
    if senders[0]["ok"] != p.senders:
        raise RuntimeError(f"the senders did not all join: {senders[0]['failures']}")
    scenario.add(senders)
    joined += tally(result, "join", senders)
    return scenario, result, joined


def _big_party(
    system: System, fleets: Fleets, p: Profile, party: str, listings: list[str], progress
) -> dict[str, Any]:
    """One party on one server process: the capacity sweep, then the closed-loop fan-out
    (the old `frames_per_s`... figures)."""
    progress.set(f"one party of {p.fanout_receivers:,}: joining")
    target = system.targets[:1]
    scenario, joins, connected = _join(fleets, p, target, [party], p.fanout_receivers, target)
    result = {f"fanout_{k.removeprefix('join_')}": v for k, v in joins.items()}

    def run_step(rate: float) -> dict[str, Any]:
        progress.set(f"one party of {p.fanout_receivers:,}: {rate:g} shares/s")
        return step(system, fleets, scenario, p, rate, listings)

    result.update(capacity("big", sweep(run_step, p.big_rate, p.sweep_steps, p.sweep_refine)))

    progress.set(f"fan-out to {p.fanout_receivers:,}, closed loop")
    closed = step(system, fleets, scenario, p, 0, listings, p.fanout_seconds, p.fanout_window,
                  p.fanout_drain_seconds)  # fmt: skip
    if not closed["sent"]:
        errors = sum(a["errors"] for a in closed["answers"].values())
        raise RuntimeError(f"the closed loop sent nothing ({errors} error frames)")
    measured = list(closed["answers"].values())
    seconds = statistics.mean(a["seconds"] for a in measured)
    frames = sum(a["frames"] for a in measured)
    events = sum(a["events"] for a in measured)
    held = sum(a["held"] for a in closed["answers"].values())
    return result | {
        "fanout_receivers": held,
        "fanout_dropped": connected - held,  # connected and joined, gone by now
        "frames_per_s": frames / seconds,
        "events_per_s": events / seconds,
        "events_per_frame": events / frames if frames else None,
        # Frames of one system may be larger than another's (a batch of events vs one).
        "fanout_mib_per_s": sum(a["bytes"] for a in measured) / seconds / 2**20,
        "fanout_shares_sent": closed["sent"],
        "fanout_p99_ms": closed["p99_ms"],  # the delay the saturation costs
        "fanout_delivered_ratio": closed["delivered_ratio"],
        "fanout_cpu_s_per_m_deliveries": closed["cpu_s_per_m_deliveries"],
    }


def _many_parties(
    system: System, fleets: Fleets, p: Profile, parties: list[str], listings: list[str], progress
) -> dict[str, Any]:
    """Senders on server 1; receivers and probes on servers 1 and 2."""
    progress.set(f"{len(parties)} parties, {p.latency_connections:,} conns: joining")
    first, second = system.targets[0], system.targets[1 % len(system.targets)]
    count = p.latency_connections - p.senders
    scenario, joins, connected = _join(fleets, p, [first, second], parties, count, [first])
    result = {f"latency_{k.removeprefix('join_')}": v for k, v in joins.items()}
    progress.set(f"{len(parties)} parties: nothing sent")
    result |= _idle(system, p.idle_seconds)

    def run_step(rate: float) -> dict[str, Any]:
        progress.set(f"{len(parties)} parties: {rate:g} shares/s")
        return step(system, fleets, scenario, p, rate, listings)

    steps = sweep(run_step, p.many_rate, p.sweep_steps, p.sweep_refine)
    result.update(capacity("many", steps))

    # The old latency run: one fixed rate, whatever the capacity (last: it may overload).
    progress.set(f"latency {p.latency_rate:g} shares/s")
    fixed = step(system, fleets, scenario, p, p.latency_rate, listings, p.latency_seconds)
    held = sum(a.get("held", 0) for a in fixed["answers"].values())
    return result | {
        "latency_connections": held,
        "latency_dropped": connected - held,  # connected and joined, gone by now
        "latency_shares_per_s": fixed["sent"] / p.latency_seconds,
        "latency_events_per_s": fixed["events_per_s"],
        "latency_samples": fixed["delivered"],
        "latency_delivered_ratio": fixed["delivered_ratio"],
        "latency_p50_ms": fixed["p50_ms"],
        "latency_p99_ms": fixed["p99_ms"],
        "latency_p999_ms": fixed["p999_ms"],
    }


def _idle(system: System, seconds: float) -> dict[str, Any]:
    """What holding the joined connections costs with nothing sent: the servers' keepalives
    and own rounds (presence, renewals), in CPU-seconds per second (1.0: a whole core)."""
    server_before, redis_before = system.cpu_seconds(), system.redis_cpu_seconds()
    began = time.monotonic()
    time.sleep(seconds)
    wall = time.monotonic() - began
    server_cpu = system.cpu_seconds() - server_before
    redis_cpu = system.redis_cpu_seconds() - redis_before
    return {
        "idle_server_cores": server_cpu / wall,
        "idle_redis_cpu_share": redis_cpu / server_cpu if server_cpu else None,
    }


def rotations(systems: list[str], runs: int) -> list[list[str]]:
    """The order of systems in each run: run r starts with the r-th system."""
    return [systems[r % len(systems) :] + systems[: r % len(systems)] for r in range(runs)]


def run_all(
    systems: list[str],
    profile: Profile,
    redis_url: str,
    redis_pid: int | None,
    logdir: Path,
    flush,
    cpus: CPUs,
    scenarios: Collection[str] = SCENARIOS,
) -> list[list[dict[str, Any]]]:
    """`profile.runs` runs of every system; run r starts with the r-th system (rotated)."""
    progress = Progress()
    ticker = threading.Thread(target=progress.run, daemon=True)
    ticker.start()
    runs = []
    try:
        for run, order in enumerate(rotations(systems, profile.runs)):
            print(f"run {run + 1} of {profile.runs}: {', '.join(order)}", flush=True)
            results = []
            for name in order:
                flush()
                system = System(name, redis_url, logdir, redis_pid)
                progress.system = system
                began = time.monotonic()
                try:
                    system.start(profile.gateways, cpus.servers)
                    results.append(bench_system(system, profile, progress, cpus, scenarios))
                    results[-1]["bench_seconds"] = time.monotonic() - began
                except Exception as error:
                    results.append({"system": name, "error": f"{type(error).__name__}: {error}"})
                finally:
                    progress.system = None
                    system.stop()
                if sys.stdout.isatty():
                    sys.stdout.write("\r" + " " * 126 + "\r")
                print(f"  {name}: done in {time.monotonic() - began:.1f} s", flush=True)
            runs.append(results)
    finally:
        progress.stop.set()
    return runs
