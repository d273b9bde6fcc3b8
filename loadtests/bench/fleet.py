"""One fleet process: holds its share of the client connections and runs the coordinator's
commands on them (connect, measure, send, close), answering each with plain figures.

Each process binds its own loopback source address (127.0.0.x): one (source, destination)
address pair runs out of ephemeral ports near 28k, and a process here may hold at most
20,000 file descriptors.
"""

import asyncio
import gc
import math
import random
import resource
import time
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any

import jwt

from .dialects import (
    ClientState,
    Dialect,
    EngineDialect,
    JoinRefused,
    RawDialect,
    SocketIODialect,
    Stats,
)
from .wsclient import Conn, open_conn


def raise_fd_limit() -> int:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


@dataclass(eq=False)
class Client:
    conn: Conn
    parties: list[str]
    role: str  # receiver | probe | sender


@dataclass
class Fleet:
    name: str
    source_ip: str
    dialect: Dialect
    stats: Stats
    clients: list[Client] = field(default_factory=list)

    # --- commands ------------------------------------------------------------------------

    async def connect(
        self,
        targets: list[tuple[str, int]],
        parties: list[str],
        count: int,
        seconds: float,
        role: str = "receiver",
        parties_per_client: int = 1,
        patience: float = 30.0,
    ) -> dict[str, Any]:
        """Open `count` connections spread evenly over `seconds` (0: as fast as they go),
        round-robin over targets and parties; each joins its parties."""
        base = len(self.clients)
        # Paths (with their signed tokens) are made before the clock starts: signing is the
        # client's work, and only the engine's clients would pay it inside the storm.
        paths = [self.dialect.path(f"{self.name}-{base + index}") for index in range(count)]
        started = time.monotonic()
        join_ms: list[float] = []
        failures: dict[str, int] = {}
        limit = asyncio.Semaphore(512)  # handshakes in flight; the backlog does the rest

        async def one(index: int) -> None:
            if seconds > 0:
                await asyncio.sleep(max(0.0, started + seconds * index / count - time.monotonic()))
            target = targets[index % len(targets)]
            mine = [parties[(index + k) % len(parties)] for k in range(parties_per_client)]
            async with limit:
                begin = time.monotonic()
                conn = None
                try:
                    conn = await open_conn(
                        target[0], target[1],
                        paths[index],
                        self.dialect.on_text, self.source_ip, patience,
                    )  # fmt: skip
                    conn.state = ClientState(probe=role in ("probe", "sender"))
                    await self.dialect.join(conn, mine, patience)
                except (OSError, TimeoutError, ConnectionError) as error:
                    if conn is not None:
                        conn.close()  # upgraded but not joined: do not leave it on the server
                    kind = type(error).__name__
                    if isinstance(error, JoinRefused):
                        kind += f":{error.code}"  # a refusal, told apart from a timeout
                    failures[kind] = failures.get(kind, 0) + 1
                    return
                join_ms.append((time.monotonic() - begin) * 1000.0)
                self.clients.append(Client(conn, mine, role))

        await asyncio.gather(*(one(i) for i in range(count)))
        # The clients are long-lived: keep them out of the collector's full walks, or a
        # 100 ms pause in a client process reads as delivery latency of the server.
        gc.collect()
        gc.freeze()
        return {
            "ok": len(join_ms),
            "failed": sum(failures.values()),
            "failures": failures,
            "join_ms": join_ms,
            "seconds": time.monotonic() - started,
        }

    async def measure(self, seconds: float, warmup: float = 0.0) -> dict[str, Any]:
        await asyncio.sleep(warmup)
        self.stats.reset()
        self.stats.recording = True
        started = time.monotonic()
        await asyncio.sleep(seconds)
        self.stats.recording = False
        return self._figures(time.monotonic() - started)

    async def send(
        self, seconds: float, rate: float, window: int, listings: list[str], warmup: float = 0.0
    ) -> dict[str, Any]:
        """Shares from this process's senders for `warmup` + `seconds`; only those sent after
        the warm-up are reported (a server's first second opens pools, loads scripts...).

        With `rate` > 0: that many shares per second, spread over the senders and their
        parties (open loop, for latency). With rate 0: closed loop, at most `window` shares
        ahead of the slowest probe of this process (as fast as the system delivers, with a
        bounded backlog, so a system that cannot keep up is measured, not buried).
        """
        senders = [c for c in self.clients if c.role == "sender"]
        probes = [c for c in self.clients if c.role in ("probe", "sender")]
        if not senders:
            return {"sent": 0}
        if isinstance(self.dialect, RawDialect):
            for client in senders:
                client.conn.send(f"blast {seconds}".encode())
            await asyncio.sleep(seconds)
            return {"sent": 0}
        self.stats.reset()
        self.stats.recording = True
        pairs = [(c.conn, party) for c in senders for party in c.parties]
        random.shuffle(pairs)
        seen_before = {p: p.conn.state.shares_seen for p in probes}
        sent = sent_in_warmup = 0
        started = time.monotonic()
        warm_at, warm_at_wall = started + warmup, time.time() + warmup
        deadline = warm_at + seconds
        while (now := time.monotonic()) < deadline:
            if now < warm_at:
                sent_in_warmup = sent
            if rate > 0:
                due = math.floor((now - started) * rate) - sent
            else:
                # The senders share into the probes' party: a probe sees every share.
                delivered = min(p.conn.state.shares_seen - seen_before[p] for p in probes)
                due = window - (sent - delivered)
            for _ in range(max(0, min(due, 200))):
                conn, party = pairs[sent % len(pairs)]
                self.dialect.share(conn, party, listings[sent % len(listings)])
                sent += 1
            await asyncio.sleep(0.002 if rate > 0 else 0.0005)
        await asyncio.sleep(0.5)  # acks and the last deliveries to arrive
        self.stats.recording = False
        self.stats.sends = [send for send in self.stats.sends if send[2] >= warm_at_wall]
        figures = self._figures(time.monotonic() - warm_at)
        figures["sent"] = sent - sent_in_warmup
        return figures

    async def close(self) -> dict[str, Any]:
        for client in self.clients:
            client.conn.close()
        closed = len(self.clients)
        self.clients = []
        await asyncio.sleep(0.1)
        return {"closed": closed}

    def _figures(self, seconds: float) -> dict[str, Any]:
        stats = self.stats
        return {
            "seconds": seconds,
            "frames": stats.frames,
            "events": stats.events,
            "bytes": stats.bytes,
            "errors": stats.errors,
            "latencies_ms": stats.latencies_ms,
            "arrivals": stats.arrivals,
            "sends": stats.sends,
            "held": sum(1 for c in self.clients if c.conn.transport is not None),
        }


