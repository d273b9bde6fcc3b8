"""The cap on one user's connections over every gateway (PARTY_MAX_CONNECTIONS_PER_USER).

Each connection is registered in the ConnectionRegistry when it opens and unregistered when it
closes; while it is open this gateway renews it. A gateway that crashes renews nothing, so its
connections stop counting after CONNECTION_TTL_SECONDS.

Connections that open together are registered together: an admit when none is on its way
starts a registration on the next turn of the event loop, for every admit of that turn; admits
that come while it is on its way wait for the next one, which starts when it ends. In a join
storm that is one Redis round trip for tens of connections instead of one each.

Renewal runs every second over the users whose entries are due (older than
RENEW_AFTER_SECONDS), oldest first: one registry call per user every ten seconds, spread out,
instead of all of them at once.
"""

import asyncio
import logging
import time
from collections import OrderedDict

from ..periodic import Periodic
from ..ports import ConnectionRegistry

log = logging.getLogger(__name__)

CONNECTION_TTL_SECONDS = 30.0
RENEW_AFTER_SECONDS = 10.0
RENEW_ROUND_SECONDS = 1.0
_NOT_COUNTED = float("-inf")  # as the time a user's entries were set: renew at once
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
        self._renew_after = renew_after_seconds
        self._opened = 0
        # user -> this gateway's open connections of that user
        self._held: dict[str, set[str]] = {}
        # user -> when its entries were last set (the oldest first): what renewal is due
        self._set_at: OrderedDict[str, float] = OrderedDict()
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
        set_at = _NOT_COUNTED if counted is None else time.monotonic()
        self._held.setdefault(user_id, set()).add(connection_id)
        if set_at == _NOT_COUNTED:  # first in line for renewal
            self._set_at[user_id] = set_at
            self._set_at.move_to_end(user_id, last=False)
        else:  # a user already here keeps the place of their older entries
            self._set_at.setdefault(user_id, set_at)
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
            del self._set_at[user_id]
        try:
            await self._registry.unregister(user_id, connection_id)
        except Exception:
            log.warning("unregistering a connection failed; it expires", exc_info=True)

    async def renew_due(self) -> None:
        """Renew the connections of every user whose entries are due."""
        now = time.monotonic()
        due: list[str] = []
        for user_id, set_at in self._set_at.items():
            if set_at > now - self._renew_after:
                break
            due.append(user_id)
        if not due:
            return
        await self._registry.renew(
            {user_id: list(self._held[user_id]) for user_id in due}, ttl_seconds=self._ttl
        )
        for user_id in due:
            if user_id in self._set_at:  # not released meanwhile
                self._set_at[user_id] = now
                self._set_at.move_to_end(user_id)
