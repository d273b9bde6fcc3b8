"""What each system's frames mean to a bench client: join, share, count, time.

Every dialect counts the fan-out the same way: `frames` are WebSocket frames that carry
party events, `events` the party events inside them (the engine and the batched raw server
put several in a frame; Socket.IO and the unbatched raw server one). Senders stamp each share
with its scheduled send time; probes, every Nth receiver, note what arrives and when, and the
coordinator pairs the two (run.py), so a share that never arrives is counted, not skipped.
"""

import asyncio
import builtins
import itertools
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any

import orjson

from .wsclient import Conn


@dataclass
class Stats:
    """One fleet process's counters for the current step.

    `frames`, `events` and `bytes` count while `counting` (the measured window); `events_step`
    counts every event of the step (warm-up and drain too: the work the servers' CPU paid
    for). While `probing`, probes note each share they receive as (party, key, wall time),
    and senders note each share they send as (party, key, scheduled wall time); the key is
    the engine's offset (known from the ack; None if no ack came) or the share's own key.
    """

    frames: int = 0
    events: int = 0
    bytes: int = 0
    errors: int = 0
    events_step: int = 0
    arrivals: list[tuple[str, Any, float]] = field(default_factory=list)
    sends: list[tuple[str, Any, float]] = field(default_factory=list)
    counting: bool = False
    probing: bool = False
    last_event_at: float = 0.0  # monotonic: when the last events frame came (drain)

    def reset(self) -> None:
        self.frames = self.events = self.bytes = self.errors = self.events_step = 0
        self.arrivals, self.sends = [], []

    def received(self, payload: builtins.bytes, events: int) -> None:
        self.last_event_at = time.monotonic()
        self.events_step += events
        if self.counting:
            self.frames += 1
            self.events += events
            self.bytes += len(payload)


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
        self._keys = itertools.count(1)

    @abstractmethod
    def path(self, user_id: str) -> str: ...

    @abstractmethod
    async def join(self, conn: Conn, parties: list[str], patience: float) -> None: ...

    @abstractmethod
    def share(self, conn: Conn, party: str, listing: str, scheduled: float) -> None:
        """Send a share stamped with its scheduled wall time (not the time it goes out)."""

    @abstractmethod
    def on_text(self, conn: Conn, payload: bytes) -> None: ...

    def unanswered(self, conn: Conn) -> None:  # noqa: B027  # only the engine's shares wait
        """Note the shares of `conn` that were never answered (the engine's: no ack)."""

    def _expect(self, conn: Conn, key: Any) -> asyncio.Future[Any]:
        future = asyncio.get_running_loop().create_future()
        conn.state.waiting[key] = future
        return future

    def _answer(self, conn: Conn, key: Any, value: Any) -> None:
        future = conn.state.waiting.pop(key, None)
        if future is not None and not future.done():
            future.set_result(value)

    def _keyed_share(self, party: str, scheduled: float) -> int:
        key = next(self._keys)
        if self.stats.probing:
            self.stats.sends.append((party, key, scheduled))
        return key

    def _arrived(self, items: list[dict[str, Any]], party: str, key: str) -> None:
        now = time.time()
        self.stats.arrivals.extend((party, item[key], now) for item in items)


