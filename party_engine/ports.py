"""The interfaces the backends implement.

Each port has exactly two implementations, picked by URL scheme in settings: the embedded
in-process one (memory://) and the production one. One contract test suite runs against both.
"""

from collections.abc import Awaitable, Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Protocol

from .domain.devices import Device, Platform, SentNotice
from .domain.events import DomainEvent, HostShareEvent, LikeCreated, ShareCreated
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

    async def get_parties(self, party_ids: list[str]) -> dict[str, Party]:
        """Those of the parties that exist, by id, in one round trip."""

    async def save_party(self, party: Party) -> Party:
        """Replace a party if nobody saved it since `party.version` was read.

        Returns the party with its version bumped; raises domain.errors.Conflict otherwise.
        """

    async def list_parties(self, query: PartyQuery) -> PartyPage:
        """Parties soonest first (by starts_at, then id)."""

    async def due_parties(self, now: datetime, limit: int = 100) -> list[Party]:
        """Scheduled parties whose start has come and live parties whose end has come."""

    async def changed_parties(self, since: datetime, limit: int = 100) -> list[Party]:
        """Parties whose latest state change (going live, ending, being cancelled) happened at
        or after `since`, oldest change first (the clock re-announces recent transitions).
        Changes are kept at least a day."""


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
    """Carries domain events to the workers (RabbitMQ, or in-process queues when embedded):
    the lifecycle events; those of shares and likes go through the outbox and the relay."""

    def has_room(self) -> bool:
        """Whether the buffer takes more events now (a caller asks before it promises an event
        will be handed over; the relay's embedded sink does)."""

    async def publish(self, event: DomainEvent) -> None:
        """Accept an event for delivery. Once this returns the event is never lost.

        Raises BackendUnavailable only when the buffer is far past full (callers that checked
        has_room() just before may overshoot it a little).
        """

    async def flush(self) -> None:
        """Return once every event accepted so far is handed over (RabbitMQ confirmed it; at
        once for the in-process queue): a worker that publishes events settles its own after."""


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

    async def notify_shard(
        self, theme: Theme, shard: int, followers: list[str], notification: Notification
    ) -> None:
        """Send to the theme's followers in one shard (`domain.push_waves.shard_of`), given as
        `followers`: one publish to the shard's topic (whose subscribers are their devices),
        or, embedded, a notice recorded for each of them."""

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
    picks: frozenset[int] = frozenset()  # the host's current picks (share offsets)


@dataclass(frozen=True, slots=True)
class HistoryPage:
    """Publications after a position (at most a page of them), and where the stream stood
    when they were read."""

    position: StreamPosition
    publications: list[Publication]


class ShareNotFound(Exception):
    """A like names an offset that is not a share of this party."""


class Muted(Exception):
    """The host muted this user in this party: their shares and likes are refused."""


class NothingToChange(Exception):
    """A host action that would change nothing: a pick of a picked share, an unpick of one
    not picked, an unmute of a user not muted."""


class HostAction(StrEnum):
    """What a host or co-host does to a live party; each is an event of the party's stream
    (its item kind on the wire: protocol.HOST_ITEM_KINDS)."""

    PICK = "pick"
    UNPICK = "unpick"
    REMOVE = "remove"
    MUTE = "mute"
    UNMUTE = "unmute"

    @property
    def on_share(self) -> bool:
        return self in (HostAction.PICK, HostAction.UNPICK, HostAction.REMOVE)


class OutboxFull(BackendUnavailable):
    """A party's outbox holds its maximum of events not yet relayed (the event queue is away
    or slow); the share or like was refused before anything of it was written."""


# The fields of a share's or like's event the broker fills in when it assigns the offset.
UNASSIGNED_OFFSET = 0
UNASSIGNED_LISTING = ""


@dataclass(frozen=True, slots=True)
class IdempotencyKey:
    """A client's key for one share or like: a resend by the same user with the same key into
    the same party is answered with the first offset."""

    user_id: str
    key: str


