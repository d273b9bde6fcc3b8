"""Every Prometheus metric of the engine, declared here and counted where the thing happens.

Each role serves them on `/metrics` at PARTY_HOST:PARTY_METRICS_PORT (`serve`, started by
party_engine/server.py; off unless the port is set), from the default registry: one process per
role. Several processes of one role on one host would each need their own port, or
prometheus_client's multiprocess mode (not built).

The hot path rule: the hub writes one frame to thousands of sessions per tick, so the gateway
counts once per batch (frames = members, bytes = members x len(frame)), never per recipient.
"""

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from wsgiref.simple_server import WSGIServer

from prometheus_client import Counter, Gauge, Histogram, start_http_server

log = logging.getLogger(__name__)

# Seconds, from a millisecond to ten seconds: what a live stream is judged by.
_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
# Seconds a scheduled transition may come late: the clock ticks every 0.25 s.
_LATENESS_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)

# --- gateway ---------------------------------------------------------------------------------
CONNECTIONS = Gauge("party_connections", "WebSocket connections open on this gateway.")
JOINS = Counter(
    "party_joins_total", "Join frames answered, by outcome: ok or the error code.", ["outcome"]
)
SHARES_ACCEPTED = Counter("party_shares_accepted_total", "Shares acknowledged.")
LIKES_ACCEPTED = Counter("party_likes_accepted_total", "Likes acknowledged.")
FRAMES_SENT = Counter("party_frames_sent_total", "Frames written to clients.")
EVENTS_DELIVERED = Counter(
    "party_events_delivered_total", "Event items written to clients (items x recipients)."
)
BYTES_SENT = Counter("party_bytes_sent_total", "Bytes of frames written to clients.")
SLOW_CONSUMER_CLOSES = Counter(
    "party_slow_consumer_closes_total", "Connections cut (4008) for not reading fast enough."
)
RECOVERIES = Counter(
    "party_recoveries_total",
    "Joins with `since`: recovered (true) or given a fresh snapshot (false).",
    ["recovered"],
)
DISCONNECTS = Counter(
    "party_disconnects_total", "WebSocket connections ended, by close code.", ["code"]
)
PUBSUB_LAG = Histogram(
    "party_pubsub_lag_seconds",
    "From an item's `at` (its publishing gateway's clock) to its batch written to clients; "
    "the oldest item of each batch.",
    buckets=_LATENCY_BUCKETS,
)
ACK_SECONDS = Histogram(
    "party_ack_seconds",
    "From a share or like frame taken up to its ack written.",
    buckets=_LATENCY_BUCKETS,
)

ATTENDANCE_DROPPED = Counter(
    "party_attendance_dropped_total",
    "Join and leave events not sent to the archive (the gateway's event buffer was full).",
)

# --- relay -----------------------------------------------------------------------------------
OUTBOX_DEPTH = Gauge(
    "party_outbox_depth", "Events waiting in the parties' outboxes, as a relay last read them."
)
RELAYED = Counter("party_relayed_events_total", "Events a relay handed to the event queue.")

# --- worker ----------------------------------------------------------------------------------
WORKER_EVENTS = Counter(
    "party_worker_events_total",
    "Events a worker queue's handler was given, by outcome: handled, later (handed back, "
    "another worker holds them) or failed (the batch raised).",
    ["queue", "outcome"],
)
WORKER_BATCH_SECONDS = Histogram(
    "party_worker_batch_seconds",
    "Time a worker queue's handler took over one batch.",
    ["queue"],
    buckets=_LATENCY_BUCKETS,
)

# --- clock and push --------------------------------------------------------------------------
TRANSITION_LATENESS = Histogram(
    "party_transition_lateness_seconds",
    "From a transition's planned time (starts_at, ends_at) to the clock applying it.",
    ["state"],
    buckets=_LATENESS_BUCKETS,
)
PUSH_SENT = Counter(
    "party_push_sent_total", "Push notifications sent, by kind and outcome.", ["kind", "outcome"]
)
# Set by the scheduler role every minute from the schedule (party_engine/capacity.py).
FORECAST_CONNECTIONS = Gauge(
    "party_forecast_connections",
    "Most connections the schedule forecasts within the horizon (15m, 30m, 60m) from now.",
    ["horizon"],
)
FORECAST_JOINS_PER_SECOND = Gauge(
    "party_forecast_joins_per_second",
    "Most joins per second the schedule forecasts within the horizon (15m, 30m, 60m) from now.",
    ["horizon"],
)


def count_sent(frames: int, frame_bytes: int, events: int = 0) -> None:
    """One frame of `frame_bytes` (carrying `events` items) written to `frames` clients."""
    FRAMES_SENT.inc(frames)
    BYTES_SENT.inc(frames * frame_bytes)
    if events:
        EVENTS_DELIVERED.inc(frames * events)


def published_at(item: bytes) -> float | None:
    """The POSIX time of an `events` item's `at` (its last key), None if it has none."""
    start = item.rfind(b'"at":"')
    if start < 0:
        return None
    start += 6
    end = item.find(b'"', start)
    try:
        return datetime.fromisoformat(item[start:end].decode()).timestamp()
    except ValueError:
        return None


@contextmanager
def push_sent(kind: str) -> Iterator[None]:
    """Count the push sent in the block as ok, or as failed if it raises."""
    try:
        yield
    except Exception:
        PUSH_SENT.labels(kind=kind, outcome="failed").inc()
        raise
    PUSH_SENT.labels(kind=kind, outcome="ok").inc()


class MetricsServer:
    """`/metrics` on its own port, served by prometheus_client's thread (the event loop is
    never held by a scrape)."""

    def __init__(self, host: str, port: int) -> None:
        self._server: WSGIServer
        self._thread: threading.Thread
        self._server, self._thread = start_http_server(port, addr=host)
        log.info("metrics on http://%s:%d/metrics", host, port)

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


def serve(host: str, port: int | None) -> MetricsServer | None:
    """Serve `/metrics` on `port` if set."""
    return None if port is None else MetricsServer(host, port)


# --- archive ---------------------------------------------------------------------------------
ARCHIVED = Counter("party_archived_events_total", "Events written to the archive and acked.")
ARCHIVE_WRITE_FAILURES = Counter(
    "party_archive_write_failures_total", "Archive writes that failed (each is retried)."
)
ARCHIVE_HELD = Gauge("party_archive_held_events", "Events an archive worker holds unwritten.")
