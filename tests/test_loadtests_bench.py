"""The bench's bookkeeping (loadtests/bench): how runs are ordered and summarised, how lost
deliveries count in the percentiles, and how the capacity sweep picks its rates: pure
functions on made-up figures. And the kernel counter the storm reads, and the clients'
connections. The bench itself runs in tests/test_loadtests_smoke.py."""

import asyncio
import socket
import time

import pytest

from loadtests.bench.report import aggregate, table, targets
from loadtests.bench.run import capacity, level, percentile_with_losses, rotations, sweep
from loadtests.bench.systems import listen_overflows
from loadtests.bench.wsclient import open_conn


def test_each_run_starts_with_the_next_system() -> None:
    assert rotations(["a", "b", "c"], 4) == [
        ["a", "b", "c"],
        ["b", "c", "a"],
        ["c", "a", "b"],
        ["a", "b", "c"],
    ]


def test_connections_fill_the_emptiest_fleet_process_first() -> None:
    held = [1, 6667, 6667, 6666]  # the storm's sender, and its clients
    added = level(held, 12_500)
    assert sum(added) == 12_500
    assert [a + b for a, b in zip(held, added, strict=True)] == [8126, 8125, 8125, 8125]
    assert level([0, 0], 3) == [2, 1]


def test_a_lost_delivery_counts_as_infinitely_late() -> None:
    latencies = [float(ms) for ms in range(1, 100)]  # 99 delivered, 1 to 99 ms
    assert percentile_with_losses(latencies, 0, 0.99) == 99.0
    assert percentile_with_losses(latencies, 1, 0.50) == 51.0
    assert percentile_with_losses(latencies, 1, 0.99) is None  # among the lost: no figure
    assert percentile_with_losses([], 0, 0.5) is None


def test_the_summary_is_the_median_with_its_range_and_keeps_every_failure() -> None:
    runs = [
        [{"system": "engine", "capacity_many_shares_per_s": v, "storm_failures": {"T": 1}}]
        for v in (100.0, 400.0, 200.0)
    ]
    runs[1].append({"system": "node", "error": "RuntimeError: boom"})
    [engine, node] = aggregate(runs, ["engine", "node"])
    assert engine["capacity_many_shares_per_s"] == 200.0
    assert engine["ranges"]["capacity_many_shares_per_s"] == [100.0, 400.0]
    assert engine["storm_failures"] == {"T": 3}
    assert node == {"system": "node", "error": "RuntimeError: boom"}
    profile = {"fanout_receivers": 10, "objective_ms": 50, "latency_parties": 2,
               "latency_connections": 20, "big_rate": 2, "many_rate": 50}  # fmt: skip
    assert "| 200 (100 to 400) " in table([engine], profile)


def test_the_storm_beats_node_despite_node_s_lost_joins_but_not_despite_its_own() -> None:
    profile = {"fanout_receivers": 10, "latency_parties": 2, "latency_connections": 20,
               "storm_clients": 100, "hold_connections": 100, "gateways": 2}  # fmt: skip
    node = {"system": "node", "storm_p99_join_ms": 900.0, "storm_failures": {"Timeout": 3}}

    def verdict(engine_failures: dict[str, int]) -> str:
        engine = {"system": "engine", "storm_p99_join_ms": 600.0,
                  "storm_failures": engine_failures}  # fmt: skip
        [check] = [c for c in targets([engine, node], profile) if "below Node" in c["target"]]
        return check["status"]

    assert verdict({}) == "met"  # Node's failed joins are missing from its p99, not ours
    assert verdict({"Timeout": 1}).startswith("not met; connections lost: engine join storm")


def test_a_scenario_that_failed_in_one_run_leaves_the_others_figures() -> None:
    many = "capacity_many_shares_per_s"
    runs = [
        [{"system": "engine", "rss_per_connection_kib": 20.0, many: 100.0}],
        [{"system": "engine", "rss_per_connection_kib": 22.0,
          "scenario_errors": ["many parties: RuntimeError: boom"]}],
        [{"system": "engine", "rss_per_connection_kib": 21.0, many: 300.0}],
    ]  # fmt: skip
    [engine] = aggregate(runs, ["engine"])
    assert engine["rss_per_connection_kib"] == 21.0
    assert engine[many] == 200.0 and engine["ranges"][many] == [100.0, 300.0]
    assert engine["errors"] == ["many parties: RuntimeError: boom"]
    assert "scenario_errors" not in engine


