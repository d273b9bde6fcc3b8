"""The job-locking pattern over a batch: lock each event id (SET NX with a TTL) before the
work, mark it done after. Events already done are skipped; events another worker holds come
back later."""

from dataclasses import dataclass

from party_engine.domain.events import DomainEvent
from party_engine.ports import Claim, EventRef, Ledger


@dataclass(frozen=True, slots=True)
class Claimed:
    fresh: list[DomainEvent]  # locked for us: do the work, then mark them done
    busy: set[str]  # ids to deliver again later


async def claim_batch(
    ledger: Ledger, queue: str, events: list[DomainEvent], lock_seconds: float
) -> Claimed:
    # A batch may hold the same event twice (published twice): the first copy stands for both.
    unique = list({event.id: event for event in reversed(events)}.values())[::-1]
    claims = await ledger.claim(queue, [EventRef.of(event) for event in unique], lock_seconds)
    return Claimed(
        fresh=[event for event, claim in zip(unique, claims, strict=True) if claim is Claim.FRESH],
        busy={event.id for event, claim in zip(unique, claims, strict=True) if claim is Claim.BUSY},
    )
