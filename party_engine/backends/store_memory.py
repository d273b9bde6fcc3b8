"""The embedded store: the whole Store port in process memory, for one-process deployments."""

from dataclasses import replace
from datetime import datetime

from ..domain.errors import Conflict
from ..domain.listings import Listing
from ..domain.parties import Party, PartyState
from ..domain.themes import Theme
from ..ports import PartyPage, PartyQuery
from .embedded import InProcess
from .paging import Position, decode_cursor
from .records import theme_from_key


class MemoryStore(InProcess):
    def __init__(self) -> None:
        self._parties: dict[str, Party] = {}
        self._listings: dict[str, Listing] = {}
        self._follows: dict[str, set[str]] = {}
        self._followers: dict[str, set[str]] = {}

    async def create_party(self, party: Party) -> Party:
        if party.id in self._parties:
            raise Conflict(f"party {party.id} exists")
        stored = replace(party, version=1)
        self._parties[party.id] = stored
        return stored

    async def get_party(self, party_id: str) -> Party | None:
        return self._parties.get(party_id)

    async def get_parties(self, party_ids: list[str]) -> dict[str, Party]:
        return {i: self._parties[i] for i in party_ids if i in self._parties}

    async def save_party(self, party: Party) -> Party:
        current = self._parties.get(party.id)
        if current is None or current.version != party.version:
            raise Conflict(f"party {party.id} was changed by someone else")
        stored = replace(party, version=party.version + 1)
        self._parties[party.id] = stored
        return stored

    async def list_parties(self, query: PartyQuery) -> PartyPage:
        after = decode_cursor(query.cursor) if query.cursor else None
        ordered = sorted(self._parties.values(), key=lambda p: (p.starts_at.timestamp(), p.id))
        items: list[Party] = []
        for party in ordered:
            if after and after.is_before_or_at(party.starts_at.timestamp(), party.id):
                continue
            if query.state and party.state is not query.state:
                continue
            if query.theme and party.theme.key != query.theme.key:
                continue
            if len(items) == query.limit:
                last = items[-1]
                return PartyPage(items, Position(last.starts_at.timestamp(), last.id).encode())
            items.append(party)
        return PartyPage(items, None)

    async def due_parties(self, now: datetime, limit: int = 100) -> list[Party]:
        due = [
            party
            for party in self._parties.values()
            if (party.state is PartyState.SCHEDULED and party.starts_at <= now)
            or (party.state is PartyState.LIVE and party.ends_at <= now)
        ]
        due.sort(key=_deadline)
        return due[:limit]

    async def changed_parties(self, since: datetime, limit: int = 100) -> list[Party]:
        changed = [
            party
            for party in self._parties.values()
            if party.changed_at is not None and party.changed_at >= since
        ]
        changed.sort(key=lambda p: (p.changed_at or since, p.id))
        return changed[:limit]

    async def create_listing(self, listing: Listing) -> None:
        self._listings[listing.id] = listing

    async def get_listing(self, listing_id: str) -> Listing | None:
        return self._listings.get(listing_id)

    async def follow(self, user_id: str, theme: Theme) -> None:
        self._follows.setdefault(user_id, set()).add(theme.key)
        self._followers.setdefault(theme.key, set()).add(user_id)

    async def unfollow(self, user_id: str, theme: Theme) -> None:
        self._follows.get(user_id, set()).discard(theme.key)
        self._followers.get(theme.key, set()).discard(user_id)

    async def follows(self, user_id: str) -> list[Theme]:
        return [theme_from_key(key) for key in sorted(self._follows.get(user_id, ()))]

    async def followers(self, theme: Theme) -> list[str]:
        return sorted(self._followers.get(theme.key, ()))


def _deadline(party: Party) -> tuple[datetime, str]:
    """What the clock waits for next: the start of a scheduled party, the end of a live one."""
    return (party.starts_at if party.state is PartyState.SCHEDULED else party.ends_at, party.id)
