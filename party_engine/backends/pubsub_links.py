"""Which pub/sub connection carries which channel: one connection to a single server, or one per
master of a Redis Cluster, carrying the channels of that master's slots.

On a cluster the broker publishes with SPUBLISH, which travels only within the slot's shard (its
master and replicas), so a subscriber must SSUBSCRIBE on the node that owns the channel's slot
(a node refuses with MOVED otherwise). A gateway holds at most one connection per master,
whatever the number of parties (centrifuge folds the 16,384 slots into partitions for the same
bound; here the parties' channels keep their own slots, since the publish script's keys and
channel must share one). The channels of one slot go out in one SSUBSCRIBE (one command may not
span slots).

A link never reconnects by itself inside a read: a drop ends its connection, the owner's
`on_reply` sees the subscription confirmations of the next one, and backfills from history
there. After a drop, an error reply (MOVED), a server-side SUNSUBSCRIBE (the node lost the slot)
and every `keepalive` seconds, the slot map is read again and channels whose master changed move
to that master's link: a failover or a resharding is followed within seconds.
"""

import asyncio
import contextlib
import logging
from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import hiredis
from redis.asyncio.cluster import RedisCluster
from redis.backoff import EqualJitterBackoff
from redis.exceptions import RedisError, SlotNotCoveredError

from .pubsub_wire import PubSubWire
from .redis_backend import RedisClient, node_url

log = logging.getLogger(__name__)

_DROPPED = (ConnectionError, OSError, TimeoutError, RedisError)
_SINGLE = "server"


@dataclass(eq=False)
class _Link:
    name: str
    url: str
    channels: set[str] = field(default_factory=set)
    wire: PubSubWire | None = None
    task: asyncio.Task[None] | None = None


