"""The relay role: carries the events of acknowledged shares and likes from the parties'
outboxes (written by the broker's publish scripts) to the event queue, then marks them done.

Every `poll_seconds` a round lists the parties whose outbox may hold entries, takes a batch of
each, hands the events to the sink (RabbitMQ confirms them, `mandatory`) and marks them done;
while batches come back full it takes again at once. A batch the sink refused stays in hand
and is tried again first, next round. Entries a relay took and never marked done (it died, or
holds them while RabbitMQ is away) are taken by another relay after `claim_after_seconds`, so
any number of relays may run. An event may reach the queue twice (a relay that dies after the
confirm and before `done`, or a claim while its first relay still retries): the workers apply
an event once by its id.
"""

import asyncio
import logging
import os
import secrets
import socket
import time

from . import metrics
from .periodic import Periodic
from .ports import EventSink, Outbox, OutboxEntry

log = logging.getLogger(__name__)

BATCH = 500
# Batches one round takes at most before it lets stop() in (and the next round list again).
MAX_BATCHES_PER_ROUND = 20
MAX_BACKOFF_SECONDS = 2.0
# How often a relay reads the outboxes' depth for party_outbox_depth.
DEPTH_SECONDS = 1.0


class Relay:
    def __init__(
        self,
        outbox: Outbox,
        sink: EventSink,
        *,
        poll_seconds: float = 0.1,
        claim_after_seconds: float = 15.0,
        batch: int = BATCH,
    ) -> None:
        self._outbox = outbox
        self._sink = sink
        self._claim_after = claim_after_seconds
        self._batch = batch
        self.relay_id = f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(4)}"
        self._in_hand: list[OutboxEntry] = []  # taken, not delivered yet
        self._last_claim = 0.0
        self._failures = 0  # rounds failed in a row
        self._resume_at = 0.0  # after a failure, no round before this (backoff)
        self._loop = Periodic("relay", poll_seconds, self._round_with_backoff, log=log)
        self._depth_loop = Periodic(
            "outbox-depth",
            DEPTH_SECONDS,
            self.measure_depth,
            log=log,
            failure="reading the outboxes' depth failed",
            failure_level=logging.WARNING,
        )

    async def start(self) -> None:
        self._loop.start()
        self._depth_loop.start()

    async def stop(self) -> None:
        await self._depth_loop.stop()
        await self._loop.stop()
        try:
            await self.relay_round()  # what the gateway of this process wrote last
        except Exception:
            log.warning("relay's last round failed; other relays take its entries", exc_info=True)

    async def _round_with_backoff(self) -> None:
        """A round, unless a failed one asks to wait: while RabbitMQ or Redis is away, rounds
        (and the warnings they log) come at most every MAX_BACKOFF_SECONDS."""
        now = time.monotonic()
        if now < self._resume_at:
            return
        try:
            await self.relay_round()
        except Exception as error:
            self._failures += 1
            backoff = min(0.05 * 2**self._failures, MAX_BACKOFF_SECONDS)
            self._resume_at = now + backoff
            log.warning(
                "relay round failed (%d in a row; %r); %d events in hand are tried again in %.2f s",
                self._failures,
                error,
                len(self._in_hand),
                backoff,
            )
        else:
            self._failures = 0

    async def relay_round(self) -> None:
        """Deliver the batch in hand, then what the outboxes hold now (a bounded number of
        batches); drop parties with nothing left from the listing."""
        if self._in_hand:
            await self._deliver(self._in_hand)
        parties = await self._outbox.parties()
        quiet = set(parties)
        for _ in range(MAX_BATCHES_PER_ROUND):
            if not parties:
                break
            entries = await self._outbox.take(self.relay_id, parties, self._batch, self._claim())
            # An entry of our own batch in hand may come back claimed: keep it once.
            held = {(entry.party_id, entry.entry_id) for entry in self._in_hand}
            self._in_hand += [e for e in entries if (e.party_id, e.entry_id) not in held]
            await self._deliver(self._in_hand)
            counts: dict[str, int] = {}
            for entry in entries:
                counts[entry.party_id] = counts.get(entry.party_id, 0) + 1
            quiet -= counts.keys()
            parties = [party for party, count in counts.items() if count >= self._batch]
        if quiet:
            await self._outbox.forget_idle(sorted(quiet))

    async def measure_depth(self) -> int:
        """Set party_outbox_depth to the entries not done over every listed outbox."""
        parties = await self._outbox.parties()
        depth = sum(await asyncio.gather(*(self._outbox.depth(party) for party in parties)))
        metrics.OUTBOX_DEPTH.set(depth)
        return depth

    def _claim(self) -> float | None:
        """Look for other relays' stale entries every half claim period, not every round."""
        now = time.monotonic()
        if now - self._last_claim < self._claim_after / 2:
            return None
        self._last_claim = now
        return self._claim_after

    async def _deliver(self, entries: list[OutboxEntry]) -> None:
        if not entries:
            return
        await self._sink.deliver([entry.event for entry in entries])
        await self._outbox.done(entries)
        self._in_hand = []
        metrics.RELAYED.inc(len(entries))
