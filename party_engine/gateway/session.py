"""One WebSocket connection's side of the protocol: join, leave, share, like, ping.

Frames of one connection are handled one at a time, in order. Every refusal is an `error`
frame with a code; only the transport itself closes a connection (1009 for an oversized
frame, 4008 for a slow consumer, a drain), and the frame budget (4429 for a client that goes
on past `rate_limited`: gateway/frame_budget.py).
"""

import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING, Any

import orjson

from .. import metrics, protocol
from ..domain.errors import NotFound
from ..domain.events import LikeCreated, ShareCreated
from ..domain.ids import new_id
from ..domain.listings import match_theme
from ..domain.parties import Party, PartyState, comes_after
from ..logs import bind_party
from ..ports import (
    UNASSIGNED_LISTING,
    UNASSIGNED_OFFSET,
    HistoryPage,
    HostAction,
    IdempotencyKey,
    Muted,
    NothingToChange,
    OutboxFull,
    Publication,
    ShareNotFound,
    Snapshot,
    StreamPosition,
)
from ..tokens import Principal
from .frame_budget import RATE_LIMITED_CLOSE, FrameBudget, cost_of
from .hub import Member, events_frame
from .transport import Wire, text_frame

if TYPE_CHECKING:
    from .service import Gateway  # which imports this module to make sessions

log = logging.getLogger(__name__)

SLOW_CONSUMER = 4008
# The party's stream started a new epoch (Redis lost writes this client may have seen): the
# client reconnects and rejoins with its position, and is answered `recovered: false` with a
# fresh snapshot.
STREAM_RESET = 4010
# Replayed history goes out in frames of this many items, each after the last one drained,
# so that a long replay neither makes one huge frame nor counts as a slow consumer.
REPLAY_CHUNK = 100
# A share or like refused because its party's outbox is full (the event queue is away).
_BACKLOG = "the party's events are not reaching the workers; try again shortly"
_BACKLOG_RETRY_MS = 2000
_MUTED = "the host muted you in this party"
# What a frame that could not be decoded costs of the frame budget.
BAD_FRAME_COST = 1