class PubSubLinks:
    def __init__(
        self,
        url: str,
        client: RedisClient,
        *,
        sharded: bool,
        keepalive: float,
        on_reply: Callable[[list[bytes]], Awaitable[None]],
    ) -> None:
        self._url = url
        self._client = client
        self._cluster = client if isinstance(client, RedisCluster) else None
        self._subscribe, self._unsubscribe = (
            ("SSUBSCRIBE", "SUNSUBSCRIBE") if sharded else ("SUBSCRIBE", "UNSUBSCRIBE")
        )
        self._keepalive = keepalive
        self._on_reply = on_reply
        self._links: dict[str, _Link] = {}
        self._home: dict[str, str] = {}  # channel -> link name
        self._unplaced: set[str] = set()  # channels whose slot no master serves right now
        self._wake = asyncio.Event()
        self._refreshing: asyncio.Lock = asyncio.Lock()
        self.sessions = 0  # connections made so far

    @property
    def connections(self) -> int:
        """Pub/sub connections open now."""
        return sum(1 for link in self._links.values() if link.wire is not None)

    def add(self, channel: str) -> None:
        self._place(channel)

    def remove(self, channel: str) -> None:
        self._unplaced.discard(channel)
        name = self._home.pop(channel, None)
        link = self._links.get(name) if name else None
        if link is not None:
            link.channels.discard(channel)
            if link.wire is not None:
                link.wire.send(self._unsubscribe, channel)

    async def run(self) -> None:
        """Start a link's connection whenever it has channels and none runs, and follow the
        cluster's slot map; on cancel, every connection closes."""
        loop = asyncio.get_running_loop()
        refreshed = loop.time()
        try:
            while True:
                for name, link in list(self._links.items()):
                    if link.task is None and link.channels:
                        link.task = asyncio.create_task(self._follow(link), name=f"pubsub-{name}")
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(refreshed + self._keepalive - loop.time()):
                        await self._wake.wait()
                        continue
                await self._refresh()
                refreshed = loop.time()
        finally:
            tasks = [link.task for link in self._links.values() if link.task is not None]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            for link in self._links.values():
                link.task = None

    # -- routing -----------------------------------------------------------------------------

    def _route(self, channel: str) -> tuple[str, str]:
        """The link (name, url) that should carry the channel now."""
        if self._cluster is None:
            return _SINGLE, self._url
        node = self._cluster.get_node_from_key(channel)  # its master, from the slot map
        if node is None:
            raise SlotNotCoveredError(channel)
        return node.name, node_url(self._url, node.host, int(node.port))

    def _place(self, channel: str, *, again: bool = False) -> None:
        try:
            name, url = self._route(channel)
        except RedisError:  # SlotNotCoveredError: no master serves its slot (a failover)
            self._unplaced.add(channel)
            return
        self._unplaced.discard(channel)
        old = self._home.get(channel)
        if old == name and not again:
            return
        if old is not None and old != name and (previous := self._links.get(old)) is not None:
            previous.channels.discard(channel)
            if previous.wire is not None:
                previous.wire.send(self._unsubscribe, channel)
        link = self._links.get(name)
        if link is None:
            link = self._links[name] = _Link(name, url)
        link.channels.add(channel)
        self._home[channel] = name
        if link.wire is not None:
            link.wire.send(self._subscribe, channel)
        else:
            self._wake.set()

    async def _refresh(self, *, again: _Link | None = None) -> None:
        """Read the slot map again and move channels whose master changed; with `again`, that
        link's channels are subscribed again too (a MOVED reply left some unconfirmed)."""
        if self._cluster is None:
            return
        if not self._refreshing.locked():
            async with self._refreshing:
                try:
                    await self._cluster.nodes_manager.initialize()
                except Exception as error:  # no node answered: keep the old map for now
                    log.warning("reading the cluster's slot map failed: %r", error)
        for channel in [*self._home, *self._unplaced]:
            self._place(channel, again=again is not None and channel in again.channels)

    # -- one connection ----------------------------------------------------------------------

    async def _follow(self, link: _Link) -> None:
        """Keep the link's connection up while it carries channels."""
        backoff = EqualJitterBackoff(cap=2.0, base=0.05)
        failures = 0
        loop = asyncio.get_running_loop()
        while link.channels:
            started = loop.time()
            try:
                await self._session(link)
            except _DROPPED as error:
                log.warning("pub/sub connection %s dropped (%s); reconnecting", link.name, error)
            except Exception:
                log.exception("pub/sub connection %s failed; reconnecting", link.name)
            # A session that lived a while was healthy: start the backoff over.
            failures = 1 if loop.time() - started > self._keepalive else failures + 1
            await asyncio.sleep(backoff.compute(failures))
            await self._refresh()
        link.task = None
        if not link.channels and self._links.get(link.name) is link:
            del self._links[link.name]

    async def _session(self, link: _Link) -> None:
        wire = await PubSubWire.open(link.url)
        link.wire = wire
        try:
            self.sessions += 1
            # Confirmations of these come back as replies; each one resyncs its channel.
            for channels in self._by_slot(link.channels):
                wire.send(self._subscribe, *channels)
            async for reply in wire.replies(self._keepalive):
                if isinstance(reply, hiredis.ReplyError):
                    # MOVED: the slot map changed under a subscribe.
                    log.info("pub/sub %s: %s; reading the slot map", link.name, reply)
                    await self._refresh(again=link)
                elif (
                    isinstance(reply, list)
                    and reply[0] == b"sunsubscribe"
                    and reply[1].decode() in link.channels
                ):
                    # Not asked for: the node no longer serves the slot.
                    await self._refresh(again=link)
                else:
                    await self._on_reply(reply)
        finally:
            link.wire = None
            wire.close()

    def _by_slot(self, channels: set[str]) -> list[list[str]]:
        if self._cluster is None or self._subscribe == "SUBSCRIBE":
            return [sorted(channels)] if channels else []
        slots: defaultdict[int, list[str]] = defaultdict(list)
        for channel in channels:
            slots[self._cluster.keyslot(channel)].append(channel)
        return list(slots.values())
