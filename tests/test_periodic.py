"""Periodic: runs its step again and again, survives a failing step, and stop() returns
promptly (even mid-wait) having let the step in hand finish, with no task left behind."""

import asyncio
import logging

import pytest

from party_engine.periodic import Periodic

LONG = 3600.0  # a wait no test should sit through


def other_tasks() -> set[asyncio.Task]:
    return asyncio.all_tasks() - {asyncio.current_task()}


async def test_it_runs_the_step_again_and_again_until_stopped():
    ran = 0
    third = asyncio.Event()

    async def step() -> None:
        nonlocal ran
        ran += 1
        if ran == 3:
            third.set()

    periodic = Periodic("counting", 0, step)
    periodic.start()
    await asyncio.wait_for(third.wait(), 5)
    await periodic.stop()
    stopped_at = ran
    assert stopped_at >= 3
    assert not periodic.running and not other_tasks()
    await asyncio.sleep(0)  # one more turn of the loop: nothing runs the step any more
    assert ran == stopped_at


async def test_a_failing_step_is_logged_and_the_loop_goes_on(caplog):
    calls = 0
    again = asyncio.Event()

    async def step() -> None:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError("boom")
        again.set()

    periodic = Periodic("flaky", 0, step, failure="flaky step failed")
    with caplog.at_level(logging.ERROR, logger="party_engine.periodic"):
        periodic.start()
        await asyncio.wait_for(again.wait(), 5)
        await periodic.stop()
    assert calls >= 2
    [record] = [r for r in caplog.records if r.getMessage() == "flaky step failed"]
    assert record.exc_info is not None and isinstance(record.exc_info[1], RuntimeError)
    assert not other_tasks()


async def test_stop_during_the_wait_returns_at_once_without_a_pending_task():
    ran = asyncio.Event()

    async def step() -> None:
        ran.set()

    periodic = Periodic("slow", LONG, step)
    periodic.start()
    await asyncio.wait_for(ran.wait(), 5)  # the first step ran; it now waits an hour
    await asyncio.wait_for(periodic.stop(), 1)
    assert not periodic.running and not other_tasks()


async def test_stop_lets_the_step_in_hand_finish():
    entered, release = asyncio.Event(), asyncio.Event()
    finished = False

    async def step() -> None:
        nonlocal finished
        entered.set()
        await release.wait()
        finished = True

    periodic = Periodic("busy", LONG, step)
    periodic.start()
    await asyncio.wait_for(entered.wait(), 5)
    stopping = asyncio.create_task(periodic.stop())
    await asyncio.sleep(0)
    assert not stopping.done()  # waiting for the step, not cancelling it
    release.set()
    await asyncio.wait_for(stopping, 1)
    assert finished and not other_tasks()


async def test_wait_first_waits_before_the_first_step():
    ran = False

    async def step() -> None:
        nonlocal ran
        ran = True

    periodic = Periodic("patient", LONG, step, wait_first=True)
    periodic.start()
    await asyncio.sleep(0)
    await asyncio.wait_for(periodic.stop(), 1)
    assert not ran and not other_tasks()


async def test_starting_twice_is_refused():
    async def step() -> None:
        pass

    periodic = Periodic("once", LONG, step, wait_first=True)
    periodic.start()
    try:
        with pytest.raises(RuntimeError):
            periodic.start()
    finally:
        await periodic.stop()
