"""The interfaces the backends implement.

Each port has exactly two implementations, picked by URL scheme in settings: the embedded
in-process one (memory://) and the production one. One contract test suite runs against both.
"""

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Protocol

from .domain.devices import Device, Platform, SentNotice
from .domain.events import DomainEvent
from .domain.listings import Listing
from .domain.parties import Party, PartyState
from .domain.tallies import Tally
from .domain.themes import Theme


class Backend(Protocol):
    """Lifecycle every backend shares."""

    async def connect(self) -> None: ...

    async def close(self) -> None: ...

    async def ping(self) -> None:
        """Return when the backend answers; raise when it does not."""


@dataclass(frozen=True, slots=True)
class PartyQuery:
    state: PartyState | None = None
    theme: Theme | None = None
    limit: int = 50
    # Opaque position returned by the previous page.
    cursor: str | None = None


@dataclass(frozen=True, slots=True)
class PartyPage:
    items: list[Party]
    next_cursor: str | None


class PartyStore(Protocol):
    async def create_party(self, party: Party) -> Party:
        """Store a new party; it comes back with version 1."""

    async def get_party(self, party_id: str) -> Party | None: ...

    async def save_party(self, party: Party) -> Party:
        """Replace a party if nobody saved it since `party.version` was read.

        Returns the party with its version bumped; raises domain.errors.Conflict otherwise.
        """

    async def list_parties(self, query: PartyQuery) -> PartyPage:
        """Parties soonest first (by starts_at, then id)."""

    async def due_parties(self, now: datetime, limit: int = 100) -> list[Party]:
        """Scheduled parties whose start has come and live parties whose end has come."""


class ListingStore(Protocol):
    async def create_listing(self, listing: Listing) -> None: ...

    async def get_listing(self, listing_id: str) -> Listing | None: ...


class FollowStore(Protocol):
    async def follow(self, user_id: str, theme: Theme) -> None: ...

    async def unfollow(self, user_id: str, theme: Theme) -> None: ...

    async def follows(self, user_id: str) -> list[Theme]:
        """The themes a user follows, with normalised values, sorted."""

    async def followers(self, theme: Theme) -> list[str]: ...


class Store(Backend, PartyStore, ListingStore, FollowStore, Protocol):
    """Everything the engine keeps: one Redis (or the embedded store) serves it all."""


class BackendUnavailable(Exception):
    """A backend cannot take more work right now; the caller refuses instead of losing it."""


class EventPublisher(Backend, Protocol):
    """Carries domain events to the workers (RabbitMQ, or in-process queues when embedded)."""

    def has_room(self) -> bool:
        """Whether the buffer takes more events now. The gateway asks before it accepts a share,
        so that a share it acknowledges can always be handed over."""

    async def publish(self, event: DomainEvent) -> None:
        """Accept an event for delivery. Once this returns the event is never lost.

        Raises BackendUnavailable only when the buffer is far past full (callers that checked
        has_room() just before may overshoot it a little).
        """


@dataclass(frozen=True, slots=True)
class Notification:
    """A push message, platform-neutral; `data` carries deep-link fields such as party_id."""

    title: str
    body: str
    data: dict[str, str]


class Push(Backend, Protocol):
    """Mobile push (SNS in production; recorded in process and readable over the API when
    embedded). Device registration and theme topics are part of this port too."""

    async def notify_user(self, user_id: str, notification: Notification) -> None:
        """Send to every device of one user."""

    async def notify_theme(self, theme: Theme, notification: Notification) -> None:
        """Send to everyone following a theme (one topic publish)."""

    async def register_device(self, user_id: str, platform: Platform, token: str) -> Device:
        """Register (idempotent per token) and subscribe the device to the user's themes.
        Raises InvalidValue for a bad token."""

    async def devices(self, user_id: str) -> list[Device]: ...

    async def remove_device(self, user_id: str, device_id: str) -> None:
        """Unsubscribe and forget a device; NotFound unless it is this user's."""

    async def follow(self, user_id: str, theme: Theme) -> None:
        """The user now follows `theme` (already saved in the store): subscribe their devices."""

    async def unfollow(self, user_id: str, theme: Theme) -> None: ...

    async def notices(self, user_id: str, limit: int = 50) -> list[SentNotice]:
        """What was pushed to the user, newest first (embedded push records every push)."""


class Lease(Backend, Protocol):
    """Leadership among replicas of one role (the party clock): at most one holder at a time,
    for as long as it keeps renewing."""

    async def hold(self) -> bool:
        """Acquire the lease, or renew it if held. True while this holder leads; any failure
        (Redis down, lease taken over) returns False, and the caller must stop acting."""

    async def release(self) -> None:
        """Give the lease up (if held) so that another replica takes over at once."""


