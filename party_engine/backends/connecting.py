"""Connecting and closing the backends of one process, whatever state they are in.

`Connections.connect()` connects every backend at once, each retried on its own with capped
exponential backoff and full jitter (tenacity) until it answers: a process starts while Redis
or RabbitMQ is still down, is not ready meanwhile (`waiting()` names what it waits for), and
connects each backend when it can. `Connections.close(seconds)` closes them in reverse order
within a budget, each close bounded, and logs what could not finish: a backend that hangs
(reconnecting to a broker that is gone) never holds the process past its grace period.
"""

import asyncio
import logging
import time
from collections.abc import Awaitable, Mapping

from tenacity import AsyncRetrying, RetryCallState, retry_if_exception_type, wait_random_exponential

from ..ports import Backend

log = logging.getLogger(__name__)

# The longest wait between two attempts to connect one backend.
MAX_BACKOFF_SECONDS = 5.0
# One attempt that gets no answer (a host that drops packets) is given up after this long.
ATTEMPT_SECONDS = 10.0
# What a close is left at least, for each backend that closes after it (its own share).
CLOSE_RESERVE_SECONDS = 0.25


class Connections:
    """The connection state of a process's backends (name -> backend, in connect order)."""

    def __init__(self, backends: Mapping[str, Backend]) -> None:
        # A backend opened under two names (the embedded queue is also the consumer) is
        # connected and closed once, under its first name.
        self._backends: dict[str, Backend] = {}
        self._aliases: dict[str, list[str]] = {}
        first_name: dict[int, str] = {}
        for name, backend in backends.items():
            first = first_name.setdefault(id(backend), name)
            if first == name:
                self._backends[name] = backend
            self._aliases.setdefault(first, []).append(name)
        self._connected: set[str] = set()

    def waiting(self) -> list[str]:
        """The backends not connected yet, by name, in connect order."""
        return [
            alias
            for name in self._backends
            if name not in self._connected
            for alias in self._aliases[name]
        ]

    async def connect(self) -> None:
        """Connect every backend, each retried until it answers; return once all are."""
        async with asyncio.TaskGroup() as group:
            for name, backend in self._backends.items():
                group.create_task(self._connect(name, backend), name=f"connect-{name}")

    async def _connect(self, name: str, backend: Backend) -> None:
        retrying = AsyncRetrying(
            wait=wait_random_exponential(multiplier=0.1, max=MAX_BACKOFF_SECONDS),
            retry=retry_if_exception_type(Exception),
            before_sleep=lambda state: _log_retry(name, state),
        )
        async for attempt in retrying:
            with attempt:
                async with asyncio.timeout(ATTEMPT_SECONDS):
                    await backend.connect()
        self._connected.add(name)
        log.info("%s connected", name)

    async def close(self, seconds: float) -> None:
        """Close every backend in reverse order within `seconds`; log what did not finish."""
        deadline = time.monotonic() + seconds
        names = list(reversed(self._backends))
        for index, name in enumerate(names):
            reserve = CLOSE_RESERVE_SECONDS * (len(names) - index - 1)
            budget = max(deadline - time.monotonic() - reserve, CLOSE_RESERVE_SECONDS)
            await bounded(self._backends[name].close(), budget, f"closing {name}")
            self._connected.discard(name)


async def bounded(step: Awaitable[object], seconds: float, what: str) -> bool:
    """Await `step` for at most `seconds`; True if it finished. A step that overruns is
    cancelled and one that fails is logged: a shutdown goes on with its next step."""
    try:
        async with asyncio.timeout(seconds):
            await step
    except TimeoutError:
        log.error("%s did not finish within %.1f s; abandoned", what, seconds)
        return False
    except Exception:
        log.exception("%s failed", what)
        return False
    return True


def _log_retry(name: str, state: RetryCallState) -> None:
    error = state.outcome.exception() if state.outcome is not None else None
    delay = state.next_action.sleep if state.next_action is not None else 0.0
    log.warning(
        "%s not connected yet (attempt %d: %s); trying again in %.1f s",
        name,
        state.attempt_number,
        f"{type(error).__name__}: {error}" if error else "?",
        delay,
    )
