"""Settings, read from PARTY_* environment variables (pydantic-settings)."""

import ipaddress
from pathlib import Path
from typing import Annotated
from urllib.parse import urlsplit

from pydantic import AfterValidator, BeforeValidator, Field, ValidationError, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from .logs import LogFormat
from .tokens import TokenRules

EMBEDDED = "memory://"
DEFAULT_REDIS_PREFIX = "pe:"
# Good enough for a laptop; refused as soon as any real backend is configured.
DEV_JWT_SECRET = "dev-only-secret-change-me-in-production"


def _scheme_in(*schemes: str):
    def check(url: str) -> str:
        scheme = urlsplit(url).scheme
        if scheme not in schemes:
            raise ValueError(f"scheme must be one of {', '.join(schemes)}; got {url!r}")
        return url

    return AfterValidator(check)


def _amqp_urls(url: str) -> str:
    """memory://, or one or more amqp(s):// URLs (nodes of one cluster), comma-separated."""
    parts = [part.strip() for part in url.split(",")]
    schemes = [urlsplit(part).scheme for part in parts]
    if schemes == ["memory"] or (schemes and all(s in ("amqp", "amqps") for s in schemes)):
        return url
    raise ValueError(
        f"must be memory:// or amqp(s):// URLs, comma-separated (one per node); got {url!r}"
    )


