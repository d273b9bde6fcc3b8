"""Runs the engine's roles: under uvicorn when they serve HTTP, headless otherwise."""

import asyncio
import signal

import uvicorn

from .api.app import create_app
from .config import Settings
from .engine import Engine
from .roles import Role


def run(settings: Settings, roles: frozenset[Role]) -> None:
    engine = Engine(settings, roles=roles)
    config = uvicorn.Config(
        create_app(engine),
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level,
        # Compression costs ~50 KiB per connection and CPU on every frame of a fan-out.
        ws_per_message_deflate=False,
        ws_max_size=settings.max_frame_bytes,
        proxy_headers=True,
        server_header=False,
    )
    uvicorn.Server(config).run()


async def run_headless(settings: Settings, roles: frozenset[Role]) -> None:
    """Run roles that serve no HTTP (worker, scheduler) until SIGINT or SIGTERM."""
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
