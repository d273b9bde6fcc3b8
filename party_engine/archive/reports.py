"""Hosts' reports of ended parties: computed from the archive (reading.read_party, then
report.party_report off the event loop) and stored beside it once final.

Stored in the archive's storage (`reports/party_id=<id>/report.json`), not in Redis: a report
is derived from the archive alone, never changes once final, and is wanted for every party
ever held; Redis holds a party's data only for its retention and refuses writes when full,
while the archive's folder or bucket keeps every party at a few KB each, where analysts find
it beside the events.

A report is final once the archive holds the party's `party.ended` (the archive writes a
party's open batch when it ends) and the archive's batch age (`PARTY_ARCHIVE_BATCH_SECONDS`)
has passed since the end, so that events sent just before the end (likes still in a relay's
hands) were written too. Until then each request computes it afresh and gets `final: false`.
Concurrent requests for one party share one computation, and a process computes one report at
a time: a 2-hour, 50,000-shopper party's events take ~180 MB as a table (and about as much
again while its objects are merged), too much to hold several of in a gateway."""

import asyncio
from collections.abc import Awaitable, Callable
from datetime import timedelta

import orjson

from ..clock import Clock
from ..domain.parties import Party
from ..ports import ArchiveStorage
from .layout import party_days
from .report_types import StoredReport, encode

ROOT = "reports"
_AT_ONCE = 1


def report_key(party_id: str) -> str:
    return f"{ROOT}/party_id={party_id}/report.json"


class PartyReports:
    def __init__(self, storage: ArchiveStorage, clock: Clock, *, settle: timedelta) -> None:
        self._storage = storage
        self._clock = clock
        self._settle = settle
        self._computing: dict[str, asyncio.Future[tuple[bytes, StoredReport]]] = {}
        self._slots = asyncio.Semaphore(_AT_ONCE)

    async def encoded(self, party: Party) -> bytes:
        """The ended party's report as JSON (a StoredReport), stored or computed."""
        try:
            return await self._storage.get(report_key(party.id))
        except KeyError:
            pass
        data, _ = await self._once(party.id, lambda: self._compute(party))
        return data

    async def conversion(self, party: Party) -> tuple[int, int] | None:
        """(joined, notified) of the party's start push from its final report (computed and
        stored if it can be final now); None while not final, or when no push went out."""
        try:
            push = orjson.loads(await self._storage.get(report_key(party.id)))["report"]["push"]
        except KeyError:
            _, computed = await self._once(party.id, lambda: self._compute(party))
            if not computed.final or computed.report.push is None:
                return None
            return computed.report.push.joined, computed.report.push.notified
        return None if push is None else (push["joined"], push["notified"])

    async def _once(
        self, party_id: str, compute: Callable[[], Awaitable[tuple[bytes, StoredReport]]]
    ) -> tuple[bytes, StoredReport]:
        running = self._computing.get(party_id)
        if running is not None:
            return await asyncio.shield(running)
        task = asyncio.ensure_future(compute())
        self._computing[party_id] = task
        task.add_done_callback(lambda _: self._computing.pop(party_id, None))
        return await asyncio.shield(task)

    async def _compute(self, party: Party) -> tuple[bytes, StoredReport]:
        assert party.ended_at is not None
        # Imported on the first report: pyarrow adds ~58 MiB to a process that never makes one.
        import pyarrow.compute as pc

        from .reading import read_party
        from .report import party_report

        started_at = party.started_at or party.starts_at
        async with self._slots:
            now = self._clock.now()
            events = await read_party(self._storage, party.id, party_days(party, now))
            report = await asyncio.to_thread(
                party_report, party.id, events, started_at, party.ended_at
            )
            ended = pc.any(pc.equal(events["type"], "party.ended")).as_py() or False
            del events  # freed before the next report may start
        final = ended and now >= party.ended_at + self._settle
        stored = StoredReport(final=final, report=report)
        data = encode(stored)
        if final:
            await self._storage.put(report_key(party.id), data)
        return data, stored
