"""No token reaches a log line: uvicorn's access and WebSocket lines lose `/ws`'s query string."""

import logging

import httpx
import pytest
from websockets.asyncio.client import connect

from party_engine.logs import SecretFilter, redact
from party_engine.tokens import UserRole, issue_token
from tests.engine_server import TEST_JWT_SECRET, EngineServer


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (
            '1.2.3.4:5 - "WebSocket /ws?token=eyJ.a.b" [accepted]',
            '1.2.3.4:5 - "WebSocket /ws" [accepted]',
        ),
        ('"GET /ws?token=eyJ.a.b&x=1 HTTP/1.1" 400', '"GET /ws HTTP/1.1" 400'),
        ('"GET /parties?cursor=abc HTTP/1.1" 200', '"GET /parties?cursor=abc HTTP/1.1" 200'),
        ('"POST /x?ticket=t1&a=b HTTP/1.1" 200', '"POST /x?ticket=[redacted]&a=b HTTP/1.1" 200'),
    ],
)
def test_redact_drops_the_ws_query_and_any_token_value(line, expected):
    assert redact(line) == expected


def test_the_filter_rewrites_a_records_arguments_and_keeps_the_record():
    record = logging.LogRecord(
        "uvicorn.error", logging.INFO, __file__, 1, '%s - "WebSocket %s" %s',
        ("1.2.3.4:5", "/ws?token=secret-jwt", "[accepted]"), None,
    )  # fmt: skip
    assert SecretFilter().filter(record)
    assert "secret-jwt" not in record.getMessage()


@pytest.fixture
def engine_at_info():
    with EngineServer(settings={"PARTY_LOG_LEVEL": "info"}) as server:
        yield server


async def test_an_engine_process_logs_connections_without_their_token(engine_at_info):
    secret = issue_token(TEST_JWT_SECRET, "shopper-1", UserRole.SHOPPER)
    ws_url = engine_at_info.url.replace("http", "ws", 1)
    async with connect(f"{ws_url}/ws?token={secret}") as ws:
        await ws.send('{"type":"ping","id":"p1"}')
        assert "pong" in await ws.recv()
    async with httpx.AsyncClient() as client:
        await client.get(f"{engine_at_info.url}/ws?token={secret}")
        await client.get(f"{engine_at_info.url}/healthz")
    engine_at_info.stop()  # flushes and closes its log
    text = engine_at_info.log_path.read_text()
    assert '"WebSocket /ws" [accepted]' in text  # the line is still there, without its query
    assert "/healthz" in text
    assert secret not in text and "token=" not in text
