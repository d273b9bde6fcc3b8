"""The embedded broker: offsets, bounded history and likes of every party in process.

One process is one gateway here, so fan-out is a direct call of the handler from the publishing
coroutine: already in offset order, with nothing to lose in between. The events of shares and
likes go into `outbox` (outbox_memory.py) in the same step, for the embedded relay.
"""

import dataclasses
import secrets
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from itertools import islice

from ..domain.events import HostShareEvent, LikeCreated, ShareCreated, ShareRemoved
from ..ports import (
    HistoryPage,
    HostAction,
    IdempotencyKey,
    Muted,
    NothingToChange,
    OutboxFull,
    Publication,
    PublishedLike,
    ShareNotFound,
    Snapshot,
    StreamPosition,
)
from ..recovery import recover
from .broker_shared import (
    DEFAULT_SNAPSHOT_SIZE,
    SNAPSHOT_MAX_BYTES,
    ignore_broadcast,
    ignore_publication,
    key_field,
    no_outbox_bound,
)
from .embedded import InProcess
from .event_codec import encode_event
from .items import check_item, splice_front
from .outbox_memory import MemoryOutbox


def new_epoch() -> str:
    return secrets.token_hex(8)


@dataclass
class _Stream:
    epoch: str
    history: deque[Publication]
    shares: deque[Publication]
    offset: int = 0
    likes: dict[int, int] = field(default_factory=dict)  # every share's offset -> like count
    likers: set[tuple[int, str]] = field(default_factory=set)
    listings: dict[int, str] = field(default_factory=dict)  # every share's offset -> listing id
    keys: dict[str, int] = field(default_factory=dict)  # idempotency key field -> offset
    picks: set[int] = field(default_factory=set)
    mutes: dict[str, int] = field(default_factory=dict)  # user -> until (Unix ms; 0: ever)
    sharers: dict[int, str] = field(default_factory=dict)  # share offset -> sharer id

    def muted(self, user_id: str | None) -> bool:
        if user_id is None or user_id not in self.mutes:
            return False
        until = self.mutes[user_id]
        return until == 0 or until > time.time() * 1000

    @property
    def position(self) -> StreamPosition:
        return StreamPosition(self.offset, self.epoch)


