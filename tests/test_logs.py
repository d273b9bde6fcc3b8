"""No token reaches a log line: uvicorn's access and WebSocket lines lose `/ws`'s query string."""

import contextvars
import datetime as dt
import io
import logging
import sys
from pathlib import Path

import httpx
import orjson
import pytest
import yaml
from websockets.asyncio.client import connect

from party_engine.config import Settings
from party_engine.logs import SecretFilter, bind_connection, bind_party, formatter, redact
from party_engine.tokens import UserRole, issue_token
from tests.engine_server import TEST_JWT_SECRET, EngineServer

ROOT = Path(__file__).resolve().parent.parent


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


def test_a_json_line_names_the_bound_connection_and_party_without_secrets():
    handler = logging.StreamHandler(stream := io.StringIO())
    handler.setFormatter(formatter("json"))
    handler.addFilter(SecretFilter())
    record = logging.LogRecord(
        "party_engine.x", logging.INFO, __file__, 1, "GET %s", ("/ws?token=secret-jwt",), None
    )

    def in_a_connections_task() -> None:
        bind_connection("gw-1:7")
        bind_party("p1")
        handler.handle(record)

    contextvars.copy_context().run(in_a_connections_task)
    handler.handle(record)  # outside that task: neither is named
    first, second = (orjson.loads(line) for line in stream.getvalue().splitlines())
    assert first["message"] == "GET /ws" and first["level"] == "info"
    assert (first["connection"], first["party"]) == ("gw-1:7", "p1")
    assert "connection" not in second and "party" not in second


@pytest.mark.parametrize("log_format", ["console", "json"])
def test_a_traceback_shows_no_local_variable(log_format):
    def verify(token: str) -> None:
        raise ValueError("bad signature")

    secret = "-".join(("secret", "jwt"))  # not in the source lines a traceback quotes
    try:
        verify(secret)
    except ValueError:
        record = logging.LogRecord(
            "party_engine.x", logging.ERROR, __file__, 1, "refused", (), sys.exc_info()
        )
    text = formatter(log_format).format(record)
    assert "bad signature" in text and secret not in text


def test_containers_log_json_and_make_run_logs_for_people():
    assert Settings.model_fields["log_format"].default == "console"
    assert "PARTY_LOG_FORMAT=json" in (ROOT / "Dockerfile").read_text()
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    assert compose["x-engine"]["environment"]["PARTY_LOG_FORMAT"] == "json"


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


@pytest.fixture
def engine_logging_json():
    with EngineServer(settings={"PARTY_LOG_LEVEL": "debug", "PARTY_LOG_FORMAT": "json"}) as server:
        yield server


async def test_json_lines_carry_the_party_and_the_connection_and_no_token(engine_logging_json):
    engine = engine_logging_json
    sharer = issue_token(TEST_JWT_SECRET, "sam", UserRole.SHOPPER)
    party, listing = _live_party_with_listing(engine.url, sharer)
    ws_url = engine.url.replace("http", "ws", 1)
    async with connect(f"{ws_url}/ws?token={sharer}") as ws:
        await ws.send(orjson.dumps({"type": "join", "party": party}).decode())
        await ws.send(
            orjson.dumps({"type": "share", "party": party, "listing": listing, "id": 1}).decode()
        )
        while orjson.loads(await ws.recv())["type"] != "ack":
            pass
    engine.stop()
    text = engine.log_path.read_text()
    assert sharer not in text and "token=" not in text
    lines = [orjson.loads(line) for line in text.splitlines() if line.strip()]
    assert all({"timestamp", "level", "logger", "message"} <= line.keys() for line in lines)
    by_message = {line["message"]: line for line in lines}
    joined = by_message["joined"]
    shared = next(line for line in lines if line["message"].startswith("shared listing"))
    accepted = next(
        line for line in lines if line["message"].endswith('"WebSocket /ws" [accepted]')
    )
    assert accepted["logger"] == "uvicorn.error"  # uvicorn's own lines are JSON too
    assert joined["party"] == shared["party"] == party
    assert joined["connection"] and joined["connection"] == shared["connection"]


def _live_party_with_listing(url: str, sharer: str) -> tuple[str, str]:
    host = {"Authorization": f"Bearer {issue_token(TEST_JWT_SECRET, 'hana', UserRole.HOST)}"}
    starts_at = (dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)).isoformat()
    with httpx.Client(base_url=url) as http:
        created = http.post(
            "/parties",
            headers=host,
            json={
                "title": "Cut",
                "theme": {"kind": "brand", "value": "Adidas"},
                "starts_at": starts_at,
            },
        )
        party = created.raise_for_status().json()["id"]
        http.post(f"/parties/{party}/start", headers=host).raise_for_status()
        listing = http.post(
            "/listings",
            headers={"Authorization": f"Bearer {sharer}"},
            json={"title": "Samba", "brand": "Adidas", "category": "Shoes",
                  "price_cents": 10000, "currency": "EUR"},
        )  # fmt: skip
    return party, listing.raise_for_status().json()["id"]
