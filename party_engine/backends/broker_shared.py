"""What both brokers share (the Redis broker must not import its embedded sibling)."""

from ..ports import Publication

DEFAULT_SNAPSHOT_SIZE = 200


def ignore_publication(publication: Publication) -> None:
    """The handler until the gateway sets its own (set_handler)."""
    pass


def ignore_broadcast(party_id: str, frame: bytes) -> None:
    pass
