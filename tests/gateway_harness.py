"""Helpers for the gateway tests: a gateway served by uvicorn on a free port (in this process
or as a `party-engine serve` child), parties and listings to play with, and a client that
reads server frames until one matches, with a deadline."""

import asyncio
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import websockets

from party_engine.api.app import create_app
from party_engine.config import Settings
from party_engine.domain.listings import Listing
from party_engine.domain.parties import schedule_party
from party_engine.domain.themes import Theme, ThemeKind
from party_engine.engine import Engine
from party_engine.gateway.serving import gateway_server
from party_engine.roles import Role
from party_engine.tokens import UserRole, issue_token
from tests.servers import free_port, port_is_open

SECRET = "gateway-test-secret-that-is-long-enough-for-hs256"
DEADLINE = 10.0


def token(user: str, role: UserRole = UserRole.SHOPPER) -> str:
    return issue_token(SECRET, user, role)


class InProcessGateway:
    """The engine (the gateway role, unless told) under uvicorn, as a task on this test's event
    loop."""

    def __init__(
        self,
        redis_url: str = "memory://",
        roles: frozenset[Role] = frozenset({Role.GATEWAY}),
        **settings: Any,
    ) -> None:
        self.settings = Settings(
            redis_url=redis_url,
            jwt_secret=SECRET,
            port=free_port(),
            # Freezing would hold this test process's garbage too (gc_policy has its own tests).
            gc_freeze_seconds=0,
            **settings,
        )
        self.engine = Engine(self.settings, roles=roles)
        self.server = gateway_server(
            create_app(self.engine), self.settings, self.engine.gateway, log_level="warning"
        )
        self.url = f"ws://127.0.0.1:{self.settings.port}/ws"
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> "InProcessGateway":
        self._task = asyncio.create_task(self.server.serve())
        await wait_for(lambda: self.server.started, "the gateway to start")
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.server.should_exit = True
        assert self._task is not None
        await self._task


class GatewayProcess:
    """`party-engine serve` as a child process."""

    def __init__(self, redis_url: str, **env: str) -> None:
        self.port = free_port()
        self.url = f"ws://127.0.0.1:{self.port}/ws"
        self.http = f"http://127.0.0.1:{self.port}"
        self._env = {
            **os.environ,
            "PARTY_REDIS_URL": redis_url,
            "PARTY_AMQP_URL": "memory://",
            "PARTY_PUSH_URL": "memory://",
            "PARTY_JWT_SECRET": SECRET,
            "PARTY_PORT": str(self.port),
            "PARTY_LOG_LEVEL": "warning",
            **env,
        }
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> "GatewayProcess":
        self.process = subprocess.Popen(
            [str(Path(sys.executable).parent / "party-engine"), "serve"],
            env=self._env,
            stdout=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 30
        while not port_is_open(self.port):
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"gateway on {self.port} did not start")
            time.sleep(0.05)
        return self

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


@contextmanager
def gateway_processes(redis_url: str, *envs: dict[str, str]) -> Iterator[list[GatewayProcess]]:
    """One started `party-engine serve` per env (extra PARTY_* variables), all stopped after."""
    gateways = [GatewayProcess(redis_url, **env) for env in envs]
    try:
        for gateway in gateways:
            gateway.start()
        yield gateways
    finally:
        for gateway in gateways:
            gateway.stop()


async def wait_for(condition: Callable[[], object], what: str, timeout: float = DEADLINE) -> None:  # noqa: ASYNC109
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.01)


async def seed_party(engine: Engine, *, live: bool = True, brand: str = "Nike") -> str:
    """A party (live unless told) themed on a brand, stored through the engine's store."""
    now = datetime.now(UTC)
    party = schedule_party(
        party_id=f"p{int(time.time() * 1e6)}",
        host_id="host-1",
        title=f"{brand} night",
        theme=Theme(ThemeKind.BRAND, brand),
        starts_at=now + timedelta(hours=1),
        now=now,
    )
    await engine.store.create_party(party)
    if live:
        await engine.lifecycle.start(party.id)
    return party.id


