"""The fast path to the socket: uvicorn's WebSocket protocol plus one ASGI extension.

The extension `party.wire` hands the app a `Wire` for its connection. A `Wire` writes a
prepared frame (the WebSocket header and payload, built once per batch by `text_frame`)
straight to the transport: no per-recipient encoding, no await, and the bytes still unsent
are visible (`pending_bytes`) so the hub can cut a slow consumer. Every server frame of a
session goes through its `Wire`, so frames leave in exactly the order they were written.

Run uvicorn with `ws="party_engine.gateway.transport:PartyWebSocketProtocol"`.
"""

import struct
from collections.abc import Mapping
from typing import Any

from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.frames import Opcode
from websockets.http11 import Request

from .lean_sync import Flag, Inbox

EXTENSION = "party.wire"


def text_frame(payload: bytes) -> bytes:
    """An unmasked, unfragmented server text frame (RFC 6455 section 5.2)."""
    length = len(payload)
    if length < 126:
        header = struct.pack("!BB", 0x80 | Opcode.TEXT, length)
    elif length < 1 << 16:
        header = struct.pack("!BBH", 0x80 | Opcode.TEXT, 126, length)
    else:
        header = struct.pack("!BBQ", 0x80 | Opcode.TEXT, 127, length)
    return header + payload


class Wire:
    """One connection's transport, as the hub and the session see it."""

    def __init__(self, protocol: "PartyWebSocketProtocol") -> None:
        self._protocol = protocol

    @property
    def is_open(self) -> bool:
        protocol = self._protocol
        return not (protocol.close_sent or protocol.disconnected or protocol.transport.is_closing())

    @property
    def pending_bytes(self) -> int:
        """Bytes written but not yet taken by the kernel (asyncio's write buffer)."""
        return self._protocol.transport.get_write_buffer_size()

    def write(self, frame: bytes) -> None:
        """Queue a prepared frame; never blocks. Dropped when the connection is closing."""
        if self.is_open:
            self._protocol.transport.write(frame)

    async def wait_writable(self) -> None:
        """Return once the transport's buffer is below its low-water mark (or it is gone)."""
        await self._protocol.writable.wait()

    def close(self, code: int, reason: str, *, abort_after: float) -> None:
        """Send a close frame behind what is queued and end the connection.

        The peer gets `abort_after` seconds to read up to the close frame and answer it;
        after that the connection is aborted, whatever is still unsent (a slow consumer
        may never read it).
        """
        protocol = self._protocol
        if not self.is_open:
            return
        protocol.conn.send_close(code, reason)
        protocol.transport.write(b"".join(protocol.conn.data_to_send()))
        protocol.close_sent = True
        protocol.queue.put_nowait({"type": "websocket.disconnect", "code": code, "reason": reason})
        if protocol.read_paused:  # keep reading, or the peer's close reply is never seen
            protocol.read_paused = False
            protocol.transport.resume_reading()
        protocol.close_timer = protocol.loop.call_later(abort_after, protocol.transport.abort)


class PartyWebSocketProtocol(WebSocketsSansIOProtocol):
    """uvicorn's default WebSocket protocol, offering a `Wire` in the ASGI scope, with a lean
    message queue and writability flag (lean_sync.py)."""

    # uvicorn's protocol sets 37 attributes per connection; past 30 an instance's attributes no
    # longer share their keys with the other instances' (CPython's key-sharing dicts), and
    # each connection held a 1.6 KiB dict of its own. These, the same for every connection
    # of a server, are kept in slots instead.
    __slots__ = (
        "app",
        "app_state",
        "asgi_version",
        "config",
        "connections",
        "default_headers",
        "logger",
        "loop",
        "root_path",
        "tasks",
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.queue = Inbox()  # type: ignore[assignment]  # Queue's interface, as uvicorn uses it
        self.writable = Flag()  # type: ignore[assignment]  # Event's interface, likewise
        self.writable.set()

    def handle_connect(self, event: Request) -> None:
        super().handle_connect(event)
        # The ASGI task is created but has not run yet, so it sees the extension.
        scope: Any = getattr(self, "scope", None)
        if scope is not None:
            scope["extensions"][EXTENSION] = Wire(self)

    async def send(self, message: Any) -> None:
        await super().send(message)
        if message["type"] == "websocket.accept":
            # The handshake's request and response (headers and all) are not read again;
            # uvicorn would keep them for the life of the connection (~3 KiB each). The
            # request's headers are emptied too: websockets' parser keeps the request itself
            # (a local of its generator) for as long as the connection lasts (~1.9 KiB).
            self.request.headers.clear()
            self.request = self.response = None  # type: ignore[assignment]


def wire_of(scope: Mapping[str, Any]) -> Wire | None:
    wire = scope.get("extensions", {}).get(EXTENSION)
    return wire if isinstance(wire, Wire) else None
