"""The gateway role as an engine service: the hub, the presence loop, party state changes
and the drain.

Party end or cancel: sessions are told (`party {state}`) and stay joined; the feed stays
readable and shares and likes are refused with party_not_live. Whoever saved the change
broadcast it (party_engine/party_states.py); every STATE_REPAIR_SECONDS the gateway also
re-reads the state of each party it has members in and tells those not told it yet, so a
broadcast lost with the process that saved the change reaches them within that bound (plus a
read).
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
from ..host_tools import HostTools
from ..periodic import Periodic
from ..ports import Broker, ConnectionRegistry, EventPublisher, Presence, Store
from .attendance import Attendance
from .connection_cap import ConnectionCap
from .fresh_reads import FreshReads
from .hub import Hub
from .kept_reads import KeptListings, KeptParties
from .presence_reports import PresenceReports
from .rate_limit import ShareLimiter
from .session import Session
from .transport import text_frame

log = logging.getLogger(__name__)

PRESENCE_SECONDS = 1.0
# A gateway reports each of its users again this often (presence_reports.py). A user counts in
# a party for PRESENCE_TTL_SECONDS after a gateway last reported them there (so a crashed
# gateway's users count that long), and for at most PRESENCE_LEFT_SECONDS after their last
# session there left (unless another gateway still reports them).
PRESENCE_RENEW_SECONDS = 10.0
PRESENCE_TTL_SECONDS = 3 * PRESENCE_RENEW_SECONDS
PRESENCE_LEFT_SECONDS = 1.5 * PRESENCE_SECONDS
# A party's members are told its new count when it moved by this share (any move under 100
# people), else once it has been stale this long: while thousands join, a frame to every
# member every second would cost a gateway a tenth of a core.
PRESENCE_STEP = 0.01
PRESENCE_MAX_STALE_SECONDS = 5.0
# And a party's frames cost this gateway at most this many writes a second: a party of 10,000
# members here is told at most every 5 s. While 30,000 joined one party, its count moved by
# more than 1% every round, and the frames to every member were half of the gateways' CPU.
PRESENCE_WRITES_PER_SECOND = 2_000
STATE_REPAIR_SECONDS = 5.0
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
        connections: ConnectionRegistry,
        rate_limits: Storage,
        events: EventPublisher,
        clock: Clock | None = None,
    ) -> None:
        self.settings = settings
        self.clock = clock or SystemClock()
        self.attendance = Attendance(events, self.clock)
        self.store = store
        self.broker = broker
        self.presence = presence
        self.hub = Hub(
            broker,
            tick_seconds=settings.fanout_tick_ms / 1000,
            loop_share=settings.fanout_loop_share,
        )
        # What every join and share reads: one backend read at a time per party, shared.
        self.parties = FreshReads(store.get_party)
        # What every share and like reads (kept_reads.py: the bounds of their staleness).
        self.kept_parties = KeptParties(
            self.parties.get, store.get_parties, settings.party_keep_ms / 1000
        )
        self.listings = KeptListings(store.get_listing, settings.listings_kept)
        self.host_tools = HostTools(store, broker, self.clock)
        self.snapshots = FreshReads(broker.snapshot)
        self.share_limiter = ShareLimiter(rate_limits, settings.share_rate_limit)
        self.gateway_id = secrets.token_hex(8)
        self.connection_cap = ConnectionCap(
            connections, gateway_id=self.gateway_id, limit=settings.max_connections_per_user
        )
        self.sessions: set[Session] = set()
        self.accepting = True
        # False until start(): the engine starts the gateway once its backends are connected.
        self.started = False
        self._presence_reports = PresenceReports(
            renew_after=PRESENCE_RENEW_SECONDS, round_seconds=PRESENCE_SECONDS
        )
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
        self._state_repair_loop = Periodic(
            "party-state-repair",
            STATE_REPAIR_SECONDS,
            self.repair_states,
            wait_first=True,
            log=log,
            failure="party state repair failed",
            failure_level=logging.WARNING,
        )

    async def start(self) -> None:
        self.broker.set_handler(self.hub.on_publication, self._on_broadcast, self.hub.on_new_epoch)
        self._presence_loop.start()
        self.connection_cap.start()
        self._state_repair_loop.start()
        self.started = True

    async def stop(self) -> None:
        self.accepting = False
        await self._state_repair_loop.stop()
        await self._presence_loop.stop()
        try:  # the departures of the sessions just closed, rather than their ttl's worth
            await self.report_presence()
        except Exception:
            log.warning("the last presence report failed", exc_info=True)
        await self.connection_cap.stop()

    def _on_broadcast(self, party_id: str, payload: bytes) -> None:
        self.kept_parties.changed(party_id)  # before any client here can hear of the change
        self.hub.on_broadcast(party_id, payload)

    def presence_of(self, party_id: str) -> int:
        """The last known count of users over all gateways (at least this gateway's own)."""
        local = self.hub.local_count(party_id)
        return max(local, self._totals.get(party_id, 0))

    async def presence_round(self) -> None:
        """Report who arrived, who left and who is due again, read the totals of the local
        parties, and tell members of changed ones."""
        await self.report_presence()
        party_ids = self.hub.party_ids()
        if not party_ids:
            return
        self._totals = await self.presence.totals(party_ids)
        now = time.monotonic()
        told = self._presence_told
        self._presence_told = {}
        for party_id, count in self._totals.items():
            last = told.get(party_id)
            if presence_is_news(count, last, now, self.hub.local_count(party_id)):
                frame = text_frame(protocol.encode_presence(party_id, count))
                await self.hub.send_to_party_in_slices(party_id, frame)
                last = (count, now)
            if last is not None:
                self._presence_told[party_id] = last

    async def report_presence(self) -> None:
        present, left = self._presence_reports.take(
            self.hub.take_arrivals(), self.hub.take_departures(), time.monotonic()
        )
        if not present and not left:
            return
        try:
            await self.presence.report(
                present,
                left,
                ttl_seconds=PRESENCE_TTL_SECONDS,
                left_ttl_seconds=PRESENCE_LEFT_SECONDS,
            )
        except BaseException:
            self._presence_reports.failed(present, left)
            raise

    async def repair_states(self) -> None:
        """Tell the members of each local party its stored state, if they were not told it;
        what is read is kept for shares (kept_reads.py)."""
        parties = await self.kept_parties.refresh(self.hub.party_ids())
        for party_id, party in parties.items():
            self.hub.tell_state(party_id, party.state)

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


def presence_is_news(
    count: int, last_told: tuple[int, float] | None, now: float, members: int
) -> bool:
    """Whether a party's `members` here should be sent `count` (a joiner gets it in its
    snapshot)."""
    if last_told is None:
        return True
    told, at = last_told
    since = now - at
    if count == told or since < min(
        members / PRESENCE_WRITES_PER_SECOND, PRESENCE_MAX_STALE_SECONDS
    ):
        return False
    return abs(count - told) >= told * PRESENCE_STEP or since >= PRESENCE_MAX_STALE_SECONDS
