"""One contract for the Ledger port (idempotency locks and party counters), run against the
embedded ledger, a real redis-server and a Redis Cluster."""

import asyncio
import re
from datetime import UTC, datetime, timedelta

import pytest

from party_engine.backends import open_ledger
from party_engine.domain.events import LikeCreated, ShareCreated
from party_engine.domain.tallies import tally
from party_engine.ports import Board, Claim, EventRef, LockLost, PartyStats, Ranked
from tests.backend_harness import opened
from tests.slot_audit import audited

AT = datetime(2030, 5, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
async def ledger(store_url):
    async with opened(open_ledger(store_url)) as ledger:
        yield ledger


def share(n: int, *, party="p1", listing="l1", sharer="u1"):
    return ShareCreated(f"s{n}", party, n, listing, "seller-1", sharer, AT)


def like(n: int, *, party="p1", listing="l1"):
    return LikeCreated(f"k{n}", party, n, 1, listing, "liker-1", AT)


def ref(event_id: str, party: str = "p1") -> EventRef:
    return EventRef(party, event_id)


async def test_a_fresh_event_is_claimed_then_done_after_commit(ledger):
    assert await ledger.claim("counters", [ref("e1")], 30) == [Claim.FRESH]
    await ledger.commit_tally("counters", [ref("e1")], tally([share(1)]))
    assert await ledger.claim("counters", [ref("e1")], 30) == [Claim.DONE]


async def test_an_event_locked_by_a_worker_is_busy_for_the_others(ledger):
    assert await ledger.claim("counters", [ref("e1"), ref("e2")], 30) == [Claim.FRESH, Claim.FRESH]
    assert await ledger.claim("counters", [ref("e1")], 30) == [Claim.BUSY]


async def test_queues_lock_and_finish_the_same_event_separately(ledger):
    await ledger.claim("counters", [ref("e1")], 30)
    await ledger.mark_done("counters", [ref("e1")])
    assert await ledger.claim("seller-notices", [ref("e1")], 30) == [Claim.FRESH]


async def test_a_released_event_can_be_claimed_again(ledger):
    await ledger.claim("counters", [ref("e1")], 30)
    await ledger.release("counters", [ref("e1")])
    assert await ledger.claim("counters", [ref("e1")], 30) == [Claim.FRESH]


async def test_a_release_never_undoes_a_done_event(ledger):
    await ledger.claim("counters", [ref("e1")], 30)
    await ledger.mark_done("counters", [ref("e1")])
    await ledger.release("counters", [ref("e1")])
    assert await ledger.claim("counters", [ref("e1")], 30) == [Claim.DONE]


async def test_a_lock_expires_so_a_dead_worker_does_not_hold_its_events_forever(ledger):
    await ledger.claim("counters", [ref("e1")], 0.05)
    deadline = asyncio.get_running_loop().time() + 5
    while await ledger.claim("counters", [ref("e1")], 30) != [Claim.FRESH]:
        assert asyncio.get_running_loop().time() < deadline, "the lock never expired"
        await asyncio.sleep(0.02)


async def test_a_commit_of_an_unclaimed_event_is_refused(ledger):
    with pytest.raises(LockLost):
        await ledger.commit_tally("counters", [ref("never-claimed")], tally([share(1)]))
    assert await ledger.party_stats("p1") == PartyStats(0, 0, 0, 0)


async def test_counters_and_boards_add_up_per_party(ledger):
    events = [
        share(1, listing="l1", sharer="ann"),
        share(2, listing="l1", sharer="bob"),
        share(3, listing="l2", sharer="ann"),
        like(4, listing="l2"),
        like(5, listing="l2"),
        share(6, party="p2", listing="l9", sharer="cat"),
    ]
    ids = [EventRef.of(event) for event in events]
    await ledger.claim("counters", ids, 30)
    await ledger.commit_tally("counters", ids, tally(events))

    assert await ledger.party_stats("p1") == PartyStats(shares=3, likes=2, listings=2, sharers=2)
    assert await ledger.party_stats("p2") == PartyStats(shares=1, likes=0, listings=1, sharers=1)
    assert await ledger.leaderboard("p1", Board.LISTINGS, 10) == [Ranked("l2", 3), Ranked("l1", 2)]
    assert await ledger.leaderboard("p1", Board.SHARERS, 10) == [Ranked("ann", 2), Ranked("bob", 1)]
    assert await ledger.leaderboard("p1", Board.SHARERS, 1) == [Ranked("ann", 2)]


async def test_equal_scores_rank_by_id_descending(ledger):
    events = [share(1, sharer="amy"), share(2, sharer="zoe"), share(3, sharer="max")]
    await ledger.claim("counters", [ref("s1"), ref("s2"), ref("s3")], 30)
    await ledger.commit_tally("counters", [ref("s1"), ref("s2"), ref("s3")], tally(events))
    board = await ledger.leaderboard("p1", Board.SHARERS, 10)
    assert [r.id for r in board] == ["zoe", "max", "amy"]


async def test_an_unknown_party_has_zero_stats_and_an_empty_board(ledger):
    assert await ledger.party_stats("nope") == PartyStats(0, 0, 0, 0)
    assert await ledger.leaderboard("nope", Board.LISTINGS, 10) == []


async def test_a_retired_partys_boards_go_and_its_counters_stay(ledger):
    events = [share(1), share(2, listing="l2", sharer="u2"), like(3)]
    assert await ledger.claim("counters", [EventRef.of(e) for e in events], 30) == [Claim.FRESH] * 3
    await ledger.commit_tally("counters", [EventRef.of(e) for e in events], tally(events))
    counters = PartyStats(shares=2, likes=1, listings=2, sharers=2)
    assert await ledger.party_stats("p1") == counters
    await ledger.retire("p1", datetime.now(UTC) + timedelta(days=7))
    assert await ledger.leaderboard("p1", Board.SHARERS, 10) != []  # not yet
    await ledger.retire("p1", datetime.now(UTC) - timedelta(seconds=1))
    assert await ledger.leaderboard("p1", Board.LISTINGS, 10) == []
    assert await ledger.leaderboard("p1", Board.SHARERS, 10) == []
    assert await ledger.party_stats("p1") == counters


async def test_a_batch_over_several_parties_answers_each_event_in_order(ledger):
    await ledger.claim("counters", [ref("b", "p2")], 30)
    await ledger.mark_done("counters", [ref("b", "p2")])
    await ledger.claim("counters", [ref("c", "p1")], 30)
    batch = [ref("a", "p1"), ref("b", "p2"), ref("c", "p1"), ref("d", "p3")]
    assert await ledger.claim("counters", batch, 30) == [
        Claim.FRESH,
        Claim.DONE,
        Claim.BUSY,
        Claim.FRESH,
    ]


async def test_a_lost_lock_holds_back_only_its_partys_part_and_a_redelivery_counts_it_once(ledger):
    """A commit runs party by party (one slot each): a worker that loses one party's lock, or
    dies between two parties' commits, leaves the others counted and done, and the redelivered
    batch counts exactly what was not."""
    events = [share(1), share(2, party="p2"), like(3), like(4, party="p2")]
    refs = [EventRef.of(event) for event in events]
    assert await ledger.claim("counters", refs, 30) == [Claim.FRESH] * 4
    await ledger.release("counters", [refs[3]])  # as if its lock had expired
    with pytest.raises(LockLost):
        await ledger.commit_tally("counters", refs, tally(events))
    assert await ledger.party_stats("p1") == PartyStats(shares=1, likes=1, listings=1, sharers=1)
    assert await ledger.party_stats("p2") == PartyStats(0, 0, 0, 0)
    await ledger.release("counters", refs)  # what the worker does on the error

    claims = await ledger.claim("counters", refs, 30)  # the batch, redelivered
    assert claims == [Claim.DONE, Claim.FRESH, Claim.DONE, Claim.FRESH]
    fresh = [event for event, claim in zip(events, claims, strict=True) if claim is Claim.FRESH]
    await ledger.commit_tally("counters", [EventRef.of(e) for e in fresh], tally(fresh))
    assert await ledger.party_stats("p1") == PartyStats(shares=1, likes=1, listings=1, sharers=1)
    assert await ledger.party_stats("p2") == PartyStats(shares=1, likes=1, listings=1, sharers=1)


async def test_counts_for_a_party_without_events_are_refused(ledger):
    await ledger.claim("counters", [ref("e1")], 30)
    with pytest.raises(ValueError, match="p2"):
        await ledger.commit_tally("counters", [ref("e1")], tally([share(1, party="p2")]))
    assert await ledger.party_stats("p2") == PartyStats(0, 0, 0, 0)


async def test_on_redis_each_script_call_stays_in_one_partys_slot(redis_url):
    events = [share(n, party=f"p{n % 5}", sharer=f"u{n}") for n in range(20)]
    events += [like(n, party=f"p{n % 5}") for n in range(20, 30)]
    refs = [EventRef.of(event) for event in events]
    async with opened(open_ledger(redis_url)) as ledger, audited(redis_url) as audit:
        await ledger.claim("counters", refs, 30)
        await ledger.release("counters", refs[:3])
        await ledger.claim("counters", refs[:3], 30)
        await ledger.commit_tally("counters", refs, tally(events))
        await ledger.retire("p1", AT)
    assert audit.scripts == 5 + 3 + 3 + 5  # one call per party in each batch
    assert audit.cross_slot == []
    for _, keys in audit.units:  # every key carries its party's tag, as the broker's do
        assert all(re.fullmatch(rb"pe:(work|stats):\{p\d\}.*", key) for key in keys), keys
