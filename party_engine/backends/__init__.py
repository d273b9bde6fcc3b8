"""Backends, picked by the scheme of their settings URL and imported lazily, so a user of the
embedded default never imports redis, aio-pika or aioboto3."""

from ..clock import Clock
from ..config import DEFAULT_REDIS_PREFIX, Settings, is_embedded
from ..ports import (
    ArchiveStorage,
    Broker,
    ConnectionRegistry,
    DeviceStore,
    EventConsumer,
    EventPublisher,
    EventSink,
    FollowStore,
    Lease,
    Ledger,
    NoticeBook,
    Outbox,
    Presence,
    Push,
    ReminderLedger,
    Store,
)
from .queue_topology import Topology
from .rate_limits import RateLimits


def open_store(url: str, *, prefix: str = DEFAULT_REDIS_PREFIX) -> Store:
    """Parties, listings and follows, kept where PARTY_REDIS_URL points."""
    if is_embedded(url):
        from .store_memory import MemoryStore

        return MemoryStore()
    from .store_redis import RedisStore

    return RedisStore(url, prefix=prefix)


def open_broker(
    url: str,
    *,
    history_size: int,
    outbox_max_depth: int | None = None,
    prefix: str = DEFAULT_REDIS_PREFIX,
    wait_replicas: int = 0,
    wait_timeout_ms: int = 1000,
) -> Broker:
    """Offsets, history, outboxes and fan-out of every party, where PARTY_REDIS_URL points."""
    if is_embedded(url):
        from .broker_memory import MemoryBroker

        return MemoryBroker(history_size=history_size, outbox_max_depth=outbox_max_depth)
    from .broker_redis import RedisBroker

    return RedisBroker(
        url,
        prefix=prefix,
        history_size=history_size,
        outbox_max_depth=outbox_max_depth,
        wait_replicas=wait_replicas,
        wait_timeout_ms=wait_timeout_ms,
    )


def open_outbox(url: str, broker: Broker, *, prefix: str = DEFAULT_REDIS_PREFIX) -> Outbox:
    """The relays' side of the outboxes the broker writes; embedded, the broker's own."""
    if is_embedded(url):
        from .broker_memory import MemoryBroker

        if not isinstance(broker, MemoryBroker):
            raise TypeError("an embedded outbox is the engine's own MemoryBroker's")
        return broker.outbox
    from .outbox_redis import RedisOutbox

    return RedisOutbox(url, prefix=prefix)


def open_sink(url: str, events: EventPublisher, *, topology: Topology) -> EventSink:
    """Where the relay hands events: RabbitMQ (confirmed, mandatory), or the embedded queue."""
    if is_embedded(url):
        from .queue_memory import MemoryQueue
        from .sink_memory import QueueSink

        if not isinstance(events, MemoryQueue):
            raise TypeError("an embedded sink takes the engine's own MemoryQueue")
        return QueueSink(events)
    from .sink_rabbitmq import RabbitSink

    return RabbitSink(url, topology=topology)


def open_presence(url: str, *, prefix: str = DEFAULT_REDIS_PREFIX) -> Presence:
    """Every gateway's present users by party, where PARTY_REDIS_URL points."""
    if is_embedded(url):
        from .presence_memory import MemoryPresence

        return MemoryPresence()
    from .presence_redis import RedisPresence

    return RedisPresence(url, prefix=prefix)


def open_connection_registry(url: str, *, prefix: str = DEFAULT_REDIS_PREFIX) -> ConnectionRegistry:
    """Every gateway's open connections by user, where PARTY_REDIS_URL points."""
    if is_embedded(url):
        from .connections_memory import MemoryConnectionRegistry

        return MemoryConnectionRegistry()
    from .connections_redis import RedisConnectionRegistry

    return RedisConnectionRegistry(url, prefix=prefix)


def open_devices(url: str, *, prefix: str = DEFAULT_REDIS_PREFIX) -> DeviceStore:
    """Device records and notices, kept where PARTY_REDIS_URL keeps the store."""
    if is_embedded(url):
        from .devices_memory import MemoryDeviceStore

        return MemoryDeviceStore()
    from .devices_redis import RedisDeviceStore

    return RedisDeviceStore(url, prefix=prefix)


