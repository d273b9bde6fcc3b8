"""The hub: this gateway's sessions by party, and the batched fan-out to them.

The broker calls `on_publication` for every event of a party this gateway subscribes to, in
offset order. The hub writes a party's events at most once per tick (PARTY_FANOUT_TICK_MS):
an event of a quiet party (none written in the last tick) goes out on the next turn of the
event loop, with whatever else arrived in that turn; events that come while a party is busy
wait for the end of the tick after its last write. So batching costs a quiet party nothing and
bounds the frames per second of a busy one. A party whose write takes long (thousands of
members here) is spaced further apart, so that its writes take at most a share of the event
loop (PARTY_FANOUT_LOOP_SHARE; less while shoppers pour in: STORM_LOOP_SHARE) and its events
are batched more. Each batch is encoded once as one `events` frame and the same bytes are
written to every local session of the party. Writing never awaits a client: a session whose
unsent bytes pass PARTY_MAX_PENDING_BYTES is cut (4008 slow_consumer) and the others do not
notice.

The broker subscription of a party follows its local sessions: subscribe on the first join,
unsubscribe after the last leave (encode/broadcaster's subscribe(), without its queues).
"""

import asyncio
import logging
import time
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import orjson

from .. import metrics, protocol
from ..domain.parties import PartyState
from ..ports import Broker, Publication, Snapshot, StreamPosition
from .transport import text_frame

log = logging.getLogger(__name__)


class Member(ABC):
    """What the hub needs of a session."""

    @abstractmethod
    def deliver(self, frame: bytes, publications: list[Publication]) -> None:
        """Take a prepared `events` frame (and the publications it carries)."""

    @abstractmethod
    def send_prepared(self, frame: bytes) -> None:
        """Take a prepared frame that is not part of the event stream (presence)."""

    @abstractmethod
    def tell_state(self, state: PartyState, frame: bytes) -> None:
        """Take the party's `party {state}` frame, unless already told that state or a later
        one (it may come twice: broadcast by whoever changed it, and from the state repair)."""

    def stream_reset(self) -> None:  # noqa: B027  # members that keep no position ignore it
        """The party's stream started a new epoch: what this member was sent may name
        publications that no longer exist."""


# Members written to between two turns of the event loop, for frames sent in slices
# (a write is ~10 us of kernel time: 500 writes hold the loop ~5 ms).
SLICE_SIZE = 500
# How long a kept snapshot may serve joiners, and how many publications after it it may be
# followed by (one `events` frame of a replay: session.REPLAY_CHUNK) before a joiner reads
# the party's snapshot again.
SNAPSHOT_KEEP_SECONDS = 1.0
SNAPSHOT_TAIL = 100
# Items that change what a snapshot shows (a pick, a removed share) rather than add to it: after
# one, joiners read the snapshot again instead of being shown the old one and then the change.
_HOST_ITEMS = tuple(b'"kind":"%s"' % kind.encode() for kind in protocol.HOST_ITEM_KINDS.values())
# A join storm (a party's start): at least this many joins on this gateway within a second.
# Meanwhile a big party's fan-out takes at most STORM_LOOP_SHARE of the loop (if the setting
# allows more), leaving the rest to the joins: in the bench's storm (20,000 joiners in 10 s,
# 20 shares/s) the fan-out at 0.5 took the single server core from the joins, whose backlog
# overflowed the kernel's accept queue (p99 8-11 s); at 0.2, p99 3-5 s, mostly none dropped.
# Outside a storm the setting applies: at 0.2 all the time, a party of 10,000 at 2 shares/s
# waited 355 ms (p50) instead of 53 for its events.
STORM_JOINS_PER_SECOND = 100
STORM_LOOP_SHARE = 0.2


