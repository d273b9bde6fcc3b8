"""FreshReads: one backend read per key at a time, and never a read older than the request."""

import asyncio

import pytest

from party_engine.gateway.fresh_reads import FreshReads


class GatedSource:
    """A backend whose reads finish only when the test opens them, in order."""

    def __init__(self) -> None:
        self.version = 0
        self.reads: list[tuple[str, asyncio.Event]] = []
        self.started = asyncio.Event()

    async def read(self, key: str) -> tuple[str, int]:
        version = self.version  # what the read sees: the state when it starts
        gate = asyncio.Event()
        self.reads.append((key, gate))
        self.started.set()
        await gate.wait()
        if key == "broken":
            raise ConnectionError("backend down")
        return key, version

    async def wait_for_reads(self, count: int) -> None:
        while len(self.reads) < count:
            self.started.clear()
            await self.started.wait()

    def open(self, index: int) -> None:
        self.reads[index][1].set()


async def test_concurrent_gets_of_one_key_share_one_read():
    source = GatedSource()
    reads = FreshReads(source.read)
    callers = [asyncio.create_task(reads.get("party-1")) for _ in range(50)]
    await source.wait_for_reads(1)
    source.open(0)
    assert await asyncio.gather(*callers) == [("party-1", 0)] * 50
    assert len(source.reads) == 1


async def test_a_get_during_a_read_is_served_by_a_read_that_starts_after_it():
    source = GatedSource()
    reads = FreshReads(source.read)
    early = asyncio.create_task(reads.get("party-1"))
    await source.wait_for_reads(1)
    source.version = 1  # the state changes while the first read is on its way back
    late = [asyncio.create_task(reads.get("party-1")) for _ in range(10)]
    await asyncio.sleep(0)
    source.open(0)
    assert await early == ("party-1", 0)
    await source.wait_for_reads(2)  # the queued callers' read starts once the first ends
    source.open(1)
    assert await asyncio.gather(*late) == [("party-1", 1)] * 10
    assert len(source.reads) == 2


async def test_keys_are_read_independently():
    source = GatedSource()
    reads = FreshReads(source.read)
    first = asyncio.create_task(reads.get("party-1"))
    second = asyncio.create_task(reads.get("party-2"))
    await source.wait_for_reads(2)
    source.open(1)
    assert await second == ("party-2", 0)
    assert not first.done()
    source.open(0)
    assert await first == ("party-1", 0)


async def test_a_failed_read_fails_its_callers_and_the_next_get_reads_again():
    source = GatedSource()
    reads = FreshReads(source.read)
    callers = [asyncio.create_task(reads.get("broken")) for _ in range(3)]
    await source.wait_for_reads(1)
    queued = asyncio.create_task(reads.get("broken"))
    await asyncio.sleep(0)
    source.open(0)
    for caller in callers:
        with pytest.raises(ConnectionError):
            await caller
    await source.wait_for_reads(2)
    source.open(1)
    with pytest.raises(ConnectionError):
        await queued
    again = asyncio.create_task(reads.get("broken"))
    await source.wait_for_reads(3)
    source.open(2)
    with pytest.raises(ConnectionError):
        await again


async def test_a_caller_that_gives_up_does_not_cancel_the_read_of_the_others():
    source = GatedSource()
    reads = FreshReads(source.read)
    impatient = asyncio.create_task(reads.get("party-1"))
    patient = asyncio.create_task(reads.get("party-1"))
    await source.wait_for_reads(1)
    impatient.cancel()
    source.open(0)
    assert await patient == ("party-1", 0)
    assert impatient.cancelled()
