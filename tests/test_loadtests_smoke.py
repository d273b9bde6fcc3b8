"""The load tests still run: the locust spike and `make bench` in their smoke sizes.

These check that each completes and writes its results with real (non-zero) figures; the
performance targets are printed by the benchmark, never asserted.
"""

import csv
import importlib.util
import json
import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.servers import free_port

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
ONE = 1 + 1e-9  # a share of a CPU total, summed in floats


@pytest.fixture
def engine_url(tmp_path: Path) -> Iterator[str]:
    """`party-engine all` on the embedded default, on a free port."""
    port = free_port()
    env = {**os.environ, "PARTY_PORT": str(port), "PARTY_LOG_LEVEL": "warning"}
    with open(tmp_path / "engine.log", "wb") as log:
        process = subprocess.Popen([BIN / "party-engine", "all"], env=env, stdout=log, stderr=log)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(f"{url}/healthz", timeout=1).close()
                break
            except OSError:
                assert process.poll() is None, (tmp_path / "engine.log").read_text()
                assert time.monotonic() < deadline, "the engine did not answer within 30 s"
                time.sleep(0.1)  # polling a port that has no event to await
        yield url
    finally:
        process.terminate()
        process.wait(15)


@pytest.mark.timeout(120)
def test_the_locust_spike_plays_a_party_and_reports_websocket_timings(
    engine_url: str, tmp_path: Path
) -> None:
    command = [
        BIN / "locust", "-f", "locustfile.py", "--headless", "--host", engine_url,
        "--csv", tmp_path / "spike", "--html", tmp_path / "spike.html", "--only-summary",
        "--party-users", "3", "--party-baseline", "2", "--party-peak", "6",
        "--party-end", "1", "--party-spawn-seconds", "0.5",
    ]  # fmt: skip
    result = subprocess.run(
        command, cwd=ROOT / "loadtests", capture_output=True, text=True, timeout=90, check=False
    )
    assert (tmp_path / "spike.html").is_file(), result.stderr[-2000:]
    with open(tmp_path / "spike_stats.csv") as stats:
        rows = {(row["Type"], row["Name"]): row for row in csv.DictReader(stats)}
    count = {key: int(row["Request Count"]) for key, row in rows.items()}
    failures = {key: int(row["Failure Count"]) for key, row in rows.items()}
    assert count[("POST", "/parties/[id]/start")] == 1
    assert count[("POST", "/parties/[id]/end")] == 1
    for name in ("join", "share ack", "share → delivery"):
        assert count.get(("WS", name), 0) > 0, f"no WS {name} in {sorted(count)}"
        assert failures[("WS", name)] == 0, result.stderr[-2000:]
    assert float(rows[("WS", "share → delivery")]["Average Response Time"]) > 0
    # the step's spawn rate is stated, and each phase's achieved rates beside the intended
    assert "spawn rate 6 users/s (the step of 3 within 0.5 s)" in result.stdout
    table = result.stdout[result.stdout.index("party spike, achieved (intended):") :]
    peak = next(line for line in table.splitlines() if line.startswith("peak "))
    assert "(6 = 2x)" in peak and "(1.00 = 4x 0.25)" in peak, table


