"""Party state changes reach every joined client, whichever process saved them.

A lifecycle listener that every process registers (engine.py): whoever applies a change (a
gateway answering a host, the clock, a CLI) broadcasts `party {state}` through the broker to
every gateway with members in the party. A broadcast lost with the process that saved the
change is repaired by the gateways themselves (`Gateway.repair_states`), which re-read the
states of their parties every few seconds; a member told a state is never told it twice
(`PartyFeed.tell_state`).
"""

import logging

from . import protocol
from .domain.parties import Party
from .ports import Broker

log = logging.getLogger(__name__)


class StateBroadcaster:
    def __init__(self, broker: Broker) -> None:
        self._broker = broker

    async def on_change(self, before: Party, after: Party) -> None:
        if before.state is after.state:
            return
        frame = protocol.encode_party_state(after.id, after.state.value)
        try:
            await self._broker.broadcast(after.id, frame)
        except Exception:
            # The change is saved; the gateways' state repair tells the members shortly.
            log.warning("announcing party %s %s failed", after.id, after.state, exc_info=True)
