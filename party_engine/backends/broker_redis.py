"""The Redis broker: per-party offsets, bounded history and fan-out through pub/sub.

Keys of a party (the braces are a cluster hash tag: one party's keys share a slot):
  pe:stream:{id}:meta      hash {epoch, offset}
  pe:stream:{id}:history   stream, entry id "<offset>-0", field p = payload (MAXLEN ~ history_size)
  pe:stream:{id}:shares    list of the latest share payloads, newest first
  pe:stream:{id}:likes     hash share offset -> like count (a field per share: "is a share")
  pe:stream:{id}:likers    set "<share offset>:<user id>"
  pe:stream:{id}:outbox    stream of the events of shares and likes, for the relay
                           (outbox_redis.py, which also keeps pe:outbox:parties)
  pe:stream:{id}:keys      hash "<len>:<user id>:<idempotency key>" -> offset
  pe:stream:{id}:picks     set of the share offsets the host picked
  pe:stream:{id}:mutes     hash user id -> muted until (Unix ms; 0: as long as the stream)
  pe:stream:{id}:sharers   hash share offset -> sharer id (for a removal's event)
  pe:stream:{id}           pub/sub channel: b"p<epoch> <offset>\\n<payload>" or b"b<frame>"

Every write is one Lua script (lua/*.lua): offset, history, outbox entry and PUBLISH happen
atomically, after every check (outbox depth, idempotency key) and before any reply.

Pub/sub drops messages while a subscriber is disconnected, so the subscriber keeps the last
position it delivered per party and refills from history: whenever a channel's subscription is
(re)confirmed, and whenever a live publication is not the next offset (recovery.py decides).
"""

import asyncio
import contextlib
import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from importlib import resources

import redis.asyncio as redis
from redis.backoff import EqualJitterBackoff

