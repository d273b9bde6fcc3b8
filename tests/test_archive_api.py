"""GET /parties/{id}/archive: an ended party's archived stream as NDJSON, by offset, paged
with `after` and `limit`; 404, 409 and 422 as problems."""

import subprocess
import sys
from datetime import UTC, datetime, timedelta

import orjson
import pytest

from party_engine.archive.layout import batch_key, utc_day
from party_engine.archive.rows import to_parquet
from party_engine.domain.events import LikeCreated, PartyJoined, ShareCreated
from party_engine.tokens import UserRole, issue_token
from tests.api_harness import PROBLEM, SECRET, api_client, started_engine

HOST = {"Authorization": f"Bearer {issue_token(SECRET, 'host-1', UserRole.HOST)}"}


@pytest.fixture
async def engine(store_url, tmp_path):
    async with started_engine(store_url, archive_url=(tmp_path / "archive").as_uri()) as engine:
        yield engine


@pytest.fixture
async def http(engine):
    async with api_client(engine) as client:
        client.headers.update(HOST)
        yield client


async def a_party(http, *, end: bool = True) -> str:
    starts_at = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    body = {"title": "Party", "theme": {"kind": "brand", "value": "Nike"}, "starts_at": starts_at}
    party = (await http.post("/parties", json=body)).raise_for_status().json()["id"]
    (await http.post(f"/parties/{party}/start")).raise_for_status()
    if end:
        (await http.post(f"/parties/{party}/end")).raise_for_status()
    return party


async def archive(engine, party: str, shares: int) -> None:
    """`shares` shares, a like after each, and a join, in two overlapping objects."""
    now = datetime.now(UTC)
    events = [PartyJoined("join", party, "u1", now)]
    for n in range(shares):
        events.append(ShareCreated(f"s{n}", party, 2 * n + 1, f"l{n}", "seller", "u1", now))
        events.append(LikeCreated(f"k{n}", party, 2 * n + 2, 2 * n + 1, f"l{n}", "u2", now))
    half = len(events) // 2
    for part in (events[: half + 10], events[half:]):  # 10 events in both
        key = batch_key(utc_day(now), party, (e.id for e in part))
        await engine.backends.archive.put(key, to_parquet(part[::-1]))


async def lines(http, party: str, **params) -> list[dict]:
    reply = await http.get(f"/parties/{party}/archive", params=params)
    assert reply.status_code == 200, reply.text
    assert reply.headers["content-type"] == "application/x-ndjson"
    return [orjson.loads(line) for line in reply.content.splitlines()]


async def test_the_archive_streams_the_party_once_by_offset(engine, http):
    party = await a_party(http)
    await archive(engine, party, shares=1500)
    got = await lines(http, party, limit=100_000)
    assert [line["offset"] for line in got] == list(range(1, 3001))  # no join: it has no offset
    assert got[0] == {
        "event_id": "s0",
        "party_id": party,
        "type": "share.created",
        "at": got[0]["at"],
        "offset": 1,
        "user_id": "u1",
        "listing_id": "l0",
        "seller_id": "seller",
    }
    assert got[1]["type"] == "like.created" and got[1]["share_offset"] == 1


async def test_after_and_limit_page_through_it(engine, http):
    party = await a_party(http)
    await archive(engine, party, shares=30)
    pages, after = [], 0
    while page := await lines(http, party, after=after, limit=25):
        pages.append(page)
        after = page[-1]["offset"]
    assert [len(page) for page in pages] == [25, 25, 10]
    assert [line["offset"] for page in pages for line in page] == list(range(1, 61))
    assert await lines(http, party, after=60) == []


async def test_an_ended_party_with_nothing_archived_is_an_empty_stream(http):
    party = await a_party(http)
    assert await lines(http, party) == []


async def test_an_unknown_party_is_404(http):
    reply = await http.get("/parties/nope/archive")
    assert reply.status_code == 404
    assert reply.headers["content-type"] == PROBLEM


async def test_a_party_not_ended_is_409(http):
    party = await a_party(http, end=False)
    reply = await http.get(f"/parties/{party}/archive")
    assert reply.status_code == 409
    assert reply.headers["content-type"] == PROBLEM
    assert reply.json()["type"].endswith(":not_ended")


@pytest.mark.parametrize(
    "params", [{"after": "-1"}, {"after": "x"}, {"after": str(2**63)}, {"limit": "0"}]
)
async def test_a_bad_offset_or_limit_is_422(http, params):
    party = await a_party(http)
    reply = await http.get(f"/parties/{party}/archive", params=params)
    assert reply.status_code == 422
    assert reply.headers["content-type"] == PROBLEM


async def test_it_needs_a_token(http):
    party = await a_party(http)
    del http.headers["Authorization"]
    assert (await http.get(f"/parties/{party}/archive")).status_code == 401


def test_only_a_replay_or_the_archive_role_imports_pyarrow():
    """pyarrow costs a process ~58 MiB: the other roles and an idle gateway never load it."""
    code = (
        "import sys; import party_engine.engine, party_engine.api.app, workers.service;"
        "assert 'pyarrow' not in sys.modules, 'pyarrow imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
