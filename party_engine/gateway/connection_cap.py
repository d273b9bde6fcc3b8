"""The cap on one user's connections over every gateway (PARTY_MAX_CONNECTIONS_PER_USER).

Each connection is registered in the ConnectionRegistry when it opens and unregistered when it
closes; while it is open this gateway renews it. A gateway that crashes renews nothing, so its
connections stop counting after CONNECTION_TTL_SECONDS.

Connections that open together are registered together: an admit when none is on its way
starts a registration on the next turn of the event loop, for every admit of that turn; admits
that come while it is on its way wait for the next one, which starts when it ends. In a join
storm that is one Redis round trip for tens of connections instead of one each.

Renewal runs every second over the users whose entries are due (older than
RENEW_AFTER_SECONDS), oldest first and spread over rounds (renewals.py): one registry call per
user every half minute. A crashed gateway's connections hold their users' slots for at most
CONNECTION_TTL_SECONDS; with a cap of several connections a user is rarely shut out by them.
"""

import asyncio
import logging
import time

from ..periodic import Periodic
from ..ports import ConnectionRegistry
from .renewals import Renewals

log = logging.getLogger(__name__)

CONNECTION_TTL_SECONDS = 90.0
RENEW_AFTER_SECONDS = 30.0
RENEW_ROUND_SECONDS = 1.0
# Connections registered in one round trip at most (bounds the pipeline's buffers).
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
        # (user, connection, its outcome: counted, or None when the registry failed) waiting
        # for the next registration, and the registration on its way
        self._waiting: list[tuple[str, str, asyncio.Future[bool | None]]] = []
        self._registering: asyncio.Task[None] | None = None
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
        outcome: asyncio.Future[bool | None] = asyncio.get_running_loop().create_future()
        self._waiting.append((user_id, connection_id, outcome))
        if self._registering is None:
            self._registering = asyncio.ensure_future(self._register_waiting())
        counted = await asyncio.shield(outcome)
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

    async def _register_waiting(self) -> None:
        try:
            while self._waiting:
                batch = self._waiting[:REGISTER_BATCH]
                del self._waiting[:REGISTER_BATCH]
                connections = [(user_id, connection_id) for user_id, connection_id, _ in batch]
                outcomes: list[bool | None]
                try:
                    outcomes = list(
                        await self._registry.register(
                            connections, limit=self._limit, ttl_seconds=self._ttl
                        )
                    )
                except Exception:
                    log.warning("registering connections failed; admitted", exc_info=True)
                    outcomes = [None] * len(batch)
                for (_, _, outcome), counted in zip(batch, outcomes, strict=True):
                    if not outcome.done():
                        outcome.set_result(counted)
        finally:
            self._registering = None
            for _, _, outcome in self._waiting:  # stopped (cancelled) with admits waiting
                outcome.cancel()
            self._waiting.clear()

    async def release(self, user_id: str, connection_id: str) -> None:
        held = self._held.get(user_id)
        if held is None:
            return
        held.discard(connection_id)
        if not held:
            del self._held[user_id]
            self._renewals.discard(user_id)
        try:
            await self._registry.unregister(user_id, connection_id)
        except Exception:
            log.warning("unregistering a connection failed; it expires", exc_info=True)

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