def _split_commas(value: object) -> object:
    if isinstance(value, str):
        return [item.strip() for item in value.split(",") if item.strip()]
    return value


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PARTY_", extra="ignore")

    # Backends, picked by URL scheme (memory:// is the embedded single-process default).
    redis_url: Annotated[str, _scheme_in("memory", "redis", "rediss", "unix", "redis+cluster")] = (
        EMBEDDED
    )
    # In front of every Redis key, so several engines can share one Redis.
    redis_prefix: str = Field(DEFAULT_REDIS_PREFIX, pattern=r"^[\w.:-]*$")
    # A share, like or host action is acknowledged only once this many replicas hold it (WAIT);
    # if they do not confirm within redis_wait_timeout_ms the client gets `unavailable` (the write
    # may survive a failover or not: a resend with the same key tells). 0: acked once the master
    # has it; a failover may then lose the latest acked writes (their stream starts a new epoch).
    redis_wait_replicas: int = Field(0, ge=0, le=16)
    redis_wait_timeout_ms: int = Field(1000, ge=1, le=60_000)
    # One RabbitMQ node, or several of one cluster: "amqp://a:5672/,amqp://b:5672/".
    amqp_url: Annotated[str, AfterValidator(_amqp_urls)] = EMBEDDED
    push_url: Annotated[str, _scheme_in("memory", "sns", "http", "https")] = EMBEDDED

    jwt_secret: str = Field(DEV_JWT_SECRET, min_length=32)  # RFC 7518: HS256 keys >= 256 bits
    # When set, tokens must carry this `iss` / `aud`; the leeway forgives issuer clock skew.
    jwt_issuer: str = ""
    jwt_audience: str = ""
    jwt_leeway_seconds: float = Field(30.0, ge=0, le=300)
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=1, le=65535)
    # Prometheus `/metrics` of this process's roles, on PARTY_HOST at this port (not the public
    # one); off unless set (party_engine/metrics.py).
    metrics_port: int | None = Field(None, ge=1, le=65535)
    log_level: str = Field("info", pattern="^(critical|error|warning|info|debug)$")
    # JSON lines for a log pipeline (the Dockerfile sets it), or readable lines (`make run`).
    log_format: LogFormat = "console"

    # Gateway
    allowed_origins: Annotated[list[str], NoDecode, BeforeValidator(_split_commas)] = []
    max_frame_bytes: int = Field(16 * 1024, ge=256)
    max_pending_bytes: int = Field(1024 * 1024, ge=4096)
    history_size: int = Field(10_000, ge=10)
    share_rate_limit: str = "20/10 seconds"
    drain_seconds: float = Field(10.0, gt=0)
    # From SIGTERM to exit, whatever the backends are doing: a gateway's drain, then stopping
    # the services and closing the backends (flushing the event buffer, handing back the
    # worker's batch). Keep it under the orchestrator's grace period (docs/architecture.md).
    shutdown_seconds: float = Field(25.0, gt=0)
    fanout_tick_ms: float = Field(5.0, gt=0, le=1000)
    # The most of a gateway's event loop one party's fan-out may take (gateway/hub.py): a
    # party whose write to its members took d seconds is written again d / share later at the
    # earliest. Smaller keeps joins and other parties moving while a big party is busy, at the
    # price of a longer wait (and bigger frames) for that party's members.
    fanout_loop_share: float = Field(0.5, gt=0, le=1)
    # Every connection is pinged this often and closed (1011) without a pong within the
    # timeout: it keeps NATs and load balancers from dropping an idle connection and finds dead
    # peers. Socket.IO's defaults; each ping is a write and a read per connection.
    ws_ping_seconds: float = Field(25.0, gt=0)
    ws_ping_timeout_seconds: float = Field(20.0, gt=0)
    # Connections the kernel completes before the gateway accepts them. In a join storm a
    # gateway busy with fan-out falls behind; past this queue the kernel falls back to SYN
    # cookies and resets what it cannot place (the client sees a closed connection, not a
    # wait). The kernel caps it at net.core.somaxconn (4096 on Debian 12).
    listen_backlog: int = Field(4096, ge=1)
    # What a gateway keeps between shares (gateway/kept_reads.py): a party read for at most
    # this long (forgotten at once when the gateway hears the party change state; longer
    # than the state repair's 5 s, which reads its parties again), and up to this many
    # listings (they never change).
    party_keep_ms: float = Field(6000.0, ge=0, le=10_000)
    listings_kept: int = Field(10_000, ge=0)
    # Per connection (gateway/frame_budget.py): a token bucket over every frame, refilled at
    # frame_rate tokens a second up to frame_burst (a join costs 5, a join with since 10,
    # anything else 1); past frame_refusals `rate_limited` answers in 10 s the socket is
    # closed with 4429. A phone never comes near: these bound a hostile client's work.
    frame_rate: float = Field(20.0, gt=0)
    frame_burst: int = Field(100, ge=10)
    frame_refusals: int = Field(20, ge=1)
    max_parties_per_connection: int = Field(5, ge=1)
    # A `join since` replays history this many items per read, the next read only once the
    # connection's unsent bytes are back under the transport's low-water mark.
    replay_page_size: int = Field(100, ge=1, le=10_000)
    # Every this many seconds a gateway freezes its surviving objects out of the garbage
    # collector's full walks (gateway/gc_policy.py); 0 turns that off.
    gc_freeze_seconds: float = Field(1.0, ge=0)

    # Pipeline and clock
    max_attempts: int = Field(5, ge=1)
    notice_window_seconds: int = Field(300, ge=1)
    # Event pipeline: names prefixed (several pipelines on one broker), retries wait
    # base, 2 base, 4 base..., a worker's lock on an event expires after event_lock_seconds
    # (what a worker killed mid-batch delays its events by), the publisher buffers this many.
    amqp_prefix: str = Field("", pattern=r"^[\w.-]*$")
    retry_base_seconds: float = Field(1.0, gt=0)
    event_lock_seconds: float = Field(30.0, gt=0)
    # How long a worker remembers an event as applied: a redelivery within it is skipped. The
    # outbox relay and RabbitMQ redeliver within minutes; each event costs a key per queue.
    dedup_seconds: float = Field(86_400.0, ge=3600)
    event_buffer: int = Field(10_000, ge=1)
    # Events of acknowledged shares and likes wait in their party's outbox until a relay hands
    # them to the queue; past this many waiting in one party, its shares and likes are refused.
    outbox_max_depth: int = Field(10_000, ge=1)
    # A relay looks for new entries this often when idle; another relay's entries not done
    # after relay_claim_seconds (it died) are taken over.
    relay_poll_ms: float = Field(100.0, gt=0, le=10_000)
    relay_claim_seconds: float = Field(15.0, gt=0)
    reminder_minutes: int = Field(15, ge=0)
    # A party's history, likes and leaderboards are kept this long after it ends (its record
    # and counters stay).
    retention_days: float = Field(7.0, gt=0)

    # Archive (docs/archive.md): every event as Parquet, `file:///path` or `s3://bucket/prefix`;
    # empty means `archive` in the data folder. The S3 endpoint overrides AWS's (a local S3).
    data_dir: Path = Path("data")
    archive_url: str = ""
    archive_s3_endpoint: str = ""
    # A party's batch is written once it holds archive_batch_events, its oldest event waited
    # archive_batch_seconds, or the party ended; at most archive_max_events wait unwritten
    # (unacknowledged) in one worker, which bounds its memory.
    archive_batch_events: int = Field(10_000, ge=1)
    archive_batch_seconds: float = Field(60.0, gt=0)
    archive_max_events: int = Field(20_000, ge=1)

    # Per-user bounds: each follow is an SNS topic subscription per device (AWS's default
    # quota is 100,000 topics), each device an SNS endpoint.
    max_follows_per_user: int = Field(200, ge=1)
    max_devices_per_user: int = Field(10, ge=1)
    # Open WebSockets per user over every gateway: a phone and a few tabs.
    max_connections_per_user: int = Field(5, ge=1)

    # SNS push (PARTY_PUSH_URL sns://REGION or http(s)://local-endpoint). Platform applications
    # by ARN; when empty, one named party-engine-apns / party-engine-fcm is created at start.
    sns_apns_app_arn: str = ""
    sns_fcm_app_arn: str = ""
    # Direct publishes in flight at once (also the HTTP connection pool size of the client).
    push_concurrency: int = Field(32, ge=1, le=1000)
    # The start push in waves (docs/scheduler-and-push.md): a theme's followers fall into this
    # many shards (an SNS topic each: themes x shards topics; changing it moves users to new
    # topics, so fix it per deployment), one wave per shard, spaced so that no more followers
    # are notified per second than the gateways take in joins, the last wave at most
    # push_wave_bound_seconds after the first (past that, the waves come closer; 0 sends every
    # wave at the start).
    push_shards: int = Field(32, ge=1, le=256)
    push_wave_joins_per_second: float = Field(2000.0, gt=0)
    push_wave_bound_seconds: float = Field(60.0, ge=0, le=3600)

    @model_validator(mode="after")
    def _the_archive_is_a_folder_or_a_bucket(self) -> "Settings":
        if not self.archive_url:
            self.archive_url = (self.data_dir / "archive").resolve().as_uri()
        if urlsplit(self.archive_url).scheme not in ("file", "s3"):
            raise ValueError(
                f"PARTY_ARCHIVE_URL must be file:///path or s3://bucket/prefix; "
                f"got {self.archive_url!r}"
            )
        if self.archive_max_events < self.archive_batch_events:
            raise ValueError("PARTY_ARCHIVE_MAX_EVENTS must be at least PARTY_ARCHIVE_BATCH_EVENTS")
        return self

    @model_validator(mode="after")
    def _the_drain_fits_the_shutdown(self) -> "Settings":
        if self.drain_seconds >= self.shutdown_seconds:
            raise ValueError(
                f"PARTY_DRAIN_SECONDS ({self.drain_seconds:g}) must be less than "
                f"PARTY_SHUTDOWN_SECONDS ({self.shutdown_seconds:g}): the drain is part of it"
            )
        return self

    @model_validator(mode="after")
    def _a_wave_is_held_within_its_lock(self) -> "Settings":
        # A push wave due within the first retry delay is held by the worker until it is due,
        # under its event lock (workers/party_push.py).
        if self.retry_base_seconds >= self.event_lock_seconds / 2:
            raise ValueError(
                f"PARTY_RETRY_BASE_SECONDS ({self.retry_base_seconds:g}) must be less than half "
                f"of PARTY_EVENT_LOCK_SECONDS ({self.event_lock_seconds:g})"
            )
        return self

    @model_validator(mode="after")
    def _the_dev_secret_stays_on_a_laptop(self) -> "Settings":
        # Anyone can sign a host token with the well-known secret: refuse it wherever a
        # stranger could reach the server or its data is shared.
        if self.jwt_secret != DEV_JWT_SECRET:
            return self
        if not self.is_embedded:
            raise ValueError("PARTY_JWT_SECRET must be set when any backend is not memory://")
        if not _is_loopback(self.host):
            raise ValueError(
                f"PARTY_JWT_SECRET must be set when PARTY_HOST ({self.host}) is not loopback"
            )
        return self

    @property
    def token_rules(self) -> TokenRules:
        return TokenRules(
            secret=self.jwt_secret,
            issuer=self.jwt_issuer or None,
            audience=self.jwt_audience or None,
            leeway_seconds=self.jwt_leeway_seconds,
        )

    @property
    def is_embedded(self) -> bool:
        return all(is_embedded(url) for url in (self.redis_url, self.amqp_url, self.push_url))


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:  # a host name: it may resolve anywhere
        return False


def is_embedded(url: str) -> bool:
    """Whether a backend URL names the in-process implementation (memory://)."""
    return urlsplit(url).scheme == "memory"


def describe_error(error: ValidationError) -> str:
    """One line per bad setting, naming the environment variable a user has to fix."""
    lines = []
    for item in error.errors():
        name = "_".join(str(part) for part in item["loc"]).upper()
        message = item["msg"].removeprefix("Value error, ")
        lines.append(f"PARTY_{name}: {message}" if name else message)
    return "; ".join(lines)