class EngineDialect(Dialect):
    """The engine's own protocol: join -> joined, share -> ack {offset}, events batches.

    A share frame has no room for a key or a time (the schema forbids extra fields): the
    sender pairs the offset in each ack with the share's scheduled time, and probes note
    the (party, offset) of what they receive.
    """

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

    def share(self, conn: Conn, party: str, listing: str, scheduled: float) -> None:
        frame_id = next(conn.state.ids)
        if self.stats.probing:
            conn.state.waiting[frame_id] = (party, scheduled)  # type: ignore[assignment]
        conn.send(
            orjson.dumps({"type": "share", "party": party, "listing": listing, "id": frame_id})
        )

    def unanswered(self, conn: Conn) -> None:
        for frame_id, pending in list(conn.state.waiting.items()):
            if isinstance(pending, tuple) and isinstance(frame_id, int):
                del conn.state.waiting[frame_id]
                self.stats.sends.append((pending[0], None, pending[1]))

    def on_text(self, conn: Conn, payload: bytes) -> None:
        stats = self.stats
        head = payload[:20]
        if head.startswith(b'{"type":"events"'):
            stats.received(payload, payload.count(b'"kind":'))
            shares = payload.count(b'"kind":"share"')
            conn.state.shares_seen += shares
            if conn.state.probe and stats.probing and shares:
                frame = orjson.loads(payload)
                items = [item for item in frame["items"] if item["kind"] == "share"]
                self._arrived(items, frame["party"], "offset")
        elif head.startswith(b'{"type":"ack"'):
            ack = orjson.loads(payload)
            sent = conn.state.waiting.pop(ack["id"], None)
            if isinstance(sent, tuple) and stats.probing:
                stats.sends.append((sent[0], ack.get("offset"), sent[1]))
        elif head.startswith(b'{"type":"joined"'):
            party = orjson.loads(payload)["party"]
            self._answer(conn, ("joined", party), None)
        elif head.startswith(b'{"type":"error"'):
            stats.errors += 1
            error = orjson.loads(payload)
            pending = conn.state.waiting.pop(error.get("id"), None)
            if isinstance(pending, asyncio.Future) and not pending.done():  # a join's
                pending.set_exception(JoinRefused(error["code"], error.get("message", "")))
            elif isinstance(pending, tuple) and stats.probing:  # a refused share: undelivered
                stats.sends.append((pending[0], None, pending[1]))


class SocketIODialect(Dialect):
    """Engine.IO 4 / Socket.IO 5 over a plain WebSocket, as both Socket.IO peers speak it.

    A share carries its key (`k`) and scheduled send time (`t`), echoed to every receiver.
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

    def share(self, conn: Conn, party: str, listing: str, scheduled: float) -> None:
        key = self._keyed_share(party, scheduled)
        event = ["share", {"party": party, "listing": listing, "t": scheduled, "k": key}]
        conn.send(b"42" + orjson.dumps(event))

    def on_text(self, conn: Conn, payload: bytes) -> None:
        stats = self.stats
        if payload.startswith(b'42["share"'):
            stats.received(payload, 1)
            conn.state.shares_seen += 1
            if conn.state.probe and stats.probing:
                share = orjson.loads(payload[2:])[1]
                self._arrived([share], share["party"], "k")
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
    """The raw servers (loadtests/peers/raw_server.py): join -> joined, share (with its key
    `k` and scheduled time `t`) -> `events` frames of the engine's shape."""

    name = "raw"

    def path(self, user_id: str) -> str:
        return "/"

    async def join(self, conn: Conn, parties: list[str], patience: float) -> None:
        async with asyncio.timeout(patience):
            for party in parties:
                joined = self._expect(conn, ("joined", party))
                conn.send(orjson.dumps({"type": "join", "party": party}))
                await joined

    def share(self, conn: Conn, party: str, listing: str, scheduled: float) -> None:
        key = self._keyed_share(party, scheduled)
        share = {"type": "share", "party": party, "listing": listing, "t": scheduled, "k": key}
        conn.send(orjson.dumps(share))

    def on_text(self, conn: Conn, payload: bytes) -> None:
        stats = self.stats
        if payload.startswith(b'{"type":"events"'):
            shares = payload.count(b'"kind":')
            stats.received(payload, shares)
            conn.state.shares_seen += shares
            if conn.state.probe and stats.probing:
                frame = orjson.loads(payload)
                self._arrived(frame["items"], frame["party"], "k")
        elif payload.startswith(b'{"type":"joined"'):
            self._answer(conn, ("joined", orjson.loads(payload)["party"]), None)