class Refusal(Exception):
    """A client frame refused with an `error` code."""

    def __init__(self, code: str, message: str, retry_after_ms: int | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.retry_after_ms = retry_after_ms


class Outbox:
    """Frames to one client, written without waiting; past the pending limit the client is
    cut with 4008 rather than let it hold memory or slow the others."""

    def __init__(self, wire: Wire, max_pending_bytes: int, close_grace_seconds: float) -> None:
        self.wire = wire
        self._max_pending = max_pending_bytes
        self._close_grace = close_grace_seconds

    def send(self, payload: bytes) -> None:
        """A frame to this client alone (an ack, an error, `joined`), counted here; frames
        written to many go through send_prepared and are counted per batch by the hub."""
        frame = text_frame(payload)
        self.send_prepared(frame)
        metrics.count_sent(1, len(frame))

    def send_prepared(self, frame: bytes) -> None:
        self.wire.write(frame)
        if self.wire.pending_bytes > self._max_pending:
            self.cut()

    def cut(self) -> None:
        if self.wire.is_open:
            metrics.SLOW_CONSUMER_CLOSES.inc()
        self.wire.close(SLOW_CONSUMER, "slow_consumer", abort_after=self._close_grace)

    def close(self, code: int, reason: str) -> None:
        self.wire.close(code, reason, abort_after=self._close_grace)


class PartyFeed(Member):
    """One session's membership of one party, as the hub sees it.

    Until the join has sent its snapshot or replay, live batches are held back (as
    publications, so that the overlap with the replay can be dropped by offset).
    """

    def __init__(self, party_id: str, outbox: Outbox, max_held: int, state: PartyState) -> None:
        self.party_id = party_id
        self._outbox = outbox
        self._max_held = max_held
        self._held: list[Publication] | None = []
        self._live_after = 0
        self._state = state  # what the client is told: in `joined`, then in `party` frames
        self._state_frame: bytes | None = None  # a change heard before `joined` went out

    def deliver(self, frame: bytes, publications: list[Publication]) -> None:
        if self._held is not None:
            self._held.extend(publications)
            if len(self._held) > self._max_held:
                self._outbox.cut()
            return
        # A batch the hub collected before this feed went live may overlap what the join
        # already sent; only its fresh part goes out (encoded for this feed alone).
        if publications[-1].offset <= self._live_after:
            return
        if publications[0].offset <= self._live_after:
            fresh = [p for p in publications if p.offset > self._live_after]
            frame = events_frame(self.party_id, fresh)
        self._outbox.send_prepared(frame)

    def send_prepared(self, frame: bytes) -> None:
        self._outbox.send_prepared(frame)

    def stream_reset(self) -> None:
        self._outbox.close(STREAM_RESET, "stream_reset")

    def tell_state(self, state: PartyState, frame: bytes) -> None:
        if not comes_after(state, self._state):
            return
        self._state = state
        if self._held is None:
            self._outbox.send_prepared(frame)
        else:
            self._state_frame = frame

    async def go_live(
        self, joined: bytes, replay: AsyncIterator[list[Publication]] | None, after: int
    ) -> None:
        """Send `joined`, the replay (page by page, each read once the last one drained),
        then the held live events past it, and go live."""
        self._outbox.send(joined)
        if self._state_frame is not None:
            self._outbox.send_prepared(self._state_frame)
            self._state_frame = None
        if replay is not None:
            async for page in replay:
                await self._send_items(page)
        while self._held:
            held, self._held = self._held, []
            fresh = [publication for publication in held if publication.offset > after]
            if fresh:
                after = fresh[-1].offset
                await self._send_items(fresh)
        # No await between the emptiness check and these lines: nothing can slip between.
        self._live_after = after
        self._held = None

    async def _send_items(self, publications: list[Publication]) -> None:
        wire = self._outbox.wire
        for start in range(0, len(publications), REPLAY_CHUNK):
            chunk = publications[start : start + REPLAY_CHUNK]
            frame = events_frame(self.party_id, chunk)
            wire.write(frame)
            metrics.count_sent(1, len(frame), len(chunk))
            await wire.wait_writable()


class Session:
    def __init__(self, gateway: "Gateway", principal: Principal, outbox: Outbox) -> None:
        self._gateway = gateway
        self._user = principal
        self.outbox = outbox
        self._feeds: dict[str, PartyFeed] = {}
        settings = gateway.settings
        self._budget = FrameBudget(
            settings.frame_rate, settings.frame_burst, settings.frame_refusals, time.monotonic()
        )

    async def handle(self, data: str | bytes) -> None:
        """Answer one client frame; never raises for anything the client sent."""
        if not self.outbox.wire.is_open:
            return  # closed (by the budget, the hub or a drain): what is still queued is moot
        taken = time.perf_counter()
        frame_id = None
        frame: protocol.ClientFrame | None = None
        try:
            try:
                frame = protocol.decode_client_frame(data)
            except protocol.ProtocolError:
                self._charge(BAD_FRAME_COST)
                raise
            frame_id = frame.id
            bind_party(getattr(frame, "party", None))
            self._charge(cost_of(frame))
            if not self._gateway.started and not isinstance(frame, protocol.Ping):
                raise Refusal("unavailable", "the gateway is connecting; try again shortly", 1000)
            offset = await _HANDLERS[type(frame)](self, frame)
            if not isinstance(frame, protocol.Join | protocol.Ping) and frame_id is not None:
                self.outbox.send(protocol.encode_ack(frame_id, offset))
            _count_answered(frame, taken)
        except protocol.ProtocolError as error:
            self.outbox.send(protocol.encode_error(error.code, error.message, error.frame_id))
        except Refusal as refusal:
            if isinstance(frame, protocol.Join):
                metrics.JOINS.labels(outcome=refusal.code).inc()
            self.outbox.send(
                protocol.encode_error(
                    refusal.code, refusal.message, frame_id, refusal.retry_after_ms
                )
            )
        except Exception as error:
            # A backend failed (Redis restarting, the event buffer full, ...): the client is
            # told to retry; the connection and the session go on.
            log.warning("frame refused as unavailable: %r", error, exc_info=True)
            if isinstance(frame, protocol.Join):
                metrics.JOINS.labels(outcome="unavailable").inc()
            self.outbox.send(
                protocol.encode_error("unavailable", "try again shortly", frame_id, 1000)
            )

    def _charge(self, cost: int) -> None:
        """Take a frame's tokens, or refuse it; a client past its refusals is closed."""
        now = time.monotonic()
        retry_after_ms = self._budget.charge(cost, now)
        if retry_after_ms is None:
            return
        if self._budget.refuse(now):
            self.outbox.close(RATE_LIMITED_CLOSE, "rate_limited")
        raise Refusal("rate_limited", "too many frames; slow down", retry_after_ms)

    async def close(self) -> None:
        """Leave every party (the connection is gone)."""
        for party_id in list(self._feeds):
            await self._gateway.hub.leave(party_id, self._feeds.pop(party_id))
            await self._gateway.attendance.left(party_id, self._user.user_id)

    # --- frames -----------------------------------------------------------------------

    async def _join(self, frame: protocol.Join) -> None:
        gateway = self._gateway
        party_id = frame.party
        cap = gateway.settings.max_parties_per_connection
        if party_id not in self._feeds and len(self._feeds) >= cap:
            raise Refusal("too_many_parties", f"a connection joins at most {cap} parties")
        # Where this gateway hears the party's changes, a kept read is as current as a share's
        # (kept_reads.py); the first joiner here reads it fresh.
        read = gateway.kept_parties.get if gateway.hub.hears(party_id) else None
        party = await self._party(party_id, read)
        rejoin = party_id in self._feeds
        if rejoin:  # a second join restarts the feed from its `since`
            await gateway.hub.leave(party_id, self._feeds.pop(party_id))
        feed = PartyFeed(
            party_id, self.outbox, max_held=gateway.settings.history_size, state=party.state
        )
        await gateway.hub.join(party_id, feed, self._user.user_id)
        self._feeds[party_id] = feed
        try:
            await self._catch_up(feed, party, frame)
        except BaseException:
            await gateway.hub.leave(party_id, self._feeds.pop(party_id))
            if rejoin:
                await gateway.attendance.left(party_id, self._user.user_id)
            raise
        if not rejoin:
            await gateway.attendance.joined(party_id, self._user.user_id)
        log.debug("joined")

    async def _catch_up(self, feed: PartyFeed, party: Party, frame: protocol.Join) -> None:
        broker = self._gateway.broker
        presence = self._gateway.presence_of(party.id)
        since = frame.since
        page = None
        if since is not None:
            page = await broker.history_since(
                party.id, since, self._gateway.settings.replay_page_size
            )
            metrics.RECOVERIES.labels(recovered="true" if page is not None else "false").inc()
        if page is not None and since is not None:
            # Recovered: the snapshot carries no shares (nor picks), the missed events follow.
            last = page.position.offset
            snapshot: dict[str, Any] = {
                "state": party.state.value,
                "shares": [],
                "likes": {},
                "presence": presence,
            }
            joined = protocol.encode_joined(party.id, snapshot, last, since.epoch, recovered=True)
            await feed.go_live(joined, self._replay(party.id, page), after=last)
            return
        fresh, tail = await self._snapshot(party.id)
        snapshot = {
            "state": party.state.value,
            "shares": [orjson.Fragment(share) for share in fresh.shares],
            "likes": fresh.likes,
            "presence": presence,
            "picks": sorted(fresh.picks),
        }
        joined = protocol.encode_joined(
            party.id,
            snapshot,
            fresh.position.offset,
            fresh.position.epoch,
            recovered=False if since is not None else None,
        )
        tail = [publication for publication in tail if publication.offset > fresh.position.offset]
        if not tail:
            await feed.go_live(joined, None, after=fresh.position.offset)
            return
        await feed.go_live(joined, _pages_of(tail), after=tail[-1].offset)

    async def _replay(self, party_id: str, page: HistoryPage) -> AsyncIterator[list[Publication]]:
        """The missed publications up to the first page's position, a page at a time: the
        next page is read only once the last one was written and the connection's unsent
        bytes are back under the transport's limit (`Wire.wait_writable`), so a long replay
        never queues more than about a page."""
        until = page.position
        while True:
            yield [
                publication
                for publication in page.publications
                if publication.offset <= until.offset
            ]
            last = page.publications[-1].offset if page.publications else until.offset
            if last >= until.offset:
                return
            since = StreamPosition(last, until.epoch)
            next_page = await self._gateway.broker.history_since(
                party_id, since, self._gateway.settings.replay_page_size
            )
            if next_page is None:
                # Trimmed while this client replayed: it cannot be given exactly what it
                # missed any more, so it is cut and will rejoin (with a fresh snapshot).
                self.outbox.cut()
                return
            page = next_page

    async def _snapshot(self, party_id: str) -> tuple[Snapshot, list[Publication]]:
        """The party's latest shares, read after this session joined the hub, and nothing
        after them; or a snapshot the hub kept, and the publications it received since."""
        hub = self._gateway.hub
        kept = hub.kept_snapshot(party_id)
        if kept is not None:
            return kept
        seen = hub.publications_seen(party_id)
        snapshot = await self._gateway.snapshots.get(party_id)
        hub.keep_snapshot(party_id, snapshot, read_after=seen)
        return snapshot, []

    async def _leave(self, frame: protocol.Leave) -> None:
        party_id = frame.party
        feed = self._feeds.pop(party_id, None)
        if feed is None:
            raise Refusal("not_joined", f"not in party {party_id}")
        await self._gateway.hub.leave(party_id, feed)
        await self._gateway.attendance.left(party_id, self._user.user_id)

    async def _share(self, frame: protocol.Share) -> int:
        gateway = self._gateway
        party = await self._live_party_joined(frame.party)
        listing = await gateway.listings.get(frame.listing)
        if listing is None:
            raise Refusal("listing_not_found", f"no listing {frame.listing}")
        match = match_theme(listing, party.theme)
        if not match.matches:
            raise Refusal("theme_mismatch", match.reason)
        retry_after_ms = await gateway.share_limiter.hit(self._user.user_id)
        if retry_after_ms is not None:
            raise Refusal("rate_limited", "too many shares; slow down", retry_after_ms)
        now = gateway.clock.now()
        item = protocol.encode_share_item(listing, self._user.user_id, now)
        event = ShareCreated(
            id=new_id(),
            party_id=party.id,
            offset=UNASSIGNED_OFFSET,
            listing_id=listing.id,
            seller_id=listing.seller_id,
            sharer_id=self._user.user_id,
            at=now,
        )
        try:
            publication = await gateway.broker.publish_share(
                party.id,
                item,
                listing.id,
                event=event,
                key=self._key(frame.key),
                user_id=self._user.user_id,
            )
        except Muted:
            raise Refusal("muted", _MUTED) from None
        except OutboxFull:
            raise Refusal("unavailable", _BACKLOG, _BACKLOG_RETRY_MS) from None
        log.debug("shared listing %s at offset %d", listing.id, publication.offset)
        return publication.offset

    async def _like(self, frame: protocol.Like) -> int | None:
        gateway = self._gateway
        party = await self._live_party_joined(frame.party)
        share_offset = frame.share
        now = gateway.clock.now()
        item = protocol.encode_like_item(self._user.user_id, now)
        event = LikeCreated(
            id=new_id(),
            party_id=party.id,
            offset=UNASSIGNED_OFFSET,
            share_offset=share_offset,
            listing_id=UNASSIGNED_LISTING,
            liker_id=self._user.user_id,
            at=now,
        )
        try:
            liked = await gateway.broker.publish_like(
                party.id,
                share_offset,
                self._user.user_id,
                item,
                event=event,
                key=self._key(frame.key),
            )
        except ShareNotFound:
            raise Refusal("share_not_found", f"no share {share_offset} in this party") from None
        except Muted:
            raise Refusal("muted", _MUTED) from None
        except OutboxFull:
            raise Refusal("unavailable", _BACKLOG, _BACKLOG_RETRY_MS) from None
        if liked is None:
            return None  # this user liked it before: nothing new, still acknowledged
        return liked.publication.offset

    async def _pick(self, frame: protocol.Pick) -> int | None:
        # A fresh read: who may pick (the host and co-hosts) is checked as it stands now.
        party = await self._live_party_joined(frame.party, self._gateway.parties.get)
        user_id = self._user.user_id
        if user_id != party.host_id and user_id not in party.cohosts:
            raise Refusal("forbidden", "only the party's host or a co-host may pick")
        action = HostAction.PICK if frame.picked else HostAction.UNPICK
        try:
            publication = await self._gateway.host_tools.on_share(
                party, user_id, action, frame.share
            )
        except NotFound:
            raise Refusal("share_not_found", f"no share {frame.share} in this party") from None
        except NothingToChange:
            return None  # picked (or unpicked) already: nothing new, still acknowledged
        return publication.offset

    def _key(self, key: str | None) -> IdempotencyKey | None:
        return None if key is None else IdempotencyKey(self._user.user_id, key)

    async def _ping(self, frame: protocol.Ping) -> None:
        self.outbox.send(protocol.encode_pong(frame.id))

    async def _auth(self, frame: protocol.Auth) -> None:
        raise Refusal("bad_frame", "auth: only as the first frame of a connection without a token")

    # --- checks -----------------------------------------------------------------------

    async def _party(
        self, party_id: str, read: Callable[[str], Awaitable[Party | None]] | None = None
    ) -> Party:
        party = await (read or self._gateway.parties.get)(party_id)
        if party is None:
            raise Refusal("party_not_found", f"no party {party_id}")
        return party

    async def _live_party_joined(
        self, party_id: str, read: Callable[[str], Awaitable[Party | None]] | None = None
    ) -> Party:
        """The party, live and joined by this session; read as a share reads it (a kept read,
        gateway/kept_reads.py) unless `read` is given."""
        if party_id not in self._feeds:
            raise Refusal("not_joined", f"join party {party_id} first")
        party = await self._party(party_id, read or self._gateway.kept_parties.get)
        if not party.is_live:
            raise Refusal("party_not_live", f"the party is {party.state.value}")
        return party


async def _pages_of(publications: list[Publication]) -> AsyncIterator[list[Publication]]:
    """A replay of publications already at hand (a kept snapshot's tail)."""
    yield publications


def _count_answered(frame: protocol.ClientFrame, taken: float) -> None:
    if isinstance(frame, protocol.Share):
        metrics.SHARES_ACCEPTED.inc()
    elif isinstance(frame, protocol.Like):
        metrics.LIKES_ACCEPTED.inc()
    elif isinstance(frame, protocol.Join):
        metrics.JOINS.labels(outcome="ok").inc()
        return
    else:
        return
    if frame.id is not None:  # acked
        metrics.ACK_SECONDS.observe(time.perf_counter() - taken)


# By frame type; on the class, not per session: bound methods kept by a session would make
# it a reference cycle, freed only by a full garbage collection instead of at disconnect.
_HANDLERS: dict[type, Callable[[Session, Any], Awaitable[int | None]]] = {
    protocol.Join: Session._join,
    protocol.Leave: Session._leave,
    protocol.Share: Session._share,
    protocol.Auth: Session._auth,
    protocol.Like: Session._like,
    protocol.Ping: Session._ping,
    protocol.Pick: Session._pick,
}
