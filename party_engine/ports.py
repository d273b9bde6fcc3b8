"""The interfaces the backends implement.

Each port has exactly two implementations, picked by URL scheme in settings: the embedded
in-process one (memory://) and the production one. One contract test suite runs against both.
"""

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from .domain.events import DomainEvent
from .domain.listings import Listing
from .domain.parties import Party, PartyState
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
