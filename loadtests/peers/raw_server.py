"""The machine's practical limit for a party server: rooms and `transport.write`, nothing else.

A bare asyncio Protocol with just enough WebSocket to be a fair reference: the upgrade
handshake, unmasking client frames, `join` (enter a room, answered with `joined`) and `share`
(deliver to the room). No JSON schema, no auth, no persistence, no broker: server processes
pass shares to each other over plain TCP links (`--peers`), the least any multi-process
system must do. Delivered frames have the engine's shape (`{"type":"events","party",
"items":[...]}`), each item the size of the engine's share event.

Unbatched (the default): every share is one frame of one event, written to every member at
once. `--batch-ms T`: the engine's way, the limit for a batching engine: the first share
of a room starts a T ms tick; at its end the room's pending shares go out as one frame of N
events, built once and written to every member.

    python loadtests/peers/raw_server.py --port 9000 [--batch-ms 5] [--peers 9001,9002]

`GET /ready` answers 200 once every peer link is up (503 before).
"""

import argparse
import asyncio
import base64
import hashlib
import struct

import orjson

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"  # RFC 6455
PEER_HELLO = b"PEER\r\n\r\n"

# Beside the share's own fields, what the engine's share event carries (a listing, a user, a
# time): the same bytes on the wire.
LISTING = {
    "id": "bench-listing-0001",
    "title": "Bench item",
    "brand": "Bench",
    "category": "sneakers",
    "price_cents": 12_000,
    "currency": "EUR",
    "image_urls": [],
}


def text_frame(payload: bytes) -> bytes:
    length = len(payload)
    if length < 126:
        return struct.pack("!BB", 0x81, length) + payload
    if length < 1 << 16:
        return struct.pack("!BBH", 0x81, 126, length) + payload
    return struct.pack("!BBQ", 0x81, 127, length) + payload


class Room:
    __slots__ = ("members", "offset", "pending")

    def __init__(self) -> None:
        self.members: set[asyncio.Transport] = set()
        self.offset = 0
        self.pending: list[dict] = []


class Server:
    def __init__(self, batch_seconds: float) -> None:
        self.rooms: dict[str, Room] = {}
        self.batch_seconds = batch_seconds
        self.links: list[asyncio.Transport] = []  # to every peer server
        self.peers_wanted = 0

    @property
    def ready(self) -> bool:
        return len(self.links) == self.peers_wanted

    def share(self, share: dict, line: bytes | None) -> None:
        """A share from a client (`line` None: forward it to the peers) or from a peer."""
        if line is None:
            line = orjson.dumps(share) + b"\n"
            for link in self.links:
                link.write(line)
        room = self.rooms.get(share["party"])
        if room is None or not room.members:
            return
        room.offset += 1
        item = {**share, "offset": room.offset, "kind": "share", "listing": LISTING,
                "user": "bench-user-0001", "at": "2030-01-01T20:00:00.000000+00:00"}  # fmt: skip
        if self.batch_seconds <= 0:
            self.deliver(share["party"], room, [item])
            return
        room.pending.append(item)
        if len(room.pending) == 1:
            asyncio.get_running_loop().call_later(self.batch_seconds, self.flush, share["party"])

    def flush(self, party: str) -> None:
        room = self.rooms.get(party)
        if room is not None and room.pending:
            items, room.pending = room.pending, []
            self.deliver(party, room, items)

    @staticmethod
    def deliver(party: str, room: Room, items: list[dict]) -> None:
        frame = text_frame(orjson.dumps({"type": "events", "party": party, "items": items}))
        for transport in room.members:  # never skips a slow one: everything is delivered
            transport.write(frame)

    def leave_all(self, transport: asyncio.Transport, parties: set[str]) -> None:
        for party in parties:
            room = self.rooms.get(party)
            if room is not None:
                room.members.discard(transport)


