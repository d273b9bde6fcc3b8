"""The hosts' HTTP API in this test's process: an engine on the embedded default or on a real
redis-server, and an httpx client on its ASGI app (no server, no port)."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx

from party_engine.api.app import create_app
from party_engine.config import Settings
from party_engine.engine import Engine
from party_engine.roles import Role

SECRET = "test-secret-that-is-long-enough-for-hs256"
PROBLEM = "application/problem+json"
GATEWAY = frozenset({Role.GATEWAY})


@asynccontextmanager
async def started_engine(
    redis_url: str, roles: frozenset[Role] = GATEWAY, **settings: Any
) -> AsyncIterator[Engine]:
    engine = Engine(Settings(redis_url=redis_url, jwt_secret=SECRET, **settings), roles=roles)
    await engine.start()
    try:
        yield engine
    finally:
        await engine.stop()


@asynccontextmanager
async def api_client(engine: Engine) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=create_app(engine, manage_engine=False))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        yield client
