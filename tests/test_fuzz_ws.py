"""Hypothesis-generated client frames, valid and invalid, sent to a running gateway (on the
embedded backends and on a real redis-server): every frame is answered (an `ack`, a `joined`, a
`pong` or an `error` with a code the server schema lists), every server frame matches the
server schema, and only a frame over PARTY_MAX_FRAME_BYTES closes the connection (1009). After
the fuzzing the gateway still serves a fresh client.

The gateway and the fuzzing client run on an event loop in a thread of their own (an anyio
portal), so that the hypothesis test is a plain function and the check after the fuzzing runs
once, after every example."""

import itertools
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import websockets
from anyio.from_thread import BlockingPortal, start_blocking_portal
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.gateway_harness import DEADLINE, Client, InProcessGateway, seed_listing, seed_party
from tests.ws_frames import CLIENT, FRAME_ID, SERVER, payloads

EXAMPLES = 1000
MAX_FRAME_BYTES = 1024
MESSAGE_TOO_BIG = 1009


@dataclass
class Target:
    portal: BlockingPortal
    gateway: InProcessGateway
    party: str
    listing: str
    known: dict[str, st.SearchStrategy[Any]]


@pytest.fixture
def target(store_url: str) -> Iterator[Target]:
    with start_blocking_portal() as portal:

        async def make() -> InProcessGateway:
            # The frame budget lifted: a thousand frames a second is the fuzzing, not an abuse
            # (tests/test_gateway_limits.py covers the budget).
            return InProcessGateway(
                store_url, max_frame_bytes=MAX_FRAME_BYTES, frame_rate=100_000, frame_burst=100_000
            )

        gateway = portal.call(make)
        with portal.wrap_async_context_manager(gateway):
            party = portal.call(seed_party, gateway.engine)
            listing = portal.call(seed_listing, gateway.engine, "fuzz-listing")
            epoch = portal.call(_epoch, gateway, party)
            known = {
                "party": st.just(party),
                "listing": st.just(listing),
                "share": st.integers(1, 5),
                "offset": st.integers(0, 5),
                "epoch": st.just(epoch),
            }
            yield Target(portal, gateway, party, listing, known)


async def _epoch(gateway: InProcessGateway, party: str) -> str:
    client = await Client.connect(gateway.url, user="seeder")
    try:
        return (await client.join(party))["position"]["epoch"]
    finally:
        await client.close()


class Fuzzer:
    """One connection, reopened after a close, that sends a payload and then a ping: frames of
    a connection are answered in order, so the answer to the payload comes before the pong."""

    def __init__(self, target: Target) -> None:
        self.target = target
        self.client: Client | None = None
        self.sentinels = itertools.count()

    async def connect(self) -> Client:
        if self.client is None:
            self.client = await Client.connect(self.target.gateway.url, user="fuzzer")
            await self.client.join(self.target.party)
        return self.client

    async def exchange(self, payload: str | bytes) -> None:
        client = await self.connect()
        size = len(payload.encode() if isinstance(payload, str) else payload)
        sentinel = f"sentinel-{next(self.sentinels)}"
        try:
            await client.connection.send(payload)
            await client.send(type="ping", id=sentinel)
            answers = await self._until_pong(client, sentinel)
        except websockets.ConnectionClosed as closed:
            self.client = None
            assert closed.rcvd is not None, f"closed without a close frame after {payload!r:.200}"
            assert (closed.rcvd.code, size > MAX_FRAME_BYTES) == (MESSAGE_TOO_BIG, True), (
                f"closed {closed.rcvd} after {size} bytes: {payload!r:.200}"
            )
            return
        assert size <= MAX_FRAME_BYTES, f"{size} bytes went through: {payload!r:.200}"
        _judge(payload, answers)

    async def _until_pong(self, client: Client, sentinel: str) -> list[dict[str, Any]]:
        answers = []
        while True:
            frame = await client.next(DEADLINE)
            errors = [error.message for error in SERVER.iter_errors(frame)]
            assert not errors, f"server frame off schema: {frame}: {errors}"
            if frame == {"type": "pong", "id": sentinel}:
                return answers
            if frame["type"] in ("ack", "error", "joined", "pong"):
                answers.append(frame)


def _judge(payload: str | bytes, answers: list[dict[str, Any]]) -> None:
    try:
        frame = json.loads(payload)
    except ValueError:
        frame = None
    readable_id = frame.get("id") if isinstance(frame, dict) else None
    if readable_id is not None and not FRAME_ID.is_valid(readable_id):
        readable_id = None
    if frame is not None and CLIENT.is_valid(frame):
        # An ack needs an id to carry (ws-server.schema.json): a valid frame without one may
        # go unanswered when it succeeds.
        assert answers or readable_id is None, f"no answer to {frame}"
        if answers and answers[0]["type"] != "joined":
            assert answers[0].get("id") == readable_id, f"{answers[0]} answers {frame}"
        return
    assert answers and answers[0]["type"] == "error", (
        f"{answers} answer the invalid {payload!r:.200}"
    )
    assert answers[0].get("id") == readable_id, f"{answers[0]} answers {payload!r:.200}"


async def _fresh_client_shares(target: Target) -> None:
    client = await Client.connect(target.gateway.url, user="after-the-fuzzing")
    try:
        joined = await client.join(target.party)
        assert joined["type"] == "joined", joined
        ack = await client.reply(
            type="share", id="after", party=target.party, listing=target.listing
        )
        assert ack["type"] == "ack" and ack["id"] == "after", ack
    finally:
        await client.close()


def test_every_frame_is_answered_and_the_gateway_keeps_serving(target: Target) -> None:
    fuzzer = Fuzzer(target)

    @settings(
        max_examples=EXAMPLES,
        deadline=None,  # each exchange has its own DEADLINE
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(payload=payloads(target.known, MAX_FRAME_BYTES))
    def fuzz(payload: str | bytes) -> None:
        target.portal.call(fuzzer.exchange, payload)

    try:
        fuzz()
    finally:
        if fuzzer.client is not None:
            target.portal.call(fuzzer.client.close)
    target.portal.call(_fresh_client_shares, target)
