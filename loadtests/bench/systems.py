"""The systems under test: how to start N server processes of each, and stop them.

engine    `party-engine serve` gateways on one Redis
raw       loadtests/peers/raw_server.py (no Redis: the machine's limit, one process each)
socketio  loadtests/peers/socketio_peer.py, python-socketio + AsyncRedisManager
node      loadtests/peers/node/server.js, Socket.IO + @socket.io/redis-adapter
"""

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import jwt
import psutil

from tests.servers import free_ports

ROOT = Path(__file__).resolve().parents[2]
PEERS = ROOT / "loadtests" / "peers"
NODE_DIR = PEERS / "node"
HOST = "127.0.0.1"
BENCH_SECRET = "bench-secret-0123456789abcdef0123456789abcdef"
DIALECT = {"engine": "engine", "raw": "raw", "socketio": "socketio", "node": "socketio"}
LABEL = {
    "engine": "party engine",
    "raw": "raw transport.write",
    "socketio": "python-socketio",
    "node": "Node Socket.IO",
}


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
    def __init__(self, name: str, redis_url: str, logdir: Path) -> None:
        self.name = name
        self.redis_url = redis_url
        self.logdir = logdir
        self.processes: list[subprocess.Popen[bytes]] = []
        self.targets: list[tuple[str, int]] = []

    @property
    def dialect(self) -> str:
        return DIALECT[self.name]

    def start(self, count: int, timeout: float = 30.0) -> list[tuple[str, int]]:
        ports = free_ports(count)
        for index, port in enumerate(ports):
            log = open(self.logdir / f"{self.name}-{index}.log", "wb")
            command, env = self._command(port)
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
            while not _accepts(target):
                if process.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(f"{self.name} did not start; see {self.logdir}")
                time.sleep(0.1)
        return self.targets

    def pids(self) -> list[int]:
        return [process.pid for process in self.processes]

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

    def _command(self, port: int) -> tuple[list[str], dict[str, str]]:
        if self.name == "engine":
            env = {
                "PARTY_HOST": HOST,
                "PARTY_PORT": str(port),
                "PARTY_REDIS_URL": self.redis_url,
                "PARTY_JWT_SECRET": BENCH_SECRET,
                "PARTY_LOG_LEVEL": "warning",
                "PARTY_DRAIN_SECONDS": "2",
                # The bench's few senders share far beyond a shopper's limit.
                "PARTY_SHARE_RATE_LIMIT": "1000000/1 second",
                "PARTY_FRAME_RATE": "1000000",
                "PARTY_FRAME_BURST": "1000000",
                # No worker runs: the bench measures the gateways, and share events wait in
                # each gateway's embedded queue (which refuses shares once it is full).
                "PARTY_EVENT_BUFFER": "10000000",
            }
            return [str(Path(sys.executable).parent / "party-engine"), "serve"], env
        if self.name == "raw":
            return [sys.executable, str(PEERS / "raw_server.py"), "--port", str(port)], {}
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
