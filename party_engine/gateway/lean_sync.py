"""What the gateway's WebSocket protocol (ws_protocol.py) needs of asyncio.Queue and
asyncio.Event, for one connection, at a fraction of their memory.

Every asyncio.Queue holds three deques and an Event (a fourth), every Event a deque, and an
empty deque takes 760 bytes: uvicorn's protocol kept ~4.1 KiB per connection in them, a fifth
of what a held connection cost. Each connection has one reader of its messages (the ASGI
app) and one waiter for writability (its `send`), so a list and at most one future do.
"""

import asyncio
from typing import Generic, TypeVar

Message = TypeVar("Message")


class Inbox(Generic[Message]):
    """A single-consumer FIFO with Queue's put_nowait / get / empty."""

    __slots__ = ("_getter", "_items")

    def __init__(self) -> None:
        self._items: list[Message] = []
        self._getter: asyncio.Future[None] | None = None

    def put_nowait(self, item: Message) -> None:
        self._items.append(item)
        getter = self._getter
        if getter is not None and not getter.done():
            getter.set_result(None)

    async def get(self) -> Message:
        while not self._items:
            if self._getter is not None and not self._getter.done():
                raise RuntimeError("Inbox.get() already has a waiter")
            self._getter = asyncio.get_running_loop().create_future()
            try:
                await self._getter
            finally:
                self._getter = None
        return self._items.pop(0)

    def empty(self) -> bool:
        return not self._items


class Flag:
    """Event's set / clear / is_set / wait, with its waiters kept only while there are any."""

    __slots__ = ("_set", "_waiters")

    def __init__(self) -> None:
        self._set = False
        self._waiters: list[asyncio.Future[None]] | None = None

    def is_set(self) -> bool:
        return self._set

    def set(self) -> None:
        if self._set:
            return
        self._set = True
        waiters, self._waiters = self._waiters, None
        for waiter in waiters or ():
            if not waiter.done():
                waiter.set_result(None)

    def clear(self) -> None:
        self._set = False

    async def wait(self) -> None:
        if self._set:
            return
        waiter = asyncio.get_running_loop().create_future()
        if self._waiters is None:
            self._waiters = []
        self._waiters.append(waiter)
        try:
            await waiter
        finally:
            if self._waiters is not None and waiter in self._waiters:
                self._waiters.remove(waiter)
