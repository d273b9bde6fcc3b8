"""A minimal asyncio WebSocket client, light enough to hold tens of thousands per process.

One `Conn` per connection: an HTTP/1.1 upgrade, then frames parsed straight from the
receive buffer. Client frames are masked with a zero key (valid RFC 6455, and no XOR to
pay). What a frame means is the job of a `Dialect` (dialects.py): the engine's protocol,
Engine.IO / Socket.IO, or the raw server's bare frames.
"""

import asyncio
import base64
import os
import socket
import struct
from collections.abc import Callable
from typing import Any

IP_BIND_ADDRESS_NO_PORT = 24  # linux/in.h: pick the source port at connect, per 4-tuple

OPCODE_TEXT, OPCODE_CLOSE, OPCODE_PING, OPCODE_PONG = 0x1, 0x8, 0x9, 0xA
_ZERO_MASK = b"\x00\x00\x00\x00"


def client_frame(payload: bytes, opcode: int = OPCODE_TEXT) -> bytes:
    length = len(payload)
    if length < 126:
        header = struct.pack("!BB", 0x80 | opcode, 0x80 | length)
    elif length < 1 << 16:
        header = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, length)
    else:
        header = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, length)
    return header + _ZERO_MASK + payload


class Conn(asyncio.Protocol):
    """One WebSocket connection. `opened` resolves after the 101, `closed` when it is gone."""

    def __init__(
        self, host: str, path: str, on_text: Callable[["Conn", bytes], None], state: Any = None
    ) -> None:
        self._request = (
            f"GET {path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\n"
            "Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
            f"Sec-WebSocket-Key: {base64.b64encode(os.urandom(16)).decode()}\r\n\r\n"
        ).encode()
        self._on_text = on_text
        self._buffer = bytearray()
        self._upgraded = False
        self.transport: asyncio.Transport | None = None
        loop = asyncio.get_running_loop()
        self.opened: asyncio.Future[None] = loop.create_future()
        self.closed: asyncio.Future[None] = loop.create_future()
        # The dialect's per-connection state: given before the upgrade, since a server may
        # speak first (Socket.IO's handshake) and be heard before the opener resumes.
        self.state: Any = state

    def send(self, payload: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(client_frame(payload))

    def close(self) -> None:
        if self.transport is not None:
            self.transport.abort()

    # --- asyncio.Protocol ----------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's is no subclass
        transport.write(self._request)

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        if not self.opened.done():
            self.opened.set_exception(ConnectionError("closed before the upgrade"))
            self.opened.exception()  # retrieved: whoever awaits it sees it, nobody else logs it
        if not self.closed.done():
            self.closed.set_result(None)

    def data_received(self, data: bytes) -> None:
        buffer = self._buffer
        buffer += data
        if not self._upgraded:
            end = buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            if self.opened.done():  # the opener gave up waiting (timed out): nobody to tell
                self.close()
                return
            if not buffer.startswith(b"HTTP/1.1 101"):
                status = bytes(buffer[: buffer.find(b"\r\n")]).decode(errors="replace")
                self.opened.set_exception(ConnectionError(f"upgrade refused: {status}"))
                self.close()
                return
            del buffer[: end + 4]
            self._upgraded = True
            self.opened.set_result(None)
        self._parse(buffer)

    def _parse(self, buffer: bytearray) -> None:
        start, size = 0, len(buffer)
        while size - start >= 2:
            opcode = buffer[start] & 0x0F
            length = buffer[start + 1] & 0x7F
            header = 2
            if length == 126:
                if size - start < 4:
                    break
                length = (buffer[start + 2] << 8) | buffer[start + 3]
                header = 4
            elif length == 127:
                if size - start < 10:
                    break
                length = int.from_bytes(buffer[start + 2 : start + 10], "big")
                header = 10
            end = start + header + length
            if end > size:
                break
            payload = bytes(buffer[start + header : end])
            start = end
            if opcode == OPCODE_TEXT:
                self._on_text(self, payload)
            elif opcode == OPCODE_PING and self.transport is not None:
                self.transport.write(client_frame(payload, OPCODE_PONG))
            elif opcode == OPCODE_CLOSE:
                self.close()
                break
        if start:
            del buffer[:start]


async def open_conn(
    host: str,
    port: int,
    path: str,
    on_text: Callable[[Conn, bytes], None],
    source_ip: str,
    patience: float,
    state: Any = None,
) -> Conn:
    """Connect from `source_ip` (a 127.0.0.x) and upgrade; raises on refusal or timeout.
    `state` is the connection's `Conn.state` from the start."""
    loop = asyncio.get_running_loop()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, 1)
        sock.bind((source_ip, 0))
        sock.setblocking(False)
        async with asyncio.timeout(patience):
            await loop.sock_connect(sock, (host, port))
            _, conn = await loop.create_connection(
                lambda: Conn(f"{host}:{port}", path, on_text, state), sock=sock
            )
            await conn.opened
    except BaseException:
        sock.close()
        raise
    return conn
