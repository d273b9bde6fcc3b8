"""Party state changes, shared by the hosts' API and the party clock.

A change is read -> domain rule -> conditional save (optimistic lock on the party's version),
so two actors racing for the same transition (a host and the clock, or two clock replicas)
apply it exactly once. Whoever needs to react to a change (fan-out to participants, the event
pipeline, push) registers a listener; the lifecycle knows none of them.
"""

from collections.abc import Awaitable, Callable

from .clock import Clock
from .domain.errors import Conflict, NotFound
from .domain.parties import Party
from .ports import PartyStore

Change = Callable[[Party], Party]
Listener = Callable[[Party, Party], Awaitable[None]]

_MAX_RETRIES = 5


class PartyLifecycle:
    def __init__(self, store: PartyStore, clock: Clock) -> None:
        self._store = store
        self._clock = clock
        self._listeners: list[Listener] = []

    def on_change(self, listener: Listener) -> None:
        """Call `listener(before, after)` after every state change this process applies."""
        self._listeners.append(listener)

    async def start(self, party_id: str, actor: str | None = None) -> Party:
        return await self._transition(party_id, actor, lambda p: p.start(self._clock.now()))

    async def end(self, party_id: str, actor: str | None = None) -> Party:
        return await self._transition(party_id, actor, lambda p: p.end(self._clock.now()))

    async def advance(self, party_id: str) -> Party:
        """The clock's transition: whatever is due now (domain Party.advance)."""
        return await self._transition(party_id, None, lambda p: p.advance(self._clock.now()))

    async def cancel(self, party_id: str, actor: str | None = None) -> Party:
        return await self._transition(party_id, actor, lambda p: p.cancel(self._clock.now()))

    async def _transition(self, party_id: str, actor: str | None, change: Change) -> Party:
        for _ in range(_MAX_RETRIES):
            before = await self._store.get_party(party_id)
            if before is None:
                raise NotFound(f"no party {party_id}")
            if actor is not None:
                before.ensure_owner(actor)
            after = change(before)  # raises InvalidTransition when the state forbids it
            try:
                saved = await self._store.save_party(after)
            except Conflict:
                continue  # someone else changed it; re-read and judge again
            for listener in self._listeners:
                await listener(before, saved)
            return saved
        raise Conflict(f"party {party_id} keeps changing; try again")
