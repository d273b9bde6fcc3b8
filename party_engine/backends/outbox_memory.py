"""The embedded outbox: each party's events of acknowledged shares and likes, in process.

The embedded broker appends to it in the same step as it assigns the offset (nothing awaits in
between); the embedded relay moves the entries into the embedded queue. Entries taken by a
relay and not done within `claim_after_seconds` are given to the next relay that asks, as the
Redis outbox's consumer group does.
"""

import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass

from ..ports import OutboxEntry
from .embedded import InProcess


@dataclass(slots=True)
class _Taken:
    relay_id: str
    at: float


class MemoryOutbox(InProcess):
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._sequence = itertools.count(1)
        # party -> entry id -> event, oldest first (dicts keep insertion order)
        self._entries: dict[str, dict[str, bytes]] = {}
        self._taken: dict[str, dict[str, _Taken]] = {}

    def append(self, party_id: str, event: bytes) -> None:
        self._entries.setdefault(party_id, {})[str(next(self._sequence))] = event

    def depth_now(self, party_id: str) -> int:
        return len(self._entries.get(party_id, ()))

    async def parties(self) -> list[str]:
        return [party_id for party_id, entries in self._entries.items() if entries]

    async def take(
        self, relay_id: str, party_ids: list[str], count: int, claim_after_seconds: float | None
    ) -> list[OutboxEntry]:
        now = self._clock()
        taken: list[OutboxEntry] = []
        for party_id in party_ids:
            entries = self._entries.get(party_id, {})
            holds = self._taken.setdefault(party_id, {})
            if claim_after_seconds is not None:
                stale = [
                    entry_id
                    for entry_id, hold in holds.items()
                    if now - hold.at >= claim_after_seconds
                ]
                for entry_id in stale[:count]:
                    holds[entry_id] = _Taken(relay_id, now)
                    taken.append(OutboxEntry(party_id, entry_id, entries[entry_id]))
            fresh = (entry_id for entry_id in entries if entry_id not in holds)
            for entry_id in itertools.islice(fresh, count):
                holds[entry_id] = _Taken(relay_id, now)
                taken.append(OutboxEntry(party_id, entry_id, entries[entry_id]))
        return taken

    async def done(self, entries: list[OutboxEntry]) -> None:
        for entry in entries:
            self._entries.get(entry.party_id, {}).pop(entry.entry_id, None)
            self._taken.get(entry.party_id, {}).pop(entry.entry_id, None)

    async def depth(self, party_id: str) -> int:
        return self.depth_now(party_id)

    async def forget_idle(self, party_ids: list[str]) -> None:
        for party_id in party_ids:
            if not self._entries.get(party_id):
                self._entries.pop(party_id, None)
                self._taken.pop(party_id, None)
