"""gateway/ws_protocol.py on the wire, byte by byte: the opening handshake (RFC 6455 section
4.2) and what a client may send that a WebSocket library never does by default (fragments, its
own pings, bad UTF-8), against a gateway under uvicorn."""

import asyncio
import struct

import orjson
import pytest

from tests.gateway_harness import DEADLINE, InProcessGateway, token

RFC_KEY = b"dGhlIHNhbXBsZSBub25jZQ=="  # RFC 6455 section 1.3, with its answer:
RFC_ACCEPT = b"s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
RFC_LINES = [b"sec-websocket-key: " + RFC_KEY, b"sec-websocket-version: 13"]
OP_CONT, OP_TEXT, OP_CLOSE, OP_PING, OP_PONG = 0x0, 0x1, 0x8, 0x9, 0xA


class RawClient:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def request(
        cls, port: int, *header_lines: bytes, path: bytes = b"/ws", method: bytes = b"GET"
    ) -> "RawClient":
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        head = [method + b" " + path + b" HTTP/1.1", b"host: 127.0.0.1", *header_lines]
        writer.write(b"\r\n".join(head) + b"\r\n\r\n")
        return cls(reader, writer)

    @classmethod
    async def open(cls, port: int, user: str) -> "RawClient":
        client = await cls.request(
            port,
            b"upgrade: websocket",
            b"connection: Upgrade",
            b"sec-websocket-key: " + RFC_KEY,
            b"sec-websocket-version: 13",
            path=b"/ws?token=" + token(user).encode(),
        )
        status, _ = await client.response()
        assert status == 101
        return client

    async def response(self) -> tuple[int, dict[bytes, bytes]]:
        head = await asyncio.wait_for(self.reader.readuntil(b"\r\n\r\n"), DEADLINE)
        lines = head[:-4].split(b"\r\n")
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(b": ")
            headers[name.lower()] = value
        return int(lines[0].split(b" ")[1]), headers

    def send(self, opcode: int, payload: bytes, *, fin: bool = True) -> None:
        """A masked client frame (the mask of zeros leaves the payload as it is)."""
        first = (0x80 if fin else 0) | opcode
        if len(payload) < 126:
            header = struct.pack("!BB", first, 0x80 | len(payload))
        else:
            header = struct.pack("!BBH", first, 0x80 | 126, len(payload))
        self.writer.write(header + b"\x00\x00\x00\x00" + payload)

    async def frame(self) -> tuple[int, bytes]:
        """The next server frame, skipping the keepalive's pings."""
        while True:
            first, second = await asyncio.wait_for(self.reader.readexactly(2), DEADLINE)
            length = second & 0x7F
            if length == 126:
                (length,) = struct.unpack("!H", await self.reader.readexactly(2))
            elif length == 127:
                (length,) = struct.unpack("!Q", await self.reader.readexactly(8))
            payload = await self.reader.readexactly(length)
            if first & 0x0F != OP_PING:
                return first & 0x0F, payload

    async def pong_to(self, frame_id: str) -> dict[str, object]:
        self.send(OP_TEXT, orjson.dumps({"type": "ping", "id": frame_id}))
        while True:
            opcode, payload = await self.frame()
            assert opcode == OP_TEXT
            message = orjson.loads(payload)
            if message["type"] == "pong":
                return message

    def close(self) -> None:
        self.writer.close()


@pytest.fixture
async def gateway():
    async with InProcessGateway() as gateway:
        yield gateway


async def test_the_handshake_answers_the_rfc_key_with_the_rfc_accept(gateway) -> None:
    client = await RawClient.open(gateway.settings.port, "ada")
    try:
        assert (await client.pong_to("after-handshake"))["id"] == "after-handshake"
    finally:
        client.close()
    raw = await RawClient.request(
        gateway.settings.port,
        b"upgrade: websocket",
        b"connection: Upgrade",
        *RFC_LINES,
    )
    status, headers = await raw.response()
    raw.close()
    assert status == 101
    assert headers[b"sec-websocket-accept"] == RFC_ACCEPT
    assert headers[b"upgrade"].lower() == b"websocket"


@pytest.mark.parametrize(
    ("method", "lines", "status", "header"),
    [
        (b"GET", [b"sec-websocket-key: " + RFC_KEY, b"sec-websocket-version: 8"], 426, b"13"),
        (b"GET", [b"sec-websocket-version: 13"], 400, None),
        (b"GET", [b"sec-websocket-key: AAAA", b"sec-websocket-version: 13"], 400, None),
        (b"POST", [*RFC_LINES, b"content-length: 0"], 405, None),
    ],
    ids=["old-version", "no-key", "short-key", "post"],
)
async def test_a_handshake_that_is_not_rfc_6455_is_refused_and_the_gateway_serves_on(
    gateway, method: bytes, lines: list[bytes], status: int, header: bytes | None
) -> None:
    raw = await RawClient.request(
        gateway.settings.port, b"upgrade: websocket", b"connection: Upgrade", *lines,
        method=method,
    )  # fmt: skip
    got, headers = await raw.response()
    assert got == status
    assert headers.get(b"sec-websocket-version") == header
    reason = await asyncio.wait_for(raw.reader.read(), DEADLINE)  # returns at the close
    assert reason.startswith((b"WebSocket", b"missing or invalid", b"a WebSocket opens"))
    raw.close()
    client = await RawClient.open(gateway.settings.port, "grace")
    try:
        assert (await client.pong_to("still"))["id"] == "still"
    finally:
        client.close()


async def test_a_fragmented_message_is_handled_as_one(gateway) -> None:
    client = await RawClient.open(gateway.settings.port, "ada")
    try:
        frame = orjson.dumps({"type": "ping", "id": "in-three"})
        client.send(OP_TEXT, frame[:5], fin=False)
        client.send(OP_PING, b"between")  # a control frame may come between fragments
        client.send(OP_CONT, frame[5:12], fin=False)
        client.send(OP_CONT, frame[12:])
        assert await client.frame() == (OP_PONG, b"between")
        opcode, payload = await client.frame()
        assert (opcode, orjson.loads(payload)) == (OP_TEXT, {"type": "pong", "id": "in-three"})
    finally:
        client.close()


async def test_text_that_is_not_utf8_is_closed_with_1007(gateway) -> None:
    client = await RawClient.open(gateway.settings.port, "ada")
    try:
        client.send(OP_TEXT, b'{"type":"ping","id":"\xff"}')
        opcode, payload = await client.frame()
        assert opcode == OP_CLOSE
        assert struct.unpack("!H", payload[:2]) == (1007,)
    finally:
        client.close()


async def test_a_clients_close_is_answered_with_its_code_and_the_connection_ends(gateway) -> None:
    client = await RawClient.open(gateway.settings.port, "ada")
    client.send(OP_CLOSE, struct.pack("!H", 1000) + b"bye")
    opcode, payload = await client.frame()
    assert opcode == OP_CLOSE
    assert struct.unpack("!H", payload[:2]) == (1000,)
    assert await asyncio.wait_for(client.reader.read(), DEADLINE) == b""
    client.close()