class ReminderLedger(Backend, Protocol):
    """Which party reminders went out, shared by every clock replica."""

    async def claim(self, party_id: str, starts_at: datetime) -> bool:
        """True for the first claim of the reminder of this party at this start time; a party
        moved to a new start gets a new reminder."""


class DeviceStore(Backend, Protocol):
    """Device records, their theme subscriptions and recorded notices; kept where the store is
    (Redis, or memory when embedded)."""

    async def save_device(self, device: Device) -> None:
        """Insert or replace by id (the token index follows the new token)."""

    async def get_device(self, device_id: str) -> Device | None: ...

    async def device_by_token(self, platform: Platform, token: str) -> Device | None: ...

    async def devices(self, user_id: str) -> list[Device]:
        """A user's devices, oldest first."""

    async def remove_device(self, device_id: str) -> None:
        """Forget a device and its subscriptions (no-op when unknown)."""

    async def set_subscription(self, device_id: str, theme: Theme, subscription: str) -> None: ...

    async def pop_subscription(self, device_id: str, theme: Theme) -> str | None: ...

    async def subscriptions(self, device_id: str) -> dict[str, str]:
        """Theme key -> subscription id, for every theme the device is subscribed to."""

    async def record_notice(self, user_ids: list[str], notice: SentNotice) -> None:
        """Append a notice to each user's bounded log."""

    async def notices(self, user_id: str, limit: int = 50) -> list[SentNotice]:
        """Newest first."""


# -- Fan-out and history (the broker) ---------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StreamPosition:
    """Where a party's stream stands: the last offset, in the stream's epoch. The epoch changes
    only when the stream was lost (e.g. Redis lost its data), so offsets of one epoch never
    mean anything in another."""

    offset: int
    epoch: str


@dataclass(frozen=True, slots=True)
class Publication:
    """One event of a party's stream. `payload` is one ready-to-send `events` item: a JSON
    object whose first key is "offset" (b'{"offset":17,"share":17,"kind":"share",...}')."""

    party_id: str
    offset: int
    payload: bytes


@dataclass(frozen=True, slots=True)
class Snapshot:
    """What a client needs when it cannot recover: the latest shares (payloads, oldest first),
    the like count of each of those shares, and the position they are consistent with."""

    position: StreamPosition
    shares: list[bytes]
    likes: dict[int, int]


@dataclass(frozen=True, slots=True)
class HistoryPage:
    """Publications after a position (at most a page of them), and where the stream stood
    when they were read."""

    position: StreamPosition
    publications: list[Publication]


class ShareNotFound(Exception):
    """A like names an offset that is not a share of this party."""


@dataclass(frozen=True, slots=True)
class PublishedLike:
    """A like that counted, and the listing of the share it likes (for the workers)."""

    publication: Publication
    listing_id: str


class Broker(Backend, Protocol):
    """Per-party offsets, bounded history and fan-out across gateways (Redis pub/sub, or in
    process when embedded)."""

    async def publish_share(self, party_id: str, item: bytes, listing_id: str) -> Publication:
        """Give a share the party's next offset N, keep it in history and publish it, atomically.

        `item` is a compact JSON object without "offset" and "share"; the stored payload is the
        item with "offset":N,"share":N spliced in front. The share's listing is remembered for
        its likes. Raises ValueError for an item that is not a JSON object."""

    async def publish_like(
        self, party_id: str, share_offset: int, user_id: str, item: bytes
    ) -> PublishedLike | None:
        """Count one like of a share and publish it with "offset","share","likes" (the new
        total) spliced in front, atomically. None when this user already liked that share (a
        like is idempotent per user and share); ShareNotFound when it is not a share."""

    async def broadcast(self, party_id: str, frame: bytes) -> None:
        """Hand an encoded server frame to every gateway's subscribers of the party; not kept in
        history, no offset."""

    async def position(self, party_id: str) -> StreamPosition:
        """The party's current position (the stream, and its epoch, start here if new)."""

    async def history_since(
        self, party_id: str, since: StreamPosition, limit: int
    ) -> HistoryPage | None:
        """The first `limit` publications after `since`, in order, with the position read
        together with them; None when they cannot all be given (another epoch, an offset in
        the future, or some of them already trimmed). A page with fewer than `limit` ends at
        that position; a longer replay asks again from the page's last offset. At least the
        latest `history_size` publications are always kept."""

    async def snapshot(self, party_id: str, shares: int = 50, max_bytes: int = ...) -> Snapshot:
        """The latest `shares` shares, fewer when more would weigh over `max_bytes` (their
        payloads together; by default broker_shared.SNAPSHOT_MAX_BYTES)."""

    async def subscribe(self, party_id: str) -> StreamPosition:
        """Start delivering the party's publications and broadcasts to the handler. Every
        publication after the returned position is delivered, none at or before it."""

    async def unsubscribe(self, party_id: str) -> None: ...

    def set_handler(
        self,
        on_publication: Callable[[Publication], None],
        on_broadcast: Callable[[str, bytes], None],
    ) -> None:
        """Plain callbacks, called on the event loop: publications per party in offset order,
        without gaps or duplicates; broadcasts as (party_id, frame). They must not block."""


