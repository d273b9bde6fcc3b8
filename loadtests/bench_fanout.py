"""Fan-out benchmark: one gateway (`party-engine serve`, embedded default) and N clients in one
party; a publisher shares at a steady rate. Prints connections, frames/s, events/s and gateway
RSS per connection, next to a raw `transport.write` server sending the same frame to as many
sockets on the same machine as fast as it can: its ceiling, not the same load (the paced,
like-for-like comparison is `make bench`). Writes the figures to
loadtests/results/fanout-<time>.json.

    python -m loadtests.bench_fanout [--clients 500] [--rate 200] [--seconds 10]
"""

import argparse
import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psutil
import websockets

from loadtests.provenance import provenance
from party_engine.config import DEV_JWT_SECRET
from party_engine.gateway.transport import text_frame
from party_engine.tokens import UserRole, issue_token
from tests.servers import free_port, port_is_open

RESULTS = Path(__file__).parent / "results"


def start_gateway(port: int) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "PARTY_PORT": str(port),
        "PARTY_LOG_LEVEL": "warning",
        "PARTY_SHARE_RATE_LIMIT": "1000000/1 second",
        "PARTY_FRAME_RATE": "1000000",  # the sender's frames, far past a phone's budget
        "PARTY_FRAME_BURST": "1000000",
    }
    gateway = subprocess.Popen(
        [str(Path(sys.executable).parent / "party-engine"), "serve"],
        env=env,
        stdout=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 30
    while not port_is_open(port):
        if gateway.poll() is not None or time.monotonic() > deadline:
            raise SystemExit("the gateway did not start")
        time.sleep(0.05)
    return gateway


async def seed(base: str) -> tuple[str, str]:
    host = {"Authorization": f"Bearer {issue_token(DEV_JWT_SECRET, 'host', UserRole.HOST)}"}
    async with httpx.AsyncClient(base_url=base, headers=host) as http:
        starts = time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(time.time() + 3600))
        body = {"title": "Bench", "theme": {"kind": "brand", "value": "Nike"}, "starts_at": starts}
        party = (await http.post("/parties", json=body)).raise_for_status().json()["id"]
        (await http.post(f"/parties/{party}/start")).raise_for_status()
        listing = {"title": "Shoe", "brand": "Nike", "category": "shoes"}
        listing |= {"price_cents": 100, "currency": "EUR"}
        listing_id = (await http.post("/listings", json=listing)).raise_for_status().json()["id"]
    return party, listing_id


class Counts:
    frames = 0
    events = 0


async def reader(url: str, party: str, counts: Counts, ready: asyncio.Event, n: int) -> None:
    token = issue_token(DEV_JWT_SECRET, f"reader-{n}", UserRole.SHOPPER)
    async with websockets.connect(f"{url}?token={token}", compression=None) as ws:
        await ws.send(json.dumps({"type": "join", "party": party}))
        await ws.recv()
        ready.set()
        async for message in ws:
            if message.startswith('{"type":"events"'):
                counts.frames += 1
                counts.events += message.count('"offset"')


async def bench_gateway(clients: int, rate: float, seconds: float) -> dict:
    port = free_port()
    gateway = start_gateway(port)
    try:
        party, listing = await seed(f"http://127.0.0.1:{port}")
        rss_idle = psutil.Process(gateway.pid).memory_info().rss
        counts = Counts()
        url = f"ws://127.0.0.1:{port}/ws"
        tasks = []
        for n in range(clients):
            joined = asyncio.Event()
            tasks.append(asyncio.create_task(reader(url, party, counts, joined, n)))
            await joined.wait()
        rss_connected = psutil.Process(gateway.pid).memory_info().rss
        token = issue_token(DEV_JWT_SECRET, "publisher", UserRole.SHOPPER)
        async with websockets.connect(f"{url}?token={token}") as publisher:
            await publisher.send(json.dumps({"type": "join", "party": party}))
            start = time.monotonic()
            sent = 0
            while time.monotonic() - start < seconds:
                due = int((time.monotonic() - start) * rate)
                for _ in range(due - sent):
                    share = {"type": "share", "party": party, "listing": listing}
                    await publisher.send(json.dumps(share))
                    sent += 1
                await asyncio.sleep(0.005)
            await asyncio.sleep(0.5)  # let the last tick arrive
            elapsed = time.monotonic() - start
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        return {
            "connections": clients,
            "shares_sent": sent,
            "frames_per_s": round(counts.frames / elapsed),
            "events_per_s": round(counts.events / elapsed),
            "events_per_frame": round(counts.events / max(counts.frames, 1), 2),
            "gateway_rss_mib": round(rss_connected / 2**20, 1),
            "rss_per_connection_kib": round((rss_connected - rss_idle) / clients / 1024, 1),
        }
    finally:
        gateway.terminate()
        gateway.wait(timeout=30)


async def bench_raw(clients: int, seconds: float, frame: bytes) -> dict:
    """The ceiling: a plain asyncio server writing one prepared frame to every socket."""
    transports: list[asyncio.Transport] = []
    all_connected = asyncio.Event()

    class Sink(asyncio.Protocol):
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            transports.append(transport)  # type: ignore[arg-type]
            if len(transports) == clients:
                all_connected.set()

    loop = asyncio.get_running_loop()
    server = await loop.create_server(Sink, "127.0.0.1", 0, backlog=4096)
    port = server.sockets[0].getsockname()[1]
    received = [0]

    async def client() -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            while chunk := await reader.read(65536):
                received[0] += len(chunk)
        finally:
            writer.close()

    tasks = [asyncio.create_task(client()) for _ in range(clients)]
    await all_connected.wait()
    start = time.monotonic()
    while time.monotonic() - start < seconds:
        for transport in transports:
            if transport.get_write_buffer_size() < 1 << 20:
                transport.write(frame)
        await asyncio.sleep(0)
    elapsed = time.monotonic() - start
    for transport in transports:
        transport.close()
    await asyncio.gather(*tasks, return_exceptions=True)
    server.close()
    return {"connections": clients, "frames_per_s": round(received[0] / len(frame) / elapsed)}


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=500)
    parser.add_argument("--rate", type=float, default=200.0, help="shares per second")
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()

    gateway = await bench_gateway(args.clients, args.rate, args.seconds)
    item = b'{"offset":1,"share":1,"kind":"share","listing":{"id":"x","title":"Shoe"},"user":"u"}'
    raw = await bench_raw(
        args.clients, args.seconds, text_frame(b'{"type":"events","items":[' + item + b"]}")
    )
    print(f"connections          {gateway['connections']}")
    print(f"gateway frames/s     {gateway['frames_per_s']}")
    print(
        f"gateway events/s     {gateway['events_per_s']} ({gateway['events_per_frame']} per frame)"
    )
    rss, per_connection = gateway["gateway_rss_mib"], gateway["rss_per_connection_kib"]
    print(f"gateway RSS          {rss} MiB, {per_connection} KiB per connection")
    print(
        f"raw transport.write  {raw['frames_per_s']} frames/s (same machine, same clients "
        "count; not paced: its ceiling, not the same load as the gateway's)"
    )
    RESULTS.mkdir(exist_ok=True)
    result = {
        **provenance("loadtests.bench_fanout", sys.argv[1:]),
        "gateway": gateway,
        "raw_transport_write": raw,
    }
    path = RESULTS / f"fanout-{time.strftime('%Y%m%d-%H%M%S')}.json"
    path.write_text(json.dumps(result, indent=2) + "\n")
    print(f"written to {path}")


if __name__ == "__main__":
    asyncio.run(main())
