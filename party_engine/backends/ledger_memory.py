"""The embedded ledger: idempotency locks and party counters in process memory."""

import time
from collections import Counter, defaultdict
from datetime import datetime

from ..domain.tallies import Tally
from ..ports import Board, Claim, EventRef, LockLost, PartyStats, Ranked
from .embedded import InProcess

_DONE = -1.0  # stored in place of a lock's expiry


class MemoryLedger(InProcess):
    def __init__(self, done_seconds: float) -> None:
        # How long an event stays marked done (a redelivery after this would count again).
        self._done_seconds = done_seconds
        # (queue, event id) -> when the lock expires, or _DONE with the time in _done_at
        self._marks: dict[tuple[str, str], float] = {}
        self._done_at: dict[tuple[str, str], float] = {}
        self._shares: Counter[str] = Counter()
        self._likes: Counter[str] = Counter()
        self._listings: defaultdict[str, Counter[str]] = defaultdict(Counter)
        self._sharers: defaultdict[str, Counter[str]] = defaultdict(Counter)
        self._picks: defaultdict[str, Counter[str]] = defaultdict(Counter)
        # Distinct listings and sharers per party: kept after the boards are retired.
        self._distinct_listings: Counter[str] = Counter()
        self._distinct_sharers: Counter[str] = Counter()
        self._retire_at: dict[str, float] = {}  # party -> when its boards go

    async def claim(self, queue: str, events: list[EventRef], ttl_seconds: float) -> list[Claim]:
        now = time.monotonic()
        claims = []
        for event in events:
            key = (queue, event.event_id)
            mark = self._marks.get(key)
            if mark == _DONE:
                claims.append(Claim.DONE)
            elif mark is not None and mark > now:
                claims.append(Claim.BUSY)
            else:
                self._marks[key] = now + ttl_seconds
                claims.append(Claim.FRESH)
        return claims

    async def release(self, queue: str, events: list[EventRef]) -> None:
        for event in events:
            if self._marks.get((queue, event.event_id), _DONE) != _DONE:
                del self._marks[queue, event.event_id]

    async def mark_done(self, queue: str, events: list[EventRef]) -> None:
        await self.commit_tally(queue, events, Tally())

    async def commit_tally(self, queue: str, events: list[EventRef], tally: Tally) -> None:
        # Party by party, as the Redis ledger's one script per party (and cluster slot) does.
        now = time.monotonic()
        parties: dict[str, list[str]] = {}
        for event in events:
            parties.setdefault(event.party_id, []).append(event.event_id)
        parts = tally.by_party()
        if strays := set(parts) - set(parties):
            raise ValueError(f"counts for parties without events: {sorted(strays)}")
        lost = []
        self._forget_old_marks(now)
        for party_id, event_ids in parties.items():
            # Done, expired or never taken: nothing of this party is applied.
            held = [self._marks.get((queue, e), _DONE) > now for e in event_ids]
            if not all(held):
                lost.append(event_ids[held.index(False)])
                continue
            self._apply(parts.get(party_id, Tally()))
            for event_id in event_ids:
                self._marks[queue, event_id] = _DONE
                self._done_at[queue, event_id] = now
        if lost:
            raise LockLost(f"events {', '.join(lost)} no longer locked by this worker")

    def _apply(self, tally: Tally) -> None:
        self._shares.update(tally.party_shares)
        self._likes.update(tally.party_likes)
        for (party_id, listing_id), score in tally.listing_scores().items():
            self._distinct_listings[party_id] += listing_id not in self._listings[party_id]
            self._listings[party_id][listing_id] += score
        for (party_id, sharer_id), shares in tally.sharer_shares.items():
            self._distinct_sharers[party_id] += sharer_id not in self._sharers[party_id]
            self._sharers[party_id][sharer_id] += shares
        for (party_id, seller_id), picks in tally.seller_picks.items():
            self._picks[party_id][seller_id] += picks

    async def party_stats(self, party_id: str) -> PartyStats:
        self._drop_retired(party_id)
        return PartyStats(
            shares=self._shares[party_id],
            likes=self._likes[party_id],
            listings=self._distinct_listings[party_id],
            sharers=self._distinct_sharers[party_id],
        )

    async def retire(self, party_id: str, at: datetime) -> None:
        self._retire_at[party_id] = at.timestamp()

    def _drop_retired(self, party_id: str) -> None:
        at = self._retire_at.get(party_id)
        if at is not None and time.time() >= at:
            self._listings.pop(party_id, None)
            self._sharers.pop(party_id, None)
            self._picks.pop(party_id, None)
            del self._retire_at[party_id]

    async def leaderboard(self, party_id: str, board: Board, limit: int) -> list[Ranked]:
        self._drop_retired(party_id)
        boards = {Board.LISTINGS: self._listings, Board.SHARERS: self._sharers}
        scores: Counter[str] = boards.get(board, self._picks).get(party_id, Counter())
        above = [item for item in scores.items() if item[1] > 0]
        ranked = sorted(above, key=lambda item: (item[1], item[0]), reverse=True)[:limit]
        return [Ranked(item_id, score) for item_id, score in ranked]

    def _forget_old_marks(self, now: float) -> None:
        # _done_at is in insertion order, so the oldest marks come first.
        while self._done_at:
            key, at = next(iter(self._done_at.items()))
            if now - at < self._done_seconds:
                return
            del self._done_at[key]
            self._marks.pop(key, None)