@dataclass(frozen=True, slots=True)
class PublishedLike:
    """A like that counted, and the listing of the share it likes (for the workers)."""

    publication: Publication
    listing_id: str


class Broker(Backend, Protocol):
    """Per-party offsets, bounded history and fan-out across gateways (Redis pub/sub, or in
    process when embedded)."""

    async def publish_share(
        self,
        party_id: str,
        item: bytes,
        listing_id: str,
        *,
        event: ShareCreated | None = None,
        key: IdempotencyKey | None = None,
        user_id: str | None = None,
    ) -> Publication:
        """Give a share the party's next offset N, keep it in history and publish it, atomically.

        `item` is a compact JSON object without "offset" and "share"; the stored payload is the
        item with "offset":N,"share":N spliced in front. The share's listing is remembered for
        its likes. Raises ValueError for an item that is not a JSON object.

        In the same step `event` (its offset, UNASSIGNED, replaced by N) goes into the party's
        outbox, which the relay carries to the workers. OutboxFull, before anything is written,
        when the outbox holds its maximum. A `key` this user used before in this party returns
        the first share's offset (with an empty payload) and writes nothing. Muted, before
        anything is written, when the host muted `user_id` (the sharer) in this party."""

    async def publish_like(
        self,
        party_id: str,
        share_offset: int,
        user_id: str,
        item: bytes,
        *,
        event: LikeCreated | None = None,
        key: IdempotencyKey | None = None,
    ) -> PublishedLike | None:
        """Count one like of a share and publish it with "offset","share","likes" (the new
        total) spliced in front, atomically. None when this user already liked that share (a
        like is idempotent per user and share); ShareNotFound when it is not a share.

        `event` (offset and listing_id UNASSIGNED, filled in here) goes into the outbox in the
        same step; OutboxFull, Muted and `key` as for a share: a refused like leaves no
        trace."""

    async def publish_host_action(
        self,
        party_id: str,
        action: HostAction,
        target: str,
        item: bytes,
        *,
        mute_until_ms: int = 0,
        event: HostShareEvent | None = None,
    ) -> Publication:
        """Apply a host's action and publish it as the party's next event, atomically.

        `target` is a share's offset (pick, unpick, remove; "share" is spliced in after
        "offset") or a user id (mute, unmute). A removed share leaves the snapshot and the
        picks and can no longer be liked or picked. A mute lasts until `mute_until_ms` (Unix
        milliseconds; 0: as long as the stream) and makes publish_share / publish_like refuse
        that user with Muted. ShareNotFound when the target is no (longer a) share,
        NothingToChange (nothing written) when the action would change nothing.

        `event` (for an action on a share) goes into the outbox in the same step, its offset
        and listing_id (and a removal's sharer_id, likes and picked) filled in here."""

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

    async def retire(self, party_id: str, at: datetime) -> None:
        """Drop the party's whole stream (history, shares, likes) at `at`, its retention after
        it ends. A stream used after that starts over in a new epoch."""

    async def subscribe(self, party_id: str) -> StreamPosition:
        """Start delivering the party's publications and broadcasts to the handler. Every
        publication after the returned position is delivered, none at or before it."""

    async def unsubscribe(self, party_id: str) -> None: ...

    def set_handler(
        self,
        on_publication: Callable[[Publication], None],
        on_broadcast: Callable[[str, bytes], None],
        on_new_epoch: Callable[[str], None] | None = None,
    ) -> None:
        """Plain callbacks, called on the event loop: publications per party in offset order,
        without gaps or duplicates; broadcasts as (party_id, frame); `on_new_epoch(party_id)`
        before the first publication of a new epoch of a party it delivered before (the
        server lost the stream or its latest writes: what was delivered may name publications
        that no longer exist, so members resync). They must not block."""


# -- The outbox: events of acknowledged shares and likes, on their way to the workers ---------


@dataclass(frozen=True, slots=True)
class OutboxEntry:
    """One encoded domain event (backends/event_codec.py) in a party's outbox; `entry_id` is
    its position there, what `done` acknowledges."""

    party_id: str
    entry_id: str
    event: bytes


