"""Global indexes laid out for a Redis Cluster: split into BUCKETS parts, each under a hash tag
of its own, so no index is one hot slot and every write stays within one slot.

A member (a party, a seller's notice window) belongs to the bucket its id hashes to, and the
keys a write touches (the member's record and its entries in every index) all carry that
bucket's tag, so one script or transaction writes them together, atomically, on one node.
A read of a whole index reads every bucket's part (one pipelined round trip on one server,
concurrent per node on a cluster) and merges them in index order.

The count is part of the key layout: changing it moves members between buckets, so it needs
the data rewritten (there is no live data to migrate yet).
"""

import heapq
import zlib
from collections.abc import Iterable
from itertools import islice

BUCKETS = 16

# An index entry as a zset holds it: (score, member), in the zset's own order (score, then
# member bytewise; ids are ASCII, so that is Python's str order too).
Entry = tuple[float, str]


def bucket_tag(name: str, member: str) -> str:
    """The hash tag of the bucket `member` belongs to, e.g. {parties-07}."""
    return f"{{{name}-{zlib.crc32(member.encode()) % BUCKETS:02}}}"


def by_bucket_tag(name: str, members: Iterable[str]) -> dict[str, list[str]]:
    """The members by the hash tag of their bucket, each bucket's in the order given."""
    buckets: dict[str, list[str]] = {}
    for member in members:
        buckets.setdefault(bucket_tag(name, member), []).append(member)
    return buckets


def every_bucket_tag(name: str) -> list[str]:
    return [f"{{{name}-{n:02}}}" for n in range(BUCKETS)]


def merged(parts: Iterable[list[Entry]], limit: int) -> list[Entry]:
    """The first `limit` entries of the buckets' parts, each already in index order."""
    return list(islice(heapq.merge(*parts), limit))
