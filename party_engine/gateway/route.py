"""`/ws?token=<JWT>`: authenticate, check the Origin, then run a session until it ends.

Close codes: 4401 bad token (checked before anything else), 4403 Origin not allowed,
1013 the gateway is draining, 1011 the server offers no `party.wire` (not run through
party_engine.server), 1009 a frame over PARTY_MAX_FRAME_BYTES (closed by the protocol).
"""

import logging

from fastapi import APIRouter, WebSocket

from ..tokens import InvalidToken, verify_token
from .session import Outbox, Session
from .transport import wire_of

log = logging.getLogger(__name__)

router = APIRouter()

UNAUTHORIZED = 4401
FORBIDDEN_ORIGIN = 4403
TRY_AGAIN_LATER = 1013
INTERNAL_ERROR = 1011
# How long a closed connection may take to read up to our close frame before it is aborted.
CLOSE_GRACE_SECONDS = 5.0


@router.websocket("/ws")
async def party_socket(websocket: WebSocket) -> None:
    engine = websocket.app.state.engine
    gateway = engine.gateway
    settings = engine.settings
    # Close codes only reach a client after the handshake, so accept first, then judge.
    await websocket.accept()
    try:
        principal = verify_token(settings.jwt_secret, websocket.query_params.get("token", ""))
    except InvalidToken as error:
        await websocket.close(UNAUTHORIZED, f"invalid token: {error}"[:120])
        return
    origin = websocket.headers.get("origin")
    if settings.allowed_origins and origin not in settings.allowed_origins:
        await websocket.close(FORBIDDEN_ORIGIN, "origin not allowed")
        return
    if not gateway.accepting:
        await websocket.close(TRY_AGAIN_LATER, "draining")
        return
    wire = wire_of(websocket.scope)
    if wire is None:
        await websocket.close(INTERNAL_ERROR, "run under party_engine.server (party.wire)")
        return
    session = Session(
        gateway, principal, Outbox(wire, settings.max_pending_bytes, CLOSE_GRACE_SECONDS)
    )
    gateway.sessions.add(session)
    try:
        while True:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                break
            data = message.get("text")
            await session.handle(data if data is not None else message.get("bytes") or b"")
    finally:
        gateway.sessions.discard(session)
        await session.close()
