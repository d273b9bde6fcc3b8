"""A host's tools during a live party: co-hosts, picks, removals and mutes (host_tools.py).

The host names co-hosts; the host and co-hosts pick shares, remove them and mute shoppers.
Each action is an event of the party's stream, seen live by every member."""

from typing import Annotated

from fastapi import APIRouter, Query, status

from ..host_tools import MAX_MUTE_MINUTES
from ..ports import HostAction
from .auth import Host, User
from .deps import EngineDep
from .models import HostActionOut, MuteOut, PartyOut, PickIn
from .params import Offset, PartyId, UserId
from .problems import documented

router = APIRouter(prefix="/parties/{party_id}", tags=["host tools"])


@router.put("/cohosts/{user_id}", responses=documented(401, 403, 404, 409, 422))
async def add_cohost(party_id: PartyId, user_id: UserId, host: Host, engine: EngineDep) -> PartyOut:
    """Name a co-host: they may pick, remove and mute, but not edit, cancel or end the party.
    Naming one twice changes nothing; 409 past the most a party may have."""
    return PartyOut.of(await engine.host_tools.add_cohost(party_id, host.user_id, user_id))


@router.delete("/cohosts/{user_id}", responses=documented(401, 403, 404, 409, 422))
async def remove_cohost(
    party_id: PartyId, user_id: UserId, host: Host, engine: EngineDep
) -> PartyOut:
    return PartyOut.of(await engine.host_tools.remove_cohost(party_id, host.user_id, user_id))


@router.post(
    "/picks",
    status_code=status.HTTP_201_CREATED,
    responses=documented(400, 401, 403, 404, 409, 422),
)
async def pick(party_id: PartyId, body: PickIn, user: User, engine: EngineDep) -> HostActionOut:
    """Pick a share of a live party (host or co-host): every member sees a `pick` event.
    404 when the offset is not a share (or a removed one), 409 when it is picked already."""
    publication = await engine.host_tools.share_action(
        party_id, user.user_id, HostAction.PICK, body.offset
    )
    return HostActionOut(offset=publication.offset)


@router.delete("/picks/{offset}", responses=documented(401, 403, 404, 409, 422))
async def unpick(party_id: PartyId, offset: Offset, user: User, engine: EngineDep) -> HostActionOut:
    """Take a pick back (409 when that share is not picked)."""
    publication = await engine.host_tools.share_action(
        party_id, user.user_id, HostAction.UNPICK, offset
    )
    return HostActionOut(offset=publication.offset)


@router.delete("/shares/{offset}", responses=documented(401, 403, 404, 409, 422))
async def remove_share(
    party_id: PartyId, offset: Offset, user: User, engine: EngineDep
) -> HostActionOut:
    """Remove a share: a `removed` event; it leaves every feed and snapshot and can no longer
    be liked or picked."""
    publication = await engine.host_tools.share_action(
        party_id, user.user_id, HostAction.REMOVE, offset
    )
    return HostActionOut(offset=publication.offset)


@router.put("/mutes/{user_id}", responses=documented(401, 403, 404, 409, 422))
async def mute(
    party_id: PartyId,
    user_id: UserId,
    user: User,
    engine: EngineDep,
    minutes: Annotated[int | None, Query(ge=1, le=MAX_MUTE_MINUTES)] = None,
) -> MuteOut:
    """Mute a shopper for `minutes`, or for the rest of the party: their shares and likes are
    refused with `error muted` on every gateway. 422 for the host or a co-host."""
    publication, until = await engine.host_tools.mute(party_id, user.user_id, user_id, minutes)
    return MuteOut(offset=publication.offset, until=until)


@router.delete("/mutes/{user_id}", responses=documented(401, 403, 404, 409, 422))
async def unmute(
    party_id: PartyId, user_id: UserId, user: User, engine: EngineDep
) -> HostActionOut:
    """Lift a mute (409 when the user is not muted)."""
    publication = await engine.host_tools.unmute(party_id, user.user_id, user_id)
    return HostActionOut(offset=publication.offset)
