"""The roles one process can play; `party-engine all` plays every one of them."""

from enum import StrEnum


class Role(StrEnum):
    GATEWAY = "gateway"  # HTTP API and WebSocket sessions
    WORKER = "worker"  # consumes share / like / party events
    SCHEDULER = "scheduler"  # the party clock
    RELAY = "relay"  # carries the outboxes' events to the event queue
    ARCHIVE = "archive"  # writes every event to the archive (Parquet files)


ALL_ROLES = frozenset(Role)
