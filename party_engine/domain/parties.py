"""Parties: scheduling rules and the state machine scheduled -> live -> ended (or cancelled)."""

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum

from .errors import Forbidden, InvalidTransition, InvalidValue
from .themes import Theme

MIN_DURATION_MINUTES = 15
MAX_DURATION_MINUTES = 360
DEFAULT_DURATION_MINUTES = 120
# How far ahead a party can be scheduled (and a bound on every date the domain computes).
MAX_LEAD = timedelta(days=365)
# A host names at most this many co-hosts (each gets the host's live tools, not ownership).
MAX_COHOSTS = 5


class PartyState(StrEnum):
    SCHEDULED = "scheduled"
    LIVE = "live"
    ENDED = "ended"
    CANCELLED = "cancelled"


_NEXT_STATES: dict[PartyState, frozenset[PartyState]] = {
    PartyState.SCHEDULED: frozenset({PartyState.LIVE, PartyState.CANCELLED}),
    PartyState.LIVE: frozenset({PartyState.ENDED, PartyState.CANCELLED}),
    PartyState.ENDED: frozenset(),
    PartyState.CANCELLED: frozenset(),
}


def _reachable(state: PartyState) -> frozenset[PartyState]:
    following = _NEXT_STATES[state]
    return following.union(*(_reachable(step) for step in following))


# state -> the states a party in it can later be in (after one or more transitions)
_LATER_STATES = {state: _reachable(state) for state in PartyState}


def comes_after(state: PartyState, earlier: PartyState) -> bool:
    """Whether a party in `earlier` can later be in `state` (after one or more transitions)."""
    return state in _LATER_STATES[earlier]


