"""What each system's frames mean to a bench client: join, share, count, time.

Every dialect counts the fan-out the same way: `frames` are WebSocket frames that carry
party events, `events` the party events inside them (the engine batches several per frame;
Socket.IO and the raw server send one per frame). Probes, a few receivers per party, also
note arrival times for the share-to-delivery latency and pace the closed-loop sender.
"""

import asyncio
import itertools
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any

import orjson

from .wsclient import Conn


@dataclass
class Stats:
    """One fleet process's counters, reset at the start of each measurement."""

    frames: int = 0
    events: int = 0
    bytes: int = 0
    errors: int = 0
    latencies_ms: list[float] = field(default_factory=list)  # measured at the receiver
    arrivals: list[tuple[str, int, float]] = field(default_factory=list)  # (party, offset, t)
    sends: list[tuple[str, int, float]] = field(default_factory=list)  # (party, offset, t)
    recording: bool = False

    def reset(self) -> None:
        self.frames = self.events = self.bytes = self.errors = 0
        self.latencies_ms, self.arrivals, self.sends = [], [], []


@dataclass(eq=False)
class ClientState:
    probe: bool = False
    shares_seen: int = 0  # share events received (probes pace the sender with this)
    waiting: dict[Any, asyncio.Future[Any]] = field(default_factory=dict)
    ids: itertools.count = field(default_factory=lambda: itertools.count(1))


class JoinRefused(ConnectionError):
    """The server answered a join with an error frame (`code` from the engine's protocol)."""

    def __init__(self, code: str, message: str = "") -> None:
        super().__init__(f"join refused: {code} ({message})")
        self.code = code


class Dialect(ABC):
    name = ""

    def __init__(self, stats: Stats) -> None:
        self.stats = stats

    @abstractmethod
    def path(self, user_id: str) -> str: ...

    @abstractmethod
    async def join(self, conn: Conn, parties: list[str], patience: float) -> None: ...

    @abstractmethod
    def share(self, conn: Conn, party: str, listing: str) -> None: ...

    @abstractmethod
    def on_text(self, conn: Conn, payload: bytes) -> None: ...

    def _expect(self, conn: Conn, key: Any) -> asyncio.Future[Any]:
        future = asyncio.get_running_loop().create_future()
        conn.state.waiting[key] = future
        return future

    def _answer(self, conn: Conn, key: Any, value: Any) -> None:
        future = conn.state.waiting.pop(key, None)
        if future is not None and not future.done():
            future.set_result(value)


class EngineDialect(Dialect):
    """The engine's own protocol: join -> joined, share -> ack {offset}, events batches."""

    name = "engine"

    def __init__(self, stats: Stats, token_of) -> None:
        super().__init__(stats)
        self._token_of = token_of

    def path(self, user_id: str) -> str:
        return f"/ws?token={self._token_of(user_id)}"

    async def join(self, conn: Conn, parties: list[str], patience: float) -> None:
        """Raises JoinRefused at once when an error frame (which echoes the id) answers."""
        waiting = conn.state.waiting
        async with asyncio.timeout(patience):
            for party in parties:
                frame_id = next(conn.state.ids)
                joined = waiting[frame_id] = self._expect(conn, ("joined", party))
                conn.send(orjson.dumps({"type": "join", "party": party, "id": frame_id}))
                try:
                    await joined  # `joined` carries no id: on_text answers it by party
                finally:  # refused or out of patience: nothing of this join waits on
                    waiting.pop(frame_id, None)
                    waiting.pop(("joined", party), None)

    def share(self, conn: Conn, party: str, listing: str) -> None:
        frame_id = next(conn.state.ids)
        conn.state.waiting[frame_id] = (party, time.time())  # type: ignore[assignment]
        conn.send(
            orjson.dumps({"type": "share", "party": party, "listing": listing, "id": frame_id})
        )

    def on_text(self, conn: Conn, payload: bytes) -> None:
        stats = self.stats
        head = payload[:20]
        if head.startswith(b'{"type":"events"'):
            stats.frames += 1
            stats.bytes += len(payload)
            stats.events += payload.count(b'"kind":')
            shares = payload.count(b'"kind":"share"')
            conn.state.shares_seen += shares
            if conn.state.probe and stats.recording and shares:
                now = time.time()
                frame = orjson.loads(payload)
                party = frame["party"]
                stats.arrivals.extend(
                    (party, item["offset"], now)
                    for item in frame["items"]
                    if item["kind"] == "share"
                )
        elif head.startswith(b'{"type":"ack"'):
            ack = orjson.loads(payload)
            sent = conn.state.waiting.pop(ack["id"], None)
            if sent is not None and stats.recording and "offset" in ack:
                stats.sends.append((sent[0], ack["offset"], sent[1]))
        elif head.startswith(b'{"type":"joined"'):
            party = orjson.loads(payload)["party"]
            self._answer(conn, ("joined", party), None)
        elif head.startswith(b'{"type":"error"'):
            stats.errors += 1
            error = orjson.loads(payload)
            pending = conn.state.waiting.pop(error.get("id"), None)
            if isinstance(pending, asyncio.Future) and not pending.done():  # a join's
                pending.set_exception(JoinRefused(error["code"], error.get("message", "")))


class SocketIODialect(Dialect):
    """Engine.IO 4 / Socket.IO 5 over a plain WebSocket, as both Socket.IO peers speak it.

    A share carries its send time (`t`), so receivers time it themselves.
    """

    name = "socketio"

    def path(self, user_id: str) -> str:
        return "/socket.io/?EIO=4&transport=websocket"

    async def join(self, conn: Conn, parties: list[str], patience: float) -> None:
        async with asyncio.timeout(patience):
            connected = self._expect(conn, "connected")
            await connected
            for party in parties:
                ack_id = next(conn.state.ids)
                joined = self._expect(conn, ack_id)
                conn.send(b"42%d" % ack_id + orjson.dumps(["join", party]))
                await joined

    def share(self, conn: Conn, party: str, listing: str) -> None:
        event = ["share", {"party": party, "listing": listing, "t": time.time()}]
        conn.send(b"42" + orjson.dumps(event))

    def on_text(self, conn: Conn, payload: bytes) -> None:
        stats = self.stats
        if payload.startswith(b'42["share"'):
            stats.frames += 1
            stats.events += 1
            stats.bytes += len(payload)
            conn.state.shares_seen += 1
            if conn.state.probe and stats.recording:
                sent = orjson.loads(payload[2:])[1]["t"]
                stats.latencies_ms.append((time.time() - sent) * 1000.0)
        elif payload == b"2":
            conn.send(b"3")  # Engine.IO ping -> pong, or the server drops us
        elif payload.startswith(b"43"):
            bracket = payload.index(b"[")
            self._answer(conn, int(payload[2:bracket]), None)
        elif payload.startswith(b"40"):
            self._answer(conn, "connected", None)
        elif payload.startswith(b"0"):
            conn.send(b"40")
        elif payload.startswith(b"44"):
            stats.errors += 1


class RawDialect(Dialect):
    """The raw server: every text frame is one event; `blast N` asks for N seconds of them."""

    name = "raw"

    def path(self, user_id: str) -> str:
        return "/"

    async def join(self, conn: Conn, parties: list[str], patience: float) -> None:
        return  # no rooms: the upgrade is the whole join

    def share(self, conn: Conn, party: str, listing: str) -> None:
        raise NotImplementedError("the raw server takes no shares; it blasts")

    def on_text(self, conn: Conn, payload: bytes) -> None:
        stats = self.stats
        stats.frames += 1
        stats.events += 1
        stats.bytes += len(payload)
        conn.state.shares_seen += 1
