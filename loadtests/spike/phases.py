"""What each phase of the spike achieved, next to what it meant to: shoppers, and shares and
likes per second (sent open loop, so a slow server cannot lower them).

Users are sampled where the shape runs (the master, or the only process); shares and likes
are counted where the users run and, in a distributed run, reported to the master with
locust's own worker reports.
"""

from dataclasses import dataclass, field

from .timeline import Timeline

PHASES = ("baseline", "peak", "end")


@dataclass
class Phase:
    user_samples: list[int] = field(default_factory=list)
    # share, like; or not sent: "not in the party" (not joined yet), "like skipped" (nothing
    # seen to like yet)
    sent: dict[str, int] = field(default_factory=dict)


class Meter:
    def __init__(self) -> None:
        self.phases = {name: Phase() for name in PHASES}
        self._unreported: dict[str, dict[str, int]] = {}

    def users(self, phase: str, count: int) -> None:
        self.phases[phase].user_samples.append(count)

    def sent(self, phase: str, kind: str) -> None:
        for counts in (self.phases[phase].sent, self._unreported.setdefault(phase, {})):
            counts[kind] = counts.get(kind, 0) + 1

    def take_unreported(self) -> dict[str, dict[str, int]]:
        """The counts since the last call (a worker's report to the master)."""
        unreported, self._unreported = self._unreported, {}
        return unreported

    def add_reported(self, report: dict[str, dict[str, int]]) -> None:
        for phase, counts in report.items():
            mine = self.phases[phase].sent
            for kind, n in counts.items():
                mine[kind] = mine.get(kind, 0) + n

    def table(self, timeline: Timeline) -> str:
        """Achieved next to intended, per phase: shoppers, interactions/s, and per shopper."""
        base = timeline.interactions_per_user(0)
        unsent = "unsent: not in the party / nothing to like"
        rows = [("phase", "shoppers (intended)", "shares+likes/s (intended)",
                 "per shopper/s (intended)", unsent)]  # fmt: skip
        for name, phase in self.phases.items():
            seconds = timeline.phase_seconds(name)
            samples = phase.user_samples
            users = sum(samples) / len(samples) if samples else 0.0
            sent = phase.sent.get("share", 0) + phase.sent.get("like", 0)
            rate = sent / seconds if seconds else 0.0
            wanted_users = timeline.users_at(_middle(timeline, name))
            live = name == "peak"  # shares and likes need the live party
            per_user = timeline.interactions_per_user(_middle(timeline, name)) if live else 0.0
            rows.append((
                name,
                f"{users:.1f} ({wanted_users}"
                + (f" = {timeline.user_growth:g}x)" if name == "peak" else ")"),
                f"{rate:.1f} ({wanted_users * per_user:.1f})",
                f"{rate / users if users else 0:.2f} ({per_user:.2f}"
                + (f" = {per_user / base:g}x {base:.2f})" if live else ")"),
                f"{phase.sent.get('not in the party', 0)} / {phase.sent.get('like skipped', 0)}",
            ))  # fmt: skip
        widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
        return "\n".join("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True))
                         for row in rows)  # fmt: skip


def _middle(timeline: Timeline, phase: str) -> float:
    start = {"baseline": 0.0, "peak": timeline.start_at, "end": timeline.end_at}[phase]
    return start + timeline.phase_seconds(phase) / 2


METER = Meter()
