"""The host's report (archive/report.py) against the same figures computed row by row here,
on a generated party and on hand-made edge cases."""

from collections import Counter
from datetime import UTC, datetime, timedelta
from itertools import groupby

import orjson
import pyarrow as pa
import pytest

from loadtests.party_events import generate
from party_engine.archive.report import party_report
from party_engine.archive.report_types import JOIN_WINDOW_MINUTES, Ranked, encode
from party_engine.archive.schema import SCHEMA

START = datetime(2030, 5, 1, 18, 0, tzinfo=UTC)


def minute_of(at: datetime, start: datetime) -> int:
    return max(0, int((at - start).total_seconds() // 60))


def per_minute(rows, kind, start, minutes):
    counts = Counter(minute_of(r["at"], start) for r in rows if r["type"] == kind)
    return [counts[m] for m in range(minutes)]


def presence(rows, start, minutes):
    """Replays the sessions: a user is present while one of their sessions is (never below
    zero); each timestamp's events apply together. Each minute: the most present at once,
    counting the level carried in from the minute before."""
    sessions: Counter[str] = Counter()
    peak, peak_at = 0, None
    most: dict[int, int] = {}
    last: dict[int, int] = {}
    moves = sorted(
        (r["at"], r["user_id"], r["type"] != "party.joined")
        for r in rows
        if r["type"] in ("party.joined", "party.left")
    )
    for moment, same_time in groupby(moves, key=lambda m: m[0]):
        for _, user, leaves in same_time:
            sessions[user] = max(0, sessions[user] + (-1 if leaves else 1))
        level = sum(1 for n in sessions.values() if n > 0)
        if level > peak:
            peak, peak_at = level, moment
        m = minute_of(moment, start)
        most[m] = max(most.get(m, 0), level)
        last[m] = level
    curve, carried = [], 0
    for m in range(minutes):
        curve.append(max(carried, most.get(m, carried)))
        carried = last.get(m, carried)
    return curve, peak, peak_at


def ranked(rows, key_of_share, key_of_like, by_likes, top=10):
    shares = [r for r in rows if r["type"] == "share.created"]
    share_at = {r["offset"]: r for r in shares}
    shared = Counter(key_of_share(r) for r in shares)
    liked = Counter(
        key_of_like(r, share_at.get(r["share_offset"])) for r in rows if r["type"] == "like.created"
    )
    liked.pop(None, None)
    ids = set(shared) | set(liked)
    order = (
        (lambda i: (-liked[i], -shared[i], i))
        if by_likes
        else (lambda i: (-shared[i], -liked[i], i))
    )
    return [Ranked(i, shared[i], liked[i]) for i in sorted(ids, key=order)[:top]]


def test_a_generated_party_gives_the_figures_counted_row_by_row():
    party = generate(shoppers=400, minutes=25, seed=11)
    rows = party.events.to_pylist()
    start, minutes = party.started_at, 25
    report = party_report(party.party_id, party.events, party.started_at, party.ended_at)

    assert report.minutes == minutes
    assert report.shares == sum(r["type"] == "share.created" for r in rows) > 0
    assert report.likes == sum(r["type"] == "like.created" for r in rows) > 0
    assert report.picks == sum(r["type"] == "share.picked" for r in rows) > 0
    assert report.removed == sum(r["type"] == "share.removed" for r in rows) > 0
    joins = [r for r in rows if r["type"] == "party.joined"]
    assert report.joins == len(joins)
    assert report.shoppers == len({r["user_id"] for r in joins}) == 400 > 0
    assert report.shares_per_minute == per_minute(rows, "share.created", start, minutes)
    assert report.likes_per_minute == per_minute(rows, "like.created", start, minutes)
    assert sum(report.likes_per_minute) == report.likes

    curve, peak, peak_at = presence(rows, start, minutes)
    assert report.presence_per_minute == curve
    assert (report.peak_presence, report.peak_at) == (peak, peak_at)
    assert max(curve) == peak < report.shoppers  # some had left before the peak

    waves = [r for r in rows if r["type"] == "push.sent" and r["push_kind"] == "party.started"]
    pushed_at = min(r["at"] for r in waves)
    first_join = {}
    for r in sorted(joins, key=lambda r: r["at"]):
        first_join.setdefault(r["user_id"], r["at"])
    converted = [at for at in first_join.values() if at >= pushed_at]
    notified = sum(r["notified"] for r in waves)
    assert report.push is not None
    assert report.push.pushed_at == pushed_at
    assert report.push.notified == notified
    assert report.push.joined == len(converted)
    assert report.push.ratio == pytest.approx(len(converted) / notified)
    by_minute = Counter(int((at - pushed_at).total_seconds() // 60) for at in converted)
    assert report.push.joins_per_minute == [by_minute[m] for m in range(JOIN_WINDOW_MINUTES)]

    assert report.top_sellers == ranked(
        rows, lambda s: s["seller_id"], lambda _, s: s and s["seller_id"], by_likes=True
    )
    assert report.top_listings == ranked(
        rows, lambda s: s["listing_id"], lambda like, _: like["listing_id"], by_likes=True
    )
    assert report.top_sharers == ranked(
        rows, lambda s: s["user_id"], lambda _, s: s and s["user_id"], by_likes=False
    )


def table(*rows: dict) -> pa.Table:
    full = [
        {"event_id": f"e{n}", "party_id": "p1", **{k: None for k in SCHEMA.names[4:]}, **row}
        for n, row in enumerate(rows)
    ]
    return pa.Table.from_pylist(full, schema=SCHEMA)


def at(minutes: float) -> datetime:
    return START + timedelta(minutes=minutes)


def test_presence_counts_users_not_sessions_and_ignores_a_leave_without_its_join():
    events = table(
        {"type": "party.joined", "at": at(-2), "user_id": "early"},  # before the start: minute 0
        {"type": "party.joined", "at": at(1.5), "user_id": "two-phones"},
        {"type": "party.joined", "at": at(1.6), "user_id": "two-phones"},
        {"type": "party.left", "at": at(2.5), "user_id": "two-phones"},  # one phone still there
        {"type": "party.left", "at": at(2.6), "user_id": "lost-join"},  # its join never archived
        {"type": "party.joined", "at": at(2.7), "user_id": "lost-join"},
        {"type": "party.left", "at": at(3.2), "user_id": "two-phones"},
        {"type": "party.left", "at": at(3.3), "user_id": "early"},
    )
    report = party_report("p1", events, START, at(5))
    assert report.presence_per_minute == [1, 2, 3, 3, 1]  # minute 3 opens with 3
    assert (report.peak_presence, report.peak_at) == (3, at(2.7))
    assert (report.joins, report.shoppers) == (4, 3)
    assert report.push is None


def test_likes_go_to_the_seller_and_sharer_of_their_share_and_ties_go_by_id():
    events = table(
        {
            "type": "share.created",
            "at": at(0),
            "offset": 1,
            "user_id": "ann",
            "listing_id": "l1",
            "seller_id": "s1",
        },
        {
            "type": "share.created",
            "at": at(1),
            "offset": 2,
            "user_id": "bob",
            "listing_id": "l2",
            "seller_id": "s2",
        },
        {
            "type": "like.created",
            "at": at(1),
            "offset": 3,
            "share_offset": 2,
            "user_id": "cy",
            "listing_id": "l2",
        },
        {
            "type": "like.created",
            "at": at(9),
            "offset": 4,
            "share_offset": 1,
            "user_id": "cy",
            "listing_id": "l1",
        },  # after the end: counted, in no minute
        {
            "type": "like.created",
            "at": at(2),
            "offset": 5,
            "share_offset": 2,
            "user_id": "di",
            "listing_id": "l2",
        },
        {
            "type": "share.created",
            "at": at(2),
            "offset": 6,
            "user_id": "ann",
            "listing_id": "l3",
            "seller_id": "s3",
        },
    )
    report = party_report("p1", events, START, at(3), top=2)
    assert report.shares_per_minute == [1, 1, 1] and report.likes_per_minute == [0, 1, 1]
    assert report.top_sellers == [Ranked("s2", 1, 2), Ranked("s1", 1, 1)]
    assert report.top_listings == [Ranked("l2", 1, 2), Ranked("l1", 1, 1)]
    assert report.top_sharers == [Ranked("ann", 2, 1), Ranked("bob", 1, 2)]


def test_an_empty_party_reports_zeros_and_encodes_to_json():
    report = party_report("p1", SCHEMA.empty_table(), START, at(2))
    assert report.shares_per_minute == report.presence_per_minute == [0, 0]
    assert (report.peak_presence, report.peak_at, report.push) == (0, None, None)
    assert report.top_sellers == report.top_listings == report.top_sharers == []
    body = orjson.loads(encode(report))
    assert body["started_at"] == "2030-05-01T18:00:00+00:00" and body["minutes"] == 2


def test_a_start_push_that_notified_nobody_has_no_ratio():
    events = table(
        {
            "type": "push.sent",
            "at": at(0),
            "push_kind": "party.started",
            "notified": 0,
            "failed": 0,
        },
        {
            "type": "push.sent",
            "at": at(0),
            "push_kind": "party.reminder",
            "notified": 9,
            "failed": 0,
        },
        {"type": "party.joined", "at": at(0.5), "user_id": "u1"},
    )
    report = party_report("p1", events, START, at(1))
    assert report.push is not None
    assert (report.push.notified, report.push.joined, report.push.ratio) == (0, 1, None)
