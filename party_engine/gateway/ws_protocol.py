"""`/ws` under uvicorn: the engine's own WebSocket protocol class.

uvicorn parses the HTTP request (httptools), sees the upgrade, and hands the connection to the
`ws` class it was given, with the request written out again (`data_received`, once, before
anything else). From there this class is the connection: the opening handshake (RFC 6455
section 4.2), websockets' sans-I/O `Protocol` for the frames (parsing, unmasking, limits,
pongs and the closing handshake), the ASGI app run as a task, and the `party.wire` extension
(transport.py).

Why not uvicorn's own class: a gateway's memory is mostly its held connections, and each join
pays for what uvicorn's class does once per connection and the engine never reads: a second
parse of the request into websockets' objects, the request and response kept, 37 attributes,
two timers for its keepalive (here one per server: keepalive.py). `make
bench-connection-memory` measures what a held connection costs.

Run uvicorn with `ws="party_engine.gateway.ws_protocol:PartyWebSocketProtocol"`.
"""

import asyncio
import base64
import binascii
import logging
import weakref
from collections.abc import Callable, Iterable
from http import HTTPStatus
from typing import Any
from urllib.parse import unquote

from uvicorn.config import Config
from uvicorn.protocols.utils import ClientDisconnected, get_local_addr, get_remote_addr, is_ssl
from uvicorn.server import ServerState
from websockets.frames import Frame, Opcode
from websockets.protocol import Protocol, Side
from websockets.utils import accept_key

from .keepalive import Keepalive
from .lean_sync import Flag, Inbox
from .transport import EXTENSION, Wire

log = logging.getLogger("uvicorn.error")  # where uvicorn's own WebSocket lines go

_ASGI = {"version": "3.0", "spec_version": "2.4"}
# How long the peer has to answer our close frame (the app's `websocket.close`).
CLOSE_TIMEOUT_SECONDS = 10.0
_NORMAL, _SERVICE_RESTART, _INTERNAL = 1000, 1012, 1011


class _Server:
    """What the connections of one uvicorn server share."""

    def __init__(self, config: Config, state: ServerState, app_state: dict[str, Any]) -> None:
        if not config.loaded:
            config.load()
        self.app = config.loaded_app
        self.loop = asyncio.get_running_loop()  # uvicorn builds protocols on its loop
        self.state = state  # its connections, its tasks and its current default headers
        self.app_state = app_state
        self.root_path = config.root_path
        self.max_size = config.ws_max_size
        interval = config.ws_ping_interval
        self.keepalive = (
            Keepalive(self.loop, interval, config.ws_ping_timeout or interval) if interval else None
        )


_servers: "weakref.WeakKeyDictionary[ServerState, _Server]" = weakref.WeakKeyDictionary()


def _server_of(config: Config, state: ServerState, app_state: dict[str, Any]) -> _Server:
    server = _servers.get(state)
    if server is None:
        server = _servers[state] = _Server(config, state, app_state)
    return server


