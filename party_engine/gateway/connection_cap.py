"""The cap on one user's connections over every gateway (PARTY_MAX_CONNECTIONS_PER_USER).

Each connection is registered in the ConnectionRegistry when it opens and unregistered when it
closes; while it is open this gateway renews it. A gateway that crashes renews nothing, so its
connections stop counting after CONNECTION_TTL_SECONDS.

Renewal runs every second over the users whose entries are due (older than
RENEW_AFTER_SECONDS), oldest first: one registry call per user every ten seconds, spread out,
instead of all of them at once.
"""

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
        try:
            admitted = await self._registry.register(
                user_id, connection_id, limit=self._limit, ttl_seconds=self._ttl
            )
        except Exception:
            # The cap guards against abuse; a registry outage should not shut everyone out.
            # The connection is counted by the next renewal round instead.
            log.warning("registering a connection failed; admitted", exc_info=True)
            admitted, set_at = True, _NOT_COUNTED
        else:
            set_at = time.monotonic()
        if not admitted:
            return None
        self._held.setdefault(user_id, set()).add(connection_id)
        if set_at == _NOT_COUNTED:  # first in line for renewal
            self._set_at[user_id] = set_at
            self._set_at.move_to_end(user_id, last=False)
        else:  # a user already here keeps the place of their older entries
            self._set_at.setdefault(user_id, set_at)
        return connection_id

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
