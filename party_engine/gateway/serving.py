"""uvicorn, set up for the gateway: the `party.wire` WebSocket protocol, no compression, a
drain on shutdown, and the garbage-collection policy of a process that holds many
connections (gc_policy.py).

On SIGTERM uvicorn stops listening and then closes every WebSocket at once (1012). Before
that last step this server drains the gateway: `drain` frames with jittered delays, sent in
batches, so that clients do not all reconnect in the same instant. The drain and the close of
the connections stay within PARTY_DRAIN_SECONDS; the app's shutdown (the engine's stop) takes
the rest of PARTY_SHUTDOWN_SECONDS. A stop on a signal exits 0, as the headless roles do
(uvicorn would raise the signal again once it has stopped).
"""

import contextlib
import socket
from collections.abc import Awaitable, Callable, Iterator
from typing import Any, cast

import uvicorn
from starlette.types import ASGIApp
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from ..config import Settings
from .gc_policy import HeapFreezer
from .route import GatewayApp
from .service import Gateway

WS_PROTOCOL = "party_engine.gateway.ws_protocol:PartyWebSocketProtocol"

Drain = Callable[[float], Awaitable[None]]


class DrainingServer(uvicorn.Server):
    def __init__(
        self,
        config: uvicorn.Config,
        drain: Drain | None,
        drain_seconds: float,
        freezer: HeapFreezer | None = None,
    ) -> None:
        super().__init__(config)
        self._drain = drain
        self._drain_seconds = drain_seconds
        self._freezer = freezer
        # Checked every tick: once it says so, the server stops as on SIGTERM.
        self.stop_when: Callable[[], bool] | None = None

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        with super().capture_signals():
            yield
            self._captured_signals.clear()  # stopped gracefully: exit 0, not by the signal

    async def on_tick(self, counter: int) -> bool:
        if self.stop_when is not None and self.stop_when():
            self.should_exit = True
        return await super().on_tick(counter)

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if self._freezer is not None:
            self._freezer.start()

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        if self._freezer is not None:
            await self._freezer.stop()
        for server in self.servers:  # stop accepting first (uvicorn repeats this harmlessly)
            server.close()
        if self._drain is not None:
            await self._drain(self._drain_seconds / 2)
        await super().shutdown(sockets)


def gateway_config(app, settings: Settings, **overrides) -> uvicorn.Config:
    options = {
        "host": settings.host,
        "port": settings.port,
        "log_level": settings.log_level,
        "ws": WS_PROTOCOL,
        # Compression costs ~50 KiB per connection and CPU on every frame of a fan-out.
        "ws_per_message_deflate": False,
        "ws_max_size": settings.max_frame_bytes,
        "ws_ping_interval": settings.ws_ping_seconds,
        "ws_ping_timeout": settings.ws_ping_timeout_seconds,
        "backlog": settings.listen_backlog,
        "proxy_headers": True,
        "server_header": False,
        # What is left of the drain budget after the drain itself.
        "timeout_graceful_shutdown": settings.drain_seconds / 3,
        # uvicorn's loggers keep the process's handler (logs.configure_logging): one format,
        # and the secret filter on every line.
        "log_config": None,
        **overrides,
    }
    return uvicorn.Config(app, **options)


def gateway_server(
    http_app: ASGIApp, settings: Settings, gateway: Gateway | None, **overrides
) -> DrainingServer:
    """The HTTP app, and the gateway's /ws when this process runs one, under uvicorn."""
    if gateway is None:
        return DrainingServer(gateway_config(http_app, settings, **overrides), None, 0)
    config = gateway_config(http_app, settings, **overrides)
    if config.proxy_headers:
        # The forwarded headers matter to the HTTP API (its lines name the client) only, and a
        # WebSocket keeps every ASGI layer it passed through for as long as it is open: the
        # middleware wraps the HTTP app alone (~250 bytes per connection).
        config.proxy_headers = False
        # (uvicorn and Starlette each type ASGI apps their own way)
        http_app = cast(
            ASGIApp,
            ProxyHeadersMiddleware(cast(Any, http_app), trusted_hosts=config.forwarded_allow_ips),
        )
    config.app = GatewayApp(http_app, gateway)
    freezer = (
        HeapFreezer(freeze_seconds=settings.gc_freeze_seconds)
        if settings.gc_freeze_seconds > 0
        else None
    )
    return DrainingServer(config, gateway.drain, settings.drain_seconds, freezer)
