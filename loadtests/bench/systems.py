"""The systems under test: how to start N server processes of each, and stop them.

engine       `party-engine serve` gateways on one Redis (coalescing tick: PARTY_FANOUT_TICK_MS)
raw          loadtests/peers/raw_server.py: rooms and transport.write, one frame per share;
             the processes pass shares to each other over plain TCP links (no Redis)
raw-batched  the same with the engine's tick: one frame of N events per room per tick
socketio     loadtests/peers/socketio_peer.py, python-socketio + AsyncRedisManager
node         loadtests/peers/node/server.js, Socket.IO + @socket.io/redis-adapter

Each system's server processes (and the Redis they share, for those that use it) can be
pinned to some CPUs and the clients to the others: `pin`, `cpu_seconds`.
"""

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import jwt
import psutil

from party_engine.config import Settings
from tests.servers import free_ports

ROOT = Path(__file__).resolve().parents[2]
PEERS = ROOT / "loadtests" / "peers"
NODE_DIR = PEERS / "node"
HOST = "127.0.0.1"
BENCH_SECRET = "bench-secret-0123456789abcdef0123456789abcdef"
DIALECT = {
    "engine": "engine",
    "raw": "raw",
    "raw-batched": "raw",
    "socketio": "socketio",
    "node": "socketio",
}
# The engine's coalescing tick, which the batched raw server uses too.
TICK_MS = Settings.model_fields["fanout_tick_ms"].default


def pin(pid: int, cpus: set[int] | None) -> None:
    """Keep every thread of a process and of its children on `cpus` (None: leave as is).
    Threads started later inherit it from the thread that starts them."""
    if not cpus:
        return
    try:
        processes = [psutil.Process(pid), *psutil.Process(pid).children(recursive=True)]
        for process in processes:
            for thread in process.threads():
                os.sched_setaffinity(thread.id, cpus)
    except (psutil.NoSuchProcess, ProcessLookupError):
        pass


def _cpu_times(pids: list[int]) -> Iterator[Any]:
    """psutil's CPU times of these processes and their children so far."""
    for pid in pids:
        try:
            root = psutil.Process(pid)
            for process in [root, *root.children(recursive=True)]:
                yield process.cpu_times()
        except psutil.NoSuchProcess:
            pass


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU seconds of these processes and their children so far."""
    return sum(times.user + times.system for times in _cpu_times(pids))


def kernel_seconds(pids: list[int]) -> float:
    """The system (kernel) part of cpu_seconds: on this load, mostly the sockets' work."""
    return sum(times.system for times in _cpu_times(pids))


def listen_overflows() -> int | None:
    """Connections the kernel has dropped so far because a listening socket's accept queue was
    full (TcpExt ListenOverflows, for the whole network namespace: during a storm only the
    servers listen). The client's TCP resends after 1 s, then 2 s, 4 s...: a dropped
    handshake waits seconds, not the milliseconds of its queue. None where /proc says
    nothing."""
    try:
        lines = Path("/proc/net/netstat").read_text().splitlines()
    except OSError:
        return None
    for names, values in zip(lines[::2], lines[1::2], strict=False):
        if names.startswith("TcpExt:"):
            counters = dict(zip(names.split()[1:], values.split()[1:], strict=True))
            return int(counters["ListenOverflows"]) if "ListenOverflows" in counters else None
    return None


