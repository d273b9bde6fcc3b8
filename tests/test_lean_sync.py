"""The connection's lean queue and flag behave as the asyncio.Queue and asyncio.Event uvicorn's
protocol uses them as."""

import asyncio

import pytest

from party_engine.gateway.lean_sync import Flag, Inbox


async def test_the_inbox_gives_messages_in_order_and_a_reader_waits_for_the_next():
    inbox: Inbox[int] = Inbox()
    inbox.put_nowait(1)
    inbox.put_nowait(2)
    assert not inbox.empty()
    assert [await inbox.get(), await inbox.get()] == [1, 2]
    assert inbox.empty()

    reader = asyncio.ensure_future(inbox.get())
    await asyncio.sleep(0)  # the reader waits
    assert not reader.done()
    inbox.put_nowait(3)
    assert await reader == 3


async def test_a_cancelled_reader_leaves_the_inbox_usable():
    inbox: Inbox[str] = Inbox()
    reader = asyncio.ensure_future(inbox.get())
    await asyncio.sleep(0)
    reader.cancel()
    with pytest.raises(asyncio.CancelledError):
        await reader
    inbox.put_nowait("after")
    assert await inbox.get() == "after"


async def test_a_second_concurrent_reader_is_refused():
    inbox: Inbox[str] = Inbox()
    first = asyncio.ensure_future(inbox.get())
    await asyncio.sleep(0)
    with pytest.raises(RuntimeError, match="already has a waiter"):
        await inbox.get()
    inbox.put_nowait("one")
    assert await first == "one"


async def test_the_flag_releases_its_waiters_when_set_and_holds_them_while_cleared():
    flag = Flag()
    waiters = [asyncio.ensure_future(flag.wait()) for _ in range(3)]
    await asyncio.sleep(0)
    assert not any(waiter.done() for waiter in waiters)
    flag.set()
    await asyncio.gather(*waiters)
    assert flag.is_set()
    await flag.wait()  # set: returns at once

    flag.clear()
    late = asyncio.ensure_future(flag.wait())
    cancelled = asyncio.ensure_future(flag.wait())
    await asyncio.sleep(0)
    cancelled.cancel()
    with pytest.raises(asyncio.CancelledError):
        await cancelled
    assert not late.done()
    flag.set()
    await late
