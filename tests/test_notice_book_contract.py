"""One contract for the NoticeBook port (coalesced seller notices), on the embedded book, a
real redis-server and a Redis Cluster. Times are plain numbers: the tests move the clock,
never sleep."""

import pytest
from redis.crc import key_slot

from party_engine.backends import open_notice_book
from party_engine.backends.redis_buckets import BUCKETS
from party_engine.ports import DueNotice
from tests.backend_harness import opened
from tests.slot_audit import audited

WINDOW = 300.0
T0 = 1_000_000.0


@pytest.fixture
async def book(store_url):
    async with opened(open_notice_book(store_url)) as book:
        yield book


async def test_the_first_share_sends_at_once_and_later_ones_wait_for_the_window(book):
    assert await book.note_share("p1", "s1", "e1", T0, WINDOW) is True
    assert await book.note_share("p1", "s1", "e2", T0 + 1, WINDOW) is False
    assert await book.note_share("p1", "s1", "e3", T0 + 2, WINDOW) is False
    assert await book.take_due(T0 + WINDOW - 1, lease_seconds=60) == []
    assert await book.take_due(T0 + WINDOW, lease_seconds=60) == [DueNotice("p1", "s1", 2)]


async def test_windows_are_per_seller_and_per_party(book):
    assert await book.note_share("p1", "s1", "e1", T0, WINDOW) is True
    assert await book.note_share("p1", "s2", "e2", T0, WINDOW) is True
    assert await book.note_share("p2", "s1", "e3", T0, WINDOW) is True


async def test_the_same_event_gets_the_same_answer_and_counts_once(book):
    assert await book.note_share("p1", "s1", "e1", T0, WINDOW) is True
    assert await book.note_share("p1", "s1", "e1", T0 + 1, WINDOW) is True
    assert await book.note_share("p1", "s1", "e2", T0 + 1, WINDOW) is False
    assert await book.note_share("p1", "s1", "e2", T0 + 2, WINDOW) is False
    assert await book.take_due(T0 + WINDOW, 60) == [DueNotice("p1", "s1", 1)]


async def test_a_window_without_more_shares_sends_no_summary(book):
    await book.note_share("p1", "s1", "e1", T0, WINDOW)
    assert await book.take_due(T0 + 10 * WINDOW, 60) == []
    # ...and the next share, after the window, sends at once again.
    assert await book.note_share("p1", "s1", "e2", T0 + 10 * WINDOW, WINDOW) is True


async def test_a_sent_summary_opens_the_next_window(book):
    await book.note_share("p1", "s1", "e1", T0, WINDOW)
    await book.note_share("p1", "s1", "e2", T0 + 1, WINDOW)
    [due] = await book.take_due(T0 + WINDOW, 60)
    await book.settle(due, T0 + WINDOW, WINDOW)
    assert await book.take_due(T0 + 2 * WINDOW, 60) == []
    # A share right after the summary waits for the next window's summary.
    assert await book.note_share("p1", "s1", "e3", T0 + WINDOW + 1, WINDOW) is False
    assert await book.take_due(T0 + 2 * WINDOW - 1, 60) == []
    assert await book.take_due(T0 + 2 * WINDOW, 60) == [DueNotice("p1", "s1", 1)]


async def test_a_due_summary_is_leased_and_comes_back_if_never_settled(book):
    await book.note_share("p1", "s1", "e1", T0, WINDOW)
    await book.note_share("p1", "s1", "e2", T0 + 1, WINDOW)
    assert await book.take_due(T0 + WINDOW, 60) == [DueNotice("p1", "s1", 1)]
    assert await book.take_due(T0 + WINDOW + 1, 60) == []  # leased to the first sweeper
    assert await book.take_due(T0 + WINDOW + 61, 60) == [DueNotice("p1", "s1", 1)]


async def test_shares_counted_while_a_summary_is_out_are_told_next_time(book):
    await book.note_share("p1", "s1", "e1", T0, WINDOW)
    await book.note_share("p1", "s1", "e2", T0 + 1, WINDOW)
    [due] = await book.take_due(T0 + WINDOW - 0.0, 60)
    # A share lands between take_due and settle; it is in the open window's count.
    await book.note_share("p1", "s1", "e3", T0 + WINDOW - 0.5, WINDOW)
    await book.settle(due, T0 + WINDOW, WINDOW)
    assert await book.take_due(T0 + 2 * WINDOW, 60) == [DueNotice("p1", "s1", 1)]


async def test_on_redis_each_script_stays_in_one_slot_and_due_windows_spread(redis_url):
    """Cluster-safe without one hot due zset: a party's windows, answers and due entries share
    its bucket's slot, and parties spread over the buckets."""
    async with opened(open_notice_book(redis_url)) as book, audited(redis_url) as audit:
        for n in range(64):
            await book.note_share(f"p{n}", "s1", f"e{n}", T0, WINDOW)
            await book.note_share(f"p{n}", "s1", f"f{n}", T0 + 1, WINDOW)
        due = await book.take_due(T0 + WINDOW, 60, limit=1000)
        for notice in due:
            await book.settle(notice, T0 + WINDOW, WINDOW)
    assert len(due) == 64
    assert audit.scripts >= 2 * 64 + BUCKETS + 64
    assert audit.cross_slot == []
    due_slots = {key_slot(k) for _, keys in audit.units for k in keys if k.endswith(b":due")}
    assert len(due_slots) == BUCKETS


async def test_take_due_gives_at_most_its_limit_and_leases_only_what_it_gives(book):
    for n in range(40):
        await book.note_share(f"p{n}", "s1", f"e{n}", T0, WINDOW)
        await book.note_share(f"p{n}", "s1", f"f{n}", T0 + 1, WINDOW)
    taken = []
    for _ in range(4):
        batch = await book.take_due(T0 + WINDOW, 60, limit=15)
        assert len(batch) <= 15
        taken += batch
    assert sorted(n.party_id for n in taken) == sorted(f"p{n}" for n in range(40))
