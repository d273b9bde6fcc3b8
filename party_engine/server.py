"""Runs the engine's roles: under uvicorn when they serve HTTP, headless otherwise.

Either way the process starts while its backends are still down and connects them when it can,
and on SIGTERM or SIGINT it stops within PARTY_SHUTDOWN_SECONDS. It exits 0 after a stop, and
1 when the engine could not start its services (the orchestrator then restarts it)."""

import asyncio
import contextlib
import signal
import sys

from . import metrics
from .api.app import create_app
from .config import Settings
from .engine import Engine
from .gateway.serving import gateway_server
from .logs import configure_logging
from .roles import Role


def run(settings: Settings, roles: frozenset[Role]) -> None:
    configure_logging(settings.log_level, settings.log_format)
    engine = Engine(settings, roles=roles)
    server = gateway_server(create_app(engine), settings, engine.gateway)
    server.stop_when = lambda: engine.failed is not None
    metrics_server = metrics.serve(settings.host, settings.metrics_port)
    try:
        server.run()
    finally:
        if metrics_server is not None:
            metrics_server.stop()
    if engine.failed is not None:
        sys.exit(1)


async def run_headless(settings: Settings, roles: frozenset[Role]) -> None:
    """Run roles that serve no HTTP (worker, scheduler, relay) until SIGINT or SIGTERM."""
    configure_logging(settings.log_level, settings.log_format)
    engine = Engine(settings, roles=roles)
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stopping.set)
    signalled = asyncio.create_task(stopping.wait())
    metrics_server = metrics.serve(settings.host, settings.metrics_port)
    try:
        await engine.start(wait=0)
        # Until a signal, or until the start fails (a backend down is retried, not a failure).
        await asyncio.wait({signalled, engine.starting}, return_when=asyncio.FIRST_COMPLETED)
        if engine.failed is None:
            await signalled
    finally:
        signalled.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await signalled
        await engine.stop()
        if metrics_server is not None:
            metrics_server.stop()
    if engine.failed is not None:
        sys.exit(1)
