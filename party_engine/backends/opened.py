"""Every backend one process opens, in one record, and the one place they are opened.

`open_backends` opens the backends every role shares, and those only one role uses when this
process plays it (the lease and reminder ledger for the scheduler, the notice book and the
consumer for the worker and the archive, the archive's storage for the archive, the gateway
and the scheduler (reports, join ratios), the share limits for the gateway, the outbox and
sink for the relay).
The engine connects them (backends/connecting.py), closes them in reverse, and /readyz pings
each one it names."""

from dataclasses import dataclass, fields

from ..clock import Clock
from ..config import Settings
from ..ports import (
    ArchiveStorage,
    Backend,
    Broker,
    ConnectionRegistry,
    DeviceStore,
    EventConsumer,
    EventPublisher,
    EventSink,
    Lease,
    Ledger,
    NoticeBook,
    Outbox,
    Presence,
    Push,
    ReminderLedger,
    Store,
)
from ..roles import Role
from . import (
    open_archive,
    open_broker,
    open_connection_registry,
    open_consumer,
    open_devices,
    open_events,
    open_lease,
    open_ledger,
    open_notice_book,
    open_outbox,
    open_presence,
    open_push,
    open_rate_limits,
    open_reminder_ledger,
    open_sink,
    open_store,
)
from .queue_topology import Topology, backoff_delays
from .rate_limits import RateLimits

# The party clock's lease: a leader that dies without releasing it is replaced after this long.
CLOCK_LEASE = "party-clock"
CLOCK_LEASE_TTL_SECONDS = 5.0


@dataclass(frozen=True, slots=True)
class Backends:
    """The backends of one process, in the order they connect (fields left None: not opened,
    as no role of this process uses them)."""

    store: Store
    devices: DeviceStore
    push: Push
    events: EventPublisher
    ledger: Ledger
    broker: Broker
    lease: Lease | None = None  # scheduler
    reminders: ReminderLedger | None = None  # scheduler
    notices: NoticeBook | None = None  # worker
    consumer: EventConsumer | None = None  # worker, archive (embedded: the `events` queue)
    archive: ArchiveStorage | None = None  # archive (writes); gateway, scheduler (reads)
    rate_limits: RateLimits | None = None  # gateway
    presence: Presence | None = None  # gateway
    connections: ConnectionRegistry | None = None  # gateway
    outbox: Outbox | None = None  # relay (embedded: the broker's own)
    sink: EventSink | None = None  # relay (embedded: the `events` queue)

    def named(self) -> dict[str, Backend]:
        """Each backend opened, by the name /readyz reports it under, in connect order."""
        opened = ((field.name, getattr(self, field.name)) for field in fields(self))
        return {name: backend for name, backend in opened if backend is not None}


def open_backends(settings: Settings, clock: Clock, roles: frozenset[Role]) -> Backends:
    """Open (not yet connect) every backend the settings name that `roles` use."""
    url, prefix = settings.redis_url, settings.redis_prefix
    store = open_store(url, prefix=prefix)
    devices = open_devices(url, prefix=prefix)
    topology = Topology(
        prefix=settings.amqp_prefix,
        retry_delays=backoff_delays(settings.max_attempts, settings.retry_base_seconds),
    )
    events = open_events(
        settings.amqp_url,
        topology=topology,
        capacity=settings.event_buffer,
        max_attempts=settings.max_attempts,
    )
    scheduler, worker, gateway = (r in roles for r in (Role.SCHEDULER, Role.WORKER, Role.GATEWAY))
    relay, archive = Role.RELAY in roles, Role.ARCHIVE in roles
    broker = open_broker(
        url,
        history_size=settings.history_size,
        outbox_max_depth=settings.outbox_max_depth,
        prefix=prefix,
        wait_replicas=settings.redis_wait_replicas,
        wait_timeout_ms=settings.redis_wait_timeout_ms,
    )
    return Backends(
        store=store,
        devices=devices,
        push=open_push(settings, store, devices, clock),
        events=events,
        ledger=open_ledger(url, prefix=prefix, done_seconds=settings.dedup_seconds),
        broker=broker,
        lease=(
            open_lease(url, CLOCK_LEASE, CLOCK_LEASE_TTL_SECONDS, prefix=prefix)
            if scheduler
            else None
        ),
        reminders=open_reminder_ledger(url, prefix=prefix) if scheduler else None,
        notices=open_notice_book(url, prefix=prefix) if worker else None,
        consumer=(
            open_consumer(
                settings.amqp_url,
                events,
                topology=topology,
                max_attempts=settings.max_attempts,
            )
            if worker or archive
            else None
        ),
        archive=(
            open_archive(settings.archive_url, s3_endpoint=settings.archive_s3_endpoint)
            if archive or gateway or scheduler
            else None
        ),
        rate_limits=open_rate_limits(url, prefix=prefix) if gateway else None,
        presence=open_presence(url, prefix=prefix) if gateway else None,
        connections=open_connection_registry(url, prefix=prefix) if gateway else None,
        outbox=open_outbox(url, broker, prefix=prefix) if relay else None,
        sink=open_sink(settings.amqp_url, events, topology=topology) if relay else None,
    )
