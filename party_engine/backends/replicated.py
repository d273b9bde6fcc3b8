"""A write script followed by WAIT on the same connection, so that WAIT counts that write.

WAIT waits for the replicas to acknowledge the writes made on its own connection, and is refused
inside scripts and MULTI. A pooled client may send two commands on two connections, so both go
out together: in a pipeline on one server, and on one connection of the slot's master on a
cluster (redis-py runs no script inside a cluster pipeline).
"""

import asyncio
from collections.abc import Sequence
from typing import Any

from redis.asyncio.cluster import RedisCluster
from redis.commands.core import AsyncScript
from redis.exceptions import (
    AskError,
    ClusterDownError,
    MovedError,
    NoScriptError,
    ResponseError,
    TryAgainError,
)
from redis.typing import EncodableT, KeyT

from .redis_backend import RedisClient

# Redirections and a cluster between masters (a failover) are tried again this many times, a
# short pause apart: the script did not run on any of them.
_REDIRECTS = 5
_REDIRECT_PAUSE = 0.05
_REDIRECTED = (MovedError, AskError, TryAgainError, ClusterDownError)


async def run_then_wait(
    client: RedisClient,
    script: AsyncScript,
    keys: Sequence[KeyT],
    args: Sequence[EncodableT],
    *,
    replicas: int,
    timeout_ms: int,
) -> tuple[Any, int]:
    """The script's reply, and how many replicas acknowledged it (and every write before it on
    that connection) within `timeout_ms`."""
    if not isinstance(client, RedisCluster):
        async with client.pipeline(transaction=False) as pipe:
            await script(keys=keys, args=args, client=pipe)
            pipe.execute_command("WAIT", replicas, timeout_ms)
            reply, acknowledged = await pipe.execute()
        return reply, int(acknowledged)
    for attempt in range(_REDIRECTS):
        node = client.get_node_from_key(str(keys[0]))
        reply, acknowledged = await _on_node(node, script, keys, args, replicas, timeout_ms)
        if isinstance(reply, NoScriptError):
            await client.execute_command("SCRIPT", "LOAD", script.script, target_nodes=node)
            reply, acknowledged = await _on_node(node, script, keys, args, replicas, timeout_ms)
        if not isinstance(reply, _REDIRECTED):
            break
        if attempt == _REDIRECTS - 1:
            raise reply
        await asyncio.sleep(_REDIRECT_PAUSE * (attempt + 1))
        await client.nodes_manager.initialize()
    if isinstance(reply, Exception):
        raise reply
    if isinstance(acknowledged, Exception):
        raise acknowledged
    return reply, int(acknowledged)


async def _on_node(
    node: Any,
    script: AsyncScript,
    keys: Sequence[KeyT],
    args: Sequence[EncodableT],
    replicas: int,
    timeout_ms: int,
) -> tuple[Any, Any]:
    """EVALSHA and WAIT on one connection of `node`; each reply, or the error it was."""
    connection = node.acquire_connection()
    try:
        commands = [
            ("EVALSHA", script.sha, len(keys), *keys, *args),
            ("WAIT", replicas, timeout_ms),
        ]
        await connection.send_packed_command(connection.pack_commands(commands))
        replies: list[Any] = []
        for _ in commands:
            try:
                replies.append(await connection.read_response())
            except ResponseError as error:
                replies.append(error)
        return replies[0], replies[1]
    except BaseException:
        await connection.disconnect()
        raise
    finally:
        node.release(connection)
