"""What one connection may ask of a gateway: a frame budget, a cap on parties, and a `join
since` replayed page by page at the pace the client reads; on the embedded default and on a
real redis-server."""

import asyncio
import socket
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets

from party_engine.gateway.frame_budget import RATE_LIMITED_CLOSE
from party_engine.gateway.route import GatewayApp
from party_engine.gateway.serving import gateway_server
from tests.gateway_harness import (
    Client,
    InProcessGateway,
    seed_listing,
    seed_party,
    token,
    wait_for,
)
from tests.servers import free_port
from tests.test_gateway_protocol import backends

# A slow refill, so that what a test sees does not depend on how fast the machine is.
BUDGET = {"frame_rate": 1.0, "frame_burst": 20, "frame_refusals": 3}


@pytest.fixture(params=backends())
def redis_or_memory(request) -> str:
    return "memory://" if request.param == "memory" else request.getfixturevalue("redis_url")


async def flood(client: Client, frames: list[dict[str, Any]]) -> int:
    """Send every frame without reading, then read until the gateway closes the socket;
    returns the close code (every frame read is kept in client.frames)."""
    for frame in frames:
        try:
            await client.send(**frame)
        except websockets.ConnectionClosed:
            break
    with pytest.raises(websockets.ConnectionClosed) as closed:
        while True:
            await client.next()
    assert closed.value.rcvd is not None
    return closed.value.rcvd.code


def refusals(client: Client) -> list[dict[str, Any]]:
    return [f for f in client.frames if f["type"] == "error" and f["code"] == "rate_limited"]


@pytest.mark.parametrize("kind", ["ping", "like", "join", "bad"])
async def test_a_flooding_client_is_rate_limited_then_closed_and_others_go_on(
    redis_or_memory, kind
):
    async with InProcessGateway(redis_or_memory, **BUDGET) as gateway:
        party = await seed_party(gateway.engine)
        await seed_listing(gateway.engine, "l1")
        calm = await Client.connect(gateway.url, user="calm")
        await calm.join(party)
        flooder = await Client.connect(gateway.url, user="flooder")
        started = time.monotonic()
        await flooder.join(party)  # 5 of its 20 tokens
        await flooder.reply(type="share", id="s", party=party, listing="l1")  # 1 more
        frame = {
            "ping": {"type": "ping"},
            "like": {"type": "like", "party": party, "share": 1},
            "join": {"type": "join", "party": party},
            "bad": {"type": "dance"},
        }[kind]
        flooder.frames.clear()

        code = await flood(flooder, [{**frame, "id": n} for n in range(100)])

        elapsed = time.monotonic() - started
        assert code == RATE_LIMITED_CLOSE
        refused = refusals(flooder)
        assert refused and all(r["retry_after_ms"] > 0 for r in refused)
        # Refusals are bounded too: a few, then the close.
        assert len(refused) <= BUDGET["frame_refusals"] + elapsed * 0.3 + 1
        handled = [
            f
            for f in flooder.frames
            if f["type"] in ("pong", "ack", "joined")
            or (f["type"] == "error" and f["code"] == "bad_frame")
        ]
        # 14 tokens were left, and the bucket refills at 1 a second: the rest was not handled.
        cost = 5 if kind == "join" else 1
        assert 0 < len(handled) * cost <= 14 + elapsed * BUDGET["frame_rate"]
        assert (await calm.reply(type="ping", id="still")) == {"type": "pong", "id": "still"}
        assert (await calm.reply(type="like", id="l", party=party, share=1))["type"] == "ack"
        await calm.close()


async def test_a_refused_frame_is_not_handled_and_the_client_may_retry_after(redis_or_memory):
    async with InProcessGateway(
        redis_or_memory, frame_rate=50.0, frame_burst=10, frame_refusals=20
    ) as gateway:
        party = await seed_party(gateway.engine)
        listing = await seed_listing(gateway.engine, "l1")
        client = await Client.connect(gateway.url)
        await client.join(party)  # 5 tokens
        for n in range(5):
            await client.send(type="ping", id=n)
        limited = await client.reply(type="share", id="s", party=party, listing=listing)
        assert limited["code"] == "rate_limited"
        assert 0 < limited["retry_after_ms"] <= 1000 / 50 + 1
        assert (await gateway.engine.broker.position(party)).offset == 0  # nothing shared
        assert [f["id"] for f in client.frames if f["type"] == "pong"] == list(range(5))
        # What a client is told to do: wait that long (time passing is what refills).
        await asyncio.sleep(limited["retry_after_ms"] / 1000)
        answer = await client.reply(type="share", id="again", party=party, listing=listing)
        assert answer == {"type": "ack", "id": "again", "offset": 1}
        await client.close()


async def test_a_connection_joins_at_most_the_party_cap(redis_or_memory):
    async with InProcessGateway(redis_or_memory, max_parties_per_connection=2) as gateway:
        parties = [await seed_party(gateway.engine) for _ in range(3)]
        client = await Client.connect(gateway.url)
        assert (await client.join(parties[0]))["type"] == "joined"
        assert (await client.join(parties[1]))["type"] == "joined"

        third = await client.join(parties[2])

        assert third["code"] == "too_many_parties"
        assert gateway.engine.gateway.hub.local_count(parties[2]) == 0
        assert (await client.join(parties[0]))["type"] == "joined"  # a rejoin is no new party
        assert (await client.reply(type="leave", id=1, party=parties[1]))["type"] == "ack"
        assert (await client.join(parties[2]))["type"] == "joined"
        await client.close()