class PartyWebSocketProtocol(asyncio.Protocol):
    # Slots: one instance per held connection.
    __slots__ = (
        "_accept_value",
        "_access",
        "_fragments",
        "_keepalive_slice",
        "_server",
        "_text",
        "accepted",
        "close_sent",
        "close_timer",
        "conn",
        "disconnected",
        "ping_tick",
        "queue",
        "read_paused",
        "transport",
        "writable",
    )

    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
    ) -> None:
        self._server = _server_of(config, server_state, app_state)
        self.transport: asyncio.Transport = None  # type: ignore[assignment]  # connection_made
        self.conn: Protocol | None = None  # websockets' frames, from the handshake on
        self.queue: Inbox[dict[str, Any]] = Inbox()
        self.writable = Flag()
        self.writable.set()
        self.accepted = False  # the 101 response is sent
        self.close_sent = False  # a close frame, or a refusal of the handshake, is sent
        self.disconnected = False
        self.read_paused = False
        self.close_timer: asyncio.TimerHandle | None = None
        self.ping_tick = 0
        self._keepalive_slice = -1
        self._accept_value = b""  # Sec-WebSocket-Accept, from the handshake until the accept
        self._access = ""  # its log line's start, likewise, when INFO lines are logged
        self._fragments: list[bytes] | None = None
        self._text = False

    # --- asyncio.Protocol ---------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self._server.state.connections.add(self)  # type: ignore[arg-type]

    def connection_lost(self, exc: Exception | None) -> None:
        self._leave_keepalive()
        self._gone(1005 if self.accepted else 1006, "")
        self._server.state.connections.discard(self)  # type: ignore[arg-type]
        self.disconnected = True
        # asyncio never resumes writing on a transport lost while paused: wake a waiting send.
        self.writable.set()
        self._cancel_close_timer()
        if exc is None:
            self.transport.close()

    def pause_writing(self) -> None:
        self.writable.clear()

    def resume_writing(self) -> None:
        self.writable.set()

    def data_received(self, data: bytes) -> None:
        conn = self.conn
        if conn is None:
            self._handshake(data)
            return
        conn.receive_data(data)
        for event in conn.events_received():
            if isinstance(event, Frame):  # always, on a connection already open
                self._received(event)
        self._flush(conn)
        if conn.parser_exc is not None and not self.close_sent:
            # websockets failed the connection (1002 a protocol error, 1009 too big...) and
            # queued the close frame `_flush` wrote.
            self._gone(conn.close_sent.code if conn.close_sent else 1006, "")
            self.close_sent = True
            self.transport.close()

    def eof_received(self) -> None:
        pass  # the transport closes; connection_lost tells the app

    # --- uvicorn's server ---------------------------------------------------------------

    def shutdown(self) -> None:
        """The server stops (after the gateway's drain): close what is left, 1012."""
        self._leave_keepalive()
        if self.close_sent:
            self._cancel_close_timer()
        elif self.accepted and self.conn is not None:
            self._gone(_SERVICE_RESTART, "")
            self.conn.send_close(_SERVICE_RESTART)
            self._flush(self.conn)
        else:
            self._respond(500, b"Internal Server Error")
        self.transport.close()

    # --- keepalive.Pinged ---------------------------------------------------------------

    def send_ping(self, frame: bytes) -> None:
        if not (self.close_sent or self.transport.is_closing()):
            self.transport.write(frame)

    def keepalive_timed_out(self) -> None:
        self._leave_keepalive()
        if self.close_sent or self.transport.is_closing() or self.conn is None:
            return
        self._gone(_INTERNAL, "keepalive ping timeout")
        self.conn.fail(_INTERNAL, "keepalive ping timeout")
        self._flush(self.conn)
        self.close_sent = True
        self.transport.close()

    # --- ASGI ---------------------------------------------------------------------------

    async def receive(self) -> dict[str, Any]:
        message = await self.queue.get()
        if self.read_paused and self.queue.empty():
            self.read_paused = False
            self.transport.resume_reading()
        return message

    async def send(self, message: dict[str, Any]) -> None:
        await self.writable.wait()
        if self.disconnected:
            raise ClientDisconnected()
        kind = message["type"]
        if not self.accepted and not self.close_sent:
            if kind == "websocket.accept":
                self._accept(message)
            elif kind == "websocket.close":
                if self._access:
                    log.info("%s 403", self._access)
                    self._access = ""
                self._gone(1006, "")
                self._respond(403, b"")
            else:
                raise RuntimeError(f"expected websocket.accept or websocket.close, got {kind!r}")
        elif not self.close_sent:
            if kind == "websocket.send":
                conn = self.conn
                assert conn is not None
                text = message.get("text")
                if text is not None:
                    conn.send_text(text.encode())
                else:
                    conn.send_binary(message.get("bytes") or b"")
                self._flush(conn)
            elif kind == "websocket.close":
                self.close(
                    message.get("code", _NORMAL),
                    message.get("reason") or "",
                    then=self.transport.close,
                    after=CLOSE_TIMEOUT_SECONDS,
                )
            else:
                raise RuntimeError(f"expected websocket.send or websocket.close, got {kind!r}")
        elif kind != "websocket.close":
            raise RuntimeError(f"{kind!r} after the connection was closed")

    # --- closing ------------------------------------------------------------------------

    def close(self, code: int, reason: str, *, then: Callable[[], object], after: float) -> None:
        """Send a close frame behind what is queued, tell the app, and call `then` (close or
        abort the transport) unless the peer answers within `after` seconds."""
        conn = self.conn
        if self.close_sent or self.disconnected or conn is None or self.transport.is_closing():
            return
        self._leave_keepalive()
        self._gone(code, reason)
        conn.send_close(code, reason)
        self._flush(conn)
        self.close_sent = True
        if self.read_paused:  # keep reading, or the peer's close reply is never seen
            self.read_paused = False
            self.transport.resume_reading()
        self.close_timer = self._server.loop.call_later(after, then)

    # --- internals ----------------------------------------------------------------------

    def _handshake(self, request: bytes) -> None:
        """The request uvicorn parsed and wrote out again: `METHOD target HTTP/1.1`, then
        `name: value` lines with lowercased names."""
        head = request.split(b"\r\n\r\n", 1)[0].split(b"\r\n")
        method, target, _ = head[0].split(b" ", 2)
        headers = [_header(line) for line in head[1:]]
        values = dict(headers)
        key = values.get(b"sec-websocket-key", b"")
        if method != b"GET":
            self._respond(405, b"a WebSocket opens with GET")
            return
        if values.get(b"sec-websocket-version") != b"13":
            self._respond(426, b"WebSocket version 13 only", (b"Sec-WebSocket-Version", b"13"))
            return
        try:
            valid_key = len(base64.b64decode(key, validate=True)) == 16
        except binascii.Error:
            valid_key = False
        if not valid_key:
            self._respond(400, b"missing or invalid Sec-WebSocket-Key")
            return
        server = self._server
        self.conn = Protocol(Side.SERVER, max_size=server.max_size, logger=log)
        raw_path, _, query = target.partition(b"?")
        transport = self.transport
        scope: dict[str, Any] = {
            "type": "websocket",
            "asgi": _ASGI,
            "http_version": "1.1",
            "scheme": "wss" if is_ssl(transport) else "ws",
            "server": get_local_addr(transport),
            "client": get_remote_addr(transport),
            "root_path": server.root_path,
            "path": server.root_path + unquote(raw_path.decode("latin-1")),
            "raw_path": server.root_path.encode("ascii") + raw_path,
            "query_string": query,
            "headers": headers,
            "subprotocols": [
                token.strip()
                for token in values.get(b"sec-websocket-protocol", b"").decode("latin-1").split(",")
                if token.strip()
            ],
            "state": server.app_state.copy(),
            "extensions": {EXTENSION: Wire(self)},
        }
        self._accept_value = accept_key(key.decode("ascii")).encode("ascii")
        if log.isEnabledFor(logging.INFO):
            # uvicorn's line, without the query string (which may carry a token)
            client = scope["client"]
            where = f"{client[0]}:{client[1]}" if client else "-"
            self._access = f'{where} - "WebSocket {scope["path"]}"'
        self.queue.put_nowait({"type": "websocket.connect"})
        task = server.loop.create_task(server.app(scope, self.receive, self.send))
        task.add_done_callback(self._app_done)
        server.state.tasks.add(task)

    def _accept(self, message: dict[str, Any]) -> None:
        if self.transport.is_closing():
            return
        headers = [*self._server.state.default_headers, *message.get("headers", ())]
        subprotocol = message.get("subprotocol")
        if subprotocol:
            headers.append((b"sec-websocket-protocol", subprotocol.encode("latin-1")))
        upgrade = [
            (b"upgrade", b"websocket"),
            (b"connection", b"Upgrade"),
            (b"sec-websocket-accept", self._accept_value),
        ]
        self._accept_value = b""
        self.transport.write(_head(101, [*upgrade, *headers]))
        self.accepted = True
        if self._access:
            log.info("%s [accepted]", self._access)
            self._access = ""
        keepalive = self._server.keepalive
        if keepalive is not None:
            self._keepalive_slice = keepalive.add(self)

    def _app_done(self, task: "asyncio.Task[None]") -> None:
        self._server.state.tasks.discard(task)
        error = None if task.cancelled() else task.exception()
        if error is not None and not isinstance(error, ClientDisconnected):
            log.error("Exception in ASGI application", exc_info=error)
        if not self.accepted:  # the app ended without accepting or refusing
            self._respond(500, b"Internal Server Error")
        if self.close_timer is None:
            self.transport.close()

    def _received(self, frame: Frame) -> None:
        opcode = frame.opcode
        if opcode is Opcode.TEXT or opcode is Opcode.BINARY:
            self._text = opcode is Opcode.TEXT
            if frame.fin:
                self._message(frame.data)
            else:
                self._fragments = [bytes(frame.data)]
        elif opcode is Opcode.CONT:
            assert self._fragments is not None  # websockets refuses a stray continuation
            self._fragments.append(bytes(frame.data))
            if frame.fin:
                data, self._fragments = b"".join(self._fragments), None
                self._message(data)
        elif opcode is Opcode.PONG:
            self.ping_tick = 0  # any pong answers the keepalive's ping
        elif opcode is Opcode.CLOSE:
            conn = self.conn
            assert conn is not None
            if self.close_sent:  # the peer answered our close: the handshake is done
                self._cancel_close_timer()
            else:
                received = conn.close_rcvd
                self._gone(received.code if received else 1005, received.reason if received else "")
                self.close_sent = True  # websockets echoed it (written by _flush)
            self._leave_keepalive()
            self._flush(conn)
            self.transport.close()
        # PING: websockets queued the pong, written by _flush.

    def _message(self, data: bytes | bytearray | memoryview) -> None:
        if self.close_sent:
            return  # the app is past its close; keep reading until the peer answers it
        if self._text:
            message: dict[str, Any]
            try:
                message = {"type": "websocket.receive", "text": bytes(data).decode()}
            except UnicodeDecodeError:
                self.close(1007, "invalid UTF-8", then=self.transport.close, after=0)
                return
        else:
            message = {"type": "websocket.receive", "bytes": bytes(data)}
        self.queue.put_nowait(message)
        if not self.read_paused:  # one message at a time: the client waits for the app
            self.read_paused = True
            self.transport.pause_reading()

    def _gone(self, code: int, reason: str) -> None:
        self.queue.put_nowait({"type": "websocket.disconnect", "code": code, "reason": reason})

    def _flush(self, conn: Protocol) -> None:
        writes = conn.data_to_send()
        if writes:
            # websockets' end-of-stream marker is b"": the transport is closed by the caller.
            self.transport.write(b"".join(writes))

    def _respond(self, status: int, body: bytes, *extra: tuple[bytes, bytes]) -> None:
        """Refuse the handshake with an HTTP response, and close."""
        if self.accepted or self.close_sent:
            return
        self.close_sent = True
        headers = [
            *self._server.state.default_headers,
            *extra,
            (b"connection", b"close"),
            (b"content-type", b"text/plain; charset=utf-8"),
            (b"content-length", b"%d" % len(body)),
        ]
        self.transport.write(_head(status, headers) + body)
        self.transport.close()

    def _cancel_close_timer(self) -> None:
        if self.close_timer is not None:
            self.close_timer.cancel()
            self.close_timer = None

    def _leave_keepalive(self) -> None:
        keepalive = self._server.keepalive
        if keepalive is not None and self._keepalive_slice >= 0:
            keepalive.remove(self, self._keepalive_slice)
            self._keepalive_slice = -1


def _head(status: int, headers: Iterable[tuple[bytes, bytes]]) -> bytes:
    """An HTTP/1.1 response's status line and headers, up to the blank line."""
    lines = [b"HTTP/1.1 %d %s" % (status, HTTPStatus(status).phrase.encode())]
    lines += [name + b": " + value for name, value in headers]
    return b"\r\n".join(lines) + b"\r\n\r\n"


def _header(line: bytes) -> tuple[bytes, bytes]:
    name, _, value = line.partition(b": ")
    return name, value