class MemoryBroker(InProcess):
    def __init__(
        self,
        history_size: int = 10_000,
        snapshot_size: int = DEFAULT_SNAPSHOT_SIZE,
        outbox_max_depth: int | None = None,
    ) -> None:
        self.history_size = history_size
        self.snapshot_size = snapshot_size
        self.outbox = MemoryOutbox()
        self.outbox_max_depth = no_outbox_bound(outbox_max_depth)
        self._streams: dict[str, _Stream] = {}
        self._retire_at: dict[str, float] = {}  # party -> when its stream goes
        self._subscribed: set[str] = set()
        self._on_publication: Callable[[Publication], None] = ignore_publication
        self._on_broadcast: Callable[[str, bytes], None] = ignore_broadcast

    async def close(self) -> None:
        self._subscribed.clear()

    def _stream(self, party_id: str) -> _Stream:
        retire_at = self._retire_at.get(party_id)
        if retire_at is not None and time.time() >= retire_at:
            self._streams.pop(party_id, None)
            del self._retire_at[party_id]
        stream = self._streams.get(party_id)
        if stream is None:
            stream = _Stream(
                epoch=new_epoch(),
                history=deque(maxlen=self.history_size),
                shares=deque(maxlen=self.snapshot_size),
            )
            self._streams[party_id] = stream
        return stream

    def _append(self, party_id: str, stream: _Stream, payload: bytes) -> Publication:
        publication = Publication(party_id, stream.offset, payload)
        stream.history.append(publication)
        if party_id in self._subscribed:
            self._on_publication(publication)
        return publication

    async def publish_share(
        self,
        party_id: str,
        item: bytes,
        listing_id: str,
        *,
        event: ShareCreated | None = None,
        key: IdempotencyKey | None = None,
        user_id: str | None = None,
    ) -> Publication:
        check_item(item)
        stream = self._stream(party_id)
        field = key_field(key)
        if field in stream.keys:
            return Publication(party_id, stream.keys[field], b"")
        if stream.muted(user_id):
            raise Muted(f"{user_id} is muted in party {party_id}")
        self._check_outbox(party_id)
        stream.offset += 1
        offset = stream.offset
        payload = splice_front(item, [("offset", offset), ("share", offset)])
        stream.likes[offset] = 0
        stream.listings[offset] = listing_id
        if user_id is not None:
            stream.sharers[offset] = user_id
        publication = self._append(party_id, stream, payload)
        stream.shares.append(publication)
        if event is not None:
            self.outbox.append(party_id, encode_event(dataclasses.replace(event, offset=offset)))
        if field:
            stream.keys[field] = offset
        return publication

    async def publish_like(
        self,
        party_id: str,
        share_offset: int,
        user_id: str,
        item: bytes,
        *,
        event: LikeCreated | None = None,
        key: IdempotencyKey | None = None,
    ) -> PublishedLike | None:
        check_item(item)
        stream = self._stream(party_id)
        if share_offset not in stream.likes:
            raise ShareNotFound(f"offset {share_offset} is not a share of party {party_id}")
        listing_id = stream.listings[share_offset]
        field = key_field(key)
        if field in stream.keys:
            return PublishedLike(Publication(party_id, stream.keys[field], b""), listing_id)
        if (share_offset, user_id) in stream.likers:
            return None
        if stream.muted(user_id):
            raise Muted(f"{user_id} is muted in party {party_id}")
        self._check_outbox(party_id)
        stream.likers.add((share_offset, user_id))
        stream.likes[share_offset] += 1
        stream.offset += 1
        offset = stream.offset
        payload = splice_front(
            item,
            [("offset", offset), ("share", share_offset), ("likes", stream.likes[share_offset])],
        )
        publication = self._append(party_id, stream, payload)
        if event is not None:
            done = dataclasses.replace(event, offset=offset, listing_id=listing_id)
            self.outbox.append(party_id, encode_event(done))
        if field:
            stream.keys[field] = offset
        return PublishedLike(publication, listing_id)

    async def publish_host_action(
        self,
        party_id: str,
        action: HostAction,
        target: str,
        item: bytes,
        *,
        mute_until_ms: int = 0,
        event: HostShareEvent | None = None,
    ) -> Publication:
        check_item(item)
        stream = self._stream(party_id)
        head: list[tuple[str, int]] = []
        share = 0
        if action is HostAction.MUTE:
            stream.mutes[target] = mute_until_ms
        elif action is HostAction.UNMUTE:
            if not stream.muted(target):
                raise NothingToChange(f"{target} is not muted")
            del stream.mutes[target]
        else:
            share = int(target)
            if share not in stream.likes:
                raise ShareNotFound(f"offset {share} is not a share of party {party_id}")
            head = [("share", share)]
            if action is HostAction.PICK:
                if share in stream.picks:
                    raise NothingToChange(f"share {share} is picked already")
                stream.picks.add(share)
            elif action is HostAction.UNPICK:
                if share not in stream.picks:
                    raise NothingToChange(f"share {share} is not picked")
                stream.picks.discard(share)
            else:
                likes = stream.likes.pop(share)
                picked = share in stream.picks
                stream.picks.discard(share)
                if isinstance(event, ShareRemoved):
                    sharer = stream.sharers.get(share, "")
                    event = dataclasses.replace(
                        event, sharer_id=sharer, likes=likes, picked=int(picked)
                    )
                kept = [p for p in stream.shares if p.offset != share]
                stream.shares.clear()
                stream.shares.extend(kept)
        stream.offset += 1
        payload = splice_front(item, [("offset", stream.offset), *head])
        publication = self._append(party_id, stream, payload)
        if event is not None:
            done = dataclasses.replace(
                event, offset=stream.offset, listing_id=stream.listings[share]
            )
            self.outbox.append(party_id, encode_event(done))
        return publication

    def _check_outbox(self, party_id: str) -> None:
        if self.outbox.depth_now(party_id) >= self.outbox_max_depth:
            raise OutboxFull(f"the outbox of party {party_id} is full")

    async def broadcast(self, party_id: str, frame: bytes) -> None:
        if party_id in self._subscribed:
            self._on_broadcast(party_id, frame)

    async def position(self, party_id: str) -> StreamPosition:
        return self._stream(party_id).position

    async def history_since(
        self, party_id: str, since: StreamPosition, limit: int
    ) -> HistoryPage | None:
        stream = self._stream(party_id)
        oldest = stream.history[0].offset if stream.history else stream.offset + 1
        start = max(since.offset + 1 - oldest, 0)
        page = recover(
            since, stream.position, list(islice(stream.history, start, start + limit)), limit
        )
        return None if page is None else HistoryPage(stream.position, page)

    async def snapshot(
        self, party_id: str, shares: int = 50, max_bytes: int = SNAPSHOT_MAX_BYTES
    ) -> Snapshot:
        if shares < 0:
            raise ValueError("shares must be >= 0")
        stream = self._stream(party_id)
        latest: list[Publication] = []
        weight = 0
        for share in islice(reversed(stream.shares), shares):
            weight += len(share.payload)
            if weight > max_bytes:
                break
            latest.append(share)
        latest.reverse()
        return Snapshot(
            position=stream.position,
            shares=[share.payload for share in latest],
            likes={share.offset: stream.likes[share.offset] for share in latest},
            picks=frozenset(stream.picks),
        )

    async def retire(self, party_id: str, at: datetime) -> None:
        self._retire_at[party_id] = at.timestamp()

    async def subscribe(self, party_id: str) -> StreamPosition:
        self._subscribed.add(party_id)
        return self._stream(party_id).position

    async def unsubscribe(self, party_id: str) -> None:
        self._subscribed.discard(party_id)

    def set_handler(
        self,
        on_publication: Callable[[Publication], None],
        on_broadcast: Callable[[str, bytes], None],
        on_new_epoch: Callable[[str], None] | None = None,
    ) -> None:
        """An embedded stream never loses writes: no new epoch to announce."""
        self._on_publication = on_publication
        self._on_broadcast = on_broadcast
