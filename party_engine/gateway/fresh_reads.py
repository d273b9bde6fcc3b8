"""Concurrent reads of one key share one backend call, and none is served a stale one.

In a join storm thousands of sessions ask for the same party and the same snapshot within
milliseconds. `FreshReads` runs at most one read per key at a time: a caller who asks while
none runs starts one; a caller who asks while one runs waits for the next, which starts as
soon as the running one ends and serves everyone who queued for it. So every caller gets a
read that began after it asked: a session that joined the hub before asking for the
snapshot misses nothing between the two (the same guarantee as a read of its own), and a
party's state is never older than the request that reads it.
"""

import asyncio
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class _Flight(Generic[V]):
    """One read: joinable until its task takes its first step (the read has not begun)."""

    task: asyncio.Task[V]
    started = False


class FreshReads(Generic[K, V]):
    def __init__(self, read: Callable[[K], Awaitable[V]]) -> None:
        self._read = read
        self._flights: dict[K, _Flight[V]] = {}
        self._queued: dict[K, asyncio.Future[V]] = {}

    async def get(self, key: K) -> V:
        flight = self._flights.get(key)
        if flight is None:
            flight = self._start(key)
        if not flight.started:
            # Shielded: a caller that gives up does not cancel the read for the others.
            return await asyncio.shield(flight.task)
        queued = self._queued.get(key)
        if queued is None:
            queued = self._queued[key] = asyncio.get_running_loop().create_future()
        return await asyncio.shield(queued)

    def _start(self, key: K) -> _Flight[V]:
        flight: _Flight[V] = _Flight()
        flight.task = asyncio.ensure_future(self._fly(key, flight))
        self._flights[key] = flight
        flight.task.add_done_callback(lambda done: self._finished(key, done))
        return flight

    async def _fly(self, key: K, flight: _Flight[V]) -> V:
        flight.started = True
        return await self._read(key)

    def _finished(self, key: K, task: asyncio.Task[V]) -> None:
        del self._flights[key]
        if not task.cancelled():
            task.exception()  # retrieved: its callers get it; nobody else should log it
        queued = self._queued.pop(key, None)
        if queued is not None:
            self._start(key).task.add_done_callback(lambda done: _pass_on(done, queued))


def _pass_on(source: asyncio.Task[V], target: asyncio.Future[V]) -> None:
    if source.cancelled():
        target.cancel()
    elif (error := source.exception()) is not None:
        target.set_exception(error)
        target.exception()  # retrieved, as above
    else:
        target.set_result(source.result())
