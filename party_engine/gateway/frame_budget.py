"""What one connection may ask of its gateway: a token bucket over every frame it sends.

Each frame takes tokens (a join more than a ping: it reads the party, a snapshot or history);
the bucket refills at PARTY_FRAME_RATE tokens a second up to PARTY_FRAME_BURST. A frame that
finds too few is refused with `rate_limited` and its `retry_after_ms`; a client that goes on
spends a second, smaller budget of refusals (PARTY_FRAME_REFUSALS per REFUSAL_WINDOW_SECONDS)
and is then closed with RATE_LIMITED_CLOSE.

A hand-written bucket rather than the `limits` library (which the per-user share limit uses):
`limits` offers windows, not a token bucket, and keys its counters in a storage shared by
every caller, so a per-connection limit would mean a key per connection, cleaned up by expiry,
and a lookup on every frame. Here the state is two floats on the session, gone with it.
"""

from .. import protocol

RATE_LIMITED_CLOSE = 4429
REFUSAL_WINDOW_SECONDS = 10.0
# Tokens per frame: a ping, a like or a bad frame costs 1; a join reads the party and its
# snapshot; a join with `since` reads up to the whole retained history.
JOIN_COST = 5
JOIN_SINCE_COST = 10


def cost_of(frame: protocol.ClientFrame | None) -> int:
    if isinstance(frame, protocol.Join):
        return JOIN_SINCE_COST if frame.since is not None else JOIN_COST
    return 1


class TokenBucket:
    __slots__ = ("_at", "_burst", "_rate", "_tokens")

    def __init__(self, rate: float, burst: float, now: float) -> None:
        self._rate = rate
        self._burst = burst
        self._tokens = burst
        self._at = now

    def take(self, cost: float, now: float) -> float:
        """Take `cost` tokens: 0.0 when taken, else the seconds until there are enough."""
        tokens = min(self._burst, self._tokens + (now - self._at) * self._rate)
        self._at = now
        if tokens >= cost:
            self._tokens = tokens - cost
            return 0.0
        self._tokens = tokens
        return (cost - tokens) / self._rate


class FrameBudget:
    """One connection's buckets: frames, and refusals past the frame bucket."""

    __slots__ = ("_frames", "_refusals")

    def __init__(self, rate: float, burst: int, refusals: int, now: float) -> None:
        self._frames = TokenBucket(rate, burst, now)
        self._refusals = TokenBucket(refusals / REFUSAL_WINDOW_SECONDS, refusals, now)

    def charge(self, cost: int, now: float) -> int | None:
        """None when the frame may be handled, else milliseconds until it could be."""
        wait = self._frames.take(cost, now)
        return None if wait == 0.0 else max(1, int(wait * 1000 + 0.999))

    def refuse(self, now: float) -> bool:
        """Count one refusal; True when the client is past its refusals and must be closed."""
        return self._refusals.take(1, now) > 0.0
