"""`/ws`: authenticate, check the Origin, then run a session until it ends.

The token comes as `/ws?token=<JWT>` (mobile clients) or, so that no proxy or server log can
keep it, as the first frame: `{"type":"auth","token":<JWT>}` within AUTH_SECONDS of the
handshake (answered with an ack when it carries an id).

`GatewayApp` is the ASGI app uvicorn serves: `/ws` goes straight to the gateway, everything
else to the HTTP app (FastAPI). A WebSocket keeps every ASGI layer it passes through alive
for as long as it is open; FastAPI's routing and middleware would cost each connection
about 13 KiB and each join a fifth of its CPU, for features a WebSocket here does not use.

Close codes: 4401 bad or missing token (checked before anything else), 4403 Origin not allowed,
1013 the gateway is draining, 1011 the server offers no `party.wire` (not run through
party_engine.server), 4409 the user already has PARTY_MAX_CONNECTIONS_PER_USER connections
open over all gateways, 1009 a frame over PARTY_MAX_FRAME_BYTES (closed by the protocol).
"""

import asyncio
import logging
from urllib.parse import parse_qs

from starlette.types import ASGIApp, Receive, Scope, Send

from .. import metrics, protocol
from ..logs import bind_connection
from ..tokens import InvalidToken, Principal, verify_token
from .service import Gateway
from .session import Outbox, Session
from .transport import Wire, wire_of

log = logging.getLogger(__name__)

PATH = "/ws"
UNAUTHORIZED = 4401
FORBIDDEN_ORIGIN = 4403
TOO_MANY_CONNECTIONS = 4409
TRY_AGAIN_LATER = 1013
INTERNAL_ERROR = 1011
# How long a closed connection may take to read up to our close frame before it is aborted.
CLOSE_GRACE_SECONDS = 5.0
# How long a connection without ?token= may take to send its auth frame.
AUTH_SECONDS = 10.0


class GatewayApp:
    def __init__(self, http_app: ASGIApp, gateway: Gateway) -> None:
        self.http_app = http_app
        self.gateway = gateway

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket" and scope["path"] == PATH:
            await party_socket(self.gateway, scope, receive, send)
        else:
            await self.http_app(scope, receive, send)


async def party_socket(gateway: Gateway, scope: Scope, receive: Receive, send: Send) -> None:
    admitted = await _admit(gateway, scope, receive, send)
    if admitted is None:
        return
    principal, connection, wire = admitted
    bind_connection(connection)  # this task is the connection's: its lines name it
    settings = gateway.settings
    session = Session(
        gateway, principal, Outbox(wire, settings.max_pending_bytes, CLOSE_GRACE_SECONDS)
    )
    gateway.sessions.add(session)
    metrics.CONNECTIONS.inc()
    try:
        while await _handle_next(session, receive):
            pass
    finally:
        metrics.CONNECTIONS.dec()
        gateway.sessions.discard(session)
        await gateway.connection_cap.release(principal.user_id, connection)
        await session.close()


async def _handle_next(session: Session, receive: Receive) -> bool:
    """Handle the connection's next message; False once it is gone. A call per message, so
    that the last message is not kept (as a local) while the connection waits for the next."""
    message = await receive()
    if message["type"] == "websocket.disconnect":
        # The client's code, or ours when the server closed it (4008, 4429, 1001).
        metrics.DISCONNECTS.labels(code=str(message.get("code", 1005))).inc()
        return False
    data = message.get("text")
    await session.handle(data if data is not None else message.get("bytes") or b"")
    return True


async def _admit(
    gateway: Gateway, scope: Scope, receive: Receive, send: Send
) -> tuple[Principal, str, Wire] | None:
    """Accept the handshake and judge it: the connection's principal, id and Wire, or None
    once it was closed with its reason. A function of its own so that what only the
    handshake reads (the token, the headers) is not kept for the connection's life."""
    if (await receive())["type"] != "websocket.connect":
        return None
    # Close codes only reach a client after the handshake, so accept first, then judge.
    await send({"type": "websocket.accept"})
    settings = gateway.settings
    try:
        token = _token_of(scope) or await _token_from_first_frame(receive, send)
        principal = verify_token(settings.token_rules, token)
    except InvalidToken as error:
        await _close(send, UNAUTHORIZED, f"invalid token: {error}"[:120])
        return None
    except _Gone:
        return None
    origin = _origin_of(scope)
    # The scope lives as long as the connection (this task's argument); nothing reads its
    # headers again.
    scope["headers"] = []
    if settings.allowed_origins and origin not in settings.allowed_origins:
        await _close(send, FORBIDDEN_ORIGIN, "origin not allowed")
        return None
    if not gateway.accepting:
        await _close(send, TRY_AGAIN_LATER, "draining")
        return None
    wire = wire_of(scope)
    if wire is None:
        await _close(send, INTERNAL_ERROR, "run under party_engine.server (party.wire)")
        return None
    connection = await gateway.connection_cap.admit(principal.user_id)
    if connection is None:
        await _close(send, TOO_MANY_CONNECTIONS, "too_many_connections")
        return None
    return principal, connection, wire


async def _close(send: Send, code: int, reason: str) -> None:
    metrics.DISCONNECTS.labels(code=str(code)).inc()
    await send({"type": "websocket.close", "code": code, "reason": reason})


class _Gone(Exception):
    """The client left before it authenticated."""


async def _token_from_first_frame(receive: Receive, send: Send) -> str:
    """The token of an `auth` frame that must come first; InvalidToken for anything else."""
    try:
        message = await asyncio.wait_for(receive(), AUTH_SECONDS)
    except TimeoutError:
        raise InvalidToken(f"send ?token= or an auth frame within {AUTH_SECONDS:g} s") from None
    if message["type"] == "websocket.disconnect":
        raise _Gone
    data = message.get("text") or message.get("bytes") or b""
    try:
        frame = protocol.decode_client_frame(data)
    except protocol.ProtocolError as error:
        raise InvalidToken(f"the first frame must be auth ({error})") from None
    if not isinstance(frame, protocol.Auth):
        raise InvalidToken("the first frame must be auth when /ws has no ?token=")
    if frame.id is not None:
        await send({"type": "websocket.send", "text": protocol.encode_ack(frame.id).decode()})
    return frame.token


def _token_of(scope: Scope) -> str:
    values = parse_qs(scope.get("query_string", b"").decode("latin-1")).get("token")
    return values[0] if values else ""


def _origin_of(scope: Scope) -> str | None:
    for name, value in scope.get("headers", ()):
        if name == b"origin":
            return value.decode("latin-1")
    return None
