"""The host's report of one ended party, computed from its archived events (schema.SCHEMA).

Pure: `party_report` takes the events Table the reader returns and the party's start and end,
and returns a `report_types.PartyReport`, computed with pyarrow.compute (vectorized: a 2-hour,
50,000-shopper party is ~1.5 M rows; `make bench-report` measures it). Minutes count from the
start; an event before it falls in minute 0 and one after the end (a late push outcome) in no
minute.

- Presence is distinct users, from the per-session `party.joined` / `party.left` events: a
  user is present while at least one of their sessions is (a leave whose join is missing from
  the archive is ignored, not counted below zero). Each minute gives the most users present
  at once within it.
- The start push (`push.sent` of kind `party.started`, one per wave) is converted into joins:
  users whose first join came at or after the first wave, ÷ followers notified over all waves.
- Top sellers and listings rank by likes, then shares; top sharers by shares, then the likes
  their shares received; ties by id. Removed shares still count: they happened.
"""

import math
from datetime import UTC, datetime, timedelta

import pyarrow as pa
import pyarrow.compute as pc

from .report_types import JOIN_WINDOW_MINUTES, PartyReport, PushConversion, Ranked

MINUTE_MS = 60_000
TOP = 10
START_PUSH_KIND = "party.started"


def party_report(
    party_id: str, events: pa.Table, started_at: datetime, ended_at: datetime, *, top: int = TOP
) -> PartyReport:
    start_ms = _ms(started_at)
    minutes = max(0, math.ceil((_ms(ended_at) - start_ms) / MINUTE_MS))
    at_ms = pc.cast(events["at"], pa.int64())
    table = events.append_column("at_ms", at_ms).append_column(
        "minute", _minute_of(pc.subtract(at_ms, start_ms), MINUTE_MS)
    )
    of_type = {kind: _of_type(table, kind) for kind in _TYPES}
    shares, likes = of_type["share.created"], of_type["like.created"]
    joins = of_type["party.joined"]
    presence, peak, peak_ms = _presence(
        pa.concat_tables([joins, of_type["party.left"]]), start_ms, minutes
    )
    likes_of_shares = _likes_with_their_share(likes, shares)
    return PartyReport(
        party_id=party_id,
        started_at=started_at,
        ended_at=ended_at,
        minutes=minutes,
        shares=shares.num_rows,
        likes=likes.num_rows,
        picks=of_type["share.picked"].num_rows,
        removed=of_type["share.removed"].num_rows,
        joins=joins.num_rows,
        shoppers=pc.count_distinct(joins["user_id"]).as_py(),
        shares_per_minute=_per_minute(shares["minute"], minutes),
        likes_per_minute=_per_minute(likes["minute"], minutes),
        presence_per_minute=presence,
        peak_presence=peak,
        peak_at=None if peak_ms is None else _datetime(peak_ms),
        push=_conversion(of_type["push.sent"], joins),
        top_sellers=_ranked(shares["seller_id"], likes_of_shares["seller_id"], top, by_likes=True),
        top_listings=_ranked(shares["listing_id"], likes["listing_id"], top, by_likes=True),
        top_sharers=_ranked(shares["user_id"], likes_of_shares["sharer_id"], top, by_likes=False),
    )


_TYPES = (
    "share.created",
    "like.created",
    "share.picked",
    "share.removed",
    "party.joined",
    "party.left",
    "push.sent",
)


def _of_type(table: pa.Table, kind: str) -> pa.Table:
    return table.filter(pc.equal(table["type"], kind))


def _per_minute(minute: pa.ChunkedArray, minutes: int) -> list[int]:
    """How many of the events fall in each minute [0, minutes); earlier ones in minute 0."""
    counts = [0] * minutes
    if minutes == 0 or len(minute) == 0:
        return counts
    clipped = pc.max_element_wise(minute, 0)
    found = pc.value_counts(clipped.filter(pc.less(clipped, minutes)))
    for index, count in zip(
        found.field("values").to_pylist(), found.field("counts").to_pylist(), strict=True
    ):
        counts[index] = count
    return counts


