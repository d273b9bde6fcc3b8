"""GET /parties/{id}/report: the host's report of an ended party, from the archive
(party_engine/archive/report.py for the figures, archive/reports.py for where it is kept)."""

from fastapi import APIRouter, Response

from ..archive.report_types import StoredReport
from ..domain.errors import NotFound
from ..domain.parties import PartyState
from .auth import Host
from .deps import EngineDep
from .params import PartyId
from .problems import Problem, documented

router = APIRouter(prefix="/parties", tags=["archive"])


@router.get(
    "/{party_id}/report",
    response_model=StoredReport,
    responses=documented(401, 403, 404, 409, 422),
)
async def party_report(party_id: PartyId, engine: EngineDep, caller: Host) -> Response:
    """Shares and likes per minute, presence per minute and its peak, the start push's
    conversion into joins, top sellers, listings and sharers. For the party's host and
    co-hosts, once it has ended (409 before): `final` is false while the archive may still be
    writing its last events (about a minute after the end), and the report is kept once final."""
    party = await engine.store.get_party(party_id)
    if party is None:
        raise NotFound(f"no party {party_id}")
    party.ensure_moderator(caller.user_id)
    if party.state is not PartyState.ENDED:
        raise Problem(409, f"party {party_id} has not ended ({party.state})", code="not_ended")
    assert engine.reports is not None, "a gateway opens the archive"
    return Response(await engine.reports.encoded(party), media_type="application/json")
