"""The continuity rules of a party's stream, without I/O (like centrifuge's internal/recovery).

A subscriber remembers the last position it delivered; each live publication is then either the
next one, a duplicate, past a gap that history must fill first, or from a new epoch. History can
recover a position only when it holds every publication after it, in the same epoch.
"""

from enum import Enum

from .ports import Publication, StreamPosition


class Next(Enum):
    DELIVER = "deliver"  # exactly the next offset
    DUPLICATE = "duplicate"  # at or before the last delivered one: drop it
    GAP = "gap"  # later than the next one: backfill from history first
    NEW_EPOCH = "new_epoch"  # the stream was lost and started again


def judge(last: StreamPosition, epoch: str, offset: int) -> Next:
    """What to do with a live publication, given the last position delivered."""
    if epoch != last.epoch:
        return Next.NEW_EPOCH
    if offset <= last.offset:
        return Next.DUPLICATE
    if offset == last.offset + 1:
        return Next.DELIVER
    return Next.GAP


def lost_writes(last: StreamPosition, current: StreamPosition) -> bool:
    """Whether the server holds less of the epoch than was delivered: it lost its latest writes
    (a failover to a replica that lacked them, a restart before fsync). Its offsets after
    `current` would name other publications, so the stream must start a new epoch."""
    return current.epoch == last.epoch and current.offset < last.offset


def resync(last: StreamPosition, current: StreamPosition, base: int) -> StreamPosition:
    """Where a subscriber continues from after it lost sight of the stream: in the same epoch,
    from where it was; in a new one, from where that epoch started (after offset `base`; no
    position of an epoch lies below it)."""
    if current.epoch != last.epoch or last.offset < base:
        return StreamPosition(base, current.epoch)
    return last


def recover(
    since: StreamPosition, current: StreamPosition, retained: list[Publication], limit: int
) -> list[Publication] | None:
    """Exactly the first `limit` publications after `since` up to `current`, in order, or
    None when the retained history (oldest first, read together with `current`) does not
    hold all of them."""
    if since.epoch != current.epoch or not 0 <= since.offset <= current.offset:
        return None
    missed = [publication for publication in retained if publication.offset > since.offset]
    last = min(current.offset, since.offset + limit)
    missed = missed[: last - since.offset]
    if len(missed) != last - since.offset:
        return None
    expected = range(since.offset + 1, last + 1)
    if any(p.offset != offset for p, offset in zip(missed, expected, strict=True)):
        return None
    return missed
