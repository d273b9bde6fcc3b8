"""What a gateway reports to the Presence port each round (the port's contract: ports.py).

A round reports the users who arrived since the last round and those who left, and renews
the users whose last report is due (renewals.py): one report per user every
PRESENCE_RENEW_SECONDS, not every round, so that a gateway holding 10,000 users writes a few
hundred of them a second instead of all of them. A report that failed is sent again: its
users first in line, its departures with the next round's.
"""

from collections.abc import Mapping

from .renewals import Renewals

Users = dict[str, list[str]]  # party -> user ids


class PresenceReports:
    def __init__(self, *, renew_after: float, round_seconds: float) -> None:
        self._renewals: Renewals[tuple[str, str]] = Renewals(
            renew_after=renew_after, round_seconds=round_seconds
        )
        self._unsent_left: dict[str, set[str]] = {}

    def take(
        self,
        arrived: Mapping[str, set[str]],
        departed: Mapping[str, set[str]],
        now: float,
    ) -> tuple[Users, Users]:
        """This round's report: the users present and those who left, by party. `arrived` and
        `departed` are the hub's since the last round (a user is in one of them at most)."""
        left, self._unsent_left = self._unsent_left, {}
        for party_id, users in departed.items():
            left.setdefault(party_id, set()).update(users)
            for user_id in users:
                self._renewals.discard((party_id, user_id))
        present: Users = {}
        for party_id, users in arrived.items():
            left.get(party_id, set()).difference_update(users)  # came back since a failure
            present[party_id] = list(users)
            for user_id in users:
                self._renewals.set((party_id, user_id), now)
        for party_id, user_id in self._renewals.take_due(now):
            present.setdefault(party_id, []).append(user_id)
        return present, {party_id: list(users) for party_id, users in left.items() if users}

    def failed(self, present: Users, left: Users) -> None:
        """The report of `take` was not made: send it with the next round."""
        self._renewals.failed(
            (party_id, user_id) for party_id, users in present.items() for user_id in users
        )
        for party_id, users in left.items():
            self._unsent_left.setdefault(party_id, set()).update(users)
