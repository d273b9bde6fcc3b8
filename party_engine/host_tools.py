"""What a host (and their co-hosts) do to a live party: pick, unpick and remove shares, mute
and unmute shoppers. Each action is checked here (who, which party, what) and applied by the
broker as an event of the party's stream, so every gateway's members see it in order, a
joiner in its snapshot, and a recovering client in its replay. The HTTP routes and the
gateway's pick frames both come through here."""

from datetime import datetime, timedelta

from . import protocol
from .clock import Clock
from .domain.errors import InvalidTransition, InvalidValue, NotFound
from .domain.events import HostShareEvent, SharePicked, ShareRemoved, ShareUnpicked
from .domain.ids import new_id
from .domain.parties import Party
from .ports import (
    UNASSIGNED_LISTING,
    UNASSIGNED_OFFSET,
    Broker,
    HostAction,
    NothingToChange,
    Publication,
    ShareNotFound,
    Store,
)

# The longest timed mute; longer ones are as good as "for the rest of the party".
MAX_MUTE_MINUTES = 24 * 60


class HostTools:
    def __init__(self, store: Store, broker: Broker, clock: Clock) -> None:
        self._store = store
        self._broker = broker
        self._clock = clock

    async def live_party(self, party_id: str, actor: str) -> Party:
        """The party, if `actor` may use the live tools on it now (NotFound, Forbidden,
        InvalidTransition otherwise)."""
        party = await self._store.get_party(party_id)
        if party is None:
            raise NotFound(f"no party {party_id}")
        party.ensure_moderator(actor)
        if not party.is_live:
            raise InvalidTransition(f"the party is {party.state.value}, not live")
        return party

    async def on_share(
        self, party: Party, actor: str, action: HostAction, share: int
    ) -> Publication:
        """Pick, unpick or remove a share of a party checked by `live_party`. NotFound for an
        offset that is not (any more) a share; NothingToChange as the broker says."""
        now = self._clock.now()
        item = protocol.encode_host_item(action.value, actor, now)
        event = _share_event(action, party.id, share, actor, now)
        try:
            return await self._broker.publish_host_action(
                party.id, action, str(share), item, event=event
            )
        except ShareNotFound:
            raise NotFound(f"no share at offset {share} in this party") from None

    async def share_action(
        self, party_id: str, actor: str, action: HostAction, share: int
    ) -> Publication:
        party = await self.live_party(party_id, actor)
        try:
            return await self.on_share(party, actor, action, share)
        except NothingToChange as nothing:
            raise InvalidTransition(str(nothing)) from None

    async def mute(
        self, party_id: str, actor: str, user_id: str, minutes: int | None
    ) -> tuple[Publication, datetime | None]:
        """Mute `user_id` for `minutes`, or for the rest of the party (None). A mute of a
        muted user replaces it."""
        party = await self.live_party(party_id, actor)
        if user_id == party.host_id or user_id in party.cohosts:
            raise InvalidValue("the host and co-hosts cannot be muted", "user_id", "path")
        now = self._clock.now()
        until = None if minutes is None else now + timedelta(minutes=minutes)
        item = protocol.encode_host_item(
            HostAction.MUTE.value, actor, now, target=user_id, until=until
        )
        until_ms = 0 if until is None else int(until.timestamp() * 1000)
        publication = await self._broker.publish_host_action(
            party.id, HostAction.MUTE, user_id, item, mute_until_ms=until_ms
        )
        return publication, until

    async def unmute(self, party_id: str, actor: str, user_id: str) -> Publication:
        party = await self.live_party(party_id, actor)
        item = protocol.encode_host_item(
            HostAction.UNMUTE.value, actor, self._clock.now(), target=user_id
        )
        try:
            return await self._broker.publish_host_action(
                party.id, HostAction.UNMUTE, user_id, item
            )
        except NothingToChange:
            raise InvalidTransition(f"{user_id} is not muted") from None

    async def add_cohost(self, party_id: str, owner: str, user_id: str) -> Party:
        party = await self._owned(party_id, owner)
        changed = party.add_cohost(user_id)
        return party if changed is party else await self._store.save_party(changed)

    async def remove_cohost(self, party_id: str, owner: str, user_id: str) -> Party:
        party = await self._owned(party_id, owner)
        if user_id not in party.cohosts:
            raise NotFound(f"{user_id} is no co-host of this party")
        return await self._store.save_party(party.remove_cohost(user_id))

    async def _owned(self, party_id: str, owner: str) -> Party:
        party = await self._store.get_party(party_id)
        if party is None:
            raise NotFound(f"no party {party_id}")
        party.ensure_owner(owner)
        return party


def _share_event(
    action: HostAction, party_id: str, share: int, actor: str, at: datetime
) -> HostShareEvent:
    """The event for the workers (counters, the seller's push); the broker fills in what it
    knows of the share (its offset, listing, and a removal's sharer, likes and pick)."""
    if action is HostAction.REMOVE:
        return ShareRemoved(
            new_id(), party_id, UNASSIGNED_OFFSET, share, UNASSIGNED_LISTING, "", 0, 0, actor, at
        )
    kind = SharePicked if action is HostAction.PICK else ShareUnpicked
    return kind(new_id(), party_id, UNASSIGNED_OFFSET, share, UNASSIGNED_LISTING, actor, at)
