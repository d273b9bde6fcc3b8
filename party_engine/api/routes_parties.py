"""Hosts schedule, edit, start, end and cancel parties; anyone may read them."""

from typing import Annotated

from fastapi import APIRouter, Query, status

from ..domain.errors import InvalidValue, NotFound
from ..domain.ids import new_id
from ..domain.listings import match_theme
from ..domain.parties import Party, PartyState, schedule_party
from ..domain.themes import Theme, ThemeKind
from ..ports import PartyQuery
from .auth import Host, User
from .deps import EngineDep
from .models import MatchOut, PartyCreate, PartyList, PartyOut, PartyPatch
from .params import ListingId, PartyId
from .problems import documented

router = APIRouter(prefix="/parties", tags=["parties"])


async def _get(engine: EngineDep, party_id: str) -> Party:
    party = await engine.store.get_party(party_id)
    if party is None:
        raise NotFound(f"no party {party_id}")
    return party


@router.post("", status_code=status.HTTP_201_CREATED, responses=documented(400, 401, 403, 422))
async def create_party(body: PartyCreate, host: Host, engine: EngineDep) -> PartyOut:
    party = schedule_party(
        party_id=new_id(),
        host_id=host.user_id,
        title=body.title,
        description=body.description,
        theme=body.theme.to_domain(),
        starts_at=body.starts_at,
        duration_minutes=body.duration_minutes,
        now=engine.clock.now(),
    )
    return PartyOut.of(await engine.store.create_party(party))


@router.get("", responses=documented(401, 422))
async def list_parties(
    engine: EngineDep,
    _: User,
    state: PartyState | None = None,
    theme_kind: ThemeKind | None = None,
    theme_value: Annotated[str | None, Query(min_length=1, max_length=100)] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
) -> PartyList:
    if (theme_kind is None) != (theme_value is None):
        raise InvalidValue(
            "theme_kind and theme_value go together", field="theme_value", location="query"
        )
    theme = Theme(theme_kind, theme_value) if theme_kind and theme_value else None
    page = await engine.store.list_parties(
        PartyQuery(state=state, theme=theme, limit=limit, cursor=cursor)
    )
    return PartyList(items=[PartyOut.of(p) for p in page.items], next_cursor=page.next_cursor)


@router.get("/{party_id}", responses=documented(401, 404, 422))
async def get_party(party_id: PartyId, engine: EngineDep, _: User) -> PartyOut:
    return PartyOut.of(await _get(engine, party_id))


@router.patch("/{party_id}", responses=documented(400, 401, 403, 404, 409, 422))
async def revise_party(
    party_id: PartyId, body: PartyPatch, host: Host, engine: EngineDep
) -> PartyOut:
    party = await _get(engine, party_id)
    party.ensure_owner(host.user_id)
    revised = party.revise(
        engine.clock.now(),
        title=body.title,
        description=body.description,
        theme=body.theme.to_domain() if body.theme else None,
        starts_at=body.starts_at,
        duration_minutes=body.duration_minutes,
    )
    return PartyOut.of(await engine.store.save_party(revised))


@router.delete("/{party_id}", responses=documented(401, 403, 404, 409, 422))
async def cancel_party(party_id: PartyId, host: Host, engine: EngineDep) -> PartyOut:
    """Cancel a scheduled or live party. The record is kept, in state `cancelled`."""
    return PartyOut.of(await engine.lifecycle.cancel(party_id, actor=host.user_id))


@router.post("/{party_id}/start", responses=documented(401, 403, 404, 409, 422))
async def start_party(party_id: PartyId, host: Host, engine: EngineDep) -> PartyOut:
    """Go live now (also before `starts_at`)."""
    return PartyOut.of(await engine.lifecycle.start(party_id, actor=host.user_id))


@router.post("/{party_id}/end", responses=documented(401, 403, 404, 409, 422))
async def end_party(party_id: PartyId, host: Host, engine: EngineDep) -> PartyOut:
    return PartyOut.of(await engine.lifecycle.end(party_id, actor=host.user_id))


@router.get("/{party_id}/matches/{listing_id}", responses=documented(401, 404, 422))
async def listing_matches(
    party_id: PartyId, listing_id: ListingId, engine: EngineDep, _: User
) -> MatchOut:
    """Whether a listing may be shared into this party, and why."""
    party = await _get(engine, party_id)
    listing = await engine.store.get_listing(listing_id)
    if listing is None:
        raise NotFound(f"no listing {listing_id}")
    match = match_theme(listing, party.theme)
    return MatchOut(matches=match.matches, reason=match.reason)
