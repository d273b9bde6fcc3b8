"""Scale knobs. `full` is the issue's load; `smoke` runs in seconds (CI)."""

from dataclasses import dataclass, fields, replace


@dataclass(frozen=True)
class Profile:
    fleet_processes: int = 4
    gateways: int = 3  # server processes per system; 50k connections need three
    # join storm: N clients joining within S seconds, over two server processes
    storm_clients: int = 20_000
    storm_seconds: float = 10.0
    # connections held, across all server processes (the storm's clients count)
    hold_connections: int = 50_000
    # fan-out: one party, receivers on one server process, a closed-loop sender
    fanout_receivers: int = 10_000
    fanout_seconds: float = 10.0
    fanout_window: int = 200  # shares ahead of the slowest probe
    # share-to-delivery: senders on server 1, probes on server 2, open-loop rate
    latency_connections: int = 20_000
    latency_parties: int = 200
    latency_rate: float = 1_000.0
    latency_seconds: float = 15.0
    latency_warmup_seconds: float = 1.0  # shares sent, not measured, before the latency run
    probes_per_party: int = 2
    senders: int = 4


PROFILES = {
    "full": Profile(),
    "smoke": Profile(
        fleet_processes=2,
        gateways=2,
        storm_clients=100,
        storm_seconds=1.0,
        hold_connections=200,
        fanout_receivers=100,
        fanout_seconds=2.0,
        fanout_window=50,
        latency_connections=100,
        latency_parties=4,
        latency_rate=100.0,
        latency_seconds=2.0,
        senders=2,
    ),
}


def knobs() -> list[str]:
    return [field.name for field in fields(Profile)]


def with_overrides(profile: Profile, **overrides: object) -> Profile:
    return replace(profile, **{k: v for k, v in overrides.items() if v is not None})
