"""gateway/transport.py subclasses uvicorn's private sans-I/O WebSocket protocol and reads and
writes its fields. pyproject.toml pins the uvicorn versions this was checked against; this test
says what is missing when an upgrade removes or renames one of them."""

import asyncio
import importlib
import inspect
from importlib.metadata import version

MODULE = "uvicorn.protocols.websockets.websockets_sansio_impl"
CLASS = "WebSocketsSansIOProtocol"

# Instance fields transport.py reads or writes, with the type it expects.
FIELDS: dict[str, type | None] = {
    "close_sent": bool,  # read by Wire.is_open, written by Wire.close
    "disconnected": bool,  # read by Wire.is_open
    "read_paused": bool,  # read and written by Wire.close
    "writable": asyncio.Event,  # awaited by Wire.wait_writable
    "queue": asyncio.Queue,  # Wire.close puts websocket.disconnect on it
    "loop": asyncio.AbstractEventLoop,  # Wire.close schedules the abort on it
    "close_timer": None,  # written by Wire.close (None until then)
    "transport": None,  # write/abort/is_closing/get_write_buffer_size/resume_reading
}
# Methods of `conn` (websockets' ServerProtocol) Wire.close calls.
CONN_METHODS = ("send_close", "data_to_send")
# Methods PartyWebSocketProtocol overrides and calls through super().
OVERRIDDEN = {"handle_connect": False, "send": True}  # name -> is a coroutine function
# What handle_connect sets that PartyWebSocketProtocol then uses or clears.
SET_BY_HANDLE_CONNECT = ("self.scope", '"extensions"', "self.request", "self.response")


def _missing() -> list[str]:
    try:
        module = importlib.import_module(MODULE)
    except ImportError as error:
        return [f"module {MODULE} ({error})"]
    cls = getattr(module, CLASS, None)
    if cls is None:
        return [f"class {MODULE}.{CLASS}"]
    from uvicorn.config import Config
    from uvicorn.server import ServerState

    protocol = cls(Config(app=_app), ServerState(), {})
    missing = []
    for name, kind in FIELDS.items():
        if not hasattr(protocol, name):
            missing.append(f"{CLASS}.{name} (instance field)")
        elif kind is not None and not isinstance(getattr(protocol, name), kind):
            missing.append(f"{CLASS}.{name} is no longer a {kind.__name__}")
    for name in CONN_METHODS:
        if not callable(getattr(getattr(protocol, "conn", None), name, None)):
            missing.append(f"{CLASS}.conn.{name}()")
    for name, is_async in OVERRIDDEN.items():
        method = getattr(cls, name, None)
        if method is None:
            missing.append(f"{CLASS}.{name}()")
        elif inspect.iscoroutinefunction(method) != is_async:
            missing.append(f"{CLASS}.{name}() is {'no longer' if is_async else 'now'} async")
    if hasattr(cls, "handle_connect"):
        source = inspect.getsource(cls.handle_connect)
        missing += [
            f"{CLASS}.handle_connect() no longer sets {name}"
            for name in SET_BY_HANDLE_CONNECT
            if name not in source
        ]
    # Write flow control: Wire.wait_writable relies on `writable` following pause/resume.
    if isinstance(getattr(protocol, "writable", None), asyncio.Event):
        protocol.pause_writing()
        paused = not protocol.writable.is_set()
        protocol.resume_writing()
        if not (paused and protocol.writable.is_set()):
            missing.append(f"{CLASS}.writable no longer follows pause_writing/resume_writing")
    try:
        from websockets.frames import Opcode
        from websockets.http11 import Request  # noqa: F401
    except ImportError as error:
        missing.append(f"websockets.frames.Opcode / websockets.http11.Request ({error})")
    else:
        if Opcode.TEXT != 0x1:
            missing.append("websockets.frames.Opcode.TEXT is not 0x1")
    return missing


async def _app(scope, receive, send) -> None:
    pass


async def test_uvicorn_still_has_what_the_party_wire_transport_relies_on():
    missing = _missing()
    assert not missing, (
        f"uvicorn {version('uvicorn')} lacks what party_engine/gateway/transport.py relies on "
        "(update transport.py and the uvicorn range in pyproject.toml): " + "; ".join(missing)
    )
