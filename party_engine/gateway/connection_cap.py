"""The cap on one user's connections over every gateway (PARTY_MAX_CONNECTIONS_PER_USER).

Each connection is registered in the ConnectionRegistry when it opens and unregistered when it
closes; while it is open this gateway renews it. A gateway that crashes renews nothing, so its
connections stop counting after CONNECTION_TTL_SECONDS.

Connections that open together are registered together, and those that close together are
unregistered together (turn_batches.py): in a join storm, or when a party ends, that is one
Redis round trip for tens or hundreds of connections instead of one each (one each exhausted
the pool while 100,000 connected, and closes failed to free their slots).

Renewal runs every second over the users whose entries are due (older than
RENEW_AFTER_SECONDS), oldest first and spread over rounds (renewals.py): one registry call per
user every half minute. A crashed gateway's connections hold their users' slots for at most
CONNECTION_TTL_SECONDS; with a cap of several connections a user is rarely shut out by them.
"""

import logging
import time

from ..periodic import Periodic
from ..ports import ConnectionRegistry
from .renewals import Renewals
from .turn_batches import TurnBatches

log = logging.getLogger(__name__)

CONNECTION_TTL_SECONDS = 90.0
RENEW_AFTER_SECONDS = 30.0
RENEW_ROUND_SECONDS = 1.0
# Connections registered (or unregistered) in one round trip at most (bounds the pipeline's
# buffers).
REGISTER_BATCH = 500


class ConnectionCap:
    def __init__(
        self,
        registry: ConnectionRegistry,
        *,
        gateway_id: str,
        limit: int,
        ttl_seconds: float = CONNECTION_TTL_SECONDS,
        renew_after_seconds: float = RENEW_AFTER_SECONDS,
    ) -> None:
        self._registry = registry
        self._gateway_id = gateway_id
        self._limit = limit
        self._ttl = ttl_seconds
        self._opened = 0
        # user -> this gateway's open connections of that user
        self._held: dict[str, set[str]] = {}
        # users by when their entries were last set: what renewal is due
        self._renewals: Renewals[str] = Renewals(
            renew_after=renew_after_seconds, round_seconds=RENEW_ROUND_SECONDS
        )
        # (user, connection) -> counted, or None when the registry failed
        self._registrations: TurnBatches[tuple[str, str], bool | None] = TurnBatches(
            self._register, size=REGISTER_BATCH, failed=self._registration_failed
        )
        self._releases: TurnBatches[tuple[str, str], None] = TurnBatches(
            self._unregister, size=REGISTER_BATCH, failed=self._unregistration_failed
        )
        self._renewal = Periodic(
            "connection renewal",
            RENEW_ROUND_SECONDS,
            self.renew_due,
            wait_first=True,
            log=log,
            failure="renewing connections failed",
            failure_level=logging.WARNING,
        )

    def start(self) -> None:
        self._renewal.start()

    async def stop(self) -> None:
        await self._renewal.stop()

    async def admit(self, user_id: str) -> str | None:
        """A new connection of the user: its id, or None when the user has `limit` open."""
        self._opened += 1
        connection_id = f"{self._gateway_id}:{self._opened}"
        counted = await self._registrations.submit((user_id, connection_id))
        if counted is False:
            return None
        # None: the registry failed. The cap guards against abuse; a registry outage should
        # not shut everyone out. The connection is counted by the next renewal round instead.
        self._held.setdefault(user_id, set()).add(connection_id)
        if counted is None:
            self._renewals.set_first(user_id)
        else:  # a user already here keeps the place of their older entries
            self._renewals.keep_place(user_id, time.monotonic())
        return connection_id

    async def _register(self, connections: list[tuple[str, str]]) -> list[bool | None]:
        counted = await self._registry.register(
            connections, limit=self._limit, ttl_seconds=self._ttl
        )
        return list(counted)

    def _registration_failed(self, connections: list[tuple[str, str]]) -> list[bool | None]:
        log.warning("registering %d connections failed; admitted", len(connections), exc_info=True)
        return [None] * len(connections)

    async def _unregister(self, connections: list[tuple[str, str]]) -> list[None]:
        await self._registry.unregister(connections)
        return [None] * len(connections)

    def _unregistration_failed(self, connections: list[tuple[str, str]]) -> list[None]:
        log.warning(
            "unregistering %d connections failed; they expire", len(connections), exc_info=True
        )
        return [None] * len(connections)

    async def release(self, user_id: str, connection_id: str) -> None:
        held = self._held.get(user_id)
        if held is None:
            return
        held.discard(connection_id)
        if not held:
            del self._held[user_id]
            self._renewals.discard(user_id)
        await self._releases.submit((user_id, connection_id))

    async def renew_due(self) -> None:
        """Renew the connections of the users whose entries are due (renewals.py)."""
        due = self._renewals.take_due(time.monotonic())
        if not due:
            return
        try:
            await self._registry.renew(
                {user_id: list(self._held[user_id]) for user_id in due}, ttl_seconds=self._ttl
            )
        except BaseException:
            self._renewals.failed(due)
            raise
