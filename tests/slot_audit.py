"""What makes a port's Redis writes cluster-safe, checked on one redis-server through MONITOR:
every command, every script call (its declared keys, and the keys of what it runs inside),
and every MULTI/EXEC block touches keys of one hash slot.

A Redis Cluster refuses a cross-slot script or transaction only when it meets one; this
audit names the command that would be refused, whatever the keys of the test happen to hash
to, and tells which slots a port's writes spread over (a global index in one slot would be
a hot spot)."""

import asyncio
import codecs
import re
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import redis.asyncio as redis
from redis.crc import key_slot
from redis.exceptions import ResponseError

_LINE = re.compile(r"^[\d.]+ \[\d+ (?P<client>[^\]]+)\] (?P<args>.*)$", re.S)
_ARG = re.compile(r'"((?:[^"\\]|\\.)*)"')
_SCRIPTS = {b"EVAL", b"EVALSHA", b"EVAL_RO", b"EVALSHA_RO", b"FCALL", b"FCALL_RO"}


@dataclass
class Audit:
    # Each unit of work: what it was (a command, a script call, a MULTI block) and its keys.
    units: list[tuple[str, list[bytes]]] = field(default_factory=list)

    @property
    def cross_slot(self) -> list[tuple[str, list[bytes]]]:
        return [(what, keys) for what, keys in self.units if len({key_slot(k) for k in keys}) > 1]

    @property
    def scripts(self) -> int:
        return sum(what.startswith(("EVAL", "FCALL")) for what, _ in self.units)

    @property
    def slots(self) -> set[int]:
        return {key_slot(key) for _, keys in self.units for key in keys}


@asynccontextmanager
async def audited(redis_url: str) -> AsyncIterator[Audit]:
    """Records every command the server runs inside the block, then sorts it into units."""
    admin = redis.Redis.from_url(redis_url)
    lines: list[tuple[str, list[bytes]]] = []
    end = f"slot-audit-end-{uuid.uuid4().hex}".encode()
    started = asyncio.Event()

    async def record() -> None:
        async with admin.monitor() as monitor:
            started.set()
            while True:
                raw = await monitor.connection.read_response()  # type: ignore[union-attr]
                match = _LINE.match(raw.decode("latin-1"))
                assert match, raw
                args = [
                    codecs.escape_decode(a.encode("latin-1"))[0]
                    for a in _ARG.findall(match["args"])
                ]
                if args[:2] == [b"ECHO", end]:
                    return
                lines.append((match["client"], args))

    recorder = asyncio.create_task(record())
    await started.wait()
    audit = Audit()
    try:
        yield audit
    finally:
        await admin.echo(end)
        await asyncio.wait_for(recorder, 10)
        audit.units += await _units(admin, lines)
        await admin.aclose()


async def _units(admin: redis.Redis, lines: list[tuple[str, list[bytes]]]) -> list:
    units: list[tuple[str, list[bytes]]] = []
    open_blocks: dict[str, list[bytes]] = {}  # client -> keys of its MULTI so far
    in_script: list[bytes] | None = None  # keys of the script's own commands so far
    for client, args in lines:
        name = args[0].upper()
        if client != "lua" and in_script is not None:
            units.append(("script body", in_script))
            in_script = None
        if client == "lua":
            in_script = (in_script or []) + await _keys(admin, args)
        elif name == b"MULTI":
            open_blocks[client] = []
        elif name in (b"EXEC", b"DISCARD") and client in open_blocks:
            units.append(("MULTI block", open_blocks.pop(client)))
        elif client in open_blocks:
            open_blocks[client] += await _keys(admin, args)
        else:
            keys = await _keys(admin, args)
            what = name.decode() + ("" if name in _SCRIPTS else " " + repr(args[1:2]))
            units.append((what, keys))
    if in_script is not None:
        units.append(("script body", in_script))
    return units


async def _keys(admin: redis.Redis, args: list[bytes]) -> list[bytes]:
    try:
        keys = await admin.command_getkeys(*args)
    except ResponseError:  # a command without keys (PING, ECHO, a script with none)
        return []
    return [key if isinstance(key, bytes) else key.encode() for key in keys]
