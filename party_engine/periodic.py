"""One way to run a step every so often in the background: the party clock's tick, the
seller-notice sweep, the gateway's presence round, the garbage-collection freeze.

`Periodic(name, every_seconds, step)` runs `step`, then waits `every_seconds` (measured from
the step's end), and again. With `wait_first` it waits before the first step too. A step that
raises is logged and the loop goes on. `stop()` lets the step in hand finish, cancels the
wait, and returns once the task is done: nothing is left running.
"""

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

Step = Callable[[], Awaitable[object]]

_log = logging.getLogger(__name__)


class Periodic:
    def __init__(
        self,
        name: str,
        every_seconds: float,
        step: Step,
        *,
        wait_first: bool = False,
        log: logging.Logger = _log,
        failure: str | None = None,
        failure_level: int = logging.ERROR,
    ) -> None:
        self.name = name
        self.every_seconds = every_seconds
        self._step = step
        self._wait_first = wait_first
        self._log = log
        self._failure = failure or f"{name} failed"
        self._failure_level = failure_level
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    @property
    def running(self) -> bool:
        return self._task is not None

    def start(self) -> None:
        if self._task is not None:
            raise RuntimeError(f"{self.name} is already running")
        self._stopping = asyncio.Event()
        self._task = asyncio.create_task(self._run(), name=self.name)

    async def stop(self) -> None:
        """Finish the step in hand, if any, and end the loop (a no-op when not running)."""
        task, self._task = self._task, None
        if task is None:
            return
        self._stopping.set()
        await task

    async def _run(self) -> None:
        if self._wait_first and await self._stopped_while_waiting():
            return
        while not self._stopping.is_set():
            try:
                await self._step()
            except Exception:
                self._log.log(self._failure_level, self._failure, exc_info=True)
            if await self._stopped_while_waiting():
                return

    async def _stopped_while_waiting(self) -> bool:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), self.every_seconds)
        return self._stopping.is_set()