class Outbox(Backend, Protocol):
    """Per-party outboxes the broker writes in the same step as the stream (Redis streams with a
    consumer group, or in process when embedded). Relays take entries, hand them to the event
    queue and mark them done; an entry taken by a relay that dies is taken again by another
    after `claim_after_seconds`. Delivery is at least once: events carry their id."""

    async def parties(self) -> list[str]:
        """Parties whose outbox may hold entries (every party with one not done is listed)."""

    async def take(
        self, relay_id: str, party_ids: list[str], count: int, claim_after_seconds: float | None
    ) -> list[OutboxEntry]:
        """For this relay, per party: up to `count` entries nobody took yet, oldest first, and
        (unless `claim_after_seconds` is None) up to `count` taken more than that long ago
        and not done (their relay died, or could not deliver them)."""

    async def done(self, entries: list[OutboxEntry]) -> None:
        """The entries reached the event queue: remove them."""

    async def depth(self, party_id: str) -> int:
        """Entries in the party's outbox not done yet (taken or not)."""

    async def forget_idle(self, party_ids: list[str]) -> None:
        """These parties had nothing to take: stop listing those still empty and quiet for a
        while (a write meanwhile keeps a party listed)."""


class EventSink(Backend, Protocol):
    """Where the relay hands events: RabbitMQ with publisher confirms and `mandatory` (an event
    no queue takes is a failure), or the embedded queue."""

    async def deliver(self, events: list[bytes]) -> None:
        """Hand over encoded events (backends/event_codec.py); return once the queue holds every
        one of them, raise if it may not. A body that is no event is logged and skipped."""


# -- Archive ----------------------------------------------------------------------------------


class ArchiveStorage(Backend, Protocol):
    """Objects by key (`events/dt=.../party_id=.../x.parquet`): a folder or an S3 prefix."""

    async def put(self, key: str, data: bytes) -> None:
        """Store `data` under `key`, replacing any object there; durable once it returns."""

    async def get(self, key: str) -> bytes:
        """The object's bytes; KeyError when there is none."""

    async def keys(self, prefix: str) -> list[str]:
        """The keys that start with `prefix` (a folder-like prefix ending in "/"), sorted."""


# -- Presence ---------------------------------------------------------------------------------


class Presence(Backend, Protocol):
    """How many distinct users each party has over all gateways (Redis, or in process when
    embedded). Kept apart from the broker, as centrifuge keeps its PresenceManager.

    A user counts in a party while some gateway's latest report of them has not expired: one
    connected through two gateways counts once, and one whose gateway stops reporting (left,
    or crashed) drops out when the report expires."""

    async def report(
        self,
        present: Mapping[str, Collection[str]],
        left: Mapping[str, Collection[str]],
        *,
        ttl_seconds: float,
        left_ttl_seconds: float,
    ) -> None:
        """By party, the users present on this gateway (each counts for `ttl_seconds` from now,
        or longer if another report said so) and those who left it since its last report
        (each counts at most `left_ttl_seconds` more, unless a report names them present
        again; a user not counted is not added)."""

    async def totals(self, party_ids: list[str]) -> dict[str, int]:
        """Each party's count of users whose presence has not expired."""


class ConnectionRegistry(Backend, Protocol):
    """Each user's open connections over all gateways, to cap them (Redis, or in process when
    embedded). An entry expires unless its gateway renews it, so a crashed gateway's
    connections do not hold their user's slots for longer than the ttl."""

    async def register(
        self, connections: Sequence[tuple[str, str]], *, limit: int, ttl_seconds: float
    ) -> list[bool]:
        """Count each (user id, connection id), in order, for `ttl_seconds`, unless `limit`
        unexpired ones of its user are counted already; True for each counted (a connection
        counted before is counted again). One round trip for them all."""

    async def renew(
        self, connections: Mapping[str, Collection[str]], *, ttl_seconds: float
    ) -> None:
        """By user, connections still open: each counts for `ttl_seconds` from now (again, if
        it expired meanwhile: it is open, whatever the limit)."""

    async def unregister(self, connections: Sequence[tuple[str, str]]) -> None:
        """These (user id, connection id) closed: their slots are free at once. One round trip
        for them all."""


