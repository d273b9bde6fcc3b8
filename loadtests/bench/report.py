"""The runs' medians and ranges, the table, the targets and how far each is, the JSON and
the PNG chart."""

import json
import statistics
from pathlib import Path
from typing import Any

# (key, label, format); {r} {o} {p} {c} are filled from the profile.
ROWS = [
    ("capacity_big_shares_per_s", "1 party of {r}: capacity (shares/s, p99 <= {o} ms)",
     "{:,.1f}"),
    ("capacity_big_events_per_s", "1 party: deliveries/s at capacity", "{:,.0f}"),
    ("capacity_big_p50_ms", "1 party: p50 at capacity (ms)", "{:,.1f}"),
    ("capacity_big_p99_ms", "1 party: p99 at capacity (ms)", "{:,.1f}"),
    ("capacity_big_p999_ms", "1 party: p99.9 at capacity (ms)", "{:,.1f}"),
    ("capacity_big_cpu_s_per_m_deliveries", "1 party: server CPU-s per 1M deliveries at capacity",
     "{:,.2f}"),
    ("capacity_big_first_p50_ms", "1 party: p50 at {b} shares/s (ms)", "{:,.1f}"),
    ("capacity_big_first_p99_ms", "1 party: p99 at {b} shares/s (ms)", "{:,.1f}"),
    ("capacity_big_first_cpu_s_per_m_deliveries",
     "1 party: server CPU-s per 1M deliveries at {b} shares/s", "{:,.2f}"),
    ("capacity_big_first_redis_cpu_share", "1 party: Redis's share of that server CPU",
     "{:.0%}"),
    ("capacity_big_first_kernel_cpu_share", "1 party: the kernel's share of that server CPU",
     "{:.0%}"),
    ("capacity_big_client_cpu_share", "1 party: clients' share of the CPU", "{:.0%}"),
    ("capacity_big_limited_by", "1 party: what failed the next rate", "{}"),
    ("capacity_big_next_server_cores", "1 party: server CPU at the next rate (cores)",
     "{:.2f}"),
    ("capacity_many_shares_per_s", "{p} parties, {c} conns: capacity (shares/s, p99 <= {o} ms)",
     "{:,.0f}"),
    ("capacity_many_events_per_s", "{p} parties: deliveries/s at capacity", "{:,.0f}"),
    ("capacity_many_p50_ms", "{p} parties: p50 at capacity (ms)", "{:,.1f}"),
    ("capacity_many_p99_ms", "{p} parties: p99 at capacity (ms)", "{:,.1f}"),
    ("capacity_many_p999_ms", "{p} parties: p99.9 at capacity (ms)", "{:,.1f}"),
    ("capacity_many_cpu_s_per_m_deliveries",
     "{p} parties: server CPU-s per 1M deliveries at capacity",
     "{:,.2f}"),
    ("capacity_many_first_p50_ms", "{p} parties: p50 at {m} shares/s (ms)", "{:,.1f}"),
    ("capacity_many_first_p99_ms", "{p} parties: p99 at {m} shares/s (ms)", "{:,.1f}"),
    ("capacity_many_first_cpu_s_per_m_deliveries",
     "{p} parties: server CPU-s per 1M deliveries at {m} shares/s", "{:,.2f}"),
    ("capacity_many_first_redis_cpu_share", "{p} parties: Redis's share of that server CPU",
     "{:.0%}"),
    ("capacity_many_first_kernel_cpu_share",
     "{p} parties: the kernel's share of that server CPU", "{:.0%}"),
    ("capacity_many_kernel_cpu_share",
     "{p} parties: the kernel's share of the server CPU at capacity", "{:.0%}"),
    ("capacity_many_client_cpu_share", "{p} parties: clients' share of the CPU", "{:.0%}"),
    ("capacity_many_limited_by", "{p} parties: what failed the next rate", "{}"),
    ("capacity_many_next_server_cores", "{p} parties: server CPU at the next rate (cores)",
     "{:.2f}"),
    ("idle_server_cores", "{p} parties, {c} conns, nothing sent: server CPU (cores)",
     "{:.3f}"),
    ("idle_redis_cpu_share", "{p} parties, nothing sent: Redis's share of that CPU", "{:.0%}"),
    ("storm_ok", "join storm (shares flowing): joined", "{:,.0f}"),
    ("storm_failed", "join storm: failed", "{:,.0f}"),
    ("storm_p50_join_ms", "join storm: p50 join from scheduled arrival (ms)", "{:,.0f}"),
    ("storm_p99_join_ms", "join storm: p99 join from scheduled arrival (ms)", "{:,.0f}"),
    ("storm_seconds", "join storm: seconds", "{:,.1f}"),
    ("storm_server_cpu_ms_per_join", "join storm: server CPU per join (ms)", "{:,.2f}"),
    ("storm_kernel_cpu_share", "join storm: the kernel's share of that CPU", "{:.0%}"),
    ("storm_server_cores", "join storm: server CPU (cores)", "{:.2f}"),
    ("storm_client_lag_p99_ms", "join storm: clients' own start lag p99 (ms)", "{:,.0f}"),
    ("storm_listen_overflows", "join storm: handshakes dropped, accept queue full", "{:,.0f}"),
    ("connections_held", "connections held", "{:,.0f}"),
    ("hold_failed", "hold: failed to connect", "{:,.0f}"),
    ("hold_dropped", "hold: dropped after connect", "{:,.0f}"),
    ("rss_per_connection_kib", "server RSS per connection (KiB)", "{:,.1f}"),
    ("frames_per_s", "fan-out frames/s (closed loop)", "{:,.0f}"),
    ("events_per_s", "fan-out events/s (closed loop)", "{:,.0f}"),
    ("events_per_frame", "events per frame", "{:,.1f}"),
    ("fanout_mib_per_s", "fan-out MiB/s received", "{:,.1f}"),
    ("fanout_p99_ms", "fan-out p99 at saturation (ms)", "{:,.0f}"),
    ("fanout_delivered_ratio", "fan-out: delivered ÷ expected", "{:.3f}"),
    ("fanout_failed", "fan-out: failed to connect", "{:,.0f}"),
    ("fanout_dropped", "fan-out: dropped after connect", "{:,.0f}"),
    ("latency_connections", "latency run: connections", "{:,.0f}"),
    ("latency_failed", "latency run: failed to connect", "{:,.0f}"),
    ("latency_dropped", "latency run: dropped after connect", "{:,.0f}"),
    ("latency_shares_per_s", "latency run: shares/s sent", "{:,.0f}"),
    ("latency_events_per_s", "latency run: events/s delivered", "{:,.0f}"),
    ("latency_delivered_ratio", "latency run: delivered ÷ expected", "{:.3f}"),
    ("latency_p50_ms", "share-to-delivery p50 (ms)", "{:,.1f}"),
    ("latency_p99_ms", "share-to-delivery p99 (ms)", "{:,.1f}"),
]  # fmt: skip
PHASES = {"storm": "join storm", "hold": "hold", "fanout": "fan-out", "latency": "latency run"}
RATIO_TO = ("raw-batched", "node")  # the engine's ratio columns: the limit, and the rival


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def aggregate(runs: list[list[dict[str, Any]]], systems: list[str]) -> list[dict[str, Any]]:
    """One result per system: the median of each figure over its runs, the range in
    `ranges[key]` = [min, max]; failures by kind summed over the runs; a system whose every
    run failed keeps the first error. A figure of a scenario that failed in some runs is the
    median of the others; its errors are listed."""
    out = []
    for name in systems:
        mine = [r for run in runs for r in run if r["system"] == name]
        ok = [r for r in mine if "error" not in r]
        errors = [r["error"] for r in mine if "error" in r]
        errors += [error for r in ok for error in r.get("scenario_errors", [])]
        if not ok:
            out.append({"system": name, "error": errors[0] if errors else "not run"})
            continue
        result: dict[str, Any] = {"system": name, "runs": len(ok), "ranges": {}}
        if errors:
            result["errors"] = errors
        keys = dict.fromkeys(key for r in ok for key in r if key != "scenario_errors")
        for key in keys:
            values = [r[key] for r in ok if key in r]
            if all(_number(v) for v in values):
                result[key] = statistics.median(values)
                result["ranges"][key] = [min(values), max(values)]
            elif key.endswith("_failures"):
                total: dict[str, int] = {}
                for failures in values:
                    for kind, n in (failures or {}).items():
                        total[kind] = total.get(kind, 0) + n
                result[key] = total
            elif not key.endswith("_steps"):  # every step stays in the runs
                result[key] = values[len(values) // 2] if None not in values else None
        out.append(result)
    return out


def _cell(result: dict[str, Any], key: str, fmt: str) -> str:
    value = result.get(key)
    if value is None:
        return "n/a"
    text = fmt.format(value)
    low, high = result.get("ranges", {}).get(key, (value, value))
    if result.get("runs", 1) > 1 and low != high:
        text += f" ({fmt.format(low)} to {fmt.format(high)})"
    return text


def _kinds(failures: dict[str, int]) -> str:
    return ", ".join(f"{kind} {n:,}" for kind, n in sorted(failures.items(), key=lambda i: -i[1]))


def losses(result: dict[str, Any], phases: list[str]) -> list[str]:
    """The connections these phases of one system lost: failed to connect (by kind), dropped."""
    out = []
    for phase in phases:
        if failures := result.get(f"{phase}_failures"):
            failed = sum(failures.values())
            out.append(f"{PHASES[phase]} {failed:,} failed to connect ({_kinds(failures)})")
        if dropped := result.get(f"{phase}_dropped"):
            out.append(f"{PHASES[phase]} {dropped:,} dropped after connect")
    return out


def table(results: list[dict[str, Any]], profile: dict[str, Any]) -> str:
    """Medians (and ranges, over several runs) of every system, and the engine's ratio of
    medians to the batched raw server and to Node."""
    names = [r["system"] for r in results]
    by_name = {r["system"]: r for r in results}
    engine = by_name.get("engine", {})
    others = [o for o in RATIO_TO if o in by_name and "engine" in by_name]
    header = ["figure", *names, *[f"engine ÷ {o}" for o in others]]
    fill = {
        "r": f"{profile['fanout_receivers']:,}",
        "o": f"{profile['objective_ms']:g}",
        "p": f"{profile['latency_parties']:,}",
        "c": f"{profile['latency_connections']:,}",
        "b": f"{profile['big_rate']:g}",
        "m": f"{profile['many_rate']:g}",
    }
    lines = []
    for key, label, fmt in ROWS:
        row = [label.format(**fill), *[_cell(by_name[n], key, fmt) for n in names]]
        for other in others:
            mine, theirs = engine.get(key), by_name[other].get(key)
            ratio = mine / theirs if _number(mine) and _number(theirs) and theirs else None
            row.append("n/a" if ratio is None else f"{ratio:.2f}x")
        lines.append(row)
    for result in results:
        if "error" in result:
            lines.append([f"{result['system']} failed", result["error"][:60]])
        for error in result.get("errors", []):
            lines.append([f"{result['system']} failed in a run", error[:60]])
    widths = [
        max(len(str(r[i])) for r in [header, *lines] if i < len(r)) for i in range(len(header))
    ]

    def render(row: list[str]) -> str:
        return "| " + " | ".join(str(c).ljust(widths[i]) for i, c in enumerate(row)) + " |"

    rule = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    kinds = [
        f"  {r['system']}, {PHASES[phase]}: {_kinds(r[f'{phase}_failures'])}"
        for r in results
        for phase in PHASES
        if r.get(f"{phase}_failures")
    ]
    if kinds:
        kinds.insert(0, "\nFailed to connect, by kind (all runs):")
    return "\n".join([render(header), rule, *(render(r) for r in lines), *kinds])


def targets(results: list[dict[str, Any]], profile: dict[str, Any]) -> list[dict[str, Any]]:
    """Each of issue 14's goals: what it asks, what was measured, met or how far off."""
    by_name = {r["system"]: r for r in results}
    engine = by_name.get("engine", {})

    def ratio(key: str, other: str) -> float | None:
        mine, theirs = engine.get(key), by_name.get(other, {}).get(key)
        return mine / theirs if _number(mine) and _number(theirs) and theirs else None

    def lost(*phases: str, other: str | None = None) -> str:
        """The connections the engine (and the system it is compared with) lost."""
        systems = ["engine"] if other is None else ["engine", other]
        found = [f"{s} {what}" for s in systems for what in losses(by_name.get(s, {}), phases)]
        return "; ".join(found)

    many = f"{profile['latency_parties']:,} parties, {profile['latency_connections']:,} conns"
    big = f"1 party of {profile['fanout_receivers']:,}"
    checks = [
        (f"capacity, {many}: >= 1.5x Node", ratio("capacity_many_shares_per_s", "node"), 1.5,
         ">=", lost("latency", other="node")),
        (f"capacity, {many}: >= 80% of raw-batched",
         ratio("capacity_many_shares_per_s", "raw-batched"), 0.8, ">=",
         lost("latency", other="raw-batched")),
        (f"capacity, {big}: >= 1.5x Node", ratio("capacity_big_shares_per_s", "node"), 1.5,
         ">=", lost("fanout", other="node")),
        ("server RSS per connection <= 10 KiB", engine.get("rss_per_connection_kib"), 10.0,
         "<=", lost("hold")),
        (f"join storm: all {profile['storm_clients']:,} join", engine.get("storm_ok"),
         float(profile["storm_clients"]), ">=", lost("storm")),
        ("join storm: p99 from scheduled arrival <= 500 ms", engine.get("storm_p99_join_ms"),
         500.0, "<=", lost("storm")),
        # Node's failed joins are not in its p99 (they can only flatter it): only the
        # engine's own losses leave this unmeasured.
        ("join storm: p99 below Node's", ratio("storm_p99_join_ms", "node"), 1.0, "<",
         lost("storm")),
        (f"CPU-s per 1M deliveries at capacity ({many}) <= Node's",
         ratio("capacity_many_cpu_s_per_m_deliveries", "node"), 1.0, "<=",
         lost("latency", other="node")),
        (f"CPU-s per 1M deliveries at capacity ({big}) <= Node's",
         ratio("capacity_big_cpu_s_per_m_deliveries", "node"), 1.0, "<=",
         lost("fanout", other="node")),
        (f"{profile['hold_connections']:,} connections held ({profile['gateways']} gateways)",
         engine.get("connections_held"), float(profile["hold_connections"]), ">=",
         lost("storm", "hold")),
    ]  # fmt: skip
    out = []
    for name, value, goal, sense, connections_lost in checks:
        if value is None:
            status = "not measured"
        elif {">=": value >= goal, "<=": value <= goal, "<": value < goal}[sense]:
            status = "met"
        elif sense == ">=":
            status = f"missed: {value / goal:.0%} of the target"
        else:
            status = f"missed: {value / goal:.2f}x the limit"
        if connections_lost and value is not None:  # not measured on the load it asks for
            status = "not met" if status == "met" else status
            status += f"; connections lost: {connections_lost}"
        out.append({"target": name, "value": value, "goal": goal, "status": status,
                    "lost": connections_lost})  # fmt: skip
    return out


def targets_text(checks: list[dict[str, Any]]) -> str:
    lines = []
    for check in checks:
        value = "n/a" if check["value"] is None else f"{check['value']:,.2f}"
        lines.append(f"  {check['target']:<72} {value:>12}  {check['status']}")
    return "\n".join(lines)


def write_json(path: Path, document: dict[str, Any]) -> None:
    path.write_text(json.dumps(document, indent=2, default=str) + "\n")


def write_chart(path: Path, results: list[dict[str, Any]]) -> str | None:
    """A PNG of the headline figures (medians); None when written, else why not."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return "matplotlib not installed (pip install -e '.[bench]'): no chart"
    panels = [("capacity_big_shares_per_s", "capacity, 1 party (shares/s)"),
              ("capacity_many_shares_per_s", "capacity, many parties (shares/s)"),
              ("capacity_many_cpu_s_per_m_deliveries", "CPU-s per 1M deliveries"),
              ("storm_p99_join_ms", "join storm p99 (ms)"),
              ("rss_per_connection_kib", "RSS per connection (KiB)")]  # fmt: skip
    figure, axes = plt.subplots(1, len(panels), figsize=(4 * len(panels), 3.6))
    names = [r["system"] for r in results]
    for axis, (key, title) in zip(axes, panels, strict=True):
        values = [r.get(key) or 0 for r in results]
        colours = ["#d1495b" if n == "engine" else "#8d99ae" for n in names]
        axis.bar(names, values, color=colours)
        axis.set_title(title, fontsize=10)
        axis.tick_params(axis="x", labelrotation=30, labelsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return None
