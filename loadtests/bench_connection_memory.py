"""Where a gateway's memory per connection goes: the same N idle WebSockets held by each layer
in turn, each its own process, and the growth of its RSS divided by N.

    raw      loadtests/peers/raw_server.py: asyncio's transport and a few objects of its own
    floor    uvicorn with the engine's WebSocket protocol and options, and an app that only
             accepts (loadtests/peers/asgi_ws_floor.py): what the engine builds on
    engine   `party-engine serve` on the embedded default: authenticated connections, no party
    joined   the same, each connection joined to one live party

Medians of `--runs` runs, each layer in a new process; figures to
loadtests/results/connection-memory-<time>.json.

    python -m loadtests.bench_connection_memory [--connections 2000] [--runs 3]
"""

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import orjson
import psutil

from loadtests.bench.wsclient import Conn, open_conn
from loadtests.bench_fanout import seed
from loadtests.provenance import provenance
from party_engine.config import DEV_JWT_SECRET
from party_engine.tokens import UserRole, issue_token
from tests.servers import free_port, port_is_open

ROOT = Path(__file__).resolve().parent.parent
PEERS = ROOT / "loadtests" / "peers"
RESULTS = ROOT / "loadtests" / "results"
HOST = "127.0.0.1"
LAYERS = ("raw", "floor", "engine", "joined")
SETTLE_SECONDS = 1.0  # after the last connection, before reading RSS


def start(layer: str, port: int) -> subprocess.Popen[bytes]:
    if layer == "raw":
        command = [sys.executable, str(PEERS / "raw_server.py"), "--port", str(port)]
        env = dict(os.environ)
    elif layer == "floor":
        command = [sys.executable, str(PEERS / "asgi_ws_floor.py"), "--port", str(port)]
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
    else:
        command = [str(Path(sys.executable).parent / "party-engine"), "serve"]
        env = {**os.environ, "PARTY_PORT": str(port), "PARTY_LOG_LEVEL": "warning"}
    server = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, cwd=ROOT)
    deadline = time.monotonic() + 30
    while not port_is_open(port):
        if server.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(f"{layer} did not start")
        time.sleep(0.05)
    return server


async def hold(layer: str, port: int, count: int, server: psutil.Process) -> float:
    """Open `count` connections (joined, for `joined`); KiB of server RSS each."""
    party = None
    if layer == "joined":
        party, _ = await seed(f"http://{HOST}:{port}")
    await asyncio.sleep(SETTLE_SECONDS)
    before = server.memory_info().rss
    conns: list[Conn] = []
    joined: list[asyncio.Future[None]] = []

    def on_text(conn: Conn, payload: bytes) -> None:
        if payload.startswith(b'{"type":"joined"') and not conn.state.done():
            conn.state.set_result(None)

    for n in range(count):
        path = "/"
        if layer in ("engine", "joined"):
            path = f"/ws?token={issue_token(DEV_JWT_SECRET, f'user-{n}', UserRole.SHOPPER)}"
        conn = await open_conn(
            HOST, port, path, on_text, f"127.0.0.{2 + n % 250}", 10.0,
            asyncio.get_running_loop().create_future(),
        )  # fmt: skip
        if party is not None:
            conn.send(orjson.dumps({"type": "join", "party": party}))
            joined.append(conn.state)
        conns.append(conn)
    await asyncio.gather(*joined)
    await asyncio.sleep(SETTLE_SECONDS)
    grown = server.memory_info().rss - before
    for conn in conns:
        conn.close()
    return grown / count / 1024


def measure(layer: str, count: int) -> float:
    port = free_port()
    server = start(layer, port)
    try:
        return asyncio.run(hold(layer, port, count, psutil.Process(server.pid)))
    finally:
        server.terminate()
        server.wait(10)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--connections", type=int, default=2000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--layers", default=",".join(LAYERS), help="some of the layers, in order")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    layers = [layer for layer in args.layers.split(",") if layer]
    if unknown := set(layers) - set(LAYERS):
        parser.error(f"unknown layers: {', '.join(sorted(unknown))}")
    runs = {layer: [measure(layer, args.connections) for _ in range(args.runs)] for layer in layers}
    medians = {layer: statistics.median(values) for layer, values in runs.items()}
    print(f"{args.connections:,} idle connections, median of {args.runs} run(s)")
    print("| layer | KiB per connection | added by the layer |\n|---|---|---|")
    previous = None
    for layer in layers:
        added = "" if previous is None else f"{medians[layer] - medians[previous]:+.1f}"
        print(f"| {layer} | {medians[layer]:.1f} | {added} |")
        previous = layer
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / f"connection-memory-{time.strftime('%Y%m%d-%H%M%S')}.json"
    report = {
        "provenance": provenance(
            "loadtests.bench_connection_memory", sys.argv[1:] if argv is None else argv
        ),
        "connections": args.connections,
        "runs": runs,
        "kib_per_connection": medians,
    }
    path.write_text(json.dumps(report, indent=2))
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
