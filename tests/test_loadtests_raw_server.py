"""The bench's raw servers (loadtests/peers/raw_server.py), two processes linked as peers: a
share reaches the room's members on both, one frame per share unbatched, and one frame of
every share of a tick when batched (the engine's way)."""

import asyncio
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import orjson
import pytest
import websockets

from tests.pipeline_helpers import eventually
from tests.servers import free_ports

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(params=[0.0, 50.0], ids=["a frame per share", "a frame per tick"])
def raw_servers(request: pytest.FixtureRequest) -> Iterator[tuple[list[int], float]]:
    ports = free_ports(2)
    server = [sys.executable, str(ROOT / "loadtests" / "peers" / "raw_server.py")]
    processes = []
    for index, port in enumerate(ports):
        options = ["--port", str(port), "--batch-ms", str(request.param)]
        processes.append(subprocess.Popen([*server, *options, "--peers", str(ports[1 - index])]))
    try:
        yield ports, request.param
    finally:
        for process in processes:
            process.terminate()
            process.wait(10)


async def _ready(port: int) -> bool:
    try:
        async with httpx.AsyncClient() as http:
            return (await http.get(f"http://127.0.0.1:{port}/ready")).is_success
    except httpx.HTTPError:
        return False


async def _join(port: int, party: str) -> websockets.ClientConnection:
    ws = await websockets.connect(f"ws://127.0.0.1:{port}/", compression=None)
    await ws.send(orjson.dumps({"type": "join", "party": party}).decode())
    assert orjson.loads(await ws.recv()) == {"type": "joined", "party": party}
    return ws


async def _frames(ws: websockets.ClientConnection, events: int) -> list[list[dict]]:
    """The `events` frames' items until `events` events came."""
    frames: list[list[dict]] = []
    async with asyncio.timeout(10):
        while sum(len(items) for items in frames) < events:
            frame = orjson.loads(await ws.recv())
            assert frame["type"] == "events" and frame["party"] == "p1"
            frames.append(frame["items"])
    return frames


async def test_a_share_reaches_the_room_on_both_servers(
    raw_servers: tuple[list[int], float],
) -> None:
    (first, second), batch_ms = raw_servers
    for port in (first, second):
        await eventually(lambda port=port: _ready(port))  # its peer link is up
    sender, near = await _join(first, "p1"), await _join(first, "p1")
    far = await _join(second, "p1")
    other_party = await _join(second, "p2")
    for k in range(3):
        share = {"type": "share", "party": "p1", "listing": "l1", "t": 1.0, "k": k}
        await sender.send(orjson.dumps(share).decode())
    for ws in (near, far):
        frames = await _frames(ws, 3)
        assert [item["k"] for items in frames for item in items] == [0, 1, 2]
        assert [item["offset"] for items in frames for item in items] == [1, 2, 3]
        # Unbatched: a frame each. Batched: the three shares came within one 50 ms tick.
        assert [len(items) for items in frames] == ([3] if batch_ms else [1, 1, 1])
    with pytest.raises(TimeoutError):  # nothing for another party's members
        async with asyncio.timeout(0.2):
            await other_party.recv()
    for ws in (sender, near, far, other_party):
        await ws.close()
