"""The capacity forecast for hosts and operators: connections and joins per minute for the
coming hours, from the schedule (party_engine/capacity.py, domain/forecast.py)."""

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel

from ..domain.forecast import BUCKET
from .auth import Host
from .deps import EngineDep
from .problems import documented

router = APIRouter(tags=["capacity"])

MAX_HOURS = 48


class ForecastPartyOut(BaseModel):
    id: str
    title: str
    expected_joiners: float


class BucketOut(BaseModel):
    starts_at: datetime
    # The most connections expected within the minute, and the joins per second over it.
    connections: float
    joins_per_second: float
    parties: list[ForecastPartyOut]


class CapacityOut(BaseModel):
    bucket_seconds: int
    # False when the window held more parties than one forecast reads (the rest left out).
    complete: bool
    buckets: list[BucketOut]


@router.get("/capacity", responses=documented(401, 403, 422))
async def capacity(
    engine: EngineDep,
    _: Host,
    hours: Annotated[int, Query(ge=1, le=MAX_HOURS)] = 1,
) -> CapacityOut:
    """One-minute buckets from the current minute: expected connections and joins per second,
    with the parties behind each (followers of the theme x its join ratio)."""
    forecast = await engine.capacity.forecast(hours)
    return CapacityOut(
        bucket_seconds=int(BUCKET.total_seconds()),
        complete=forecast.complete,
        buckets=[
            BucketOut(
                starts_at=bucket.starts_at,
                connections=round(bucket.connections, 1),
                joins_per_second=round(bucket.joins_per_second, 3),
                parties=[
                    ForecastPartyOut(
                        id=party.id,
                        title=party.title,
                        expected_joiners=round(party.expected_joiners, 1),
                    )
                    for party in bucket.parties
                ],
            )
            for bucket in forecast.buckets
        ],
    )
