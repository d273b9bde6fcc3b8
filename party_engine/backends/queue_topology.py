"""Names of the event pipeline's exchanges and queues, and which events each queue gets.

Both queue backends (RabbitMQ and the in-process one) route by this table, so a worker queue
receives the same events whichever is configured. A prefix isolates several pipelines on
one broker (tests, staging side by side).

Queue names end in `.q` (quorum queues, since the "scale out" change): a queue's type cannot
change in place, so the classic queues of an older deployment keep their names and are drained
by old workers (docs/event-pipeline.md, "Migrating from the classic queues").
"""

from dataclasses import dataclass

COUNTERS = "counters"
SELLER_NOTICES = "seller-notices"
RETENTION = "retention"
PARTY_PUSH = "push"
ARCHIVE = "archive"

# Worker queue -> the routing keys it is bound to.
BINDINGS: dict[str, tuple[str, ...]] = {
    COUNTERS: ("share.created", "like.created", "share.picked", "share.unpicked", "share.removed"),
    SELLER_NOTICES: ("share.created", "share.picked"),
    RETENTION: ("party.ended",),
    PARTY_PUSH: ("party.started", "party.reminder", "push.wave"),
    # Every event, for the archive (party_engine/archive/rows.py says what each one fills).
    ARCHIVE: (
        "share.created",
        "like.created",
        "share.picked",
        "share.unpicked",
        "share.removed",
        "party.started",
        "party.ended",
        "party.reminder",
        "party.joined",
        "party.left",
        "push.sent",
    ),
}


@dataclass(frozen=True, slots=True)
class Topology:
    prefix: str = ""
    # Delay before each retry: attempt 1 waits retry_delays[0], and so on.
    retry_delays: tuple[float, ...] = (1.0, 2.0, 4.0, 8.0)
    # How often a message may come back unacknowledged (its workers died on it) before
    # RabbitMQ dead-letters it (reason delivery_limit); a handler's errors are counted by the
    # retry queues instead. Generous, since a graceful stop returns unstarted messages too.
    delivery_limit: int = 20

    @property
    def exchange(self) -> str:
        return f"{self.prefix}party.events"

    @property
    def dead_queue(self) -> str:
        return f"{self.prefix}party.dead.q"

    def queue(self, name: str) -> str:
        return f"{self.prefix}party.{name}.q"

    def retry_queue(self, name: str, delay: float) -> str:
        # The delay is in the name: a queue's TTL cannot change once declared.
        return f"{self.queue(name)}.retry.{round(delay * 1000)}ms"

    def retry_delay(self, attempt: int) -> float:
        """The wait before retry number `attempt` (1-based); the last delay repeats."""
        return self.retry_delays[min(attempt, len(self.retry_delays)) - 1]


def backoff_delays(max_attempts: int, base_seconds: float) -> tuple[float, ...]:
    """Growing delays (base, 2 base, 4 base, ...) for the retries after a failed attempt.

    At least one, because an event held by another worker is also put back for later.
    """
    return tuple(base_seconds * 2**n for n in range(max(1, max_attempts - 1)))