def open_push(settings: Settings, follows: FollowStore, devices: DeviceStore, clock: Clock) -> Push:
    """The push backend named by PARTY_PUSH_URL."""
    if is_embedded(settings.push_url):
        from .push_memory import MemoryPush

        return MemoryPush(follows, devices, clock)
    from .push_sns import SnsPush

    return SnsPush(settings, follows, devices, clock)


def open_lease(
    url: str, name: str, ttl_seconds: float, *, prefix: str = DEFAULT_REDIS_PREFIX
) -> Lease:
    """A leadership lease kept where PARTY_REDIS_URL points (always held when embedded)."""
    if is_embedded(url):
        from .lease_memory import LeaseBoard, MemoryLease

        return MemoryLease(LeaseBoard(), name, ttl_seconds)
    from .lease_redis import RedisLease

    return RedisLease(url, prefix=prefix, name=name, ttl_seconds=ttl_seconds)


def open_reminder_ledger(url: str, *, prefix: str = DEFAULT_REDIS_PREFIX) -> ReminderLedger:
    if is_embedded(url):
        from .reminders_memory import MemoryReminderLedger

        return MemoryReminderLedger()
    from .reminders_redis import RedisReminderLedger

    return RedisReminderLedger(url, prefix=prefix)


def open_events(
    url: str, *, topology: Topology, capacity: int, max_attempts: int
) -> EventPublisher:
    """The event queue named by PARTY_AMQP_URL, publishing side (bounded by `capacity`)."""
    if is_embedded(url):
        from .queue_memory import MemoryQueue

        return MemoryQueue(capacity=capacity, max_attempts=max_attempts, topology=topology)
    from .queue_rabbitmq import RabbitPublisher

    return RabbitPublisher(url, topology=topology, capacity=capacity)


def open_consumer(
    url: str, events: EventPublisher, *, topology: Topology, max_attempts: int, prefetch: int = 1024
) -> EventConsumer:
    """The consuming side of the same queue; embedded, that is the publisher's own queue."""
    if is_embedded(url):
        from .queue_memory import MemoryQueue

        if not isinstance(events, MemoryQueue):
            raise TypeError("an embedded consumer takes the engine's own MemoryQueue")
        return events
    from .consume_rabbitmq import RabbitConsumer

    return RabbitConsumer(url, topology=topology, max_attempts=max_attempts, prefetch=prefetch)


def open_ledger(
    url: str, *, prefix: str = DEFAULT_REDIS_PREFIX, done_seconds: float = 86_400
) -> Ledger:
    """Idempotency locks and party counters, kept where PARTY_REDIS_URL points; an event is
    remembered as done for `done_seconds` (PARTY_DEDUP_SECONDS)."""
    if is_embedded(url):
        from .ledger_memory import MemoryLedger

        return MemoryLedger(done_seconds=done_seconds)
    from .ledger_redis import RedisLedger

    return RedisLedger(url, prefix=prefix, done_seconds=round(done_seconds))


def open_notice_book(url: str, *, prefix: str = DEFAULT_REDIS_PREFIX) -> NoticeBook:
    """Seller-notice windows, kept where PARTY_REDIS_URL points."""
    if is_embedded(url):
        from .notices_memory import MemoryNoticeBook

        return MemoryNoticeBook()
    from .notices_redis import RedisNoticeBook

    return RedisNoticeBook(url, prefix=prefix)


def open_rate_limits(url: str, *, prefix: str = DEFAULT_REDIS_PREFIX) -> RateLimits:
    """The share limits' windows: in process when embedded, else where PARTY_REDIS_URL points
    (shared by every gateway)."""
    if is_embedded(url):
        from .rate_limits import MemoryRateLimits

        return MemoryRateLimits()
    from .rate_limits import RedisRateLimits

    return RedisRateLimits(url, prefix=prefix)


def open_archive(url: str, *, s3_endpoint: str = "") -> ArchiveStorage:
    """Where archived events go: a folder (file://) or an S3 bucket and prefix (s3://)."""
    if url.startswith("s3://"):
        from .archive_s3 import S3Archive

        return S3Archive(url, endpoint_url=s3_endpoint)
    from .archive_file import FileArchive

    return FileArchive(url)