@dataclass(frozen=True, slots=True)
class Party:
    id: str
    host_id: str
    title: str
    theme: Theme
    starts_at: datetime
    ends_at: datetime
    duration_minutes: int
    state: PartyState
    created_at: datetime
    description: str | None = None
    started_at: datetime | None = None
    ended_at: datetime | None = None
    # Bumped by the store on every save; a save names the version it read (optimistic locking),
    # which is what makes a transition happen once even with several schedulers racing.
    version: int = 0
    cohosts: tuple[str, ...] = ()

    @property
    def is_live(self) -> bool:
        return self.state is PartyState.LIVE

    @property
    def changed_at(self) -> datetime | None:
        """When the party last changed state (went live, ended or was cancelled)."""
        return self.started_at if self.state is PartyState.LIVE else self.ended_at

    def ensure_owner(self, user_id: str) -> None:
        if user_id != self.host_id:
            raise Forbidden("only the party's host may do this")

    def ensure_moderator(self, user_id: str) -> None:
        """The live tools (picks, removals, mutes) are the host's and the co-hosts'."""
        if user_id != self.host_id and user_id not in self.cohosts:
            raise Forbidden("only the party's host or a co-host may do this")

    def add_cohost(self, user_id: str) -> "Party":
        if user_id == self.host_id:
            raise InvalidValue("the host cannot be a co-host", field="user_id", location="path")
        if user_id in self.cohosts:
            return self
        if self.state in (PartyState.ENDED, PartyState.CANCELLED):
            raise InvalidTransition(f"a {self.state.value} party takes no co-hosts")
        if len(self.cohosts) >= MAX_COHOSTS:
            raise InvalidTransition(f"a party has at most {MAX_COHOSTS} co-hosts")
        return replace(self, cohosts=(*self.cohosts, user_id))

    def remove_cohost(self, user_id: str) -> "Party":
        return replace(self, cohosts=tuple(c for c in self.cohosts if c != user_id))

    def start(self, now: datetime) -> "Party":
        """Go live. Early starts keep the full duration; late starts do not extend the party."""
        self._ensure_can_become(PartyState.LIVE)
        opened = min(now, self.starts_at)
        return replace(
            self,
            state=PartyState.LIVE,
            started_at=now,
            ends_at=opened + timedelta(minutes=self.duration_minutes),
        )

    def end(self, now: datetime) -> "Party":
        self._ensure_can_become(PartyState.ENDED)
        return replace(self, state=PartyState.ENDED, ended_at=now, ends_at=min(now, self.ends_at))

    def expire(self, now: datetime) -> "Party":
        """Close a party whose whole slot passed before it ever went live (the clock was down):
        straight from scheduled to ended, never live."""
        if self.state is not PartyState.SCHEDULED:
            raise InvalidTransition(f"only a scheduled party can expire, not a {self.state.value}")
        if now < self.ends_at:
            raise InvalidTransition("a party expires only once its end has passed")
        return replace(self, state=PartyState.ENDED, ended_at=now)

    def advance(self, now: datetime) -> "Party":
        """What the party clock does at `now`: start a scheduled party whose start has come,
        end a live one whose end has come, expire one whose whole slot passed unseen.
        Raises InvalidTransition when nothing is due (someone else got there first)."""
        if self.state is PartyState.SCHEDULED and self.ends_at <= now:
            return self.expire(now)
        if self.state is PartyState.SCHEDULED and self.starts_at <= now:
            return self.start(now)
        if self.state is PartyState.LIVE and self.ends_at <= now:
            return self.end(now)
        raise InvalidTransition(f"nothing is due for this {self.state.value} party")

    def cancel(self, now: datetime) -> "Party":
        self._ensure_can_become(PartyState.CANCELLED)
        return replace(self, state=PartyState.CANCELLED, ended_at=now)

    def revise(
        self,
        now: datetime,
        *,
        title: str | None = None,
        description: str | None = None,
        theme: Theme | None = None,
        starts_at: datetime | None = None,
        duration_minutes: int | None = None,
    ) -> "Party":
        """Change the plan of a party that has not started yet."""
        if self.state is not PartyState.SCHEDULED:
            raise InvalidTransition(f"a {self.state.value} party can no longer be edited")
        new_starts_at = starts_at if starts_at is not None else self.starts_at
        new_duration = duration_minutes if duration_minutes is not None else self.duration_minutes
        if starts_at is not None:
            _ensure_future(starts_at, now)
        _ensure_duration(new_duration)
        return replace(
            self,
            title=title if title is not None else self.title,
            description=description if description is not None else self.description,
            theme=theme if theme is not None else self.theme,
            starts_at=new_starts_at,
            duration_minutes=new_duration,
            ends_at=new_starts_at + timedelta(minutes=new_duration),
        )

    def _ensure_can_become(self, target: PartyState) -> None:
        if target not in _NEXT_STATES[self.state]:
            raise InvalidTransition(f"a {self.state.value} party cannot become {target.value}")


def schedule_party(
    *,
    party_id: str,
    host_id: str,
    title: str,
    theme: Theme,
    starts_at: datetime,
    now: datetime,
    duration_minutes: int = DEFAULT_DURATION_MINUTES,
    description: str | None = None,
) -> Party:
    _ensure_future(starts_at, now)
    _ensure_duration(duration_minutes)
    return Party(
        id=party_id,
        host_id=host_id,
        title=title,
        description=description,
        theme=theme,
        starts_at=starts_at,
        ends_at=starts_at + timedelta(minutes=duration_minutes),
        duration_minutes=duration_minutes,
        state=PartyState.SCHEDULED,
        created_at=now,
    )


def _ensure_future(starts_at: datetime, now: datetime) -> None:
    if starts_at.tzinfo is None:
        raise InvalidValue("starts_at must carry a time zone", field="starts_at")
    if starts_at <= now:
        raise InvalidValue("starts_at must be in the future", field="starts_at")
    if starts_at - now > MAX_LEAD:
        raise InvalidValue(
            f"starts_at must be within {MAX_LEAD.days} days from now", field="starts_at"
        )


def _ensure_duration(minutes: int) -> None:
    if not MIN_DURATION_MINUTES <= minutes <= MAX_DURATION_MINUTES:
        raise InvalidValue(
            f"duration_minutes must be between {MIN_DURATION_MINUTES} and {MAX_DURATION_MINUTES}",
            field="duration_minutes",
        )