def small_window_socket(url: str) -> socket.socket:
    """A connected socket that takes little at a time, so the gateway's buffer fills."""
    host, port = url.removeprefix("ws://").split("/")[0].split(":")
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect((host, int(port)))
    return sock


async def test_join_since_replays_page_by_page_at_the_pace_the_client_reads(redis_or_memory):
    page_size = 20
    async with InProcessGateway(redis_or_memory, replay_page_size=page_size) as gateway:
        party = await seed_party(gateway.engine)
        broker = gateway.engine.broker
        epoch = (await broker.position(party)).epoch
        item = b'{"kind":"share","listing":{"id":"l1","title":"' + b"x" * 16_000 + b'"}}'
        # 8 MB: more than the kernel's socket buffers take (the gateway's may grow to 4 MB).
        missed = 500
        for _ in range(missed):
            await broker.publish_share(party, item, "l1")
        reads: list[tuple[int, int]] = []  # (publications read, unsent bytes at the read)
        history_since = broker.history_since

        async def recorded(party_id, since, limit):
            (session,) = gateway.engine.gateway.sessions
            pending = session.outbox.wire.pending_bytes
            page = await history_since(party_id, since, limit)
            reads.append((len(page.publications) if page else -1, pending))
            return page

        broker.history_since = recorded
        client = Client(
            await websockets.connect(
                f"{gateway.url}?token={token('back')}",
                sock=small_window_socket(gateway.url),
                max_queue=1,
            )
        )
        client.connection.transport.pause_reading()
        await client.send(type="join", party=party, since={"offset": 0, "epoch": epoch})
        high_water = 64 * 1024  # asyncio's default write buffer limit
        sessions = gateway.engine.gateway.sessions
        await wait_for(lambda: sessions, "the session")
        wire = next(iter(sessions)).outbox.wire
        await wait_for(lambda: wire.pending_bytes > high_water, "the gateway's buffer to fill")
        read_while_stalled = len(reads)
        client.connection.transport.resume_reading()

        joined = await client.until(lambda f: f["type"] == "joined")
        assert joined["recovered"] is True
        assert joined["position"] == {"offset": missed, "epoch": epoch}
        await client.until(lambda f: f["type"] == "events" and f["items"][-1]["offset"] == missed)
        live = await broker.publish_share(party, b'{"kind":"share"}', "l1")
        await client.until(lambda f: f["type"] == "events" and f["items"][-1]["offset"] > missed)

        assert client.offsets(party) == [*range(1, missed + 1), live.offset]
        assert all(0 < count <= page_size for count, _ in reads)
        assert len(reads) == -(-missed // page_size)
        # Each page was read only with the previous one (near) sent: never a queue of pages.
        assert max(pending for _, pending in reads) <= high_water
        assert read_while_stalled < len(reads)
        await client.close()


async def test_a_connection_that_answers_no_ping_is_closed_and_the_others_stay():
    async with InProcessGateway(ws_ping_seconds=0.2, ws_ping_timeout_seconds=0.3) as gateway:
        answering = await Client.connect(gateway.url, user="answering")
        silent = await Client.connect(gateway.url, user="silent")
        await wait_for(lambda: len(gateway.engine.gateway.sessions) == 2, "both sessions")
        silent.connection.transport.pause_reading()  # reads no ping, so answers none

        await wait_for(lambda: len(gateway.engine.gateway.sessions) == 1, "the silent one cut")
        silent.connection.transport.resume_reading()
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await silent.next()
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1011
        # the answering client was pinged meanwhile (its websockets library answers), and stays
        assert (await answering.reply(type="ping", id="still"))["type"] == "pong"
        await answering.close()


def _listen_backlog(listener: socket.socket) -> int:
    """A Linux listening socket's backlog: TCP_INFO's tcpi_sacked (sk_max_ack_backlog)."""
    info = listener.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 104)
    return int.from_bytes(info[28:32], "little")


def _somaxconn() -> int:
    """The kernel's cap on any listen backlog."""
    return int(Path("/proc/sys/net/core/somaxconn").read_text())


async def test_the_gateway_listens_with_the_backlog_it_is_given_up_to_the_kernels_cap():
    asked = min(_somaxconn(), 3000)  # not uvicorn's default (2048): an unwired setting fails
    async with InProcessGateway(listen_backlog=asked) as gateway:
        (listener,) = [s for server in gateway.server.servers for s in server.sockets]
        assert _listen_backlog(listener) == asked


async def test_forwarded_headers_reach_the_http_api_and_ws_skips_that_layer():
    """uvicorn's proxy-headers middleware wraps the HTTP app only: /ws does not keep it."""
    seen: list[tuple[str, int] | None] = []

    async def http_app(scope, receive, send):
        if scope["type"] == "lifespan":
            return
        seen.append(scope.get("client"))
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    async with InProcessGateway() as gateway:
        settings = gateway.settings.model_copy(update={"port": free_port()})
        server = gateway_server(http_app, settings, gateway.engine.gateway, log_level="warning")
        task = asyncio.create_task(server.serve())
        try:
            await wait_for(lambda: server.started, "the second server to start")
            async with httpx.AsyncClient() as http:
                response = await http.get(
                    f"http://127.0.0.1:{settings.port}/healthz",
                    headers={"X-Forwarded-For": "203.0.113.9"},
                )
            assert response.status_code == 204
            assert seen[0] is not None and seen[0][0] == "203.0.113.9"
            assert isinstance(server.config.loaded_app, GatewayApp)  # /ws: no layer before it
            client = await Client.connect(f"ws://127.0.0.1:{settings.port}/ws")
            assert (await client.reply(type="ping", id="p"))["type"] == "pong"
            await client.close()
        finally:
            server.should_exit = True
            await task
