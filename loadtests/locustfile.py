"""The party spike, played against a running engine.

A host schedules a party and, at T0, starts it over HTTP. Shoppers browse over HTTP, join the
live party over WebSocket, share their own listings that match the theme and like what others
share. At T0 the shoppers double (a step: locust's spawn rate is derived from it and printed)
and each one's shares and likes step to four times the baseline rate, sent open loop (a
Poisson schedule per shopper; acks are reported as they come, never waited for); the host
ends the party after the peak. Join, share-ack, like-ack and share-to-delivery times are
locust request events (type WS), next to the HTTP calls. At the end, each phase's achieved
shoppers and shares+likes per second are printed next to the intended ones.

    locust -f loadtests/locustfile.py --headless --host http://127.0.0.1:8000
    (see `make loadtest` and the README for the options and distributed runs)

Tokens are signed here with PARTY_JWT_SECRET (the engine's development secret by default).
"""

import os
import random
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import gevent
import jwt
from locust import HttpUser, LoadTestShape, between, events, task
from locust.env import Environment
from locust.runners import WorkerRunner
from spike.party_socket import PartySocket
from spike.phases import METER
from spike.timeline import BASELINE_LIKE_EVERY, BASELINE_SHARE_EVERY, Timeline

DEV_SECRET = "dev-only-secret-change-me-in-production"


@events.init_command_line_parser.add_listener
def _options(parser: Any) -> None:
    env = os.environ.get
    parser.add_argument(
        "--party-users",
        type=int,
        default=int(env("PARTY_LT_USERS", "20")),
        help="shoppers at the baseline (peak is twice as many)",
    )
    parser.add_argument(
        "--party-baseline",
        type=float,
        default=float(env("PARTY_LT_BASELINE", "20")),
        help="seconds of browsing before the host starts the party (T0)",
    )
    parser.add_argument(
        "--party-peak",
        type=float,
        default=float(env("PARTY_LT_PEAK", "60")),
        help="seconds of the party from T0: twice the shoppers, 4x the shares and likes",
    )
    parser.add_argument(
        "--party-end",
        type=float,
        default=float(env("PARTY_LT_END", "15")),
        help="seconds after the host ends the party",
    )
    parser.add_argument(
        "--party-spawn-seconds",
        type=float,
        default=float(env("PARTY_LT_SPAWN_SECONDS", "1")),
        help="the step: the new shoppers all start within this after T0 (the spawn rate "
        "follows: baseline users / these seconds)",
    )
    parser.add_argument(
        "--party-brand",
        default=env("PARTY_LT_BRAND", f"Locust-{uuid.uuid4().hex[:8]}"),
        help="the party's brand theme; unique per run so runs do not meet",
    )
    parser.add_argument(
        "--party-jwt-secret",
        default=env("PARTY_JWT_SECRET", DEV_SECRET),
        include_in_web_ui=False,
        help="signs the users' tokens (PARTY_JWT_SECRET)",
    )


def _timeline(environment: Environment) -> Timeline:
    options = environment.parsed_options
    if options is None:
        return Timeline()
    return Timeline(
        baseline_users=options.party_users,
        baseline_seconds=options.party_baseline,
        peak_seconds=options.party_peak,
        end_seconds=options.party_end,
        spawn_seconds=options.party_spawn_seconds,
    )


_started_at = time.monotonic()


@events.test_start.add_listener
def _on_test_start(environment: Environment, **_: Any) -> None:
    global _started_at
    _started_at = time.monotonic()
    if not isinstance(environment.runner, WorkerRunner):  # where the shape runs
        timeline = _timeline(environment)
        print(
            f"party spike: {timeline.baseline_users} shoppers, then {timeline.peak_users} from "
            f"T0 = {timeline.start_at:g} s; spawn rate {timeline.spawn_rate:g} users/s (the "
            f"step of {timeline.peak_users - timeline.baseline_users} within "
            f"{timeline.spawn_seconds:g} s)",
            flush=True,
        )
        gevent.spawn(_sample_users, environment, timeline)


def _sample_users(environment: Environment, timeline: Timeline) -> None:
    """Shoppers running, once a second, into their phase (the host not counted)."""
    while (elapsed := _elapsed()) < timeline.total_seconds:
        runner = environment.runner
        if runner is not None:
            METER.users(timeline.phase_at(elapsed), max(0, runner.user_count - 1))
        gevent.sleep(1.0)


@events.test_stop.add_listener
def _on_test_stop(environment: Environment, **_: Any) -> None:
    if not isinstance(environment.runner, WorkerRunner):
        print("party spike, achieved (intended):\n" + METER.table(_timeline(environment)))


@events.report_to_master.add_listener
def _report_to_master(client_id: str, data: dict[str, Any]) -> None:
    data["party_phases"] = METER.take_unreported()


@events.worker_report.add_listener
def _worker_report(client_id: str, data: dict[str, Any]) -> None:
    METER.add_reported(data.get("party_phases", {}))


def _elapsed() -> float:
    return time.monotonic() - _started_at


def _token(environment: Environment, user_id: str, role: str) -> str:
    secret = (
        environment.parsed_options.party_jwt_secret if environment.parsed_options else DEV_SECRET
    )
    now = datetime.now(UTC)
    claims = {"sub": user_id, "role": role, "iat": now, "exp": now + timedelta(hours=4)}
    return jwt.encode(claims, secret, algorithm="HS256")


def _brand(environment: Environment) -> str:
    return environment.parsed_options.party_brand if environment.parsed_options else "Locust"


class PartyShape(LoadTestShape):
    """Baseline, the step at T0 (users x2, activity x4), the peak, the end."""

    def tick(self) -> tuple[int, float] | None:
        timeline = _timeline(self.runner.environment)
        elapsed = self.get_run_time()
        if elapsed >= timeline.total_seconds:
            return None
        return timeline.users_at(elapsed) + 1, timeline.spawn_rate  # + the host


