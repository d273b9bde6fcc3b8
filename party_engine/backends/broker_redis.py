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
atomically, after every check (outbox depth, idempotency key) and before any reply. On a Redis
Cluster the scripts SPUBLISH instead (sharded pub/sub: a publication travels only within its
party's shard) and the gateways SSUBSCRIBE on the master of each party's slot (pubsub_links.py).

Pub/sub drops messages while a subscriber is disconnected, so the subscriber keeps the last
position it delivered per party and refills from history: whenever a channel's subscription is
(re)confirmed, and whenever a live publication is not the next offset (recovery.py decides).

With `wait_replicas` (PARTY_REDIS_WAIT_REPLICAS) a write is acknowledged only once that many
replicas hold it (WAIT, replicated.py); otherwise the caller gets BackendUnavailable. Without it,
a failover may lose the latest writes: the next write or catch-up by anyone who saw them starts a
new epoch above them (lua/stream.lua, writable_epoch), so no offset ever names two publications.
"""

import asyncio
import contextlib
import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from importlib import resources
from typing import Any

from redis.asyncio.cluster import RedisCluster
from redis.typing import EncodableT

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
from ..recovery import Next, judge, lost_writes, recover, resync
from .broker_shared import (
    DEFAULT_SNAPSHOT_SIZE,
    SNAPSHOT_MAX_BYTES,
    ignore_broadcast,
    ignore_new_epoch,
    ignore_publication,
    key_field,
    no_outbox_bound,
)
from .event_codec import encode_event_without
from .items import check_item
from .outbox_redis import ANNOUNCE_LUA, HINT_SECONDS, outbox_key, parties_key
from .pubsub_links import PubSubLinks
from .redis_backend import RedisClient, call_script, redis_client, warm_up
from .replicated import run_then_wait

log = logging.getLogger(__name__)

# A gap is refilled from history this many publications per read.
CATCH_UP_PAGE = 1000

# Parties unsubscribed whose last position a broker remembers.
_REMEMBERED = 10_000

# Broadcasts (party state frames) on the party's channel, outside any stream.
_BROADCAST_LUA = "return redis.call(publish_command, KEYS[1], ARGV[1])"


def _lua(name: str) -> str:
    return resources.files(__package__).joinpath("lua", f"{name}.lua").read_text()


@dataclass
class _Subscription:
    ready: asyncio.Future[StreamPosition]
    # The last position delivered to the handler; None until the first confirmation.
    cursor: StreamPosition | None = None
    # Held while a publication or a catch-up of the party is handled: a party moving between
    # pub/sub connections (a failover) may be handled by two of them at once.
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


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
        wait_replicas: int = 0,
        wait_timeout_ms: int = 1000,
        sharded: bool | None = None,
    ) -> None:
        """`sharded`: SPUBLISH / SSUBSCRIBE; by default on a cluster (False forces PUBLISH /
        SUBSCRIBE there, for comparison)."""
        self._url = url
        self.prefix = prefix
        self.history_size = history_size
        self.snapshot_size = snapshot_size
        self._subscribe_timeout = subscribe_timeout
        self._keepalive = keepalive_seconds
        self.outbox_max_depth = no_outbox_bound(outbox_max_depth)
        self._announced: dict[str, float] = {}  # party -> when its outbox was announced
        self.wait_replicas = wait_replicas
        self._wait_timeout_ms = wait_timeout_ms
        self.client: RedisClient = redis_client(url, decode_responses=False)
        self.sharded = isinstance(self.client, RedisCluster) if sharded is None else sharded
        if self.sharded and not isinstance(self.client, RedisCluster):
            raise ValueError("sharded pub/sub needs a Redis Cluster (redis+cluster://)")
        command = f"local publish_command = '{'SPUBLISH' if self.sharded else 'PUBLISH'}'\n"
        self._broadcast = self.client.register_script(command + _BROADCAST_LUA)
        self._announce = self.client.register_script(ANNOUNCE_LUA)
        scripts = (
            "publish_share",
            "publish_like",
            "host_action",
            "position",
            "history",
            "snapshot",
        )
        prelude = command + _lua("stream")
        self._scripts = {
            name: self.client.register_script(prelude + "\n" + _lua(name)) for name in scripts
        }
        self._on_publication: Callable[[Publication], None] = ignore_publication
        self._on_broadcast: Callable[[str, bytes], None] = ignore_broadcast
        self._on_new_epoch: Callable[[str], None] = ignore_new_epoch
        self._subscriptions: dict[str, _Subscription] = {}
        # The last position delivered of parties unsubscribed since (the oldest dropped past
        # _REMEMBERED): a gateway whose members just left still knows what they were sent.
        self._left: dict[str, StreamPosition] = {}
        self._links = PubSubLinks(
            url,
            self.client,
            sharded=self.sharded,
            keepalive=keepalive_seconds,
            on_reply=self._on_reply,
        )
        self._follower: asyncio.Task[None] | None = None

    @property
    def sessions(self) -> int:
        """Pub/sub connections made so far (more than one per node: it reconnected)."""
        return self._links.sessions

    # -- lifecycle ---------------------------------------------------------------------------

    async def connect(self) -> None:
        await warm_up(self.client)
        self._follower = asyncio.create_task(self._links.run(), name="broker-pubsub")

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
        result = await self._write(
            "publish_share",
            party_id,
            [
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
                *self._known(party_id),
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
        result = await self._write(
            "publish_like",
            party_id,
            [
                secrets.token_hex(8),
                item,
                self.history_size,
                self.channel(party_id),
                share_offset,
                user_id,
                template,
                key_field(key),
                self.outbox_max_depth,
                *self._known(party_id),
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
        result = await self._write(
            "host_action",
            party_id,
            [
                secrets.token_hex(8),
                item,
                self.history_size,
                self.channel(party_id),
                action.value,
                target,
                mute_until_ms,
                template,
                *self._known(party_id),
            ],
        )
        if result == -1:
            raise ShareNotFound(f"offset {target} is not a share of party {party_id}")
        if result == 0:
            raise NothingToChange(f"{action.value} {target}: nothing to change")
        offset, payload = result
        return Publication(party_id, offset, payload)

    async def _write(self, script: str, party_id: str, args: list[EncodableT]) -> Any:
        """Run a write script of the party's stream; with wait_replicas, only once that many
        replicas hold it (else BackendUnavailable: the write may survive a failover or not)."""
        keys = self._stream_keys(party_id)
        if not self.wait_replicas:
            return await call_script(self.client, self._scripts[script], keys, args)
        result, replicas = await run_then_wait(
            self.client,
            self._scripts[script],
            keys,
            args,
            replicas=self.wait_replicas,
            timeout_ms=self._wait_timeout_ms,
        )
        if replicas < self.wait_replicas and isinstance(result, list):
            raise BackendUnavailable(
                f"party {party_id}: {replicas} of {self.wait_replicas} replicas confirmed the"
                f" write within {self._wait_timeout_ms} ms"
            )
        return result

    async def _read(self, script: str, party_id: str, args: list[EncodableT]) -> Any:
        keys = self._stream_keys(party_id)
        return await call_script(self.client, self._scripts[script], keys, args)

    def _known(self, party_id: str) -> tuple[str, int]:
        """The last position this broker delivered of the party ('' when none): a write below
        it starts a new epoch (lua/stream.lua, writable_epoch)."""
        subscription = self._subscriptions.get(party_id)
        known = subscription.cursor if subscription is not None else None
        known = known or self._left.get(party_id)
        return ("", 0) if known is None else (known.epoch, known.offset)

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
        await call_script(self.client, self._announce, [parties_key(self.prefix)], [party_id])
        self._announced[party_id] = now

    async def broadcast(self, party_id: str, frame: bytes) -> None:
        await call_script(self.client, self._broadcast, [self.channel(party_id)], [b"b" + frame])

    # -- reads -------------------------------------------------------------------------------

    async def position(self, party_id: str, known: tuple[str, int] = ("", 0)) -> StreamPosition:
        epoch, offset = await self._read("position", party_id, [secrets.token_hex(8), *known])
        return StreamPosition(offset, epoch.decode())

    async def _history(
        self, party_id: str, since: StreamPosition, limit: int
    ) -> tuple[StreamPosition, list[Publication] | None, int]:
        """The current position, the first `limit` publications after `since` if history
        has them all, and the offset the current epoch started after."""
        epoch, offset, entries, base = await self._read(
            "history", party_id, [secrets.token_hex(8), max(since.offset, 0), since.epoch, limit]
        )
        current = StreamPosition(offset, epoch.decode())
        retained = [
            Publication(party_id, int(entry_id.split(b"-", 1)[0]), fields[1])
            for entry_id, fields in entries
        ]
        return current, recover(since, current, retained, limit), base

    async def history_since(
        self, party_id: str, since: StreamPosition, limit: int
    ) -> HistoryPage | None:
        current, publications, _ = await self._history(party_id, since, limit)
        return None if publications is None else HistoryPage(current, publications)

    async def snapshot(
        self, party_id: str, shares: int = 50, max_bytes: int = SNAPSHOT_MAX_BYTES
    ) -> Snapshot:
        if shares < 0:
            raise ValueError("shares must be >= 0")
        epoch, offset, payloads, likes, picks = await self._read(
            "snapshot", party_id, [secrets.token_hex(8), min(shares, self.snapshot_size), max_bytes]
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
        on_new_epoch: Callable[[str], None] | None = None,
    ) -> None:
        self._on_publication = on_publication
        self._on_broadcast = on_broadcast
        self._on_new_epoch = on_new_epoch or ignore_new_epoch

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
            self._links.add(self.channel(party_id))
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
        if subscription.cursor is not None:
            self._left.pop(party_id, None)
            self._left[party_id] = subscription.cursor
            if len(self._left) > _REMEMBERED:
                del self._left[next(iter(self._left))]
        self._links.remove(self.channel(party_id))

    async def _on_reply(self, reply: list[bytes]) -> None:
        if not isinstance(reply, list) or len(reply) < 3:
            return  # pong, or an error reply to a command we sent
        kind, channel, data = reply[0], reply[1], reply[2]
        party_id = self._party_of(channel)
        subscription = self._subscriptions.get(party_id)
        if subscription is None:
            return  # unsubscribed meanwhile
        if kind in (b"subscribe", b"ssubscribe"):
            async with subscription.lock:
                await self._catch_up(party_id, subscription)
            if not subscription.ready.done():
                assert subscription.cursor is not None
                subscription.ready.set_result(subscription.cursor)
        elif kind in (b"message", b"smessage") and subscription.cursor is not None:
            if data[:1] == b"p":
                async with subscription.lock:
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
        subscription starts at the current position instead. Called under the lock."""
        if subscription.cursor is None:
            subscription.cursor = await self.position(party_id, self._known(party_id))
            return
        since = subscription.cursor
        current, missed, base = await self._history(party_id, since, CATCH_UP_PAGE)
        if missed is None and lost_writes(since, current):
            # A new epoch starts above what was delivered, so those offsets are never reused.
            current = await self.position(party_id, (since.epoch, since.offset))
        while missed is None and resync(since, current, base) != since:
            # A new epoch: from where it started (read again if it started after that read).
            since = resync(since, current, base)
            current, missed, base = await self._history(party_id, since, CATCH_UP_PAGE)
        if since.epoch != subscription.cursor.epoch:
            self._announce_new_epoch(party_id)
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
            current, missed, base = await self._history(party_id, since, CATCH_UP_PAGE)
        subscription.cursor = current

    def _deliver(self, publication: Publication) -> None:
        try:
            self._on_publication(publication)
        except Exception:
            log.exception("publication handler failed")

    def _announce_new_epoch(self, party_id: str) -> None:
        try:
            self._on_new_epoch(party_id)
        except Exception:
            log.exception("new epoch handler failed")

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
