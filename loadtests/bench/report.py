"""The table, the targets and how far each is, the JSON and the PNG chart."""

import json
from pathlib import Path
from typing import Any

ROWS = [  # (key, label, format)
    ("connections_held", "connections held", "{:,.0f}"),
    ("hold_failed", "hold: failed to connect", "{:,.0f}"),
    ("hold_dropped", "hold: dropped after connect", "{:,.0f}"),
    ("rss_per_connection_kib", "server RSS per connection (KiB)", "{:,.1f}"),
    ("frames_per_s", "fan-out frames/s", "{:,.0f}"),
    ("events_per_s", "fan-out events/s", "{:,.0f}"),
    ("events_per_frame", "events per frame", "{:,.1f}"),
    ("fanout_mib_per_s", "fan-out MiB/s received", "{:,.1f}"),
    ("fanout_failed", "fan-out: failed to connect", "{:,.0f}"),
    ("fanout_dropped", "fan-out: dropped after connect", "{:,.0f}"),
    ("latency_connections", "latency run: connections", "{:,.0f}"),
    ("latency_failed", "latency run: failed to connect", "{:,.0f}"),
    ("latency_dropped", "latency run: dropped after connect", "{:,.0f}"),
    ("latency_shares_per_s", "latency run: shares/s sent", "{:,.0f}"),
    ("latency_events_per_s", "latency run: events/s delivered", "{:,.0f}"),
    ("latency_p50_ms", "share-to-delivery p50 (ms)", "{:,.1f}"),
    ("latency_p99_ms", "share-to-delivery p99 (ms)", "{:,.1f}"),
    ("storm_ok", "join storm: joined", "{:,.0f}"),
    ("storm_failed", "join storm: failed", "{:,.0f}"),
    ("storm_seconds", "join storm: seconds", "{:,.1f}"),
    ("storm_p99_join_ms", "join storm: p99 join (ms)", "{:,.0f}"),
]
LOWER_IS_BETTER = {"rss_per_connection_kib", "latency_p50_ms", "latency_p99_ms",
                   "storm_failed", "storm_p99_join_ms", "storm_seconds", "hold_failed",
                   "hold_dropped", "fanout_failed", "fanout_dropped", "latency_failed",
                   "latency_dropped"}  # fmt: skip
PHASES = {"storm": "join storm", "hold": "hold", "fanout": "fan-out", "latency": "latency run"}


def _cell(value: Any, fmt: str) -> str:
    return "n/a" if value is None else fmt.format(value)


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


def table(results: list[dict[str, Any]]) -> str:
    by_name = {r["system"]: r for r in results}
    engine = by_name.get("engine", {})
    others = [r["system"] for r in results if r["system"] != "engine"]
    names = [r["system"] for r in results]
    header = ["figure", *names, *[f"engine ÷ {o}" for o in others]]
    lines = []
    for key, label, fmt in ROWS:
        row = [label, *[_cell(by_name[n].get(key), fmt) for n in names]]
        for other in others:
            mine, theirs = engine.get(key), by_name[other].get(key)
            ratio = mine / theirs if mine is not None and theirs else None
            row.append(_cell(ratio, "{:.2f}x"))
        lines.append(row)
    for result in results:
        if "error" in result:
            lines.append([f"{result['system']} failed", result["error"][:60]])
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
        kinds.insert(0, "\nFailed to connect, by kind:")
    return "\n".join([render(header), rule, *(render(r) for r in lines), *kinds])


def targets(results: list[dict[str, Any]], profile: dict[str, Any]) -> list[dict[str, Any]]:
    """Each of the issue's targets: what it asks, what was measured, met or how far off."""
    by_name = {r["system"]: r for r in results}
    engine = by_name.get("engine", {})

    def ratio(key: str, other: str, other_key: str | None = None) -> float | None:
        mine, theirs = engine.get(key), by_name.get(other, {}).get(other_key or key)
        return mine / theirs if mine is not None and theirs else None

    def lost(*phases: str, other: str | None = None) -> str:
        """The connections the engine (and the system it is compared with) lost."""
        systems = ["engine"] if other is None else ["engine", other]
        found = [f"{s} {what}" for s in systems for what in losses(by_name.get(s, {}), phases)]
        return "; ".join(found)

    checks = [
        ("fan-out frames/s >= 90% of raw", ratio("frames_per_s", "raw"), 0.9, ">=",
         lost("fanout", other="raw")),
        ("events/s >= 5x raw frames/s", ratio("events_per_s", "raw", "frames_per_s"), 5.0, ">=",
         lost("fanout", other="raw")),
        ("events/s >= 3x python-socketio", ratio("events_per_s", "socketio"), 3.0, ">=",
         lost("fanout", other="socketio")),
        ("events/s >= 1.5x Node Socket.IO", ratio("events_per_s", "node"), 1.5, ">=",
         lost("fanout", other="node")),
        (f"p99 share-to-delivery <= 50 ms ({profile['latency_connections']:,} conns, "
         f"{profile['latency_rate']:g} shares/s)", engine.get("latency_p99_ms"), 50.0, "<=",
         lost("latency")),
        (f"{profile['hold_connections']:,} connections held "
         f"({profile['gateways']} gateways; issue: 50,000)",
         engine.get("connections_held"), float(profile["hold_connections"]), ">=",
         lost("storm", "hold")),
        ("<= 16 KiB RSS per connection", engine.get("rss_per_connection_kib"), 16.0, "<=",
         lost("hold")),
        (f"join storm: all {profile['storm_clients']:,} join", engine.get("storm_ok"),
         float(profile["storm_clients"]), ">=", lost("storm")),
        ("join storm: p99 join <= 1 s", engine.get("storm_p99_join_ms"), 1000.0, "<=",
         lost("storm")),
    ]  # fmt: skip
    out = []
    for name, value, goal, sense, connections_lost in checks:
        if value is None:
            status = "not measured"
        elif (value >= goal) if sense == ">=" else (value <= goal):
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
    """A PNG of the headline figures; None when written, else why not."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return "matplotlib not installed (pip install -e '.[bench]'): no chart"
    panels = [("frames_per_s", "fan-out frames/s"), ("events_per_s", "fan-out events/s"),
              ("latency_p99_ms", "p99 share-to-delivery (ms)"),
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
