"""The engine: builds the backends named in settings and the services of this process's
roles, and owns their lifecycle (like centrifuge's node.go: everything is wired here)."""

from typing import Protocol

from .backends import open_store
from .clock import Clock, SystemClock
from .config import Settings
from .lifecycle import PartyLifecycle
from .ports import Backend
from .roles import ALL_ROLES, Role


class Service(Protocol):
    """A long-running part of a role (the hub, a consumer, the clock)."""

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


class Engine:
    def __init__(
        self,
        settings: Settings,
        *,
        roles: frozenset[Role] = ALL_ROLES,
        clock: Clock | None = None,
    ) -> None:
        self.settings = settings
        self.roles = roles
        self.clock = clock or SystemClock()
        self.store = open_store(settings.redis_url)
        self.lifecycle = PartyLifecycle(self.store, self.clock)
        # Started in order after the backends connect, stopped in reverse before they close.
        self.services: list[Service] = []

    @property
    def backends(self) -> dict[str, Backend]:
        """Each backend by the name /readyz reports it under."""
        return {"store": self.store}

    async def start(self) -> None:
        for backend in self.backends.values():
            await backend.connect()
        for service in self.services:
            await service.start()

    async def stop(self) -> None:
        for service in reversed(self.services):
            await service.stop()
        for backend in reversed(self.backends.values()):
            await backend.close()
