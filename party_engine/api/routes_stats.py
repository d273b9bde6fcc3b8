"""A party's counters and leaderboards, as the workers keep them (eventually consistent:
a share counts once a worker has handled it, usually within milliseconds)."""

from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel

from ..domain.errors import NotFound
from ..ports import Board
from .auth import User
from .deps import EngineDep
from .params import PartyId
from .problems import documented

router = APIRouter(prefix="/parties", tags=["stats"])


class StatsOut(BaseModel):
    party_id: str
    shares: int
    likes: int
    listings: int
    sharers: int


class RankedOut(BaseModel):
    id: str
    score: int


class LeaderboardOut(BaseModel):
    party_id: str
    by: Board
    # listings: shares + likes of each listing; sharers: shares each sharer made.
    items: list[RankedOut]


async def _ensure_party(engine: EngineDep, party_id: str) -> None:
    if await engine.store.get_party(party_id) is None:
        raise NotFound(f"no party {party_id}")


@router.get("/{party_id}/stats", responses=documented(401, 404, 422))
async def party_stats(party_id: PartyId, engine: EngineDep, _: User) -> StatsOut:
    await _ensure_party(engine, party_id)
    stats = await engine.ledger.party_stats(party_id)
    return StatsOut(
        party_id=party_id,
        shares=stats.shares,
        likes=stats.likes,
        listings=stats.listings,
        sharers=stats.sharers,
    )


@router.get("/{party_id}/leaderboard", responses=documented(401, 404, 422))
async def leaderboard(
    party_id: PartyId,
    engine: EngineDep,
    _: User,
    by: Board = Board.LISTINGS,
    limit: Annotated[int, Query(ge=1, le=100)] = 10,
) -> LeaderboardOut:
    await _ensure_party(engine, party_id)
    ranked = await engine.ledger.leaderboard(party_id, by, limit)
    return LeaderboardOut(
        party_id=party_id, by=by, items=[RankedOut(id=r.id, score=r.score) for r in ranked]
    )
