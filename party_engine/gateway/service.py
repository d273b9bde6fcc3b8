"""The gateway role as an engine service: the hub, the presence loop, party state changes
and the drain.

Party end or cancel: sessions are told (`party {state}`) and stay joined; the feed stays
readable and shares and likes are refused with party_not_live.
"""

import asyncio
import logging
import math
import random
import secrets
import time

from limits.aio.storage import Storage

from .. import protocol
from ..clock import Clock, SystemClock
from ..config import Settings
from ..domain.parties import Party
from ..lifecycle import PartyLifecycle
from ..periodic import Periodic
from ..ports import Broker, EventPublisher, Presence, Store
from .fresh_reads import FreshReads
from .hub import Hub
from .rate_limit import ShareLimiter
from .session import Session
from .transport import text_frame

log = logging.getLogger(__name__)

PRESENCE_SECONDS = 1.0
# A party's members are told its new count at once when it moved by this share (any move
# under 100 people), else once it has been stale this long: while thousands join, a frame
# to every member every second would cost a gateway a tenth of a core.
PRESENCE_STEP = 0.01
PRESENCE_MAX_STALE_SECONDS = 5.0
GOING_AWAY = 1001
DRAIN_BATCHES = 10


class Gateway:
    def __init__(
        self,
        settings: Settings,
        *,
        store: Store,
        broker: Broker,
        presence: Presence,
        events: EventPublisher,
        lifecycle: PartyLifecycle,
        rate_limits: Storage,
        clock: Clock | None = None,
    ) -> None:
        self.settings = settings
        self.clock = clock or SystemClock()
        self.store = store
        self.broker = broker
        self.presence = presence
        self.events = events
        self.hub = Hub(broker, tick_seconds=settings.fanout_tick_ms / 1000)
        # What every join and share reads: one backend read at a time per party, shared.
        self.parties = FreshReads(store.get_party)
        self.snapshots = FreshReads(broker.snapshot)
        self.share_limiter = ShareLimiter(rate_limits, settings.share_rate_limit)
        self.gateway_id = secrets.token_hex(8)
        self.sessions: set[Session] = set()
        self.accepting = True
        # False until start(): the engine starts the gateway once its backends are connected.
        self.started = False
        self._totals: dict[str, int] = {}  # party: count over every gateway, last read
        self._presence_told: dict[str, tuple[int, float]] = {}  # party: (count, when)
        self._presence_loop = Periodic(
            "presence",
            PRESENCE_SECONDS,
            self.presence_round,
            wait_first=True,
            log=log,
            failure="presence round failed",
            failure_level=logging.WARNING,
        )
        lifecycle.on_change(self._announce_state)

    async def start(self) -> None:
        self.broker.set_handler(self.hub.on_publication, self.hub.on_broadcast)
        self._presence_loop.start()
        self.started = True

    async def stop(self) -> None:
        self.accepting = False
        await self._presence_loop.stop()

    def presence_of(self, party_id: str) -> int:
        """The last known total over all gateways (at least this gateway's own count)."""
        local = self.hub.local_count(party_id)
        return max(local, self._totals.get(party_id, 0))

    async def presence_round(self) -> None:
        """Report this gateway's counts, read the totals, and tell members of changed ones."""
        counts = self.hub.local_counts()
        await self.presence.report(self.gateway_id, counts, ttl_seconds=3 * PRESENCE_SECONDS)
        if not counts:
            return
        self._totals = await self.presence.totals(list(counts))
        now = time.monotonic()
        told = self._presence_told
        self._presence_told = {}
        for party_id, count in self._totals.items():
            last = told.get(party_id)
            if presence_is_news(count, last, now):
                frame = text_frame(protocol.encode_presence(party_id, count))
                await self.hub.send_to_party_in_slices(party_id, frame)
                last = (count, now)
            if last is not None:
                self._presence_told[party_id] = last

    async def _announce_state(self, before: Party, after: Party) -> None:
        if before.state is after.state:
            return
        frame = protocol.encode_party_state(after.id, after.state.value)
        try:
            await self.broker.broadcast(after.id, frame)
        except Exception:
            # The change is saved; clients still see it in the next `joined` and in refusals.
            log.warning("announcing party %s %s failed", after.id, after.state, exc_info=True)

    async def drain(self, seconds: float) -> None:
        """Tell every session to reconnect elsewhere after a jittered delay, in batches spread
        over about half of `seconds`, and close it; new connections are refused meanwhile."""
        self.accepting = False
        sessions = list(self.sessions)
        if not sessions:
            return
        batch_size = math.ceil(len(sessions) / DRAIN_BATCHES)
        pause = seconds / 2 / DRAIN_BATCHES
        spread_ms = int(seconds * 1000)
        for start in range(0, len(sessions), batch_size):
            for session in sessions[start : start + batch_size]:
                retry_after_ms = random.randint(spread_ms // 10, spread_ms)
                session.outbox.send(protocol.encode_drain(retry_after_ms))
                session.outbox.close(GOING_AWAY, "draining")
            if start + batch_size < len(sessions):
                await asyncio.sleep(pause)


def presence_is_news(count: int, last_told: tuple[int, float] | None, now: float) -> bool:
    """Whether a party's members should be sent `count` (a joiner gets it in its snapshot)."""
    if last_told is None:
        return True
    told, at = last_told
    if count == told:
        return False
    return abs(count - told) >= told * PRESENCE_STEP or now - at >= PRESENCE_MAX_STALE_SECONDS
