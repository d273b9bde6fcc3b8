"""Retention: a party's per-party keys go a fixed time after it ends (PARTY_RETENTION_DAYS).

On `party.ended` the party's stream (history, shares, likes, likers) and its leaderboards are
given an expiry of the end plus the retention; the party record and its counters stay. Setting
an expiry twice is harmless, so a redelivered event needs no idempotency mark.
"""

from datetime import timedelta

from party_engine.backends.queue_topology import RETENTION
from party_engine.domain.events import DomainEvent, PartyEnded
from party_engine.ports import Broker, Ledger


class RetentionHandler:
    queue = RETENTION

    def __init__(self, broker: Broker, ledger: Ledger, retention: timedelta) -> None:
        self._broker = broker
        self._ledger = ledger
        self._retention = retention

    async def __call__(self, events: list[DomainEvent]) -> set[str]:
        for event in events:
            if isinstance(event, PartyEnded):
                at = event.at + self._retention
                await self._broker.retire(event.party_id, at)
                await self._ledger.retire(event.party_id, at)
        return set()
