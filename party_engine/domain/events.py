"""Domain events: what happened in a party, carried to the workers by the event queue.

Every event has a unique `id` (workers deduplicate on it) and names its routing key.
"""

from dataclasses import dataclass
from datetime import datetime
from typing import ClassVar


@dataclass(frozen=True, slots=True)
class ShareCreated:
    routing_key: ClassVar[str] = "share.created"
    id: str
    party_id: str
    offset: int
    listing_id: str
    seller_id: str
    sharer_id: str
    at: datetime


@dataclass(frozen=True, slots=True)
class LikeCreated:
    routing_key: ClassVar[str] = "like.created"
    id: str
    party_id: str
    offset: int
    share_offset: int
    listing_id: str
    liker_id: str
    at: datetime


@dataclass(frozen=True, slots=True)
class SharePicked:
    """The host or a co-host picked a share (`offset` is the pick's own event)."""

    routing_key: ClassVar[str] = "share.picked"
    id: str
    party_id: str
    offset: int
    share_offset: int
    listing_id: str
    picker_id: str
    at: datetime


@dataclass(frozen=True, slots=True)
class ShareUnpicked:
    routing_key: ClassVar[str] = "share.unpicked"
    id: str
    party_id: str
    offset: int
    share_offset: int
    listing_id: str
    picker_id: str
    at: datetime


@dataclass(frozen=True, slots=True)
class ShareRemoved:
    """A share was removed: what it had added to the counters is taken back. `likes` is its
    like count when removed (no like counts after that), `picked` 1 if it was picked."""

    routing_key: ClassVar[str] = "share.removed"
    id: str
    party_id: str
    offset: int
    share_offset: int
    listing_id: str
    sharer_id: str
    likes: int
    picked: int
    remover_id: str
    at: datetime


@dataclass(frozen=True, slots=True)
class PartyStarted:
    routing_key: ClassVar[str] = "party.started"
    id: str
    party_id: str
    at: datetime


@dataclass(frozen=True, slots=True)
class PartyEnded:
    routing_key: ClassVar[str] = "party.ended"
    id: str
    party_id: str
    at: datetime


@dataclass(frozen=True, slots=True)
class PartyReminder:
    routing_key: ClassVar[str] = "party.reminder"
    id: str
    party_id: str
    at: datetime


@dataclass(frozen=True, slots=True)
class PushWave:
    """Wave `wave` of a party's start push (`kind` party.started), to be sent at `due`."""

    routing_key: ClassVar[str] = "push.wave"
    id: str
    party_id: str
    kind: str
    wave: int
    due: datetime
    at: datetime


@dataclass(frozen=True, slots=True)
class PartyJoined:
    """A session joined the party (one per session: a user on two phones joins twice). Sent
    to the archive only, from a gateway's buffer: see docs/archive.md for what may be lost."""

    routing_key: ClassVar[str] = "party.joined"
    id: str
    party_id: str
    user_id: str
    at: datetime


@dataclass(frozen=True, slots=True)
class PushSent:
    """A wave of a push went out: `notified` followers were addressed, `failed` were not (their
    shard's publish was refused). A reminder is one wave, 0."""

    routing_key: ClassVar[str] = "push.sent"
    id: str
    party_id: str
    kind: str
    wave: int
    notified: int
    failed: int
    at: datetime


@dataclass(frozen=True, slots=True)
class PartyLeft:
    """A session left the party (a `leave` frame, or its connection closed)."""

    routing_key: ClassVar[str] = "party.left"
    id: str
    party_id: str
    user_id: str
    at: datetime


DomainEvent = (
    ShareCreated
    | LikeCreated
    | SharePicked
    | ShareUnpicked
    | ShareRemoved
    | PartyStarted
    | PartyEnded
    | PartyReminder
    | PushWave
    | PushSent
    | PartyJoined
    | PartyLeft
)
# What a host's action on a share tells the workers (its offset and listing filled in by the
# broker, and a removal's sharer, likes and picked).
HostShareEvent = SharePicked | ShareUnpicked | ShareRemoved
