"""The FastAPI application factory."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from .. import console
from ..engine import Engine
from . import (
    problems,
    routes_archive,
    routes_capacity,
    routes_devices,
    routes_health,
    routes_host,
    routes_listings,
    routes_me,
    routes_parties,
    routes_report,
    routes_stats,
)

# How long the app waits for the backends before it serves anyway, not ready: a healthy start
# is ready from its first request.
STARTUP_WAIT_SECONDS = 2.0


def create_app(engine: Engine, *, manage_engine: bool = True) -> FastAPI:
    """Build the app around an engine.

    With `manage_engine` the app's lifespan starts and stops the engine; a caller that shares
    one engine between several things (tests, the `all` role) starts it itself. The app
    serves while the engine connects its backends (/healthz 200, /readyz 503 until then).
    """

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if manage_engine:
            await engine.start(wait=STARTUP_WAIT_SECONDS)
        try:
            yield
        finally:
            if manage_engine:
                await engine.stop()

    app = FastAPI(
        title="Party engine",
        summary="Live themed shopping parties: schedule them here, join them over /ws.",
        version="0.1.0",
        lifespan=lifespan,
    )
    app.state.engine = engine
    problems.install(app)
    for module in (routes_parties, routes_listings, routes_me, routes_devices, routes_health):
        app.include_router(module.router)
    app.include_router(routes_host.router)
    app.include_router(routes_stats.router)
    app.include_router(routes_capacity.router)
    app.include_router(routes_archive.router)
    app.include_router(routes_report.router)
    console.install(app)
    return app
