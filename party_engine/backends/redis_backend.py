"""What every Redis-backed port shares: how its client is made, and its lifecycle."""

import asyncio
from collections.abc import Mapping, Sequence
from typing import Any, cast
from urllib.parse import unquote, urlsplit

import redis.asyncio as redis
from redis.asyncio.cluster import ClusterNode, RedisCluster
from redis.commands.core import AsyncScript
from redis.exceptions import NoScriptError
from redis.typing import EncodableT, FieldT, KeyT

# PARTY_REDIS_URL=redis+cluster://host:port[,host:port...]: seed nodes of a Redis Cluster (the
# scheme the `limits` library uses for its cluster storage); redis:// is one server.
CLUSTER_SCHEME = "redis+cluster"
# A client of either kind: every port's keys are laid out so that one works as the other.
RedisClient = redis.Redis | RedisCluster

# Connections one port's pool may open. A join storm asks for far more at once than Redis
# needs to serve them; past this many, callers queue for a free connection instead of
# failing (redis-py's default pool raises "Too many connections" at 100).
POOL_SIZE = 32
# How long a caller may queue for a connection before its request fails as unavailable.
POOL_TIMEOUT_SECONDS = 5.0
# Connections a cluster client may open to each node. redis-py's cluster pool cannot queue
# callers (past its size a command fails at once), so it is sized for a join storm instead.
CLUSTER_POOL_SIZE = 256


def is_cluster(url: str) -> bool:
    return urlsplit(url).scheme == CLUSTER_SCHEME


def redis_client(
    url: str, *, decode_responses: bool, socket_timeout: float | None = None
) -> RedisClient:
    """A client for PARTY_REDIS_URL: one server's blocking pool, or a cluster client."""
    if is_cluster(url):
        return cluster_client(url, decode_responses=decode_responses, socket_timeout=socket_timeout)
    pool = redis.BlockingConnectionPool.from_url(
        url,
        max_connections=POOL_SIZE,
        timeout=POOL_TIMEOUT_SECONDS,
        decode_responses=decode_responses,
        socket_timeout=socket_timeout,
    )
    return redis.Redis.from_pool(pool)


def cluster_client(
    url: str, *, decode_responses: bool, socket_timeout: float | None = None
) -> RedisCluster:
    credentials, _, hosts = urlsplit(url).netloc.rpartition("@")
    username, _, password = credentials.partition(":")
    nodes = []
    for seed in hosts.split(","):
        host, _, port = seed.strip().rpartition(":")
        nodes.append(ClusterNode(host.strip("[]"), int(port)))
    return RedisCluster(
        startup_nodes=nodes,
        username=unquote(username) or None,
        password=unquote(password) or None,
        decode_responses=decode_responses,
        max_connections=CLUSTER_POOL_SIZE,
        socket_timeout=socket_timeout,
    )


# Connections each client opens when it connects. A pool opens connections only when a
# command finds none free, so a new gateway met by a join storm paid for connecting (and
# redis-py's handshake) inside the first joins: p99 78 ms for 100 joins instead of 10 ms.
WARM_CONNECTIONS = 8


async def warm_up(client: RedisClient) -> None:
    """Check the server answers, and open WARM_CONNECTIONS of the client's pool to it (to
    each master, on a cluster)."""
    if isinstance(client, RedisCluster):
        await client.initialize()
        targets: Any = client.get_primaries()
        await asyncio.gather(*(client.ping(target_nodes=targets) for _ in range(WARM_CONNECTIONS)))
        return
    await asyncio.gather(*(client.ping() for _ in range(WARM_CONNECTIONS)))


def node_url(url: str, host: str, port: int) -> str:
    """A redis:// URL of one node of the cluster PARTY_REDIS_URL names, with its credentials."""
    credentials, _, _ = urlsplit(url).netloc.rpartition("@")
    return f"redis://{credentials + '@' if credentials else ''}{host}:{port}"


# One script call: its keys (all of one slot) and its arguments.
ScriptCall = tuple[Sequence[KeyT], Sequence[EncodableT]]


# Loads of a script into the node of its keys before a call gives up (NOSCRIPT each time).
_SCRIPT_LOADS = 2


