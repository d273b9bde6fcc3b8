"""The party's timeline: browsing baseline, a step at the start (T0), the peak, the end.

At T0 the host starts the party, the shoppers double within `spawn_seconds` and each one's
shares and likes step to four times the baseline rate: a party start is a step, not a ramp.
Locust's spawn rate is derived from that (`spawn_rate`), so the step is as steep as stated.

Every locust process computes the same timeline from the same options and its own test start,
so in a distributed run the workers agree on the phase without talking to each other.
"""

from dataclasses import dataclass

BASELINE_SHARE_EVERY = 12.0  # seconds between a shopper's shares at the baseline rate
BASELINE_LIKE_EVERY = 6.0


@dataclass(frozen=True, slots=True)
class Timeline:
    baseline_users: int = 20
    baseline_seconds: float = 20.0  # browsing before the host starts the party (T0)
    peak_seconds: float = 60.0  # the party, from T0, at twice the users and 4x the activity
    end_seconds: float = 15.0  # the host ends the party; users leave
    spawn_seconds: float = 1.0  # the step: the new users all start within this after T0
    user_growth: float = 2.0
    activity_growth: float = 4.0

    @property
    def peak_users(self) -> int:
        return round(self.baseline_users * self.user_growth)

    @property
    def start_at(self) -> float:
        return self.baseline_seconds

    @property
    def end_at(self) -> float:
        return self.baseline_seconds + self.peak_seconds

    @property
    def total_seconds(self) -> float:
        return self.end_at + self.end_seconds

    @property
    def spawn_rate(self) -> float:
        """Users started per second: the step's new users within `spawn_seconds` (and the
        baseline's users as fast, at the test's start)."""
        return max(1.0, (self.peak_users - self.baseline_users) / self.spawn_seconds)

    def phase_at(self, elapsed: float) -> str:
        if elapsed < self.start_at:
            return "baseline"
        if elapsed < self.end_at:
            return "peak"
        return "end"

    def phase_seconds(self, phase: str) -> float:
        return {"baseline": self.baseline_seconds, "peak": self.peak_seconds,
                "end": self.end_seconds}[phase]  # fmt: skip

    def users_at(self, elapsed: float) -> int:
        """Shoppers wanted at `elapsed` seconds (the host comes on top)."""
        phase = self.phase_at(elapsed)
        if phase == "baseline":
            return self.baseline_users
        if phase == "peak":
            return self.peak_users
        return max(1, self.baseline_users // 4)  # the party is over: a few stay browsing

    def activity_at(self, elapsed: float) -> float:
        """How many times the baseline rate of shares and likes a shopper makes now."""
        return self.activity_growth if self.phase_at(elapsed) == "peak" else 1.0

    def interactions_per_user(self, elapsed: float) -> float:
        """Shares and likes per second a shopper in the live party means to make now."""
        return self.activity_at(elapsed) * (1 / BASELINE_SHARE_EVERY + 1 / BASELINE_LIKE_EVERY)
