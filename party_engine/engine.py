"""The engine: opens the backends named in settings and builds the services of this process's
roles, and owns their lifecycle (like centrifuge's node.go: everything is wired here).

Every backend is opened into one record (backends/opened.py), connected in order before the
services start and closed in reverse after they stop. Each service is handed what it uses;
none of them sees the engine."""

import logging
from datetime import timedelta
from typing import Protocol

from workers.service import WorkerService

from .announcer import PartyAnnouncer
from .backends.opened import CLOCK_LEASE_TTL_SECONDS, Backends, open_backends
from .clock import Clock, SystemClock
from .config import Settings, is_embedded
from .gateway.service import Gateway
from .lifecycle import PartyLifecycle
from .party_states import StateBroadcaster
from .relay import Relay
from .roles import ALL_ROLES, Role
from .scheduler import Scheduler

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
        # Every backend this process opened, by the name /readyz reports it under.
        self.backends: Backends = open_backends(settings, self.clock, roles)
        backends = self.backends
        self.store = backends.store
        self.lifecycle = PartyLifecycle(self.store, self.clock)
        self.devices = backends.devices
        self.push = backends.push
        self.events = backends.events
        self.ledger = backends.ledger
        self.broker = backends.broker
        # Started in order after the backends connect, stopped in reverse before they close.
        self.services: list[Service] = []
        # Every transition this process applies (host, clock or CLI) is announced, whatever
        # its roles: to the workers as an event, to joined clients through the broker.
        self.announcer = PartyAnnouncer(self.events, self.clock)
        self.lifecycle.on_change(self.announcer.on_change)
        self.lifecycle.on_change(StateBroadcaster(self.broker).on_change)
        if Role.SCHEDULER in roles:
            if Role.WORKER not in roles and is_embedded(settings.amqp_url):
                log.warning(
                    "PARTY_AMQP_URL is the embedded queue and this process runs no worker: "
                    "the start and reminder pushes, sent by a worker, stay in memory. Run "
                    "`party-engine all`, or use RabbitMQ."
                )
            assert backends.lease is not None and backends.reminders is not None
            self.services.append(
                Scheduler(
                    store=self.store,
                    lifecycle=self.lifecycle,
                    announcer=self.announcer,
                    lease=backends.lease,
                    reminders=backends.reminders,
                    clock=self.clock,
                    reminder_minutes=settings.reminder_minutes,
                    lease_seconds=CLOCK_LEASE_TTL_SECONDS,
                )
            )
        if Role.WORKER in roles:
            # Before the gateway, so that it stops after it and handles what the gateway queued.
            assert backends.consumer is not None and backends.notices is not None
            self.services.append(
                WorkerService(
                    consumer=backends.consumer,
                    notices=backends.notices,
                    ledger=self.ledger,
                    broker=self.broker,
                    store=self.store,
                    push=self.push,
                    clock=self.clock,
                    notice_window_seconds=settings.notice_window_seconds,
                    event_lock_seconds=settings.event_lock_seconds,
                    retention=timedelta(days=settings.retention_days),
                )
            )
        self.relay: Relay | None = None
        if Role.RELAY in roles:
            # After the worker and before the gateway: it stops after the gateway (relaying
            # what it wrote last) and before the worker (which handles that).
            assert backends.outbox is not None and backends.sink is not None
            self.relay = Relay(
                backends.outbox,
                backends.sink,
                poll_seconds=settings.relay_poll_ms / 1000,
                claim_after_seconds=settings.relay_claim_seconds,
            )
            self.services.append(self.relay)
        self.gateway: Gateway | None = None
        if Role.GATEWAY in roles:
            if Role.WORKER not in roles and is_embedded(settings.amqp_url):
                log.warning(
                    "PARTY_AMQP_URL is the embedded queue and this process runs no worker: "
                    "share and like events wait in the parties' outboxes, and past "
                    "PARTY_OUTBOX_MAX_DEPTH of them in a party its shares are refused. Run "
                    "`party-engine all`, or use RabbitMQ and `party-engine relay`."
                )
            assert backends.rate_limits is not None and backends.presence is not None
            assert backends.connections is not None
            self.gateway = Gateway(
                settings,
                store=self.store,
                broker=self.broker,
                presence=backends.presence,
                connections=backends.connections,
                rate_limits=backends.rate_limits.storage,
                clock=self.clock,
            )
            self.services.append(self.gateway)

    async def start(self) -> None:
        await self.backends.connect()
        for service in self.services:
            await service.start()

    async def stop(self) -> None:
        for service in reversed(self.services):
            await service.stop()
        await self.backends.close()
