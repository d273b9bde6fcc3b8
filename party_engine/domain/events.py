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


DomainEvent = ShareCreated | LikeCreated | PartyStarted | PartyEnded | PartyReminder
