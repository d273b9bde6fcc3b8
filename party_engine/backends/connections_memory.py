"""The embedded connection registry: each user's open connections and their expiries, in
process."""

import time
from collections.abc import Collection, Mapping, Sequence

from .embedded import InProcess


class MemoryConnectionRegistry(InProcess):
    def __init__(self) -> None:
        # user id -> connection id -> monotonic expiry
        self._users: dict[str, dict[str, float]] = {}

    async def register(
        self, connections: Sequence[tuple[str, str]], *, limit: int, ttl_seconds: float
    ) -> list[bool]:
        return [
            self._register(user_id, connection_id, limit, ttl_seconds)
            for user_id, connection_id in connections
        ]

    def _register(self, user_id: str, connection_id: str, limit: int, ttl_seconds: float) -> bool:
        now = time.monotonic()
        held = self._live(user_id, now)
        if connection_id not in held and len(held) >= limit:
            return False
        held[connection_id] = now + ttl_seconds
        self._users[user_id] = held
        return True

    async def renew(
        self, connections: Mapping[str, Collection[str]], *, ttl_seconds: float
    ) -> None:
        now = time.monotonic()
        for user_id, connection_ids in connections.items():
            held = self._users.setdefault(user_id, {})
            for connection_id in connection_ids:
                held[connection_id] = max(held.get(connection_id, now), now + ttl_seconds)

    async def unregister(self, connections: Sequence[tuple[str, str]]) -> None:
        for user_id, connection_id in connections:
            held = self._users.get(user_id, {})
            held.pop(connection_id, None)
            if not held:
                self._users.pop(user_id, None)

    def _live(self, user_id: str, now: float) -> dict[str, float]:
        held = self._users.get(user_id, {})
        return {connection: expiry for connection, expiry in held.items() if expiry > now}
