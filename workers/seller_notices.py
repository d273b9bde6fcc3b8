"""Seller notices: "your listing was shared in <party>", at most one per seller per party per
window. The first share sends at once; later shares in the window are counted by the notice
book, and the sweeper sends one summary with the count when the window closes. A host's pick
of a listing sends its seller "your listing was picked" at once, once per pick.

The first notice is pushed at most once: the event is marked done before the push, so a retried
batch or one replayed after its lock expired finds it done. A push that fails is logged, not
retried."""

import logging

from party_engine import metrics
from party_engine.backends.queue_topology import SELLER_NOTICES
from party_engine.clock import Clock
from party_engine.domain.events import DomainEvent, ShareCreated, SharePicked
from party_engine.periodic import Periodic
from party_engine.ports import (
    DueNotice,
    EventRef,
    Ledger,
    NoticeBook,
    Notification,
    PartyStore,
    Push,
    Store,
)

from .idempotency import claim_batch

log = logging.getLogger(__name__)


async def _party_title(store: PartyStore, party_id: str) -> str:
    party = await store.get_party(party_id)
    return party.title if party is not None else "a party"


class SellerNoticesHandler:
    queue = SELLER_NOTICES

    def __init__(
        self,
        *,
        ledger: Ledger,
        notices: NoticeBook,
        store: Store,
        push: Push,
        clock: Clock,
        window_seconds: float,
        lock_seconds: float,
    ) -> None:
        self._ledger = ledger
        self._notices = notices
        self._store = store
        self._push = push
        self._clock = clock
        self._window = window_seconds
        self._lock_seconds = lock_seconds

    async def __call__(self, events: list[DomainEvent]) -> set[str]:
        claimed = await claim_batch(self._ledger, self.queue, events, self._lock_seconds)
        unfinished = [EventRef.of(event) for event in claimed.fresh]
        try:
            for event in claimed.fresh:
                first = isinstance(event, ShareCreated) and await self._note(event)
                # Done before the push (at most once): a batch retried after this point, or
                # replayed after its lock expired (LockLost), finds the event done and skips it.
                await self._ledger.mark_done(self.queue, [EventRef.of(event)])
                unfinished.remove(EventRef.of(event))
                if isinstance(event, ShareCreated) and first:
                    await self._send_first(event)
                elif isinstance(event, SharePicked):
                    await self._send_picked(event)
        except Exception:
            await self._ledger.release(self.queue, unfinished)
            raise
        return claimed.busy

    async def _note(self, share: ShareCreated) -> bool:
        now = self._clock.now().timestamp()
        return await self._notices.note_share(
            share.party_id, share.seller_id, share.id, now, self._window
        )

    async def _send_first(self, share: ShareCreated) -> None:
        try:
            title = await _party_title(self._store, share.party_id)
            with metrics.push_sent("seller_notice"):
                await self._push.notify_user(
                    share.seller_id,
                    Notification(
                        title="Your listing was shared",
                        body=f"Your listing was shared in {title}",
                        data={"party_id": share.party_id, "listing_id": share.listing_id},
                    ),
                )
        except Exception:
            # The event is done: retrying could push twice (at most once, docs/event-pipeline.md).
            log.warning("seller notice for %s was not sent", share.id, exc_info=True)

    async def _send_picked(self, pick: SharePicked) -> None:
        try:
            listing = await self._store.get_listing(pick.listing_id)
            if listing is None:
                return
            title = await _party_title(self._store, pick.party_id)
            await self._push.notify_user(
                listing.seller_id,
                Notification(
                    title="Your listing was picked",
                    body=f"The host picked your listing in {title}",
                    data={"party_id": pick.party_id, "listing_id": pick.listing_id},
                ),
            )
        except Exception:
            log.warning("pick notice for %s was not sent", pick.id, exc_info=True)


class NoticeSweeper:
    """Sends the summaries of closed windows; a service of the worker role."""

    def __init__(
        self,
        *,
        notices: NoticeBook,
        store: PartyStore,
        push: Push,
        clock: Clock,
        window_seconds: float,
        every_seconds: float = 1.0,
        lease_seconds: float = 60.0,
    ) -> None:
        self._notices = notices
        self._store = store
        self._push = push
        self._clock = clock
        self._window = window_seconds
        self._lease = lease_seconds
        # A failed summary stays leased and comes back; the sweeper keeps going.
        self._loop = Periodic(
            "seller-notice-sweeper",
            every_seconds,
            self.sweep,
            log=log,
            failure="seller notice sweep failed",
        )

    async def start(self) -> None:
        self._loop.start()

    async def stop(self) -> None:
        await self._loop.stop()

    async def sweep(self) -> int:
        """Send every summary due now; how many were sent."""
        due = await self._notices.take_due(self._clock.now().timestamp(), self._lease)
        for notice in due:
            await self._send(notice)
            await self._notices.settle(notice, self._clock.now().timestamp(), self._window)
        return len(due)

    async def _send(self, notice: DueNotice) -> None:
        title = await _party_title(self._store, notice.party_id)
        times = "once more" if notice.shares == 1 else f"{notice.shares} more times"
        with metrics.push_sent("seller_summary"):
            await self._push.notify_user(
                notice.seller_id,
                Notification(
                    title="Your listings are being shared",
                    body=f"Your listings were shared {times} in {title}",
                    data={"party_id": notice.party_id, "shares": str(notice.shares)},
                ),
            )
