"""Share-to-delivery latency inside one locust process.

A share frame has no room for a timestamp (the schema forbids extra fields), so the sender
notes when it sent each listing, and the first shopper of this process that sees the share
event pairs the event's offset with that time. Every other shopper that sees the same offset
reports its latency. Only deliveries to shoppers other than the sender count.
"""

import time
from collections import OrderedDict, deque

_KEEP = 10_000  # offsets remembered; far more than one process has in flight


class DeliveryClock:
    def __init__(self) -> None:
        self._sent: dict[str, deque[float]] = {}
        self._by_offset: OrderedDict[tuple[str, int], float] = OrderedDict()

    def sent(self, listing_id: str) -> None:
        self._sent.setdefault(listing_id, deque(maxlen=32)).append(time.time())

    def delivered(self, party_id: str, offset: int, listing_id: str) -> float | None:
        """Milliseconds since the share of this event was sent, if this process sent it."""
        key = (party_id, offset)
        sent_at = self._by_offset.get(key)
        if sent_at is None:
            pending = self._sent.get(listing_id)
            if not pending:
                return None
            sent_at = pending.popleft()
            self._by_offset[key] = sent_at
            while len(self._by_offset) > _KEEP:
                self._by_offset.popitem(last=False)
        return (time.time() - sent_at) * 1000.0


CLOCK = DeliveryClock()
