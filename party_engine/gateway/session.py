"""One WebSocket connection's side of the protocol: join, leave, share, like, ping.

Frames of one connection are handled one at a time, in order. Every refusal is an `error`
frame with a code; only the transport itself closes a connection (1009 for an oversized
frame, 4008 for a slow consumer, a drain).
"""

import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import orjson

from .. import protocol
from ..domain.events import LikeCreated, ShareCreated
from ..domain.ids import new_id
from ..domain.listings import match_theme
from ..domain.parties import Party
from ..ports import Publication, ShareNotFound, Snapshot
from ..tokens import Principal
from .hub import Member, events_frame
from .transport import Wire, text_frame

if TYPE_CHECKING:
    from .service import Gateway  # which imports this module to make sessions

log = logging.getLogger(__name__)

SLOW_CONSUMER = 4008
# Replayed history goes out in frames of this many items, each after the last one drained,
# so that a long replay neither makes one huge frame nor counts as a slow consumer.
REPLAY_CHUNK = 100


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
        self.send_prepared(text_frame(payload))

    def send_prepared(self, frame: bytes) -> None:
        self.wire.write(frame)
        if self.wire.pending_bytes > self._max_pending:
            self.cut()

    def cut(self) -> None:
        self.wire.close(SLOW_CONSUMER, "slow_consumer", abort_after=self._close_grace)

    def close(self, code: int, reason: str) -> None:
        self.wire.close(code, reason, abort_after=self._close_grace)


class PartyFeed(Member):
    """One session's membership of one party, as the hub sees it.

    Until the join has sent its snapshot or replay, live batches are held back (as
    publications, so that the overlap with the replay can be dropped by offset).
    """

    def __init__(self, party_id: str, outbox: Outbox, max_held: int) -> None:
        self.party_id = party_id
        self._outbox = outbox
        self._max_held = max_held
        self._held: list[Publication] | None = []
        self._live_after = 0

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

    async def go_live(self, joined: bytes, replay: list[Publication], after: int) -> None:
        """Send `joined`, the replay, then the held live events past it, and go live."""
        self._outbox.send(joined)
        await self._send_items(replay)
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
            wire.write(events_frame(self.party_id, chunk))
            await wire.wait_writable()