# -- the event pipeline's consuming side (workers) ---------------------------------------------

BatchHandler = Callable[[list[DomainEvent]], Awaitable[set[str]]]
"""Applies a batch of events; returns the ids of those to deliver again later (another worker
holds them). Raising fails the batch: each event is then tried alone, and those that fail again
are retried with growing delay, then parked as dead."""


class Held(Protocol):
    """A delivery its receiver settles later (the archive holds a batch until it is written)."""

    @property
    def event(self) -> DomainEvent: ...

    async def ack(self) -> None:
        """Done: remove it from the queue."""


HeldReceiver = Callable[[Held], None]
"""Takes a held delivery; it must not block (the consumer calls it for every delivery)."""


class EventConsumer(Backend, Protocol):
    """Delivers the events bound to a worker queue (at least once) to its handler."""

    async def consume(self, queue: str, handler: BatchHandler) -> None:
        """Start delivering to `handler` in batches. close() stops taking new deliveries,
        finishes the batch in hand and returns the rest to the queue."""

    async def hold(self, queue: str, receiver: HeldReceiver, *, limit: int) -> None:
        """Start delivering one by one to `receiver`, which settles each when done with it;
        at most `limit` are unsettled at a time (RabbitMQ's prefetch), which bounds the
        receiver's memory. Unreadable bodies are parked as for consume(). close() stops;
        what is unsettled then goes back to the queue (RabbitMQ) or is lost (embedded)."""


class Claim(StrEnum):
    FRESH = "fresh"  # locked for this worker: apply it, then mark it done
    DONE = "done"  # applied before: acknowledge and skip
    BUSY = "busy"  # locked by another worker (or one that died): try again later


class Board(StrEnum):
    LISTINGS = "listings"  # ranked by shares + likes
    SHARERS = "sharers"  # ranked by shares made
    PICKS = "picks"  # sellers, ranked by the host's picks of their listings


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
    """A worker's lock on an event expired before its work was committed; nothing of that
    event's party was applied, and its events are tried again."""


@dataclass(frozen=True, slots=True)
class EventRef:
    """An event as the ledger knows it: its party (whose Redis Cluster slot holds the event's
    lock and done-mark, beside the party's counters) and its id."""

    party_id: str
    event_id: str

    @classmethod
    def of(cls, event: DomainEvent) -> "EventRef":
        return cls(event.party_id, event.id)


class Ledger(Backend, Protocol):
    """Idempotency locks by event id, and the party counters the workers keep (Redis, or
    memory when embedded). Locks and done-marks are per worker queue: each queue's handler
    applies an event once."""

    async def claim(self, queue: str, events: list[EventRef], ttl_seconds: float) -> list[Claim]:
        """Take a lock (SET NX with a TTL) on each event not done yet; one answer per event."""

    async def release(self, queue: str, events: list[EventRef]) -> None:
        """Drop the locks of events whose work failed, so a retry can take them."""

    async def mark_done(self, queue: str, events: list[EventRef]) -> None: ...

    async def commit_tally(self, queue: str, events: list[EventRef], tally: Tally) -> None:
        """Add `tally` to the counters and mark the events done, party by party: each party's
        part of the tally and its events' done-marks land together or not at all. A party with
        an event no longer locked by this ledger gets nothing applied, and LockLost is raised
        once every other party's part is in (marked done, so a redelivery skips exactly those).
        Every party in `tally` must have an event in `events` (ValueError otherwise)."""

    async def party_stats(self, party_id: str) -> PartyStats:
        """The party's counters; they outlive its retention (a few small numbers a party)."""

    async def retire(self, party_id: str, at: datetime) -> None:
        """Drop the party's leaderboards at `at` (its retention after it ends)."""

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
