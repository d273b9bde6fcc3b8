"""One fleet process: holds its share of the client connections and runs the coordinator's
commands on them (connect, measure, send, close), answering each with plain figures.

Each process binds its own loopback source address (127.0.0.x): one (source, destination)
address pair runs out of ephemeral ports near 28k, and a process here may hold at most
20,000 file descriptors.
"""

import asyncio
import gc
import math
import os
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
        offset: int = 0,
        patience: float = 30.0,
    ) -> dict[str, Any]:
        """Open `count` connections, round-robin over targets and parties (from client
        `offset` on, so several calls continue one round-robin; a client of several parties
        takes the next `parties_per_client`); each joins its parties. `seconds` > 0: client
        i arrives at its scheduled time (i/count of the way), open loop, and its join time
        runs from that scheduled arrival, so a client that waits (for a server, or for its
        own process) has that wait counted. `seconds` 0: as
        fast as they go, at most 512 handshakes in flight (untimed bulk connects)."""
        base = len(self.clients)
        # Paths (with their signed tokens) are made before the clock starts: signing is the
        # client's work, and only the engine's clients would pay it inside the storm.
        paths = [self.dialect.path(f"{self.name}-{base + index}") for index in range(count)]
        started = time.monotonic()
        join_ms: list[float] = []
        lag_ms: list[float] = []  # how late this process began each scheduled arrival
        failures: dict[str, int] = {}
        joined_by_party: dict[str, int] = {}
        probes_by_party: dict[str, int] = {}
        limit = asyncio.Semaphore(512 if seconds <= 0 else count or 1)

        async def one(index: int) -> None:
            scheduled = started + (seconds * index / count if seconds > 0 else 0.0)
            if seconds > 0:
                await asyncio.sleep(max(0.0, scheduled - time.monotonic()))
                lag_ms.append((time.monotonic() - scheduled) * 1000.0)
            slot = offset + index
            target = targets[slot % len(targets)]
            first = slot * parties_per_client
            mine = [parties[(first + k) % len(parties)] for k in range(parties_per_client)]
            async with limit:
                begin = scheduled if seconds > 0 else time.monotonic()
                conn = None
                try:
                    conn = await open_conn(
                        target[0], target[1],
                        paths[index],
                        self.dialect.on_text, self.source_ip, patience,
                        ClientState(probe=role == "probe"),
                    )  # fmt: skip
                    await self.dialect.join(conn, mine, patience)
                except (OSError, TimeoutError, ConnectionError) as error:
                    if conn is not None:
                        conn.close()  # upgraded but not joined: do not leave it on the server
                    kind = type(error).__name__
                    if isinstance(error, JoinRefused):
                        kind += f":{error.code}"  # a refusal, told apart from a timeout
                    elif type(error) is ConnectionError:  # the client's own: closed, or refused
                        kind += f": {error}"
                    failures[kind] = failures.get(kind, 0) + 1
                    return
                join_ms.append((time.monotonic() - begin) * 1000.0)
                self.clients.append(Client(conn, mine, role))
                for party in mine:
                    joined_by_party[party] = joined_by_party.get(party, 0) + 1
                    if role == "probe":
                        probes_by_party[party] = probes_by_party.get(party, 0) + 1

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
            "lag_ms": lag_ms,
            "joined_by_party": joined_by_party,
            "probes_by_party": probes_by_party,
            "seconds": time.monotonic() - started,
        }

    async def measure(
        self, seconds: float, warmup: float = 0.0, drain: float = 0.0, quiet: float = 0.3
    ) -> dict:
        """Count what arrives: probes from the start, every receiver in the window
        (after `warmup`, for `seconds`), then until the step drained: no events frame for
        `quiet` seconds (at most `drain` s). A server may write nothing for a while as it
        works through a backlog; the senders' process waits for its probes to have every
        share instead."""
        self._begin_step()
        await asyncio.sleep(warmup)
        self.stats.counting = True
        started = time.monotonic()
        await asyncio.sleep(seconds)
        self.stats.counting = False
        window = time.monotonic() - started
        await self._drained(drain, quiet)
        return self._end_step(window)

    async def send(
        self,
        seconds: float,
        rate: float,
        window: int,
        listings: list[str],
        warmup: float = 0.0,
        drain: float = 0.0,
        quiet: float = 0.3,
    ) -> dict[str, Any]:
        """Shares from this process's senders for `warmup` + `seconds`, then wait until this
        process's probes have every share (at most `drain` s; `quiet` is for `measure`, which
        gets the same timing). The senders are members too: what they receive counts like
        any receiver's.

        With `rate` > 0, open loop: share i is due at start + i/rate, whatever came back,
        and carries that scheduled time (a sender that falls behind sends its backlog with
        the times it was due: no coordinated omission; `send_lag_*` says how far behind this
        process fell). With rate 0, closed loop: at most `window` shares ahead of the
        slowest probe of this process (saturation throughput, with a bounded backlog).
        """
        senders = [c for c in self.clients if c.role == "sender"]
        probes = [c for c in self.clients if c.role in ("probe", "sender")]
        if not senders:
            return {"sent": 0}
        self._begin_step()
        pairs = [(c.conn, party) for c in senders for party in c.parties]
        random.shuffle(pairs)
        seen_before = {p: p.conn.state.shares_seen for p in self.clients}
        sent_to: dict[str, int] = {}  # party -> shares sent into it in this step
        sent = sent_in_warmup = 0
        lag_ms: list[float] = []
        started, started_wall = time.monotonic(), time.time()
        warm_at = started + warmup
        deadline = warm_at + seconds
        while (now := time.monotonic()) < deadline:
            if now < warm_at:
                sent_in_warmup = sent
            else:
                self.stats.counting = True
            if rate > 0:
                due = math.floor((now - started) * rate) + 1 - sent  # share i: at i/rate
                if due > 0:
                    lag_ms.append((time.time() - started_wall - sent / rate) * 1000.0)
            else:
                # The senders share into the probes' party: a probe sees every share (one
                # that was dropped sees no more, and would stop the sender: it is left out).
                live = [p for p in probes if p.conn.transport is not None] or probes
                delivered = min(p.conn.state.shares_seen - seen_before[p] for p in live)
                due = window - (sent - delivered)
            for _ in range(max(0, due)):
                conn, party = pairs[sent % len(pairs)]
                scheduled = started_wall + sent / rate if rate > 0 else time.time()
                self.dialect.share(conn, party, listings[sent % len(listings)], scheduled)
                sent_to[party] = sent_to.get(party, 0) + 1
                sent += 1
            await asyncio.sleep(0.001 if rate > 0 else 0.0005)
        self.stats.counting = False
        window_seconds = time.monotonic() - warm_at
        await self._probes_have_all(sent_to, seen_before, drain)
        for client in senders:
            self.dialect.unanswered(client.conn)
        figures = self._end_step(window_seconds)
        lag_ms.sort()
        figures |= {
            "sent": sent - sent_in_warmup,
            "sent_all": sent,
            "measured_from": started_wall + warmup,  # scheduled times in the window
            "measured_until": started_wall + warmup + seconds,
            "send_lag_p99_ms": lag_ms[int(0.99 * len(lag_ms))] if lag_ms else 0.0,
            "send_lag_max_ms": lag_ms[-1] if lag_ms else 0.0,
        }
        return figures

    async def close(self) -> dict[str, Any]:
        for client in self.clients:
            client.conn.close()
        closed = len(self.clients)
        self.clients = []
        await asyncio.sleep(0.1)
        return {"closed": closed}

    # --- a step's bookkeeping ------------------------------------------------------------

    def _begin_step(self) -> None:
        self.stats.reset()
        self.stats.probing = True
        self.stats.last_event_at = time.monotonic()

    async def _probes_have_all(
        self, sent_to: dict[str, int], seen_before: dict[Client, int], drain: float
    ) -> None:
        """Wait until every probe of this process (still connected) has seen every share
        sent into its party in this step, at most `drain` seconds."""
        probes = [c for c in self.clients if c.role == "probe"]
        deadline = time.monotonic() + drain
        while time.monotonic() < deadline:
            if all(
                c.conn.state.shares_seen - seen_before[c] >= sent_to.get(c.parties[0], 0)
                for c in probes
                if c.conn.transport is not None
            ):
                return
            await asyncio.sleep(0.02)

    async def _drained(self, drain: float, quiet: float) -> None:
        """Wait until no events frame came for `quiet` seconds, at most `drain` seconds."""
        deadline = time.monotonic() + drain
        while (now := time.monotonic()) < deadline:
            if now - self.stats.last_event_at >= quiet:
                return
            await asyncio.sleep(0.05)

    def _end_step(self, window: float) -> dict[str, Any]:
        stats = self.stats
        stats.probing = stats.counting = False
        return {
            "seconds": window,
            "frames": stats.frames,
            "events": stats.events,
            "events_step": stats.events_step,
            "bytes": stats.bytes,
            "errors": stats.errors,
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
    if system.startswith("raw"):
        return RawDialect(stats)
    return SocketIODialect(stats)


def main(
    pipe: Connection, name: str, source_ip: str, system: str, jwt_secret: str, cpus: list[int]
) -> None:
    """A fleet process's entry point: serve commands from the pipe until `stop`. `cpus`:
    the CPUs it may run on (kept off the servers'), every CPU when empty."""
    if cpus:
        os.sched_setaffinity(0, cpus)
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