class Session:
    def __init__(self, gateway: "Gateway", principal: Principal, outbox: Outbox) -> None:
        self._gateway = gateway
        self._user = principal
        self.outbox = outbox
        self._feeds: dict[str, PartyFeed] = {}

    async def handle(self, data: str | bytes) -> None:
        """Answer one client frame; never raises for anything the client sent."""
        frame_id = None
        try:
            frame = protocol.decode_client_frame(data)
            frame_id = frame.id
            if not self._gateway.started and not isinstance(frame, protocol.Ping):
                raise Refusal("unavailable", "the gateway is connecting; try again shortly", 1000)
            offset = await _HANDLERS[type(frame)](self, frame)
            if not isinstance(frame, protocol.Join | protocol.Ping) and frame_id is not None:
                self.outbox.send(protocol.encode_ack(frame_id, offset))
        except protocol.ProtocolError as error:
            self.outbox.send(protocol.encode_error(error.code, error.message, error.frame_id))
        except Refusal as refusal:
            self.outbox.send(
                protocol.encode_error(
                    refusal.code, refusal.message, frame_id, refusal.retry_after_ms
                )
            )
        except Exception as error:
            # A backend failed (Redis restarting, the event buffer full, ...): the client is
            # told to retry; the connection and the session go on.
            log.warning("frame refused as unavailable: %r", error, exc_info=True)
            self.outbox.send(
                protocol.encode_error("unavailable", "try again shortly", frame_id, 1000)
            )

    async def close(self) -> None:
        """Leave every party (the connection is gone)."""
        for party_id in list(self._feeds):
            await self._gateway.hub.leave(party_id, self._feeds.pop(party_id))

    # --- frames -----------------------------------------------------------------------

    async def _join(self, frame: protocol.Join) -> None:
        gateway = self._gateway
        party_id = frame.party
        party = await self._party(party_id)
        if party_id in self._feeds:  # a second join restarts the feed from its `since`
            await gateway.hub.leave(party_id, self._feeds.pop(party_id))
        feed = PartyFeed(party_id, self.outbox, max_held=gateway.settings.history_size)
        await gateway.hub.join(party_id, feed)
        self._feeds[party_id] = feed
        try:
            await self._catch_up(feed, party, frame)
        except BaseException:
            await gateway.hub.leave(party_id, self._feeds.pop(party_id))
            raise

    async def _catch_up(self, feed: PartyFeed, party: Party, frame: protocol.Join) -> None:
        broker = self._gateway.broker
        presence = self._gateway.presence_of(party.id)
        since = frame.since
        replay = None
        if since is not None:
            replay = await broker.history_since(party.id, since)
        if replay is not None and since is not None:
            # Recovered: the snapshot carries no shares, the missed events follow it.
            last = replay[-1].offset if replay else since.offset
            snapshot: dict[str, Any] = {
                "state": party.state.value,
                "shares": [],
                "likes": {},
                "presence": presence,
            }
            joined = protocol.encode_joined(party.id, snapshot, last, since.epoch, recovered=True)
            await feed.go_live(joined, replay, after=last)
            return
        fresh = await self._snapshot(party.id)
        snapshot = {
            "state": party.state.value,
            "shares": [orjson.Fragment(share) for share in fresh.shares],
            "likes": fresh.likes,
            "presence": presence,
        }
        joined = protocol.encode_joined(
            party.id,
            snapshot,
            fresh.position.offset,
            fresh.position.epoch,
            recovered=False if since is not None else None,
        )
        await feed.go_live(joined, [], after=fresh.position.offset)

    async def _snapshot(self, party_id: str) -> Snapshot:
        """The party's latest shares, read after this session joined the hub (or kept by the
        hub from a read that nothing has been published after)."""
        hub = self._gateway.hub
        kept = hub.kept_snapshot(party_id)
        if kept is not None:
            return kept
        seen = hub.publications_seen(party_id)
        snapshot = await self._gateway.snapshots.get(party_id)
        hub.keep_snapshot(party_id, snapshot, read_after=seen)
        return snapshot

    async def _leave(self, frame: protocol.Leave) -> None:
        party_id = frame.party
        feed = self._feeds.pop(party_id, None)
        if feed is None:
            raise Refusal("not_joined", f"not in party {party_id}")
        await self._gateway.hub.leave(party_id, feed)

    async def _share(self, frame: protocol.Share) -> int:
        gateway = self._gateway
        party = await self._live_party_joined(frame.party)
        listing = await gateway.store.get_listing(frame.listing)
        if listing is None:
            raise Refusal("listing_not_found", f"no listing {frame.listing}")
        match = match_theme(listing, party.theme)
        if not match.matches:
            raise Refusal("theme_mismatch", match.reason)
        retry_after_ms = await gateway.share_limiter.hit(self._user.user_id)
        if retry_after_ms is not None:
            raise Refusal("rate_limited", "too many shares; slow down", retry_after_ms)
        if not gateway.events.has_room():
            raise Refusal("unavailable", "the party is very busy; try again shortly", 1000)
        now = gateway.clock.now()
        item = protocol.encode_share_item(listing, self._user.user_id, now)
        publication = await gateway.broker.publish_share(party.id, item, listing.id)
        await gateway.events.publish(
            ShareCreated(
                id=new_id(),
                party_id=party.id,
                offset=publication.offset,
                listing_id=listing.id,
                seller_id=listing.seller_id,
                sharer_id=self._user.user_id,
                at=now,
            )
        )
        return publication.offset

    async def _like(self, frame: protocol.Like) -> int | None:
        gateway = self._gateway
        party = await self._live_party_joined(frame.party)
        share_offset = frame.share
        now = gateway.clock.now()
        item = protocol.encode_like_item(self._user.user_id, now)
        try:
            liked = await gateway.broker.publish_like(
                party.id, share_offset, self._user.user_id, item
            )
        except ShareNotFound:
            raise Refusal("share_not_found", f"no share {share_offset} in this party") from None
        if liked is None:
            return None  # this user liked it before: nothing new, still acknowledged
        await gateway.events.publish(
            LikeCreated(
                id=new_id(),
                party_id=party.id,
                offset=liked.publication.offset,
                share_offset=share_offset,
                listing_id=liked.listing_id,
                liker_id=self._user.user_id,
                at=now,
            )
        )
        return liked.publication.offset

    async def _ping(self, frame: protocol.Ping) -> None:
        self.outbox.send(protocol.encode_pong(frame.id))

    # --- checks -----------------------------------------------------------------------

    async def _party(self, party_id: str) -> Party:
        party = await self._gateway.parties.get(party_id)
        if party is None:
            raise Refusal("party_not_found", f"no party {party_id}")
        return party

    async def _live_party_joined(self, party_id: str) -> Party:
        if party_id not in self._feeds:
            raise Refusal("not_joined", f"join party {party_id} first")
        party = await self._party(party_id)
        if not party.is_live:
            raise Refusal("party_not_live", f"the party is {party.state.value}")
        return party


# By frame type; on the class, not per session: bound methods kept by a session would make
# it a reference cycle, freed only by a full garbage collection instead of at disconnect.
_HANDLERS: dict[type, Callable[[Session, Any], Awaitable[int | None]]] = {
    protocol.Join: Session._join,
    protocol.Leave: Session._leave,
    protocol.Share: Session._share,
    protocol.Like: Session._like,
    protocol.Ping: Session._ping,
}
