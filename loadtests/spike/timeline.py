"""The party's timeline: browsing baseline, the start, the rush, a steady phase, the end.

Every locust process computes the same timeline from the same options and its own test start,
so in a distributed run the workers agree on the phase without talking to each other.
"""

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Timeline:
    baseline_users: int = 20
    baseline_seconds: float = 20.0  # browsing before the host starts the party (T0)
    ramp_seconds: float = 30.0  # users double within this, social activity rises to the peak
    steady_seconds: float = 50.0
    end_seconds: float = 15.0  # the host ends the party; users leave
    user_growth: float = 2.0
    activity_growth: float = 4.0
    spawn_rate: float = 10.0

    @property
    def peak_users(self) -> int:
        return round(self.baseline_users * self.user_growth)

    @property
    def start_at(self) -> float:
        return self.baseline_seconds

    @property
    def end_at(self) -> float:
        return self.baseline_seconds + self.ramp_seconds + self.steady_seconds

    @property
    def total_seconds(self) -> float:
        return self.end_at + self.end_seconds

    def users_at(self, elapsed: float) -> int:
        """Shoppers wanted at `elapsed` seconds (the host comes on top)."""
        if elapsed < self.start_at:
            return self.baseline_users
        if elapsed < self.start_at + self.ramp_seconds:
            share = (elapsed - self.start_at) / self.ramp_seconds
            return round(self.baseline_users + share * (self.peak_users - self.baseline_users))
        if elapsed < self.end_at:
            return self.peak_users
        return max(1, self.baseline_users // 4)  # the party is over: a few stay browsing

    def activity_at(self, elapsed: float) -> float:
        """How many times the baseline rate of shares and likes a shopper makes now."""
        if elapsed < self.start_at or elapsed >= self.end_at:
            return 1.0
        share = min(1.0, (elapsed - self.start_at) / self.ramp_seconds)
        return 1.0 + share * (self.activity_growth - 1.0)