class Connection(asyncio.Protocol):
    def __init__(self, server: Server) -> None:
        self.server = server
        self.buffer = bytearray()
        self.kind = ""  # "" until the first request: "ws" or "peer"
        self.parties: set[str] = set()
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's is no subclass

    def connection_lost(self, exc: Exception | None) -> None:
        if self.transport is not None:
            self.server.leave_all(self.transport, self.parties)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if not self.kind:
            self._request()
        if self.kind == "ws":
            self._frames()
        elif self.kind == "peer":
            self._peer_lines()

    def _request(self) -> None:
        end = self.buffer.find(b"\r\n\r\n")
        if end < 0:
            return
        head = bytes(self.buffer[:end])
        del self.buffer[: end + 4]
        assert self.transport is not None
        if head == PEER_HELLO[:-4]:
            self.kind = "peer"
            return
        if head.startswith(b"GET /ready "):
            status = b"200 OK" if self.server.ready else b"503 Service Unavailable"
            self.transport.write(b"HTTP/1.1 " + status + b"\r\ncontent-length: 0\r\n\r\n")
            self.transport.close()
            return
        key = b""
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"sec-websocket-key":
                key = value.strip()
        if not key:
            self.transport.write(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n")
            self.transport.close()
            return
        accept = base64.b64encode(hashlib.sha1(key + GUID).digest())
        self.transport.write(
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
            b"Connection: Upgrade\r\nSec-WebSocket-Accept: " + accept + b"\r\n\r\n"
        )
        self.kind = "ws"

    def _peer_lines(self) -> None:
        end = self.buffer.rfind(b"\n")
        if end < 0:
            return
        lines = bytes(self.buffer[: end + 1])
        del self.buffer[: end + 1]
        for line in lines.splitlines(keepends=True):
            self.server.share(orjson.loads(line), line)

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
            mask = bytes(buffer[start : start + 4])
            body = bytes(buffer[start + 4 : start + 4 + length])
            if mask != b"\x00\x00\x00\x00":  # the bench's clients mask with a zero key
                key = (mask * (length // 4 + 1))[:length]
                body = (int.from_bytes(body) ^ int.from_bytes(key)).to_bytes(length)
            del buffer[: start + 4 + length]
            assert self.transport is not None
            if opcode == 0x8:
                self.transport.close()
                return
            if opcode == 0x1:
                self._message(orjson.loads(body))

    def _message(self, message: dict) -> None:
        assert self.transport is not None
        kind = message.get("type")
        if kind == "share":
            del message["type"]
            self.server.share(message, None)
        elif kind == "join":
            party = message["party"]
            self.server.rooms.setdefault(party, Room()).members.add(self.transport)
            self.parties.add(party)
            reply = orjson.dumps({"type": "joined", "party": party})
            self.transport.write(text_frame(reply))


async def link(server: Server, host: str, port: int) -> None:
    """An outbound link to a peer server, retried until the peer listens."""
    loop = asyncio.get_running_loop()
    while True:
        try:
            transport, _ = await loop.create_connection(asyncio.Protocol, host, port)
        except OSError:
            await asyncio.sleep(0.05)
            continue
        transport.write(PEER_HELLO)
        server.links.append(transport)  # type: ignore[arg-type]
        return


async def serve(host: str, port: int, batch_ms: float, peers: list[int]) -> None:
    server = Server(batch_ms / 1000.0)
    server.peers_wanted = len(peers)
    loop = asyncio.get_running_loop()
    listener = await loop.create_server(lambda: Connection(server), host, port, backlog=4096)
    links = [asyncio.ensure_future(link(server, host, peer)) for peer in peers]
    async with listener:
        await asyncio.gather(listener.serve_forever(), *links)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--batch-ms", type=float, default=0.0, help="0: one frame per share")
    parser.add_argument("--peers", default="", help="comma-separated ports of peer servers")
    args = parser.parse_args()
    peers = [int(p) for p in args.peers.split(",") if p]
    try:
        import uvloop  # the engine's uvicorn runs on uvloop too: same loop, fair comparison

        uvloop.install()
    except ImportError:
        pass
    asyncio.run(serve(args.host, args.port, args.batch_ms, peers))


if __name__ == "__main__":
    main()