def _dialect(system: str, stats: Stats, jwt_secret: str) -> Dialect:
    if system == "engine":
        cache: dict[str, str] = {}

        def token_of(user_id: str) -> str:
            if user_id not in cache:
                claims = {"sub": user_id, "role": "shopper", "exp": int(time.time()) + 86_400}
                cache[user_id] = jwt.encode(claims, jwt_secret, algorithm="HS256")
            return cache[user_id]

        return EngineDialect(stats, token_of)
    if system == "raw":
        return RawDialect(stats)
    return SocketIODialect(stats)


def main(pipe: Connection, name: str, source_ip: str, system: str, jwt_secret: str) -> None:
    """A fleet process's entry point: serve commands from the pipe until `stop`."""
    raise_fd_limit()
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    asyncio.run(_serve(pipe, name, source_ip, system, jwt_secret))


async def _serve(pipe: Connection, name: str, source_ip: str, system: str, jwt_secret: str) -> None:
    stats = Stats()
    fleet = Fleet(name, source_ip, _dialect(system, stats, jwt_secret), stats)
    loop = asyncio.get_running_loop()
    while True:
        command, arguments = await loop.run_in_executor(None, pipe.recv)
        if command == "stop":
            await fleet.close()
            pipe.send({"stopped": True})
            return
        try:
            result = await getattr(fleet, command)(**arguments)
        except Exception as error:  # report, do not die: the coordinator prints it
            result = {"error": f"{type(error).__name__}: {error}"}
        pipe.send(result)
