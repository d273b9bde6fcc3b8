"""gateway/ws_protocol.py is a `ws` class of uvicorn's, and relies on how uvicorn hands it a
connection: its HTTP protocols (httptools and h11) build the class with (config, server_state,
app_state), give it the transport, write the request out again (`METHOD target HTTP/1.1` and
lowercased `name: value` lines) to its `data_received`, and hand the transport over; the
server's shared state keeps the connections, the tasks and the default headers, and its
shutdown calls each connection's `shutdown()`. pyproject.toml pins the uvicorn versions this
was checked against; these tests say what changed when an upgrade breaks it."""

import inspect

import pytest
from uvicorn.config import Config
from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import Server, ServerState

REQUEST = (
    b"GET /ws?token=abc HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
    b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
    b"Sec-WebSocket-Version: 13\r\n\r\n"
)


class Recorder:
    """Stands in for the `ws` class: records how uvicorn drives it."""

    built: list["Recorder"] = []

    def __init__(self, *, config: Config, server_state: ServerState, app_state: dict) -> None:
        self.args = (config, server_state, app_state)
        self.transport: object = None
        self.received: list[bytes] = []
        Recorder.built.append(self)

    def connection_made(self, transport: object) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.received.append(data)


class Transport:
    def __init__(self) -> None:
        self.protocol: object = None
        self.written: list[bytes] = []

    def get_extra_info(self, name: str, default: object = None) -> object:
        return {"sockname": ("127.0.0.1", 8000), "peername": ("127.0.0.1", 50000)}.get(
            name, default
        )

    def set_protocol(self, protocol: object) -> None:
        self.protocol = protocol

    def is_closing(self) -> bool:
        return False

    def write(self, data: bytes) -> None:
        self.written.append(data)

    def close(self) -> None:
        pass

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


async def _app(scope, receive, send) -> None:
    pass


@pytest.mark.parametrize("http", [HttpToolsProtocol, H11Protocol], ids=["httptools", "h11"])
async def test_an_upgrade_reaches_the_ws_class_as_the_engine_expects(http) -> None:
    Recorder.built.clear()
    config = Config(app=_app, ws=Recorder)  # type: ignore[arg-type]
    config.load()
    state = ServerState()
    app_state: dict = {}
    protocol = http(config=config, server_state=state, app_state=app_state)
    transport = Transport()
    protocol.connection_made(transport)
    protocol.data_received(REQUEST)
    (ws,) = Recorder.built
    assert ws.args == (config, state, app_state)
    assert ws.transport is transport and transport.protocol is ws
    (request,) = ws.received
    lines = request.split(b"\r\n")
    assert lines[0] == b"GET /ws?token=abc HTTP/1.1"
    assert b"sec-websocket-key: dGhlIHNhbXBsZSBub25jZQ==" in lines
    assert b"sec-websocket-version: 13" in lines
    assert request.endswith(b"\r\n\r\n")
    assert protocol not in state.connections  # the ws class adds itself


def test_the_server_state_and_config_have_what_the_ws_class_reads() -> None:
    state = ServerState()
    assert isinstance(state.connections, set)
    assert isinstance(state.tasks, set)
    assert isinstance(state.default_headers, list)
    config = Config(app=_app, ws_ping_interval=25, ws_ping_timeout=20, ws_max_size=1000)
    config.load()
    assert (config.ws_ping_interval, config.ws_ping_timeout, config.ws_max_size) == (25, 20, 1000)
    assert config.loaded_app is not None
    assert isinstance(config.root_path, str)


def test_the_servers_shutdown_calls_each_connections_shutdown() -> None:
    assert "connection.shutdown()" in inspect.getsource(Server.shutdown)