async def seed_listing(engine: Engine, listing_id: str, brand: str = "Nike") -> str:
    await engine.store.create_listing(
        Listing(
            id=listing_id,
            seller_id="seller-1",
            title=f"{brand} shoe",
            brand=brand,
            category="shoes",
            price_cents=5000,
            currency="EUR",
        )
    )
    return listing_id


async def seed_over_http(base: str, brand: str = "Nike") -> tuple[str, str]:
    """A live party and a matching listing, made through a gateway's HTTP API."""
    host = {"Authorization": f"Bearer {token('host-1', UserRole.HOST)}"}
    async with httpx.AsyncClient(base_url=base, headers=host) as http:
        starts_at = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
        body = {
            "title": "Party",
            "theme": {"kind": "brand", "value": brand},
            "starts_at": starts_at,
        }
        party = (await http.post("/parties", json=body)).raise_for_status().json()
        (await http.post(f"/parties/{party['id']}/start")).raise_for_status()
        listing = {
            "title": f"{brand} shoe",
            "brand": brand,
            "category": "shoes",
            "price_cents": 5000,
            "currency": "EUR",
        }
        created = (await http.post("/listings", json=listing)).raise_for_status().json()
    return party["id"], created["id"]


class Client:
    """A websockets client that keeps every frame it reads, for later assertions."""

    def __init__(self, connection: websockets.ClientConnection) -> None:
        self.connection = connection
        self.frames: list[dict[str, Any]] = []

    @classmethod
    async def connect(cls, url: str, user: str = "shopper-1", **options: Any) -> "Client":
        connection = await websockets.connect(f"{url}?token={token(user)}", **options)
        return cls(connection)

    async def send(self, **frame: Any) -> None:
        await self.connection.send(json.dumps(frame))

    async def next(self, timeout: float = DEADLINE) -> dict[str, Any]:  # noqa: ASYNC109
        frame = json.loads(await asyncio.wait_for(self.connection.recv(), timeout))
        self.frames.append(frame)
        return frame

    async def until(
        self,
        match: Callable[[dict[str, Any]], bool],
        timeout: float = DEADLINE,  # noqa: ASYNC109
    ) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            frame = await self.next(max(0.01, deadline - time.monotonic()))
            if match(frame):
                return frame

    async def reply(self, timeout: float = DEADLINE, **frame: Any) -> dict[str, Any]:  # noqa: ASYNC109
        """Send a frame with an id and return the ack, error or pong that answers it."""
        await self.send(**frame)
        return await self.until(
            lambda f: f["type"] in ("ack", "error", "pong") and f.get("id") == frame.get("id"),
            timeout,
        )

    async def join(self, party: str, **since: Any) -> dict[str, Any]:
        await self.send(type="join", party=party, **since)
        return await self.until(lambda f: f["type"] in ("joined", "error"))

    def offsets(self, party: str) -> list[int]:
        return [
            item["offset"]
            for frame in self.frames
            if frame["type"] == "events" and frame["party"] == party
            for item in frame["items"]
        ]

    async def close(self) -> None:
        await self.connection.close()


async def connect_or_closed(url: str, user: str) -> "Client | websockets.ConnectionClosed":
    """Connect and ping: the client when the gateway answers, else how it closed the socket."""
    client = await Client.connect(url, user=user)
    try:
        await client.reply(type="ping", id="hello")
    except websockets.ConnectionClosed as closed:
        return closed
    return client


async def connect_once_admitted(url: str, user: str, timeout: float = DEADLINE) -> Client:  # noqa: ASYNC109
    """Connect until the gateway keeps the connection (a slot the user freed is released
    once the gateway has seen the close)."""
    async with asyncio.timeout(timeout):
        while True:
            client = await connect_or_closed(url, user)
            if isinstance(client, Client):
                return client
            await asyncio.sleep(0.02)
