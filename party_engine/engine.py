"""The engine: opens the backends named in settings and builds the services of this process's
roles, and owns their lifecycle (like centrifuge's node.go: everything is wired here).

Every backend is opened into one record (backends/opened.py). `start` connects them in the
background (backends/connecting.py: each retried until it answers) and starts the services
once all are connected; the process serves meanwhile, not ready. `stop` stops the services in
reverse and closes the backends within the shutdown budget, whatever they are doing. Each
service is handed what it uses; none of them sees the engine."""

import asyncio
import contextlib
import logging
import time
from datetime import timedelta
from typing import Protocol

from workers.party_push import WaveSettings
from workers.service import WorkerService

from .announcer import PartyAnnouncer
from .archive.join_ratios import ArchiveJoinRatios
from .archive.reports import PartyReports
from .backends.connecting import Connections, bounded
from .backends.opened import CLOCK_LEASE_TTL_SECONDS, Backends, open_backends
from .capacity import CapacityForecaster, JoinRatios, PriorJoinRatios
from .clock import Clock, SystemClock
from .config import Settings, is_embedded
from .gateway.service import Gateway
from .host_tools import HostTools
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
        self.host_tools = HostTools(self.store, self.broker, self.clock)
        self.connections = Connections(backends.named())
        # Hosts' reports (gateway) and the themes' join ratios for the forecast (gateway,
        # scheduler) read the archive; a process that did not open it uses the prior.
        settle = timedelta(seconds=settings.archive_batch_seconds)
        self.reports = (
            PartyReports(backends.archive, self.clock, settle=settle)
            if backends.archive is not None
            else None
        )
        ratios: JoinRatios = (
            ArchiveJoinRatios(self.store, self.reports, self.clock)
            if self.reports is not None
            else PriorJoinRatios()
        )
        self.capacity = CapacityForecaster(self.store, ratios, self.clock)
        # Started in order after the backends connect, stopped in reverse before they close.
        self.services: list[Service] = []
        self._running: list[Service] = []
        self._starting: asyncio.Task[None] | None = None
        # Every transition this process applies (host, clock or CLI) is announced, whatever
        # its roles: to the workers as an event, to joined clients through the broker.
        self.announcer = PartyAnnouncer(self.events, self.clock)
        self.lifecycle.on_change(self.announcer.on_change)
        self.lifecycle.on_change(StateBroadcaster(self.broker).on_change)
        if Role.ARCHIVE in roles:
            # Imported here: pyarrow adds ~58 MiB to a process, and only this role writes.
            from workers.archive import ArchiveService

            # First, so that it stops last: it archives what every other role sent.
            assert backends.consumer is not None and backends.archive is not None
            self.services.append(
                ArchiveService(
                    consumer=backends.consumer,
                    storage=backends.archive,
                    batch_events=settings.archive_batch_events,
                    batch_seconds=settings.archive_batch_seconds,
                    max_events=settings.archive_max_events,
                )
            )
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
                    forecaster=self.capacity,
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
                    events=self.events,
                    clock=self.clock,
                    notice_window_seconds=settings.notice_window_seconds,
                    event_lock_seconds=settings.event_lock_seconds,
                    push_waves=WaveSettings(
                        shards=settings.push_shards,
                        joins_per_second=settings.push_wave_joins_per_second,
                        bound_seconds=settings.push_wave_bound_seconds,
                        # The queue hands a wave back for its first retry delay.
                        hold_seconds=settings.retry_base_seconds,
                    ),
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
                events=self.events,
                clock=self.clock,
            )
            self.services.append(self.gateway)

    @property
    def running(self) -> bool:
        """Every backend connected and every service started."""
        return self._starting is not None and self._starting.done() and self.failed is None

    async def start(self, *, wait: float | None = None) -> None:
        """Connect the backends and then start the services, in the background. Return once
        they run, or after `wait` seconds if given: they go on starting meanwhile."""
        if self._starting is None:
            self._starting = asyncio.create_task(self._start(), name="engine-start")
            self._starting.add_done_callback(self._log_failure)
        if wait is None:
            await asyncio.shield(self._starting)
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(self._starting), wait)

    @property
    def starting(self) -> "asyncio.Task[None]":
        """The start in the background: done once the services run, or once it failed."""
        assert self._starting is not None, "start() first"
        return self._starting

    @property
    def failed(self) -> BaseException | None:
        """What stopped the start, if anything did (a backend down is retried, not this)."""
        task = self._starting
        if task is None or not task.done() or task.cancelled():
            return None
        return task.exception()

    async def _start(self) -> None:
        await self.connections.connect()
        for service in self.services:
            await service.start()
            self._running.append(service)
        log.info("started: %s", ", ".join(sorted(self.roles)))

    def _log_failure(self, task: asyncio.Task[None]) -> None:
        if (error := self.failed) is not None:
            log.critical("the engine failed to start its services; stopping", exc_info=error)

    @property
    def shutdown_seconds(self) -> float:
        """What stop() may take: the shutdown budget, less the gateway's drain before it."""
        drain = self.settings.drain_seconds if self.gateway is not None else 0.0
        return self.settings.shutdown_seconds - drain

    async def stop(self) -> None:
        """Stop the services in reverse and close the backends, within shutdown_seconds."""
        deadline = time.monotonic() + self.shutdown_seconds
        if self._starting is not None and not self._starting.done():
            self._starting.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._starting
            if waiting := self.connections.waiting():
                log.warning("stopped while connecting to %s", ", ".join(waiting))
        while self._running:
            service = self._running.pop()
            # Each service gets half of what is left: the backends' closes need the rest.
            await bounded(
                service.stop(),
                (deadline - time.monotonic()) / 2,
                f"stopping {type(service).__name__}",
            )
        await self.connections.close(deadline - time.monotonic())
