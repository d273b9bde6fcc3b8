"""The embedded presence: each party's users and when each one's presence expires, in
process."""

import time
from collections.abc import Collection, Mapping

from .embedded import InProcess


class MemoryPresence(InProcess):
    def __init__(self) -> None:
        # party id -> user id -> monotonic expiry
        self._parties: dict[str, dict[str, float]] = {}

    async def report(
        self,
        present: Mapping[str, Collection[str]],
        left: Mapping[str, Collection[str]],
        *,
        ttl_seconds: float,
        left_ttl_seconds: float,
    ) -> None:
        now = time.monotonic()
        for party_id, users in left.items():
            expiries = self._parties.get(party_id, {})
            for user_id in users:
                if user_id in expiries:
                    expiries[user_id] = min(expiries[user_id], now + left_ttl_seconds)
        for party_id, users in present.items():
            expiries = self._parties.setdefault(party_id, {})
            for user_id in users:
                expiries[user_id] = max(expiries.get(user_id, now), now + ttl_seconds)
        for party_id in set(present) | set(left):
            self._prune(party_id, now)

    async def totals(self, party_ids: list[str]) -> dict[str, int]:
        now = time.monotonic()
        for party_id in party_ids:
            self._prune(party_id, now)
        return {party_id: len(self._parties.get(party_id, ())) for party_id in party_ids}

    def _prune(self, party_id: str, now: float) -> None:
        expiries = self._parties.get(party_id)
        if expiries is None:
            return
        for user_id in [user for user, expiry in expiries.items() if expiry <= now]:
            del expiries[user_id]
        if not expiries:
            del self._parties[party_id]
