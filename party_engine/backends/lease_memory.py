"""The embedded lease: holders in one process share a board (one process has one clock, so
the engine's own lease is always held; the board lets the contract tests race two holders)."""

import secrets
import time
from dataclasses import dataclass, field

from .embedded import InProcess


@dataclass
class LeaseBoard:
    """Lease name -> (holder token, monotonic expiry)."""

    held: dict[str, tuple[str, float]] = field(default_factory=dict)


class MemoryLease(InProcess):
    def __init__(self, board: LeaseBoard, name: str, ttl_seconds: float) -> None:
        self._board = board
        self._name = name
        self._ttl = ttl_seconds
        self._token = secrets.token_hex(8)

    async def close(self) -> None:
        await self.release()

    async def hold(self) -> bool:
        now = time.monotonic()
        holder = self._board.held.get(self._name)
        if holder is not None and holder[0] != self._token and holder[1] > now:
            return False
        self._board.held[self._name] = (self._token, now + self._ttl)
        return True

    async def release(self) -> None:
        holder = self._board.held.get(self._name)
        if holder is not None and holder[0] == self._token:
            del self._board.held[self._name]
