"""Scale knobs. `full` is issue 14's load; `smoke` runs in seconds (CI, `make test`)."""

from dataclasses import dataclass, fields, replace


@dataclass(frozen=True)
class Profile:
    runs: int = 3  # every system this many times, the order of systems rotated each run
    fleet_processes: int = 4  # client processes; the first holds the senders
    gateways: int = 3  # server processes per system; 50k connections need three
    # join storm: N clients arriving within S seconds over two server processes, each timed
    # from its scheduled arrival, while shares flow into the party
    storm_clients: int = 20_000
    storm_seconds: float = 10.0
    storm_share_rate: float = 20.0
    # connections held, across all server processes (the storm's clients count)
    hold_connections: int = 50_000
    settle_seconds: float = 2.0  # after connecting them, before reading RSS
    # one big party: receivers and senders on one server process; a capacity sweep from
    # `big_rate` shares/s, then a closed-loop fan-out (at most `fanout_window` shares ahead)
    fanout_receivers: int = 10_000
    big_rate: float = 2.0
    fanout_seconds: float = 10.0
    fanout_window: int = 200
    fanout_drain_seconds: float = 30.0  # its backlog (window x receivers) may take this long
    # many parties: senders on server 1, receivers and probes on servers 1 and 2; a capacity
    # sweep from `many_rate` shares/s, then one step at `latency_rate` (the old latency run)
    latency_connections: int = 20_000
    latency_parties: int = 200
    many_rate: float = 62.5
    latency_rate: float = 1_000.0
    latency_seconds: float = 5.0
    latency_warmup_seconds: float = 1.0  # kept as the warm-up of every open-loop step
    # the many parties' connections held with nothing sent: long enough for every system's
    # keepalive round (Socket.IO pings every 25 s, uvicorn every 20 s)
    idle_seconds: float = 30.0
    # every sweep step: warm-up, a measured window, then until drained (at most drain s)
    step_seconds: float = 5.0
    step_min_shares: int = 30  # a slow step runs longer (at most 3 windows) to send this many
    step_drain_seconds: float = 10.0
    step_quiet_seconds: float = 1.0  # a receiver's step drained: no frame for this long
    sweep_steps: int = 10  # at most this many rates, each double the last
    sweep_refine: int = 2  # then bisected (geometric mean) between last pass and first fail
    objective_ms: float = 50.0  # a step passes with p99 <= this and everything delivered
    probe_every: int = 50  # every Nth receiver is a probe (latency, delivered ÷ expected)
    senders: int = 4


PROFILES = {
    "full": Profile(),
    "smoke": Profile(
        runs=1,
        fleet_processes=2,
        gateways=2,
        storm_clients=100,
        storm_seconds=1.0,
        storm_share_rate=10.0,
        hold_connections=200,
        settle_seconds=0.5,
        fanout_receivers=100,
        big_rate=20.0,
        fanout_seconds=0.5,
        fanout_window=50,
        fanout_drain_seconds=2.0,
        latency_connections=100,
        latency_parties=12,  # 6 per sender: beyond a shopper's party cap, as in `full`
        many_rate=50.0,
        latency_rate=100.0,
        latency_seconds=0.5,
        latency_warmup_seconds=0.2,
        idle_seconds=0.5,
        step_seconds=0.5,
        step_min_shares=0,
        step_drain_seconds=1.0,
        step_quiet_seconds=0.3,
        sweep_steps=1,
        sweep_refine=0,
        probe_every=10,
        senders=2,
    ),
}


def knobs() -> list[str]:
    return [field.name for field in fields(Profile)]


def with_overrides(profile: Profile, **overrides: object) -> Profile:
    return replace(profile, **{k: v for k, v in overrides.items() if v is not None})
