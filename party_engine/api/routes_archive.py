"""GET /parties/{id}/archive: an ended party's events from the archive, as NDJSON in offset
order, past what Redis still holds (docs/archive.md)."""

from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import StreamingResponse
from starlette.concurrency import iterate_in_threadpool

from ..archive.layout import party_days
from ..domain.errors import NotFound
from ..domain.parties import PartyState
from .auth import User
from .deps import EngineDep
from .params import PartyId
from .problems import Problem, documented

router = APIRouter(prefix="/parties", tags=["archive"])

NDJSON = "application/x-ndjson"

_NDJSON: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "One archived event per line, by offset "
        "(schemas/archive-events.schema.json, null columns left out).",
        "content": {NDJSON: {"schema": {"type": "string"}}},
    }
}


@router.get(
    "/{party_id}/archive",
    response_class=StreamingResponse,
    responses={**_NDJSON, **documented(401, 404, 409, 422)},
)
async def party_archive(
    party_id: PartyId,
    engine: EngineDep,
    _: User,
    after: Annotated[int, Query(ge=0, le=2**53 - 1, description="Only offsets above this.")] = 0,
    limit: Annotated[
        int, Query(ge=1, le=100_000, description="At most this many events.")
    ] = 10_000,
) -> StreamingResponse:
    """The party's archived stream events (shares, likes, picks, unpicks, removals) with an
    offset above `after`, at most `limit`: page on with the last line's offset. The party
    must have ended (409 otherwise): its archive is complete within a minute of the end."""
    # Imported on the first replay: pyarrow adds ~58 MiB to a gateway that never serves one.
    from ..archive.reading import read_party
    from ..archive.replay import ndjson_pages, stream_slice

    party = await engine.store.get_party(party_id)
    if party is None:
        raise NotFound(f"no party {party_id}")
    if party.state is not PartyState.ENDED:
        raise Problem(409, f"party {party_id} has not ended ({party.state})", code="not_ended")
    storage = engine.backends.archive
    assert storage is not None, "a gateway opens the archive"
    table = await read_party(storage, party_id, party_days(party, engine.clock.now()))
    chosen = stream_slice(table, after, limit)
    return StreamingResponse(iterate_in_threadpool(ndjson_pages(chosen)), media_type=NDJSON)
