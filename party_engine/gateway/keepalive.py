"""WebSocket keepalive for all of a server's connections on one timer.

Every connection is pinged once per `interval` and closed when it answered no ping within
`timeout`. The connections are spread over slices, one slice visited per tick, so a gateway
holding 50,000 connections wakes once a tick for a few thousand attribute checks and pings
(a prepared 2-byte frame), instead of running two timers per connection as uvicorn's
WebSocket protocol does (a call_later per ping and another per pong deadline).

Time is counted in ticks: a ping sent at tick t is overdue from tick t + `lag`, the timeout
rounded up to whole ticks, so a silent connection is closed between `timeout` and
`timeout` + one tick after its ping.
"""

import asyncio
import math
from typing import Protocol

# An unmasked ping frame with no payload (RFC 6455 section 5.5.2). Any pong answers it.
PING_FRAME = b"\x89\x00"
# At most one slice visit a second however long the interval.
MAX_TICK_SECONDS = 1.0


class Pinged(Protocol):
    """What the keepalive needs of a connection."""

    # The tick of the ping not yet answered, 0 when none is.
    ping_tick: int

    def send_ping(self, frame: bytes) -> None: ...

    def keepalive_timed_out(self) -> None: ...


class Keepalive:
    def __init__(self, loop: asyncio.AbstractEventLoop, interval: float, timeout: float) -> None:
        slices = max(1, math.ceil(interval / MAX_TICK_SECONDS))
        self._loop = loop
        self._tick_seconds = interval / slices
        self._slices: list[set[Pinged]] = [set() for _ in range(slices)]
        # Ticks from a ping to its deadline; a connection's slice is also visited then, unless
        # that is a full round away (the next ping's visit checks it).
        self.lag = max(1, math.ceil(timeout / self._tick_seconds - 1e-9))
        self._tick = 1  # 0 means "no ping unanswered"
        self._count = 0
        self._timer: asyncio.TimerHandle | None = None

    def add(self, connection: Pinged) -> int:
        """Keep `connection` alive from now on; its first ping comes about an interval later.
        Returns its slice, which `remove` takes."""
        index = self._tick % len(self._slices)
        self._slices[index].add(connection)
        self._count += 1
        if self._timer is None:
            self._timer = self._loop.call_later(self._tick_seconds, self._run_tick)
        return index

    def remove(self, connection: Pinged, index: int) -> None:
        members = self._slices[index]
        if connection in members:
            members.remove(connection)
            self._count -= 1

    def _run_tick(self) -> None:
        self._tick += 1
        tick, slices, lag = self._tick, self._slices, self.lag
        if lag < len(slices):
            self._visit(slices[(tick - lag) % len(slices)], tick, ping=False)
        self._visit(slices[tick % len(slices)], tick, ping=True)
        self._timer = (
            self._loop.call_later(self._tick_seconds, self._run_tick) if self._count else None
        )

    def _visit(self, members: set[Pinged], tick: int, *, ping: bool) -> None:
        # A copy: a connection that times out leaves its slice while this runs.
        for connection in list(members):
            sent = connection.ping_tick
            if sent:
                if tick - sent >= self.lag:
                    connection.keepalive_timed_out()
            elif ping:
                connection.ping_tick = tick
                connection.send_ping(PING_FRAME)