def _presence(sessions: pa.Table, start_ms: int, minutes: int) -> tuple[list[int], int, int | None]:
    """Users present in each minute (the most at once), the peak and when it was first reached.

    A user's session count is a running sum of +1 (join) and -1 (leave) over their events;
    clamped at zero (the reflection of a walk: the sum minus its running minimum below zero) so
    that a leave whose join is missing cannot hide a later join. The user arrives when the
    count leaves 0 and departs when it returns to 0; presence is the running sum of those."""
    if sessions.num_rows == 0:
        return [0] * minutes, 0, None
    delta = pc.if_else(pc.equal(sessions["type"], "party.joined"), 1, -1).cast(pa.int64())
    walk = pa.table({"user": sessions["user_id"], "at": sessions["at_ms"], "delta": delta}).sort_by(
        [("user", "ascending"), ("at", "ascending"), ("delta", "descending")]
    )
    user, at, delta = (walk[name].combine_chunks() for name in ("user", "at", "delta"))
    rows = walk.num_rows
    first = pa.concat_arrays(
        [pa.array([True]), pc.not_equal(user.slice(1), user.slice(0, rows - 1))]
    )
    group = pc.subtract(pc.cumulative_sum(first.cast(pa.int64())), 1)
    total = pc.cumulative_sum(delta)
    before = pc.fill_null_forward(
        pc.if_else(first, pc.subtract(total, delta), pa.scalar(None, pa.int64()))
    )
    count = pc.subtract(total, before)
    # Later users get smaller offsets, so each running minimum sees only its own user's counts.
    spread = 2 * rows + 2
    offset = pc.multiply(pc.subtract(pc.max(group), group), spread)
    lowest = pc.subtract(pc.cumulative_min(pc.add(count, offset)), offset)
    clamped = pc.subtract(count, pc.min_element_wise(lowest, 0))
    present = pc.greater(clamped, 0).cast(pa.int64())
    previous = pc.if_else(
        first, 0, pa.concat_arrays([pa.array([0], pa.int64()), present.slice(0, rows - 1)])
    )
    change = pc.subtract(present, previous)
    moves = (
        pa.table({"at": at, "change": change})
        .filter(pc.not_equal(change, 0))
        .sort_by([("at", "ascending"), ("change", "ascending")])
    )
    if moves.num_rows == 0:
        return [0] * minutes, 0, None
    level = pc.cumulative_sum(moves["change"])
    peak = pc.max(level).as_py()
    peak_ms = moves["at"][pc.index(level, peak).as_py()].as_py()
    minute = _minute_of(pc.subtract(moves["at"], start_ms), MINUTE_MS)
    by_minute = (
        pa.table({"minute": pc.max_element_wise(minute, 0), "level": level})
        .group_by("minute", use_threads=False)
        .aggregate([("level", "max"), ("level", "last")])
        .sort_by("minute")
    )
    most = dict(
        zip(by_minute["minute"].to_pylist(), by_minute["level_max"].to_pylist(), strict=True)
    )
    last = dict(
        zip(by_minute["minute"].to_pylist(), by_minute["level_last"].to_pylist(), strict=True)
    )
    curve, carried = [], 0
    for index in range(minutes):
        curve.append(max(carried, most.get(index, carried)))
        carried = last.get(index, carried)
    return curve, peak, peak_ms


def _conversion(pushes: pa.Table, joins: pa.Table) -> PushConversion | None:
    waves = pushes.filter(pc.equal(pushes["push_kind"], START_PUSH_KIND))
    if waves.num_rows == 0:
        return None
    pushed_ms = pc.min(waves["at_ms"]).as_py()
    notified = pc.sum(waves["notified"]).as_py() or 0
    first_joins = joins.group_by("user_id").aggregate([("at_ms", "min")])["at_ms_min"]
    after = first_joins.filter(pc.greater_equal(first_joins, pushed_ms))
    minute = _minute_of(pc.subtract(after, pushed_ms), MINUTE_MS)
    joined = len(after)
    return PushConversion(
        pushed_at=_datetime(pushed_ms),
        notified=notified,
        joined=joined,
        ratio=joined / notified if notified else None,
        joins_per_minute=_per_minute(minute, JOIN_WINDOW_MINUTES),
    )


def _likes_with_their_share(likes: pa.Table, shares: pa.Table) -> pa.Table:
    """Each like with the sharer and seller of the share it is about (null if not archived)."""
    return likes.select(["share_offset"]).join(
        shares.select(["offset", "user_id", "seller_id"]).rename_columns(
            ["offset", "sharer_id", "seller_id"]
        ),
        keys="share_offset",
        right_keys="offset",
        join_type="left outer",
        use_threads=False,
    )


def _ranked(
    shared: pa.ChunkedArray, liked: pa.ChunkedArray, top: int, *, by_likes: bool
) -> list[Ranked]:
    shares = _counts(shared, "shares")
    likes = _counts(liked, "likes")
    both = shares.join(likes, keys="id", join_type="full outer", use_threads=False)
    both = both.set_column(
        both.schema.get_field_index("shares"), "shares", pc.fill_null(both["shares"], 0)
    ).set_column(both.schema.get_field_index("likes"), "likes", pc.fill_null(both["likes"], 0))
    order = ["likes", "shares"] if by_likes else ["shares", "likes"]
    best = both.sort_by([(name, "descending") for name in order] + [("id", "ascending")])
    return [Ranked(**row) for row in best.slice(0, top).to_pylist()]


def _counts(values: pa.ChunkedArray, name: str) -> pa.Table:
    found = pc.value_counts(values.drop_null())
    return pa.table(
        {"id": found.field("values"), name: found.field("counts").cast(pa.int64())},
        schema=pa.schema([("id", pa.string()), (name, pa.int64())]),
    )


def _ms(at: datetime) -> int:
    return round(at.timestamp() * 1000)


def _datetime(ms: int) -> datetime:
    return datetime.fromtimestamp(0, UTC) + timedelta(milliseconds=ms)


def _minute_of(since_ms: pa.ChunkedArray | pa.Array, minute_ms: int) -> pa.ChunkedArray:
    """Whole minutes (integer division truncates toward zero: callers clip negatives to 0)."""
    return pc.divide(since_ms, minute_ms)