class Host(HttpUser):
    """Schedules the party at the start, starts it at T0 and ends it at the end."""

    fixed_count = 1
    wait_time = between(0.5, 1.0)

    def on_start(self) -> None:
        self.client.headers["Authorization"] = (
            f"Bearer {_token(self.environment, 'lt-host', 'host')}"
        )
        self.timeline = _timeline(self.environment)
        starts_at = datetime.now(UTC) + timedelta(seconds=self.timeline.start_at + 60)
        body = {
            "title": f"{_brand(self.environment)} spike",
            "theme": {"kind": "brand", "value": _brand(self.environment)},
            "starts_at": starts_at.isoformat(),
            "duration_minutes": 120,
        }
        with self.client.post("/parties", json=body, name="/parties", catch_response=True) as r:
            self.party_id = r.json()["id"] if r.status_code == 201 else None
        self.state = "scheduled"

    @task
    def keep_the_clock(self) -> None:
        if self.party_id is None:
            return
        elapsed = _elapsed()
        if self.state == "scheduled" and elapsed >= self.timeline.start_at:
            self.client.post(f"/parties/{self.party_id}/start", name="/parties/[id]/start")
            self.state = "live"
        elif self.state == "live" and elapsed >= self.timeline.end_at:
            self.client.post(f"/parties/{self.party_id}/end", name="/parties/[id]/end")
            self.state = "ended"
        else:
            self.client.get(f"/parties/{self.party_id}", name="/parties/[id]")


class Shopper(HttpUser):
    """Browses; once the party is live, joins it, shares own listings and likes others'."""

    weight = 1
    wait_time = between(1.0, 2.0)

    def on_start(self) -> None:
        self.user_id = f"lt-shopper-{uuid.uuid4().hex[:12]}"
        token = _token(self.environment, self.user_id, "shopper")
        self.client.headers["Authorization"] = f"Bearer {token}"
        self.brand = _brand(self.environment)
        self.timeline = _timeline(self.environment)
        self.listings = [self._list_item(n) for n in range(2)]
        self.listings = [listing for listing in self.listings if listing]
        self.party_id: str | None = None
        self.socket = PartySocket(_ws_url(self.host), token, self.user_id, events.request.fire)
        self.interactions = gevent.spawn(self._interact)

    def on_stop(self) -> None:
        self.interactions.kill(block=False)
        self.socket.close()

    def _list_item(self, n: int) -> str | None:
        body = {
            "title": f"{self.brand} item {n}",
            "brand": self.brand,
            "category": "sneakers",
            "price_cents": random.randint(1_000, 20_000),
            "currency": "EUR",
        }
        with self.client.post("/listings", json=body, name="/listings", catch_response=True) as r:
            return r.json()["id"] if r.status_code == 201 else None

    @task(3)
    def browse(self) -> None:
        self.client.get(
            "/parties", params={"state": "scheduled", "limit": 20}, name="/parties?state=scheduled"
        )
        if self.listings:
            self.client.get(f"/listings/{random.choice(self.listings)}", name="/listings/[id]")

    @task(10)
    def party(self) -> None:
        """Find the live party and join it (the shares and likes are `_interact`'s)."""
        if _elapsed() >= self.timeline.end_at:  # the party is over
            self.socket.close()
            return
        if self.party_id is None or not self.socket.connected:
            self._find_and_join()

    def _interact(self) -> None:
        """Shares and likes on a Poisson schedule at the timeline's rate, open loop: each is
        due at its scheduled time whatever the server answered (acks come back on their
        own); none while this shopper is not in the live party."""
        due = time.monotonic()
        while (elapsed := _elapsed()) < self.timeline.end_at:
            if elapsed < self.timeline.start_at:  # no party yet: wait for T0
                gevent.sleep(self.timeline.start_at - elapsed)
                due = time.monotonic()
                continue
            activity = self.timeline.activity_at(elapsed)
            share_rate, like_rate = activity / BASELINE_SHARE_EVERY, activity / BASELINE_LIKE_EVERY
            due += random.expovariate(share_rate + like_rate)
            gevent.sleep(max(0.0, due - time.monotonic()))
            phase = self.timeline.phase_at(_elapsed())
            if phase != "peak":  # the party ended meanwhile
                return
            if self.party_id is None or not self.socket.connected or not self.listings:
                METER.sent(phase, "not in the party")
            elif random.random() * (share_rate + like_rate) < share_rate:
                self.socket.share(self.party_id, random.choice(self.listings))
                METER.sent(phase, "share")
            elif self.socket.shares_seen:
                self.socket.like(self.party_id, random.choice(self.socket.shares_seen))
                METER.sent(phase, "like")
            else:
                METER.sent(phase, "like skipped")

    def _find_and_join(self) -> bool:
        params = {"state": "live", "theme_kind": "brand", "theme_value": self.brand, "limit": 1}
        with self.client.get(
            "/parties", params=params, name="/parties?state=live", catch_response=True
        ) as r:
            items = r.json().get("items", []) if r.status_code == 200 else []
        if not items:
            self.party_id = None
            return False
        party_id = items[0]["id"]
        if self.party_id is not None and party_id != self.party_id:
            self.socket.close()
        self.party_id = party_id
        if self.listings:
            self.client.get(
                f"/parties/{party_id}/matches/{self.listings[0]}",
                name="/parties/[id]/matches/[listing]",
            )
        return self.socket.join(party_id)


def _ws_url(host: str) -> str:
    parts = urlsplit(host)
    scheme = "wss" if parts.scheme == "https" else "ws"
    return f"{scheme}://{parts.netloc}/ws"