def node_ready() -> str | None:
    """Install the Node peer's packages when missing; None when ready, else why not."""
    if shutil.which("node") is None or shutil.which("npm") is None:
        return "node/npm not on PATH"
    if (NODE_DIR / "node_modules" / "socket.io").is_dir():
        return None
    result = subprocess.run(
        ["npm", "install", "--no-audit", "--no-fund", "--loglevel=error"],
        cwd=NODE_DIR, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    return None if result.returncode == 0 else f"npm install failed: {result.stderr[-300:]}"


class System:
    def __init__(self, name: str, redis_url: str, logdir: Path, redis_pid: int | None) -> None:
        self.name = name
        self.redis_url = redis_url
        # The Redis it works through is part of the system (the raw servers use none).
        self.redis_pid = None if name.startswith("raw") else redis_pid
        self.logdir = logdir
        self.processes: list[subprocess.Popen[bytes]] = []
        self.targets: list[tuple[str, int]] = []

    @property
    def dialect(self) -> str:
        return DIALECT[self.name]

    def start(
        self, count: int, cpus: set[int] | None = None, timeout: float = 30.0
    ) -> list[tuple[str, int]]:
        ports = free_ports(count)
        for index, port in enumerate(ports):
            log = open(self.logdir / f"{self.name}-{index}.log", "wb")
            command, env = self._command(port, [p for p in ports if p != port])
            self.processes.append(
                subprocess.Popen(
                    command,
                    cwd=ROOT,
                    env={**os.environ, **env},
                    stdout=log,
                    stderr=log,
                    start_new_session=True,
                )
            )
        self.targets = [(HOST, port) for port in ports]
        deadline = time.monotonic() + timeout
        for process, target in zip(self.processes, self.targets, strict=True):
            while not self._ready(target):
                if process.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(f"{self.name} did not start; see {self.logdir}")
                time.sleep(0.1)
            pin(process.pid, cpus)
        return self.targets

    def _ready(self, target: tuple[str, int]) -> bool:
        if not self.name.startswith("raw"):
            return _accepts(target)
        try:  # its links to the other raw servers are up
            return httpx.get(f"http://{target[0]}:{target[1]}/ready", timeout=1).is_success
        except httpx.HTTPError:
            return False

    def pids(self) -> list[int]:
        return [process.pid for process in self.processes]

    def cpu_seconds(self) -> float:
        """CPU seconds so far of its server processes (their children too) and its Redis."""
        return cpu_seconds(self._pids_with_redis())

    def kernel_cpu_seconds(self) -> float:
        """The kernel's part of cpu_seconds."""
        return kernel_seconds(self._pids_with_redis())

    def _pids_with_redis(self) -> list[int]:
        return self.pids() + ([self.redis_pid] if self.redis_pid else [])

    def redis_cpu_seconds(self) -> float:
        """CPU seconds so far of the Redis it works through (0 for those that use none)."""
        return cpu_seconds([self.redis_pid]) if self.redis_pid else 0.0

    def rss_bytes(self) -> int:
        total = 0
        for pid in self.pids():
            try:
                total += psutil.Process(pid).memory_info().rss
            except psutil.NoSuchProcess:
                pass
        return total

    def stop(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(5)
        self.processes = []

    def prepare(self, count: int) -> tuple[list[str], list[str]]:
        """Parties (live) and listings the load uses; real ones for the engine."""
        if self.name != "engine":
            return [f"party-{n}" for n in range(count)], [f"listing-{n}" for n in range(8)]
        token = _token("bench-host", "host")
        host, port = self.targets[0]
        starts_at = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
        headers = {"Authorization": f"Bearer {token}"}
        with httpx.Client(base_url=f"http://{host}:{port}", headers=headers, timeout=30) as http:
            parties = []
            for n in range(count):
                body = {"title": f"Bench {n}", "theme": {"kind": "brand", "value": "Bench"},
                        "starts_at": starts_at, "duration_minutes": 120}  # fmt: skip
                party_id = http.post("/parties", json=body).raise_for_status().json()["id"]
                http.post(f"/parties/{party_id}/start").raise_for_status()
                parties.append(party_id)
            listings = []
            for n in range(8):
                body = {"title": f"Bench item {n}", "brand": "Bench", "category": "sneakers",
                        "price_cents": 12_000, "currency": "EUR"}  # fmt: skip
                listings.append(http.post("/listings", json=body).raise_for_status().json()["id"])
        return parties, listings

    def _command(self, port: int, peers: list[int]) -> tuple[list[str], dict[str, str]]:
        if self.name == "engine":
            env = {
                "PARTY_HOST": HOST,
                "PARTY_PORT": str(port),
                "PARTY_REDIS_URL": self.redis_url,
                "PARTY_JWT_SECRET": BENCH_SECRET,
                "PARTY_LOG_LEVEL": "warning",
                "PARTY_DRAIN_SECONDS": "2",
                # The bench's few senders share far beyond a shopper's limit, each into many
                # parties (200 parties over 4 senders: 50 each, where a shopper joins 5).
                "PARTY_SHARE_RATE_LIMIT": "1000000/1 second",
                "PARTY_MAX_PARTIES_PER_CONNECTION": "1000",
                "PARTY_FRAME_RATE": "1000000",
                "PARTY_FRAME_BURST": "1000000",
                # No worker or relay runs: the bench measures the gateways, and share events
                # wait in each gateway's embedded queue and in each party's outbox, either of
                # which refuses shares once it is full (a big party's sweep filled the outbox's
                # default 10,000 in seconds, and every later share was refused).
                "PARTY_EVENT_BUFFER": "10000000",
                "PARTY_OUTBOX_MAX_DEPTH": "10000000",
            }
            return [str(Path(sys.executable).parent / "party-engine"), "serve"], env
        if self.name.startswith("raw"):
            batch_ms = TICK_MS if self.name == "raw-batched" else 0
            command = [sys.executable, str(PEERS / "raw_server.py"), "--port", str(port)]
            command += ["--batch-ms", str(batch_ms), "--peers", ",".join(map(str, peers))]
            return command, {}
        if self.name == "socketio":
            command = [sys.executable, str(PEERS / "socketio_peer.py"), "--port", str(port)]
            return [*command, "--redis", self.redis_url], {}
        return ["node", str(NODE_DIR / "server.js")], {
            "PORT": str(port),
            "REDIS_URL": self.redis_url,
        }


def _token(user_id: str, role: str) -> str:
    claims = {"sub": user_id, "role": role, "exp": int(time.time()) + 86_400}
    return jwt.encode(claims, BENCH_SECRET, algorithm="HS256")


def _accepts(target: tuple[str, int]) -> bool:
    try:
        with socket.create_connection(target, timeout=0.5):
            return True
    except OSError:
        return False
