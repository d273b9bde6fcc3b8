"""The engine: builds the backends named in settings and the services of this process's
roles, and owns their lifecycle (like centrifuge's node.go: everything is wired here)."""

import logging
from typing import Protocol

from .announcer import PartyAnnouncer
from .backends import (
    open_broker,
    open_devices,
    open_events,
    open_ledger,
    open_presence,
    open_push,
    open_store,
)
from .backends.queue_topology import Topology, backoff_delays
from .clock import Clock, SystemClock
from .config import Settings, is_embedded
from .gateway.service import Gateway
from .lifecycle import PartyLifecycle
from .ports import Backend, Presence
from .roles import ALL_ROLES, Role
from .scheduler import party_clock_of

log = logging.getLogger(__name__)


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
        self.store = open_store(settings.redis_url, prefix=settings.redis_prefix)
        self.lifecycle = PartyLifecycle(self.store, self.clock)
        self.devices = open_devices(settings.redis_url, prefix=settings.redis_prefix)
        self.push = open_push(settings, self.store, self.devices, self.clock)
        self.topology = Topology(
            prefix=settings.amqp_prefix,
            retry_delays=backoff_delays(settings.max_attempts, settings.retry_base_seconds),
        )
        self.events = open_events(
            settings.amqp_url,
            topology=self.topology,
            capacity=settings.event_buffer,
            max_attempts=settings.max_attempts,
        )
        self.ledger = open_ledger(settings.redis_url, prefix=settings.redis_prefix)
        self.broker = open_broker(
            settings.redis_url, history_size=settings.history_size, prefix=settings.redis_prefix
        )
        # Started in order after the backends connect, stopped in reverse before they close.
        self.services: list[Service] = []
        # Every transition this process applies (host or clock) is announced: events + push.
        self.announcer = PartyAnnouncer(self.push, self.events, self.clock)
        self.lifecycle.on_change(self.announcer.on_change)
        if Role.SCHEDULER in roles:
            self.services.append(party_clock_of(self))
        if Role.WORKER in roles:
            # Before the gateway, so that it stops after it and handles what the gateway queued.
            from workers.service import WorkerService

            self.services.append(WorkerService(self))
        self.gateway: Gateway | None = None
        self.presence: Presence | None = None
        if Role.GATEWAY in roles:
            if Role.WORKER not in roles and is_embedded(settings.amqp_url):
                log.warning(
                    "PARTY_AMQP_URL is the embedded queue and this process runs no worker: "
                    "share and like events stay in memory, and past PARTY_EVENT_BUFFER of "
                    "them shares are refused. Run `party-engine all`, or use RabbitMQ."
                )
            self.presence = open_presence(settings.redis_url, prefix=settings.redis_prefix)
            self.gateway = Gateway(
                settings,
                store=self.store,
                broker=self.broker,
                presence=self.presence,
                events=self.events,
                lifecycle=self.lifecycle,
                clock=self.clock,
            )
            self.services.append(self.gateway)

    @property
    def backends(self) -> dict[str, Backend]:
        """Each backend by the name /readyz reports it under."""
        backends: dict[str, Backend] = {
            "store": self.store,
            "devices": self.devices,
            "push": self.push,
            "events": self.events,
            "ledger": self.ledger,
            "broker": self.broker,
        }
        if self.presence is not None:  # opened with the gateway role
            backends["presence"] = self.presence
        return backends

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