@dataclass(eq=False)
class Room:
    """One party on this gateway."""

    party_id: str
    members: dict[Member, str] = field(default_factory=dict)  # member -> its user id
    users: dict[str, int] = field(default_factory=dict)  # user id -> its members here
    pending: list[Publication] = field(default_factory=list)
    flush_scheduled: bool = False
    flushed_at: float = float("-inf")  # the event loop's time of the last write of events
    spacing: float = 0.0  # from one write of events to the next: the tick, or more (loop_share)
    subscription: asyncio.Future[StreamPosition] | None = None
    publications: int = 0  # received so far
    snapshot: Snapshot | None = None
    snapshot_tail: list[Publication] = field(default_factory=list)  # received since it was kept
    snapshot_expires: float = 0.0


def coalesce_likes(publications: list[Publication]) -> list[Publication]:
    """Keep one like item per share: the last one, which carries the latest count.

    Each kept item keeps its offset, so the batch stays in offset order and a client that
    resumes from the batch's last offset has seen everything before it.
    """
    liked = [_liked_share(publication) for publication in publications]
    last_like = {share: index for index, share in enumerate(liked) if share is not None}
    if len(last_like) == sum(share is not None for share in liked):
        return publications
    return [
        publication
        for index, (publication, share) in enumerate(zip(publications, liked, strict=True))
        if share is None or last_like[share] == index
    ]


def _liked_share(publication: Publication) -> int | None:
    if b'"kind":"like"' not in publication.payload:  # most items are shares: skip the parse
        return None
    item = orjson.loads(publication.payload)
    return item["share"] if item.get("kind") == "like" else None


def _is_host_item(publication: Publication) -> bool:
    return any(kind in publication.payload for kind in _HOST_ITEMS)


def events_frame(party_id: str, publications: list[Publication]) -> bytes:
    """The prepared `events` frame of a batch: encoded once, for every recipient."""
    return text_frame(
        protocol.encode_events_from_encoded_items(party_id, [p.payload for p in publications])
    )


