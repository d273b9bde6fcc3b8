"""GET /parties/{id}/report: an ended party's report computed from its archived objects, kept
beside the archive once final; 401, 403, 404, 409 and 422 as problems."""

import asyncio
from collections import Counter
from datetime import UTC, datetime, timedelta

import orjson
import pytest

from party_engine.archive.report import party_report
from party_engine.archive.report_types import encode
from party_engine.archive.reports import PartyReports, report_key
from party_engine.tokens import UserRole, issue_token
from tests.api_harness import PROBLEM, SECRET, api_client, started_engine
from tests.report_helpers import an_ended_party, archive

HOST = {"Authorization": f"Bearer {issue_token(SECRET, 'host-1', UserRole.HOST)}"}
OTHER_HOST = {"Authorization": f"Bearer {issue_token(SECRET, 'host-2', UserRole.HOST)}"}


@pytest.fixture
async def engine(store_url, tmp_path):
    async with started_engine(store_url, archive_url=(tmp_path / "archive").as_uri()) as engine:
        yield engine


@pytest.fixture
async def http(engine):
    async with api_client(engine) as client:
        client.headers.update(HOST)
        yield client


async def test_the_report_is_computed_from_the_archive_and_kept_once_final(engine, http):
    party = await an_ended_party(engine.store, "done", ended_ago=timedelta(minutes=5))
    events = await archive(engine.backends.archive, party)
    reply = await http.get("/parties/done/report")
    assert reply.status_code == 200, reply.text
    assert reply.headers["content-type"] == "application/json"
    body = reply.json()
    assert body["final"] is True
    expected = party_report("done", events, party.started_at, party.ended_at)
    assert body["report"] == orjson.loads(encode(expected))
    assert body["report"]["shares"] > 0 and body["report"]["push"]["notified"] > 0
    stored = await engine.backends.archive.get(report_key("done"))
    assert orjson.loads(stored) == body

    # Kept: events archived later do not change a final report.
    await archive(engine.backends.archive, party, seed=6)
    assert (await http.get("/parties/done/report")).json() == body


async def test_a_report_is_not_final_until_the_archive_has_settled(engine, http):
    just = await an_ended_party(engine.store, "just", ended_ago=timedelta(seconds=1))
    await archive(engine.backends.archive, just)
    reply = await http.get("/parties/just/report")
    assert reply.status_code == 200 and reply.json()["final"] is False
    assert reply.json()["report"]["shares"] > 0
    with pytest.raises(KeyError):
        await engine.backends.archive.get(report_key("just"))

    # Long ended, but its party.ended not archived yet (the archive worker is behind).
    await an_ended_party(engine.store, "behind", ended_ago=timedelta(minutes=10))
    reply = await http.get("/parties/behind/report")
    assert reply.status_code == 200 and reply.json()["final"] is False
    assert reply.json()["report"]["shares"] == 0


async def test_concurrent_requests_get_the_same_report(engine, http):
    party = await an_ended_party(engine.store, "busy", ended_ago=timedelta(minutes=5))
    await archive(engine.backends.archive, party)
    replies = await asyncio.gather(*(http.get("/parties/busy/report") for _ in range(5)))
    assert {r.status_code for r in replies} == {200}
    assert len({r.content for r in replies}) == 1


async def test_refusals_are_problems(engine, http):
    await an_ended_party(engine.store, "mine", ended_ago=timedelta(minutes=5))
    starts_at = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    body = {"title": "Live", "theme": {"kind": "brand", "value": "Nike"}, "starts_at": starts_at}
    live = (await http.post("/parties", json=body)).raise_for_status().json()["id"]
    (await http.post(f"/parties/{live}/start")).raise_for_status()

    cases = [
        ("/parties/nobody/report", HOST, 404, "not_found"),
        (f"/parties/{live}/report", HOST, 409, "not_ended"),
        ("/parties/mine/report", OTHER_HOST, 403, "forbidden"),
        ("/parties/bad:id/report", HOST, 422, "invalid_fields"),
    ]
    for path, headers, status, code in cases:
        reply = await http.get(path, headers=headers)
        assert reply.status_code == status, (path, reply.text)
        assert reply.headers["content-type"] == PROBLEM
        assert reply.json()["type"] == f"urn:party-engine:problem:{code}"
    reply = await http.get("/parties/mine/report", headers={"Authorization": ""})
    assert reply.status_code == 401 and reply.headers["content-type"] == PROBLEM


class Watching:
    """A storage that notes whose events' objects are being read at any one moment."""

    def __init__(self, storage) -> None:
        self._storage = storage
        self.reading: Counter[str] = Counter()
        self.most_parties_at_once = 0

    def __getattr__(self, name):
        return getattr(self._storage, name)

    async def get(self, key: str) -> bytes:
        if not key.startswith("events/"):
            return await self._storage.get(key)
        party = key.split("party_id=")[1].split("/")[0]
        self.reading[party] += 1
        self.most_parties_at_once = max(self.most_parties_at_once, len(+self.reading))
        try:
            await asyncio.sleep(0.01)  # a slow store: reads would overlap if allowed to
            return await self._storage.get(key)
        finally:
            self.reading[party] -= 1


async def test_a_process_computes_one_report_at_a_time(engine):
    storage = Watching(engine.backends.archive)
    parties = [
        await an_ended_party(engine.store, f"big-{n}", ended_ago=timedelta(minutes=5))
        for n in range(3)
    ]
    for party in parties:
        await archive(storage, party, shoppers=200)
    reports = PartyReports(storage, engine.clock, settle=timedelta(minutes=1))
    bodies = await asyncio.gather(*(reports.encoded(party) for party in parties))
    assert [orjson.loads(body)["report"]["party_id"] for body in bodies] == [p.id for p in parties]
    assert storage.most_parties_at_once == 1
