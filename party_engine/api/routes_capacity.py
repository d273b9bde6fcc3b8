"""The capacity forecast for hosts and operators: connections and joins per minute for the
coming hours, from the schedule (party_engine/capacity.py, domain/forecast.py)."""

from datetime import datetime
from typing import Annotated

import orjson
from fastapi import APIRouter, Query, Response
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
    # Followers of the party's theme x the theme's join ratio.
    expected_joiners: float
    # When its joiners start arriving (its start, or when it went live) and when all are gone.
    opens_at: datetime
    ends_at: datetime


class BucketOut(BaseModel):
    starts_at: datetime
    # The most connections expected within the bucket, and the joins per second over it.
    connections: float
    joins_per_second: float
    # The ids of the parties behind the bucket (each described once, in `parties`).
    parties: list[str]


class CapacityOut(BaseModel):
    bucket_seconds: int
    # False when the window held more parties than one forecast reads (the rest left out).
    complete: bool
    parties: list[ForecastPartyOut]
    buckets: list[BucketOut]


@router.get("/capacity", response_model=CapacityOut, responses=documented(401, 403, 422))
async def capacity(
    engine: EngineDep,
    _: Host,
    hours: Annotated[int, Query(ge=1, le=MAX_HOURS)] = 1,
) -> Response:
    """One-minute buckets from the current minute: expected connections and joins per second,
    with the parties behind each. Encoded straight to JSON: 48 hours of a busy schedule is
    2,880 buckets naming up to 500 parties, too many objects to validate on the event loop."""
    forecast = await engine.capacity.forecast(hours)
    parties = {party.id: party for bucket in forecast.buckets for party in bucket.parties}
    body = {
        "bucket_seconds": int(BUCKET.total_seconds()),
        "complete": forecast.complete,
        "parties": [
            {
                "id": party.id,
                "title": party.title,
                "expected_joiners": round(party.expected_joiners, 1),
                "opens_at": party.opens_at,
                "ends_at": party.ends_at,
            }
            for party in parties.values()
        ],
        "buckets": [
            {
                "starts_at": bucket.starts_at,
                "connections": round(bucket.connections, 1),
                "joins_per_second": round(bucket.joins_per_second, 3),
                "parties": [party.id for party in bucket.parties],
            }
            for bucket in forecast.buckets
        ],
    }
    return Response(orjson.dumps(body), media_type="application/json")
