"""Runs the engine's roles: under uvicorn when they serve HTTP, headless otherwise."""

import asyncio
import signal

from .api.app import create_app
from .config import Settings
from .engine import Engine
from .gateway.serving import gateway_server
from .roles import Role


def run(settings: Settings, roles: frozenset[Role]) -> None:
    engine = Engine(settings, roles=roles)
    gateway_server(create_app(engine), settings, engine.gateway).run()


async def run_headless(settings: Settings, roles: frozenset[Role]) -> None:
    """Run roles that serve no HTTP (worker, scheduler, relay) until SIGINT or SIGTERM."""
    engine = Engine(settings, roles=roles)
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stopping.set)
    await engine.start()
    try:
        await stopping.wait()
    finally:
        await engine.stop()
