"""What both brokers share (the Redis broker must not import its embedded sibling)."""

from ..ports import IdempotencyKey, Publication

DEFAULT_SNAPSHOT_SIZE = 200  # shares kept for snapshots
# What a joiner's snapshot may weigh at most (its shares' payloads): 50 shares of the largest
# items (protocol.MAX_SHARE_ITEM_BYTES) would be 600 KiB, near PARTY_MAX_PENDING_BYTES.
SNAPSHOT_MAX_BYTES = 256 * 1024
# An outbox with no bound set (a broker opened without PARTY_OUTBOX_MAX_DEPTH, as in tests).
UNBOUNDED_OUTBOX = 2**53


def no_outbox_bound(max_depth: int | None) -> int:
    return UNBOUNDED_OUTBOX if max_depth is None else max_depth


def key_field(key: IdempotencyKey | None) -> str:
    """An idempotency key as one unambiguous string ('' for none): the user id's length first,
    so that no user id and key pair reads as another."""
    if key is None:
        return ""
    return f"{len(key.user_id)}:{key.user_id}:{key.key}"


def ignore_publication(publication: Publication) -> None:
    """The handler until the gateway sets its own (set_handler)."""
    pass


def ignore_broadcast(party_id: str, frame: bytes) -> None:
    pass


def ignore_new_epoch(party_id: str) -> None:
    pass