def _fake_step(limit: float, stalls_at: frozenset[float] = frozenset()):
    """Steps pass up to `limit`; at a rate in `stalls_at` the first try fails (a stall of
    the clients)."""
    tried: list[float] = []

    def step(rate: float) -> dict:
        tried.append(rate)
        stalled = rate in stalls_at and tried.count(rate) == 1
        passed = rate <= limit and not stalled
        cores = rate / limit / 2  # the servers' CPU grows with the rate
        return {"rate": rate, "passed": passed, "client_limited": stalled, "p99_ms": 1.0,
                "server_cores": cores * (1.5 if tried.count(rate) == 2 else 1.0)}  # fmt: skip

    return step, tried


def test_the_sweep_doubles_until_a_rate_fails_twice_then_bisects() -> None:
    step, tried = _fake_step(limit=300)
    steps = sweep(step, 50, steps=10, refine=2)
    assert tried[:5] == [50, 100, 200, 400, 400]
    assert round(tried[5]) == 283  # sqrt(200 * 400): passes
    assert [round(r) for r in tried[6:]] == [336, 336]  # sqrt(283 * 400): fails, twice
    assert capacity("many", steps)["capacity_many_shares_per_s"] == tried[5]
    assert capacity("many", steps)["capacity_many_limited_by"] == "servers"
    # The servers' CPU at the next rate up (336, failed twice): the mean of its two tries.
    next_cores = capacity("many", steps)["capacity_many_next_server_cores"]
    assert next_cores == pytest.approx(tried[6] / 300 / 2 * 1.25)


def test_the_sweep_goes_down_when_the_first_rate_fails() -> None:
    step, tried = _fake_step(limit=20)
    steps = sweep(step, 50, steps=10, refine=0)
    assert tried == [50, 50, 25, 25, 12.5]
    assert capacity("big", steps)["capacity_big_shares_per_s"] == 12.5


def test_a_rate_that_passes_on_its_second_try_passes() -> None:
    step, tried = _fake_step(limit=1000, stalls_at=frozenset({100}))
    steps = sweep(step, 50, steps=3, refine=0)
    assert tried == [50, 100, 100, 200]
    assert [s.get("retried", False) for s in steps] == [False, True, False, False]
    assert capacity("big", steps)["capacity_big_limited_by"] == "not reached"
    assert capacity("big", steps)["capacity_big_next_server_cores"] is None


def test_a_full_accept_queue_counts_the_handshakes_it_drops() -> None:
    before = listen_overflows()
    assert before is not None
    with socket.create_server(("127.0.0.1", 0), backlog=1) as server:
        clients = [socket.socket() for _ in range(4)]  # never accepted: the queue fills
        try:
            for client in clients:
                client.setblocking(False)
                client.connect_ex(server.getsockname())
            deadline = time.monotonic() + 5  # a kernel counter: nothing to wait on but it
            while listen_overflows() == before and time.monotonic() < deadline:
                time.sleep(0.01)
            assert listen_overflows() > before
        finally:
            for client in clients:
                client.close()


async def test_a_server_that_speaks_right_after_the_upgrade_finds_the_connection_s_state() -> None:
    """Socket.IO's server speaks first; its packet may come in the read of the 101, before the
    opener resumes: the connection's state is there from the start (a missing one closed
    Node's connections in the bench)."""

    async def upgrade_and_speak(reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 101 Switching Protocols\r\n\r\n" + b"\x81\x02" + b"40")
        await writer.drain()
        await reader.read()  # until the client closes

    server = await asyncio.start_server(upgrade_and_speak, "127.0.0.1", 0)
    heard: list[tuple[str, bytes]] = []
    try:
        port = server.sockets[0].getsockname()[1]
        conn = await open_conn(
            "127.0.0.1", port, "/", lambda c, payload: heard.append((c.state, payload)),
            "127.0.0.1", 5.0, "its state",
        )  # fmt: skip
        conn.close()
    finally:
        server.close()
        await server.wait_closed()
    assert heard == [("its state", b"40")]