# -- Presence ---------------------------------------------------------------------------------


class Presence(Backend, Protocol):
    """How many participants each party has over all gateways (Redis, or in process when
    embedded). Kept apart from the broker, as centrifuge keeps its PresenceManager."""

    async def report(self, gateway_id: str, counts: dict[str, int], ttl_seconds: float) -> None:
        """Replace this gateway's participant counts by party: a party missing from `counts`
        (or counted 0) no longer counts for this gateway. Counts expire after the ttl unless
        the gateway reports again."""

    async def totals(self, party_ids: list[str]) -> dict[str, int]:
        """Each party's count summed over every gateway whose latest report is still alive."""


# -- the event pipeline's consuming side (workers) ---------------------------------------------

BatchHandler = Callable[[list[DomainEvent]], Awaitable[set[str]]]
"""Applies a batch of events; returns the ids of those to deliver again later (another worker
holds them). Raising fails the batch: each event is then tried alone, and those that fail again
are retried with growing delay, then parked as dead."""


class EventConsumer(Backend, Protocol):
    """Delivers the events bound to a worker queue (at least once) to its handler."""

    async def consume(self, queue: str, handler: BatchHandler) -> None:
        """Start delivering to `handler` in batches. close() stops taking new deliveries,
        finishes the batch in hand and returns the rest to the queue."""


class Claim(StrEnum):
    FRESH = "fresh"  # locked for this worker: apply it, then mark it done
    DONE = "done"  # applied before: acknowledge and skip
    BUSY = "busy"  # locked by another worker (or one that died): try again later


class Board(StrEnum):
    LISTINGS = "listings"  # ranked by shares + likes
    SHARERS = "sharers"  # ranked by shares made


@dataclass(frozen=True, slots=True)
class PartyStats:
    shares: int
    likes: int
    listings: int  # distinct listings shared or liked
    sharers: int  # distinct sharers


@dataclass(frozen=True, slots=True)
class Ranked:
    id: str
    score: int


class LockLost(Exception):
    """A worker's lock on an event expired before its work was committed; nothing was applied
    and the event is tried again."""


class Ledger(Backend, Protocol):
    """Idempotency locks by event id, and the party counters the workers keep (Redis, or
    memory when embedded). Locks and done-marks are per worker queue: each queue's handler
    applies an event once."""

    async def claim(self, queue: str, event_ids: list[str], ttl_seconds: float) -> list[Claim]:
        """Take a lock (SET NX with a TTL) on each id not done yet; one answer per id."""

    async def release(self, queue: str, event_ids: list[str]) -> None:
        """Drop the locks of events whose work failed, so a retry can take them."""

    async def mark_done(self, queue: str, event_ids: list[str]) -> None: ...

    async def commit_tally(self, queue: str, event_ids: list[str], tally: Tally) -> None:
        """Add `tally` to the counters and mark the events done, all or nothing; raises
        LockLost (and applies nothing) unless every event is still locked by this ledger."""

    async def party_stats(self, party_id: str) -> PartyStats: ...

    async def leaderboard(self, party_id: str, board: Board, limit: int) -> list[Ranked]:
        """Highest score first; equal scores by id, descending (Redis's order)."""


@dataclass(frozen=True, slots=True)
class DueNotice:
    party_id: str
    seller_id: str
    shares: int  # shares counted since the last notice


class NoticeBook(Backend, Protocol):
    """Coalesces seller notices: at most one per seller per party per window. The first share
    sends at once and opens a window; shares inside it are counted, and one summary goes when
    it closes (which opens the next window). Kept where PARTY_REDIS_URL points."""

    async def note_share(
        self, party_id: str, seller_id: str, event_id: str, now: float, window_seconds: float
    ) -> bool:
        """Count one share; True when the caller sends a notice now. Asked again for the same
        event id, it gives the same answer and counts nothing."""

    async def take_due(self, now: float, lease_seconds: float, limit: int = 100) -> list[DueNotice]:
        """Windows closed with shares counted. Each is leased: nobody else gets it until
        `lease_seconds` pass, so a sweeper that dies before settle() only delays it."""

    async def settle(self, notice: DueNotice, now: float, window_seconds: float) -> None:
        """The summary for `notice` was sent: subtract its shares and open the next window."""
