"""The fast path to the socket: one ASGI extension of the gateway's WebSocket protocol
(ws_protocol.py).

The extension `party.wire` hands the app a `Wire` for its connection. A `Wire` writes a
prepared frame (the WebSocket header and payload, built once per batch by `text_frame`)
straight to the transport: no per-recipient encoding, no await, and the bytes still unsent
are visible (`pending_bytes`) so the hub can cut a slow consumer. Every server frame of a
session goes through its `Wire`, so frames leave in exactly the order they were written.
"""

import struct
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from websockets.frames import Opcode

if TYPE_CHECKING:
    from .ws_protocol import PartyWebSocketProtocol  # which imports this module

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

    __slots__ = ("_protocol",)

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
        protocol.close(code, reason, then=protocol.transport.abort, after=abort_after)


def wire_of(scope: Mapping[str, Any]) -> Wire | None:
    wire = scope.get("extensions", {}).get(EXTENSION)
    return wire if isinstance(wire, Wire) else None