async def call_script(
    client: RedisClient, script: AsyncScript, keys: Sequence[KeyT], args: Sequence[EncodableT]
) -> Any:
    """One script call. On a cluster, the node of the keys' slot may lack the script even
    after redis-py loaded it into every master it knew of: a replica promoted since (a full
    sync does not carry the script cache) that the client's slot map did not list yet. That
    node gets the script, and the call is made again."""
    if not isinstance(client, RedisCluster):
        return await script(keys=keys, args=args)
    for _ in range(_SCRIPT_LOADS):
        try:
            return await script(keys=keys, args=args)
        except NoScriptError:
            node = client.get_node_from_key(str(keys[0]))
            await client.execute_command("SCRIPT", "LOAD", script.script, target_nodes=node)
    return await script(keys=keys, args=args)


async def run_script(
    client: RedisClient, script: AsyncScript, calls: Sequence[ScriptCall], *, chunk: int
) -> list[Any]:
    """The replies of one script over many calls, `chunk` calls in flight at a time: pipelined
    on one server; on a cluster (redis-py runs no script inside a cluster pipeline) sent
    concurrently, each to the node of its keys' slot. Either way calls on the same slot run
    in the order given (on a cluster, one after another: concurrent calls go over different
    pooled connections and may overtake each other)."""
    replies: list[Any] = []
    for start in range(0, len(calls), chunk):
        part = calls[start : start + chunk]
        if isinstance(client, RedisCluster):
            replies += await _in_order_per_slot(client, script, part)
            continue
        replies += await _pipelined(client, script, part)
    return replies


async def _pipelined(
    client: redis.Redis, script: AsyncScript, calls: Sequence[ScriptCall]
) -> list[Any]:
    """The calls in one pipeline, by EVALSHA. redis-py's own script calls in a pipeline cost a
    round trip more on every execute (SCRIPT EXISTS first); here the script is loaded only
    when the server answers NOSCRIPT (a restart, a failover, SCRIPT FLUSH), and the calls
    that got that answer run again, in order."""
    replies: list[Any] = [None] * len(calls)
    waiting = list(range(len(calls)))
    for attempt in range(_SCRIPT_LOADS + 1):
        if attempt:
            await client.script_load(script.script)
        async with client.pipeline(transaction=False) as pipe:
            for index in waiting:
                keys, args = calls[index]
                pipe.evalsha(script.sha, len(keys), *keys, *args)
            answers = await pipe.execute(raise_on_error=False)
        for index, answer in zip(waiting, answers, strict=True):
            replies[index] = answer
        waiting = [index for index in waiting if isinstance(replies[index], NoScriptError)]
        if not waiting:
            break
    for reply in replies:
        if isinstance(reply, Exception):
            raise reply
    return replies


async def _in_order_per_slot(
    client: RedisCluster, script: AsyncScript, calls: Sequence[ScriptCall]
) -> list[Any]:
    """The calls' replies, in order: different slots concurrently, each slot's calls in turn."""
    by_slot: dict[int, list[int]] = {}
    for index, (keys, _) in enumerate(calls):
        by_slot.setdefault(client.keyslot(keys[0]), []).append(index)
    replies: list[Any] = [None] * len(calls)

    async def in_turn(indexes: list[int]) -> None:
        for index in indexes:
            keys, args = calls[index]
            replies[index] = await call_script(client, script, keys, args)

    await asyncio.gather(*(in_turn(indexes) for indexes in by_slot.values()))
    return replies


def decoded_hash(reply: dict[bytes | str, bytes | str]) -> dict[str, str]:
    """An HGETALL reply from a RedisBackend client: redis-py types it as bytes | str whatever the
    client, but decode_responses=True makes every field and value a str. Checks nothing."""
    return cast(dict[str, str], reply)


def hash_mapping(fields: dict[str, str]) -> Mapping[FieldT, EncodableT]:
    """str fields as HSET's mapping, which redis-py types with an invariant key type that a
    dict[str, str] does not match. Checks nothing."""
    return cast(Mapping[FieldT, EncodableT], fields)


class RedisBackend:
    """A port on one client whose replies are decoded to str, its keys under `prefix`."""

    def __init__(self, url: str, *, prefix: str) -> None:
        self.client: RedisClient = redis_client(url, decode_responses=True)
        self.prefix = prefix  # in front of every key (PARTY_REDIS_PREFIX)

    async def connect(self) -> None:
        await warm_up(self.client)

    async def close(self) -> None:
        await self.client.aclose()

    async def ping(self) -> None:
        await self.client.ping()
