"""What a gateway renews in a shared registry each round: entries whose expiry it must push
back before they lapse (its users' presence, its connections' slots under the per-user cap).

Each entry is renewed once it is `renew_after` seconds old, oldest first, and a round takes at
most twice its fair share (the entries times the round over `renew_after`): entries set
together, by a join storm, come due together, and renewing them all in one round would stall
the gateway's event loop and Redis for the same moment every `renew_after` seconds. Spread
this way they are renewed within a few rounds and stay spread; the registry's ttl must
outlast `renew_after` by that margin.
"""

import math
from collections import OrderedDict
from collections.abc import Hashable, Iterable
from typing import Generic, TypeVar

Key = TypeVar("Key", bound=Hashable)

# How far behind a round may fall: renewals due in one round per `renew_after` fair share.
_CATCH_UP = 2.0


class Renewals(Generic[Key]):
    def __init__(self, *, renew_after: float, round_seconds: float) -> None:
        self._renew_after = renew_after
        self._share = round_seconds / renew_after
        self._set_at: OrderedDict[Key, float] = OrderedDict()  # key -> when set, oldest first

    def __len__(self) -> int:
        return len(self._set_at)

    def __contains__(self, key: object) -> bool:
        return key in self._set_at

    def set(self, key: Key, now: float) -> None:
        """The key's entry was set now: due again in `renew_after`."""
        self._set_at[key] = now
        self._set_at.move_to_end(key)

    def set_first(self, key: Key) -> None:
        """The key's entry may not be set: first in line for the next round."""
        self._set_at[key] = -math.inf
        self._set_at.move_to_end(key, last=False)

    def failed(self, keys: Iterable[Key]) -> None:
        """The renewal of `keys` was not made: those still here go first in the next round."""
        for key in keys:
            if key in self._set_at:
                self.set_first(key)

    def keep_place(self, key: Key, now: float) -> None:
        """As set, unless the key is here already (its older entry is due first)."""
        if key not in self._set_at:
            self._set_at[key] = now

    def discard(self, key: Key) -> None:
        self._set_at.pop(key, None)

    def take_due(self, now: float) -> list[Key]:
        """The keys to renew this round, oldest first, marked as set now (see `failed`)."""
        limit = max(1, math.ceil(len(self._set_at) * self._share * _CATCH_UP))
        due: list[Key] = []
        for key, set_at in self._set_at.items():
            if set_at > now - self._renew_after or len(due) == limit:
                break
            due.append(key)
        for key in due:
            self.set(key, now)
        return due