@pytest.mark.timeout(300)
def test_the_bench_runs_every_system_and_writes_its_figures(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "loadtests.bench", "--profile", "smoke", "--out", tmp_path],
        cwd=ROOT, capture_output=True, text=True, timeout=280, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    document = json.loads((tmp_path / "bench-smoke.json").read_text())
    systems = {r["system"]: r for r in document["results"]}
    expected = {"engine", "raw", "raw-batched", "socketio", "node"}
    skipped = {s for s in expected if any(n.startswith("Node") for n in document["notes"])}
    assert set(systems) == expected - skipped
    assert len(document["runs"]) == document["profile"]["runs"]  # every run is kept
    for name, figures in systems.items():
        assert figures["connections_held"] > 0, name
        assert figures["frames_per_s"] > 0, name
        assert figures["storm_ok"] > 0 and figures["storm_p99_join_ms"] > 0, name
        assert figures["storm_shares_sent"] > 0, name  # the storm had shares flowing
        assert figures["storm_server_cpu_ms_per_join"] > 0, name
        assert 0 <= figures["storm_kernel_cpu_share"] <= ONE, name  # a part of that CPU
        assert figures["storm_server_cores"] > 0, name
        assert figures["storm_listen_overflows"] >= 0, name  # a counter's growth
        assert figures["idle_server_cores"] >= 0, name
        assert "errors" not in figures, (name, figures.get("errors"))
        # every phase's connects count their failures (by kind) and the connections dropped
        for phase in ["storm", "hold", "fanout", "latency"]:
            failures = figures[f"{phase}_failures"]
            assert figures[f"{phase}_failed"] == sum(failures.values()), (name, phase)
        for phase in ["hold", "fanout", "latency"]:
            assert figures[f"{phase}_dropped"] >= 0, (name, phase)
        for scope in ("big", "many"):
            assert figures[f"capacity_{scope}_shares_per_s"] >= 0, (name, scope)
            # the sweep's first rate is the same load for every system: its delay is kept
            assert figures[f"capacity_{scope}_first_p99_ms"] > 0, (name, scope)
        # each open-loop step compares what the probes got with what was sent to them
        [run] = [r for r in document["runs"][0] if r["system"] == name]
        for step in run["capacity_many_steps"] + run["capacity_big_steps"]:
            assert step["expected"] > 0 and 0 < step["delivered"] <= step["expected"], name
            assert step["server_cpu_s"] >= 0 and step["client_cpu_s"] >= 0, name
            if step["server_cpu_s"]:
                assert 0 <= step["kernel_cpu_share"] <= ONE, name
        assert figures["latency_samples"] > 0 and figures["latency_p50_ms"] > 0, name
    # the batched raw server writes frames of several events; the unbatched one, one each
    assert systems["raw-batched"]["events_per_frame"] > 1
    assert systems["raw"]["events_per_frame"] == 1
    assert "engine ÷ raw-batched" in result.stdout  # the table was printed
    for row in ("join storm: failed", "hold: failed to connect", "hold: dropped after connect",
                "fan-out: failed to connect", "latency run: failed to connect",
                "1 party of 100: capacity", "12 parties, 100 conns: capacity"):  # fmt: skip
        assert f"| {row}" in result.stdout, row
    if importlib.util.find_spec("matplotlib") is not None:  # the `bench` extra
        assert (tmp_path / "bench-smoke.png").stat().st_size > 0
    else:
        assert "no chart" in result.stdout


@pytest.mark.timeout(300)
def test_the_push_waves_bench_runs_both_modes_and_writes_its_figures(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "loadtests.bench_push_waves", "--followers", "100",
         "--joins-per-second", "200", "--out", tmp_path],
        cwd=ROOT, capture_output=True, text=True, timeout=280, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    document = json.loads((tmp_path / "bench_push_waves-100.json").read_text())
    once, waves = document["results"]
    assert (once["mode"], waves["mode"]) == ("all at once", "waves")
    for figures in (once, waves):
        assert figures["waves"] == 32 and figures["notified"] == 100
        assert figures["joined"] == 100 and figures["failed"] == 0
        assert figures["join_p99_ms"] > 0 and figures["peak_joins_per_second"] > 0
        assert figures["observed_connections_per_second"][-1] == 100
        assert figures["forecast"]["expected_joiners"] > 0
    # 100 followers in 32 waves at 200 a second: about 0.5 s from the first to the last.
    assert waves["last_push_s"] - waves["first_push_s"] > 0.3
    assert once["last_push_s"] - once["first_push_s"] < waves["last_push_s"] - waves["first_push_s"]
    assert "| join p99 ms |" in result.stdout


def test_the_report_bench_writes_its_figures(tmp_path: Path) -> None:
    out = tmp_path / "bench_report.json"
    result = subprocess.run(
        [sys.executable, "-m", "loadtests.bench_report", "--shoppers", "300", "--minutes", "15",
         "--runs", "1", "--batch-events", "500", "--out", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    figures = json.loads(out.read_text())
    assert figures["events"] > 0 and figures["parquet_objects"] > 1
    assert figures["parquet_bytes"] > 0 and figures["report_seconds"] > 0
    assert figures["first_request_seconds"] > 0 and figures["peak_presence"] > 0


@pytest.mark.timeout(120)
def test_the_connection_memory_bench_measures_every_layer(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "loadtests.bench_connection_memory", "--connections", "50",
         "--runs", "1", "--out", str(tmp_path)],
        cwd=ROOT, capture_output=True, text=True, timeout=110, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    [written] = tmp_path.glob("connection-memory-*.json")
    figures = json.loads(written.read_text())
    assert set(figures["kib_per_connection"]) == {"raw", "floor", "engine", "joined"}
    assert figures["runs"]["joined"][0] != 0.0  # a number read off the server, not a default
    assert "| floor |" in result.stdout
