"""A bare Redis pub/sub connection: RESP over one socket, parsed with hiredis.

redis-py's PubSub reconnects and resubscribes by itself, inside a read; a subscriber that must
backfill what it missed while disconnected needs to see every drop, so this connection never
reconnects: a drop ends `replies()` with ConnectionError and the owner starts a new one.
"""

import asyncio
import ssl
from collections.abc import AsyncIterator
from typing import Any

import hiredis
from redis.asyncio.connection import SSLConnection, UnixDomainSocketConnection, parse_url

_READ_SIZE = 64 * 1024


def _command(*parts: str | bytes) -> bytes:
    encoded = [part.encode() if isinstance(part, str) else part for part in parts]
    out = [b"*%d\r\n" % len(encoded)]
    for part in encoded:
        out.append(b"$%d\r\n%s\r\n" % (len(part), part))
    return b"".join(out)


class PubSubWire:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader = reader
        self._writer = writer
        self._parser = hiredis.Reader()

    @classmethod
    async def open(cls, url: str, connect_seconds: float = 5.0) -> "PubSubWire":
        options = parse_url(url)
        connection_class = options.get("connection_class")
        async with asyncio.timeout(connect_seconds):
            if connection_class is UnixDomainSocketConnection:
                reader, writer = await asyncio.open_unix_connection(options["path"])
            else:
                tls = ssl.create_default_context() if connection_class is SSLConnection else None
                reader, writer = await asyncio.open_connection(
                    options.get("host", "localhost"), options.get("port", 6379), ssl=tls
                )
            wire = cls(reader, writer)
            if "password" in options:
                user = options.get("username")
                auth = (
                    ("AUTH", user, options["password"]) if user else ("AUTH", options["password"])
                )
                wire.send(*auth)
                reply = await wire._next_reply()
                if isinstance(reply, Exception):
                    wire.close()
                    raise ConnectionError(f"redis refused AUTH: {reply}")
        return wire

    def send(self, *parts: str | bytes) -> None:
        """A command ((S)SUBSCRIBE, (S)UNSUBSCRIBE, PING); its replies come through replies()."""
        self._writer.write(_command(*parts))

    async def _next_reply(self) -> Any:
        while (reply := self._parser.gets()) is False:
            data = await self._reader.read(_READ_SIZE)
            if not data:
                raise ConnectionError("redis closed the pub/sub connection")
            self._parser.feed(data)
        return reply

    async def replies(self, keepalive: float) -> AsyncIterator[list[bytes]]:
        """Every reply in order ([b"message", channel, data], [b"subscribe", channel, n], ...).

        After `keepalive` seconds of silence a PING goes out; silence for as long again means
        the connection is dead (a peer gone without a reset), and ConnectionError is raised.
        """
        pinged = False
        while True:
            reply = self._parser.gets()
            if reply is not False:
                pinged = False
                yield reply
                continue
            try:
                async with asyncio.timeout(keepalive):
                    data = await self._reader.read(_READ_SIZE)
            except TimeoutError:
                if pinged:
                    raise ConnectionError("redis pub/sub connection went silent") from None
                self.send("PING")
                pinged = True
                continue
            if not data:
                raise ConnectionError("redis closed the pub/sub connection")
            self._parser.feed(data)

    def close(self) -> None:
        self._writer.close()
