"""What both brokers share (the Redis broker must not import its embedded sibling)."""

from ..ports import Publication

DEFAULT_SNAPSHOT_SIZE = 200  # shares kept for snapshots
# What a joiner's snapshot may weigh at most (its shares' payloads): 50 shares of the largest
# items (protocol.MAX_SHARE_ITEM_BYTES) would be 600 KiB, near PARTY_MAX_PENDING_BYTES.
SNAPSHOT_MAX_BYTES = 256 * 1024


def ignore_publication(publication: Publication) -> None:
    """The handler until the gateway sets its own (set_handler)."""
    pass


def ignore_broadcast(party_id: str, frame: bytes) -> None:
    pass
