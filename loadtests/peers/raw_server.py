"""The machine's practical limit: one pre-encoded frame written to every transport.

A bare asyncio Protocol with just enough WebSocket to be a fair reference: the upgrade
handshake, unmasking client frames, and one text frame built once per round and written
with `transport.write` to every connection whose send buffer has room. A client's text
frame `blast N` starts N seconds of that. No rooms, no JSON, no validation.

    python loadtests/peers/raw_server.py --port 9000
"""

import argparse
import asyncio
import base64
import hashlib
import struct
import time

import orjson

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC11B65"
ROOM_IN_BUFFER = 64 * 1024  # skip a transport this far behind, as a slow-consumer cut would

# The same size as the engine's `events` frame carrying one share.
SAMPLE_EVENT = {
    "type": "events",
    "party": "bench-party",
    "items": [
        {
            "offset": 1,
            "kind": "share",
            "share": 1,
            "listing": {
                "id": "bench-listing-0001",
                "title": "Bench item",
                "brand": "Bench",
                "category": "sneakers",
                "price_cents": 12_000,
                "currency": "EUR",
                "image_urls": [],
            },
            "user": "bench-user-0001",
            "at": "2030-01-01T20:00:00.000000+00:00",
        }
    ],
}


def text_frame(payload: bytes) -> bytes:
    length = len(payload)
    if length < 126:
        return struct.pack("!BB", 0x81, length) + payload
    if length < 1 << 16:
        return struct.pack("!BBH", 0x81, 126, length) + payload
    return struct.pack("!BBQ", 0x81, 127, length) + payload


class Server:
    def __init__(self) -> None:
        self.transports: set[asyncio.Transport] = set()
        self.blasting = False
        self.blast_task: asyncio.Task[None] | None = None

    async def blast(self, seconds: float) -> None:
        if self.blasting:
            return
        self.blasting = True
        try:
            deadline = time.monotonic() + seconds
            while time.monotonic() < deadline:
                frame = text_frame(orjson.dumps(SAMPLE_EVENT))  # once per round, not per client
                for transport in self.transports:
                    if transport.get_write_buffer_size() < ROOM_IN_BUFFER:
                        transport.write(frame)
                await asyncio.sleep(0)
        finally:
            self.blasting = False


class Connection(asyncio.Protocol):
    def __init__(self, server: Server) -> None:
        self.server = server
        self.buffer = bytearray()
        self.open = False
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's is no subclass

    def connection_lost(self, exc: Exception | None) -> None:
        if self.transport is not None:
            self.server.transports.discard(self.transport)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if not self.open:
            self._handshake()
        if self.open:
            self._frames()

    def _handshake(self) -> None:
        end = self.buffer.find(b"\r\n\r\n")
        if end < 0:
            return
        key = b""
        for line in bytes(self.buffer[:end]).split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"sec-websocket-key":
                key = value.strip()
        del self.buffer[: end + 4]
        assert self.transport is not None
        if not key:
            self.transport.write(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n")
            self.transport.close()
            return
        accept = base64.b64encode(hashlib.sha1(key + GUID).digest())
        self.transport.write(
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
            b"Connection: Upgrade\r\nSec-WebSocket-Accept: " + accept + b"\r\n\r\n"
        )
        self.open = True
        self.server.transports.add(self.transport)

    def _frames(self) -> None:
        buffer = self.buffer
        while len(buffer) >= 6:
            opcode, length = buffer[0] & 0x0F, buffer[1] & 0x7F
            start = 2
            if length == 126:
                length, start = int.from_bytes(buffer[2:4], "big"), 4
            elif length == 127:
                length, start = int.from_bytes(buffer[2:10], "big"), 10
            if len(buffer) < start + 4 + length:
                return
            mask = buffer[start : start + 4]
            body = bytes(
                b ^ mask[i % 4] for i, b in enumerate(buffer[start + 4 : start + 4 + length])
            )
            del buffer[: start + 4 + length]
            if opcode == 0x8:
                assert self.transport is not None
                self.transport.close()
                return
            if opcode == 0x1 and body.startswith(b"blast "):
                seconds = float(body.split()[1])
                self.server.blast_task = asyncio.ensure_future(self.server.blast(seconds))


async def serve(host: str, port: int) -> None:
    server = Server()
    loop = asyncio.get_running_loop()
    listener = await loop.create_server(lambda: Connection(server), host, port, backlog=4096)
    async with listener:
        await listener.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    try:
        import uvloop  # the engine's uvicorn runs on uvloop too: same loop, fair comparison

        uvloop.install()
    except ImportError:
        pass
    asyncio.run(serve(args.host, args.port))


if __name__ == "__main__":
    main()
