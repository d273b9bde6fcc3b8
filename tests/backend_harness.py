"""A backend connected for the length of a block, for the contract suites' fixtures."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TypeVar

from party_engine.ports import Backend

B = TypeVar("B", bound=Backend)


@asynccontextmanager
async def opened(backend: B) -> AsyncIterator[B]:
    await backend.connect()
    try:
        yield backend
    finally:
        await backend.close()