class Hub:
    def __init__(
        self,
        broker: Broker,
        *,
        tick_seconds: float,
        loop_share: float,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        """`loop_share` is the share of the event loop one party's event frames may take:
        after a write to its members that took d seconds, the party's next one waits at least
        d / loop_share. A party of a few hundred is written every tick; one of 10,000 (tens of
        milliseconds a write) less often, its frames carrying more events each, instead of its
        fan-out crowding out joins and every other party on the gateway. `clock` times each
        write."""
        self._broker = broker
        self._tick = tick_seconds
        self._loop_share = loop_share
        self._clock = clock
        self._rooms: dict[str, Room] = {}
        # party -> users whose first member here joined, or whose last one left, since
        # presence last took them (a user is in one of the two at most)
        self._arrived: dict[str, set[str]] = {}
        self._departed: dict[str, set[str]] = {}
        self._recent_joins: deque[float] = deque(maxlen=STORM_JOINS_PER_SECOND)  # their times
        self._loop: asyncio.AbstractEventLoop | None = None

    # --- membership -------------------------------------------------------------------

    async def join(self, party_id: str, member: Member, user_id: str) -> None:
        """Add a member (a session of `user_id`); once this returns it gets every publication
        the broker delivers."""
        room = self._rooms.setdefault(party_id, Room(party_id))
        self._recent_joins.append(self._event_loop().time())
        if member not in room.members:
            room.members[member] = user_id
            room.users[user_id] = room.users.get(user_id, 0) + 1
            if room.users[user_id] == 1:
                self._departed.get(party_id, set()).discard(user_id)
                self._arrived.setdefault(party_id, set()).add(user_id)
        if room.subscription is None:
            room.subscription = asyncio.ensure_future(self._broker.subscribe(party_id))
        subscription = room.subscription
        try:
            if subscription.done():  # the usual case: no shield, no callback to schedule
                subscription.result()
            else:
                await asyncio.shield(subscription)
        except BaseException:
            if subscription.done() and room.subscription is subscription:
                room.subscription = None  # failed: the next joiner tries again
            await self.leave(party_id, member)
            raise

    async def leave(self, party_id: str, member: Member) -> None:
        room = self._rooms.get(party_id)
        if room is None or member not in room.members:
            return
        user_id = room.members.pop(member)
        room.users[user_id] -= 1
        if not room.users[user_id]:
            del room.users[user_id]
            self._arrived.get(party_id, set()).discard(user_id)
            self._departed.setdefault(party_id, set()).add(user_id)
        if room.members:
            return
        del self._rooms[party_id]
        if room.subscription is None:
            return
        try:
            await asyncio.shield(room.subscription)
            await self._broker.unsubscribe(party_id)
        except Exception:
            log.warning("unsubscribing from party %s failed", party_id, exc_info=True)

    # --- snapshots for joiners ------------------------------------------------------------
    #
    # A joiner may be given a snapshot read before it joined, followed by the publications
    # the room received since (its tail): everything published before the read is in the
    # snapshot, everything after it in the tail (or in both: the joiner skips what the
    # snapshot's position already covers), and everything after the join reaches the joiner
    # live. A snapshot is kept only if no publication arrived while it was read, so its tail
    # starts empty; a host's item (a pick, a removed share) ends it, since it changes what the
    # snapshot shows. In a join storm, one read serves every joiner of a party for a second
    # instead of one read each; with shares flowing too (a party's start), instead of a read
    # after every share: the reads of 50 shares each, back to back, were a third of a
    # gateway's CPU in the bench's storm.

    def hears(self, party_id: str) -> bool:
        """Whether this gateway hears the party's broadcasts (its state changes): it has
        members there and is subscribed."""
        room = self._rooms.get(party_id)
        subscription = room.subscription if room is not None else None
        return (
            subscription is not None
            and subscription.done()
            and not subscription.cancelled()
            and subscription.exception() is None
        )

    def publications_seen(self, party_id: str) -> int:
        room = self._rooms.get(party_id)
        return room.publications if room is not None else -1

    def kept_snapshot(self, party_id: str) -> tuple[Snapshot, list[Publication]] | None:
        """A kept snapshot of the party and its tail, if one is kept."""
        room = self._rooms.get(party_id)
        if room is None or room.snapshot is None:
            return None
        if self._event_loop().time() >= room.snapshot_expires:
            return None
        return room.snapshot, list(room.snapshot_tail)

    def keep_snapshot(self, party_id: str, snapshot: Snapshot, read_after: int) -> None:
        """Keep a snapshot whose read began when the room had seen `read_after` publications."""
        room = self._rooms.get(party_id)
        if room is None or room.publications != read_after:
            return  # something arrived meanwhile: in the snapshot or not, nobody knows
        room.snapshot = snapshot
        room.snapshot_tail = []
        room.snapshot_expires = self._event_loop().time() + SNAPSHOT_KEEP_SECONDS

    # --- presence: users, however many sessions each has here ------------------------------

    def local_count(self, party_id: str) -> int:
        room = self._rooms.get(party_id)
        return len(room.users) if room is not None else 0

    def take_arrivals(self) -> dict[str, set[str]]:
        """The users whose first session here joined each party since the last call (and are
        still here)."""
        arrived, self._arrived = self._arrived, {}
        return {party_id: users for party_id, users in arrived.items() if users}

    def take_departures(self) -> dict[str, set[str]]:
        """The users whose last session here left each party since the last call (and have
        not come back)."""
        departed, self._departed = self._departed, {}
        return {party_id: users for party_id, users in departed.items() if users}

    # --- fan-out (called by the broker, synchronously, in offset order) -----------------

    def on_publication(self, publication: Publication) -> None:
        room = self._rooms.get(publication.party_id)
        if room is None:
            return  # the last member left while this was on its way
        room.publications += 1
        room.pending.append(publication)
        if room.snapshot is not None:
            if len(room.snapshot_tail) < SNAPSHOT_TAIL and not _is_host_item(publication):
                room.snapshot_tail.append(publication)
            else:
                room.snapshot, room.snapshot_tail = None, []
        if not room.flush_scheduled:
            room.flush_scheduled = True
            loop = self._event_loop()
            next_write = room.flushed_at + max(self._tick, room.spacing)
            if next_write <= loop.time():
                loop.call_soon(self._flush, room)
            else:
                loop.call_at(next_write, self._flush, room)

    def on_new_epoch(self, party_id: str) -> None:
        """Every member resyncs (a fresh snapshot); no kept snapshot serves a joiner."""
        room = self._rooms.get(party_id)
        if room is None:
            return
        room.snapshot, room.snapshot_tail = None, []
        for member in list(room.members):
            member.stream_reset()

    def on_broadcast(self, party_id: str, payload: bytes) -> None:
        frame = orjson.loads(payload)
        if frame.get("type") == "party":
            self._tell_state(party_id, PartyState(frame["state"]), text_frame(payload))
        else:
            self.send_to_party(party_id, text_frame(payload))

    def tell_state(self, party_id: str, state: PartyState) -> None:
        """Tell the party's members its state, each one that was not told it yet."""
        frame = text_frame(protocol.encode_party_state(party_id, state.value))
        self._tell_state(party_id, state, frame)

    def _tell_state(self, party_id: str, state: PartyState, frame: bytes) -> None:
        room = self._rooms.get(party_id)
        if room is not None:
            _each(room.members, lambda member: member.tell_state(state, frame))
            metrics.count_sent(len(room.members), len(frame))  # some were told it already

    def party_ids(self) -> list[str]:
        """The parties this gateway has members in."""
        return list(self._rooms)

    def send_to_party(self, party_id: str, frame: bytes) -> None:
        room = self._rooms.get(party_id)
        if room is not None:
            _each(room.members, lambda member: member.send_prepared(frame))
            metrics.count_sent(len(room.members), len(frame))

    async def send_to_party_in_slices(
        self, party_id: str, frame: bytes, slice_size: int = SLICE_SIZE
    ) -> None:
        """send_to_party for a frame whose timing hardly matters (presence): the event loop
        runs between slices of members, so a party of 10,000 does not stop it for ~100 ms."""
        room = self._rooms.get(party_id)
        if room is None:
            return
        members = list(room.members)
        for start in range(0, len(members), slice_size):
            members_slice = members[start : start + slice_size]
            _each(members_slice, lambda member: member.send_prepared(frame))
            metrics.count_sent(len(members_slice), len(frame))
            await asyncio.sleep(0)

    def _flush(self, room: Room) -> None:
        room.flush_scheduled = False
        publications, room.pending = room.pending, []
        if not publications or not room.members:
            return
        room.flushed_at = self._event_loop().time()
        batch = coalesce_likes(publications)
        frame = events_frame(room.party_id, batch)
        recipients = len(room.members)
        started = self._clock()
        _each(room.members, lambda member: member.deliver(frame, batch))
        share = (
            min(self._loop_share, STORM_LOOP_SHARE) if self._in_join_storm() else self._loop_share
        )
        room.spacing = (self._clock() - started) / share
        # Counted per batch, never per recipient: this loop is the gateway's hot path.
        metrics.count_sent(recipients, len(frame), len(batch))
        published = metrics.published_at(batch[0].payload)
        if published is not None:
            metrics.PUBSUB_LAG.observe(max(0.0, time.time() - published))

    def _in_join_storm(self) -> bool:
        joins = self._recent_joins
        return len(joins) == joins.maxlen and self._event_loop().time() - joins[0] < 1.0

    def _event_loop(self) -> asyncio.AbstractEventLoop:
        if self._loop is None:
            self._loop = asyncio.get_running_loop()
        return self._loop


def _each(members: Iterable[Member], send) -> None:
    # A copy: delivering may cut a slow member, which leaves the set.
    for member in list(members):
        try:
            send(member)
        except Exception:
            log.exception("delivery to a session failed")