from ..domain.events import HostShareEvent, LikeCreated, ShareCreated, ShareRemoved
from ..ports import (
    BackendUnavailable,
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
from ..recovery import Next, judge, recover, resync
from .broker_shared import (
    DEFAULT_SNAPSHOT_SIZE,
    SNAPSHOT_MAX_BYTES,
    ignore_broadcast,
    ignore_publication,
    key_field,
    no_outbox_bound,
)
from .event_codec import encode_event_without
from .items import check_item
from .outbox_redis import ANNOUNCE_LUA, HINT_SECONDS, outbox_key, parties_key
from .pubsub_wire import PubSubWire
from .redis_backend import RedisClient, redis_client

log = logging.getLogger(__name__)

# A gap is refilled from history this many publications per read.
CATCH_UP_PAGE = 1000

_DROPPED = (ConnectionError, OSError, TimeoutError, redis.ConnectionError, redis.TimeoutError)


def _lua(name: str) -> str:
    return resources.files(__package__).joinpath("lua", f"{name}.lua").read_text()


@dataclass
class _Subscription:
    ready: asyncio.Future[StreamPosition]
    # The last position delivered to the handler; None until the first confirmation.
    cursor: StreamPosition | None = None


class RedisBroker:
    def __init__(
        self,
        url: str,
        *,
        prefix: str,
        history_size: int = 10_000,
        snapshot_size: int = DEFAULT_SNAPSHOT_SIZE,
        subscribe_timeout: float = 5.0,
        keepalive_seconds: float = 5.0,
        outbox_max_depth: int | None = None,
    ) -> None:
        self._url = url
        self.prefix = prefix
        self.history_size = history_size
        self.snapshot_size = snapshot_size
        self._subscribe_timeout = subscribe_timeout
        self._keepalive = keepalive_seconds
        self.outbox_max_depth = no_outbox_bound(outbox_max_depth)
        self._announced: dict[str, float] = {}  # party -> when its outbox was announced
        self.client: RedisClient = redis_client(url, decode_responses=False)
        self._announce = self.client.register_script(ANNOUNCE_LUA)
        scripts = (
            "publish_share",
            "publish_like",
            "host_action",
            "position",
            "history",
            "snapshot",
        )
        prelude = _lua("stream")
        self._scripts = {
            name: self.client.register_script(prelude + "\n" + _lua(name)) for name in scripts
        }
        self._on_publication: Callable[[Publication], None] = ignore_publication
        self._on_broadcast: Callable[[str, bytes], None] = ignore_broadcast
        self._subscriptions: dict[str, _Subscription] = {}
        self._wire: PubSubWire | None = None
        self._follower: asyncio.Task[None] | None = None
        self.sessions = 0  # pub/sub connections made so far (more than one: it reconnected)

    # -- lifecycle ---------------------------------------------------------------------------

    async def connect(self) -> None:
        await self.client.ping()
        self._follower = asyncio.create_task(self._follow(), name="broker-pubsub")

    async def close(self) -> None:
        if self._follower is not None:
            self._follower.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._follower
            self._follower = None
        for subscription in self._subscriptions.values():
            subscription.ready.cancel()
        self._subscriptions.clear()
        await self.client.aclose()

    async def ping(self) -> None:
        await self.client.ping()

    # -- writes ------------------------------------------------------------------------------

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
        template = b""
        if event is not None:
            template = encode_event_without(event, "offset")
            await self._announce_outbox(party_id)
        result = await self._scripts["publish_share"](
            keys=self._stream_keys(party_id),
            args=[
                secrets.token_hex(8),
                item,
                self.history_size,
                self.snapshot_size,
                self.channel(party_id),
                listing_id,
                template,
                key_field(key),
                self.outbox_max_depth,
                user_id or "",
            ],
        )
        _raise_if_refused(result, party_id, user_id)
        offset, payload = result
        return Publication(party_id, offset, payload)

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
        template = b""
        if event is not None:
            template = encode_event_without(event, "offset", "listing_id")
            await self._announce_outbox(party_id)
        result = await self._scripts["publish_like"](
            keys=self._stream_keys(party_id),
            args=[
                secrets.token_hex(8),
                item,
                self.history_size,
                self.channel(party_id),
                share_offset,
                user_id,
                template,
                key_field(key),
                self.outbox_max_depth,
            ],
        )
        if result == -1:
            raise ShareNotFound(f"offset {share_offset} is not a share of party {party_id}")
        _raise_if_refused(result, party_id, user_id)
        if result == 0:
            return None
        offset, payload, listing_id = result
        return PublishedLike(Publication(party_id, offset, payload), listing_id.decode())

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
        template = b""
        if event is not None:
            filled = ("sharer_id", "likes", "picked") if isinstance(event, ShareRemoved) else ()
            template = encode_event_without(event, "offset", "listing_id", *filled)
            await self._announce_outbox(party_id)
        result = await self._scripts["host_action"](
            keys=self._stream_keys(party_id),
            args=[
                secrets.token_hex(8),
                item,
                self.history_size,
                self.channel(party_id),
                action.value,
                target,
                mute_until_ms,
                template,
            ],
        )
        if result == -1:
            raise ShareNotFound(f"offset {target} is not a share of party {party_id}")
        if result == 0:
            raise NothingToChange(f"{action.value} {target}: nothing to change")
        offset, payload = result
        return Publication(party_id, offset, payload)

    async def _announce_outbox(self, party_id: str) -> None:
        """List the party for the relays before its outbox is written (outbox_redis.py)."""
        now = time.monotonic()
        last = self._announced.get(party_id)
        if last is not None and now - last < HINT_SECONDS:
            return
        if len(self._announced) > 10_000:
            self._announced = {
                party: at for party, at in self._announced.items() if now - at < HINT_SECONDS
            }
        await self._announce(keys=[parties_key(self.prefix)], args=[party_id])
        self._announced[party_id] = now

    async def broadcast(self, party_id: str, frame: bytes) -> None:
        await self.client.publish(self.channel(party_id), b"b" + frame)

    # -- reads -------------------------------------------------------------------------------

    async def position(self, party_id: str) -> StreamPosition:
        epoch, offset = await self._scripts["position"](
            keys=self._stream_keys(party_id), args=[secrets.token_hex(8)]
        )
        return StreamPosition(offset, epoch.decode())

    async def _history(
        self, party_id: str, since: StreamPosition, limit: int
    ) -> tuple[StreamPosition, list[Publication] | None]:
        """The current position, and the first `limit` publications after `since` if history
        has them all."""
        epoch, offset, entries = await self._scripts["history"](
            keys=self._stream_keys(party_id),
            args=[secrets.token_hex(8), max(since.offset, 0), since.epoch, limit],
        )
        current = StreamPosition(offset, epoch.decode())
        retained = [
            Publication(party_id, int(entry_id.split(b"-", 1)[0]), fields[1])
            for entry_id, fields in entries
        ]
        return current, recover(since, current, retained, limit)

    async def history_since(
        self, party_id: str, since: StreamPosition, limit: int
    ) -> HistoryPage | None:
        current, publications = await self._history(party_id, since, limit)
        return None if publications is None else HistoryPage(current, publications)

    async def snapshot(
        self, party_id: str, shares: int = 50, max_bytes: int = SNAPSHOT_MAX_BYTES
    ) -> Snapshot:
        if shares < 0:
            raise ValueError("shares must be >= 0")
        epoch, offset, payloads, likes, picks = await self._scripts["snapshot"](
            keys=self._stream_keys(party_id),
            args=[secrets.token_hex(8), min(shares, self.snapshot_size), max_bytes],
        )
        payloads.reverse()
        likes.reverse()
        share_offsets = [int(p[len(b'{"offset":') :].split(b",", 1)[0]) for p in payloads]
        return Snapshot(
            position=StreamPosition(offset, epoch.decode()),
            shares=payloads,
            likes=dict(zip(share_offsets, likes, strict=True)),
            picks=frozenset(int(pick) for pick in picks),
        )

    # -- subscriptions -----------------------------------------------------------------------

    def set_handler(
        self,
        on_publication: Callable[[Publication], None],
        on_broadcast: Callable[[str, bytes], None],
    ) -> None:
        self._on_publication = on_publication
        self._on_broadcast = on_broadcast

    async def retire(self, party_id: str, at: datetime) -> None:
        async with self.client.pipeline(transaction=False) as pipe:
            for key in self._stream_keys(party_id):
                pipe.pexpireat(key, at)
            await pipe.execute()

    async def subscribe(self, party_id: str) -> StreamPosition:
        subscription = self._subscriptions.get(party_id)
        if subscription is None:
            subscription = _Subscription(asyncio.get_running_loop().create_future())
            self._subscriptions[party_id] = subscription
            if self._wire is not None:
                self._wire.subscribe(self.channel(party_id))
            # else: the next pub/sub session subscribes every registered party
        if subscription.cursor is not None:
            return subscription.cursor
        try:
            async with asyncio.timeout(self._subscribe_timeout):
                return await asyncio.shield(subscription.ready)
        except TimeoutError:
            if self._subscriptions.get(party_id) is subscription:
                await self.unsubscribe(party_id)
            raise BackendUnavailable(f"could not subscribe to party {party_id}") from None
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if subscription.ready.cancelled() and not (task and task.cancelling()):
                # unsubscribe() or close() came first; this caller was not cancelled itself.
                raise BackendUnavailable(f"party {party_id} was unsubscribed meanwhile") from None
            raise

    async def unsubscribe(self, party_id: str) -> None:
        subscription = self._subscriptions.pop(party_id, None)
        if subscription is None:
            return
        subscription.ready.cancel()
        if self._wire is not None:
            self._wire.unsubscribe(self.channel(party_id))

    async def _follow(self) -> None:
        """Keep a pub/sub session up for as long as the broker is open."""
        backoff = EqualJitterBackoff(cap=2.0, base=0.05)
        failures = 0
        while True:
            started = asyncio.get_running_loop().time()
            try:
                await self._session()
            except _DROPPED as error:
                log.warning("broker pub/sub dropped (%s); reconnecting", error)
            except Exception:
                log.exception("broker pub/sub failed; reconnecting")
            # A session that lived a while was healthy: start the backoff over.
            lived = asyncio.get_running_loop().time() - started
            failures = 1 if lived > self._keepalive else failures + 1
            await asyncio.sleep(backoff.compute(failures))

    async def _session(self) -> None:
        wire = await PubSubWire.open(self._url)
        self._wire = wire
        try:
            self.sessions += 1
            # Confirmations of these come back as replies; each one resyncs its party.
            wire.subscribe(*[self.channel(party_id) for party_id in self._subscriptions])
            async for reply in wire.replies(self._keepalive):
                await self._on_reply(reply)
        finally:
            self._wire = None
            wire.close()

    async def _on_reply(self, reply: object) -> None:
        if not isinstance(reply, list) or len(reply) < 3:
            return  # pong, or an error reply to a command we sent
        kind, channel, data = reply[0], reply[1], reply[2]
        party_id = self._party_of(channel)
        subscription = self._subscriptions.get(party_id)
        if subscription is None:
            return  # unsubscribed meanwhile
        if kind == b"subscribe":
            await self._catch_up(party_id, subscription)
            if not subscription.ready.done():
                assert subscription.cursor is not None
                subscription.ready.set_result(subscription.cursor)
        elif kind == b"message" and subscription.cursor is not None:
            if data[:1] == b"p":
                await self._on_live(party_id, subscription, data)
            elif data[:1] == b"b":
                self._deliver_broadcast(party_id, data[1:])

    async def _on_live(self, party_id: str, subscription: _Subscription, data: bytes) -> None:
        header, payload = data[1:].split(b"\n", 1)
        epoch_bytes, offset_bytes = header.split(b" ", 1)
        epoch, offset = epoch_bytes.decode(), int(offset_bytes)
        assert subscription.cursor is not None
        verdict = judge(subscription.cursor, epoch, offset)
        if verdict is Next.GAP or verdict is Next.NEW_EPOCH:
            # History holds this publication too: it was stored before it was published.
            await self._catch_up(party_id, subscription)
            verdict = judge(subscription.cursor, epoch, offset)
        if verdict is Next.DELIVER:
            subscription.cursor = StreamPosition(offset, epoch)
            self._deliver(Publication(party_id, offset, payload))

    async def _catch_up(self, party_id: str, subscription: _Subscription) -> None:
        """Deliver everything after the subscription's cursor from history; a first
        subscription starts at the current position instead."""
        if subscription.cursor is None:
            subscription.cursor = await self.position(party_id)
            return
        since = subscription.cursor
        current, missed = await self._history(party_id, since, CATCH_UP_PAGE)
        if missed is None and resync(since, current) != since:
            # A new epoch, or the server lost its latest writes: continue from where it is now.
            since = resync(since, current)
            current, missed = await self._history(party_id, since, CATCH_UP_PAGE)
        while True:
            if missed is None:
                log.error(
                    "party %s: publications %d..%d are no longer in history; subscribers miss them",
                    party_id,
                    since.offset + 1,
                    current.offset,
                )
                break
            for publication in missed:
                self._deliver(publication)
            if not missed or missed[-1].offset >= current.offset:
                break
            since = StreamPosition(missed[-1].offset, current.epoch)
            current, missed = await self._history(party_id, since, CATCH_UP_PAGE)
        subscription.cursor = current

    def _deliver(self, publication: Publication) -> None:
        try:
            self._on_publication(publication)
        except Exception:
            log.exception("publication handler failed")

    def _deliver_broadcast(self, party_id: str, frame: bytes) -> None:
        try:
            self._on_broadcast(party_id, frame)
        except Exception:
            log.exception("broadcast handler failed")

    # -- keys --------------------------------------------------------------------------------

    def channel(self, party_id: str) -> str:
        """The party's pub/sub channel; its other keys add a suffix (one hash tag, one slot)."""
        return f"{self.prefix}stream:{{{party_id}}}"

    def _party_of(self, channel: bytes) -> str:
        return channel.decode()[len(self.prefix) + len("stream:{") : -1]

    def _stream_keys(self, party_id: str) -> list[str]:
        base = self.channel(party_id)
        return [
            f"{base}:meta",
            f"{base}:history",
            f"{base}:shares",
            f"{base}:likes",
            f"{base}:likers",
            f"{base}:listings",
            outbox_key(self.prefix, party_id),
            f"{base}:keys",
            f"{base}:picks",
            f"{base}:mutes",
            f"{base}:sharers",
        ]


def _raise_if_refused(result: object, party_id: str, user_id: str | None) -> None:
    """The publish scripts' refusals, checked before they wrote anything: -2 the party's
    outbox is full, -3 the user is muted."""
    if result == -2:
        raise OutboxFull(f"the outbox of party {party_id} is full")
    if result == -3:
        raise Muted(f"{user_id} is muted in party {party_id}")
