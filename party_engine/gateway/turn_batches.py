"""Calls that come together go out together: every call made in one turn of the event loop
goes to the backend in one round trip, and those made while it is on its way go in the next,
which starts when it ends. In a join storm (or when a party ends and its members leave) that
is one round trip for tens or hundreds of connections instead of one each."""

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

Item = TypeVar("Item")
Outcome = TypeVar("Outcome")


class TurnBatches(Generic[Item, Outcome]):
    def __init__(
        self,
        send: Callable[[list[Item]], Awaitable[Sequence[Outcome]]],
        *,
        size: int,
        failed: Callable[[list[Item]], Sequence[Outcome]],
    ) -> None:
        """`send` makes one batch's call (at most `size` items: bounds the buffers) and returns
        an outcome per item; when it raises, `failed` (called in the except block, so it may
        log the error) gives them."""
        self._send = send
        self._size = size
        self._failed = failed
        self._waiting: list[tuple[Item, asyncio.Future[Outcome]]] = []
        self._sending: asyncio.Task[None] | None = None

    async def submit(self, item: Item) -> Outcome:
        """The item's outcome, once its batch was sent."""
        outcome: asyncio.Future[Outcome] = asyncio.get_running_loop().create_future()
        self._waiting.append((item, outcome))
        if self._sending is None:
            self._sending = asyncio.ensure_future(self._send_waiting())
        return await asyncio.shield(outcome)

    async def _send_waiting(self) -> None:
        batch: list[tuple[Item, asyncio.Future[Outcome]]] = []
        try:
            while self._waiting:
                batch = self._waiting[: self._size]
                del self._waiting[: self._size]
                items = [item for item, _ in batch]
                try:
                    outcomes = list(await self._send(items))
                except Exception:
                    outcomes = list(self._failed(items))
                for (_, future), outcome in zip(batch, outcomes, strict=True):
                    if not future.done():
                        future.set_result(outcome)
        finally:
            self._sending = None
            for _, future in [*batch, *self._waiting]:  # cancelled (stopping) with calls here
                future.cancel()
            self._waiting.clear()
