"""The engine opens one record of backends: those every role shares, plus those of the roles
this process plays, and /readyz names each (on the embedded default: nothing to start)."""

import pytest

from party_engine.config import Settings
from party_engine.engine import Engine
from party_engine.roles import ALL_ROLES, Role

SECRET = "test-secret-that-is-long-enough-for-hs256"
SHARED = ["store", "devices", "push", "events", "ledger", "broker"]


@pytest.mark.parametrize(
    ("roles", "own"),
    [
        ({Role.GATEWAY}, ["archive", "rate_limits", "presence", "connections"]),
        ({Role.SCHEDULER}, ["lease", "reminders", "archive"]),
        ({Role.WORKER}, ["notices", "consumer"]),
        ({Role.RELAY}, ["outbox", "sink"]),
        ({Role.ARCHIVE}, ["consumer", "archive"]),
        (
            ALL_ROLES,
            [
                "lease",
                "reminders",
                "notices",
                "consumer",
                "archive",
                "rate_limits",
                "presence",
                "connections",
                "outbox",
                "sink",
            ],
        ),
    ],
)
def test_each_role_opens_its_own_backends_into_the_one_record(roles, own):
    engine = Engine(Settings(jwt_secret=SECRET), roles=frozenset(roles))
    assert list(engine.backends.named()) == SHARED + own


async def test_the_engine_connects_in_order_and_closes_in_reverse():
    # Not the worker: embedded, its consumer is the `events` queue itself (one object twice).
    engine = Engine(Settings(jwt_secret=SECRET), roles=frozenset({Role.GATEWAY, Role.SCHEDULER}))
    calls: list[str] = []
    for name, backend in engine.backends.named().items():
        connect, close = backend.connect, backend.close

        async def connecting(name=name, connect=connect) -> None:
            calls.append(f"connect {name}")
            await connect()

        async def closing(name=name, close=close) -> None:
            calls.append(f"close {name}")
            await close()

        backend.connect, backend.close = connecting, closing  # type: ignore[method-assign]
    await engine.start()
    await engine.stop()
    names = list(engine.backends.named())
    assert calls == [f"connect {n}" for n in names] + [f"close {n}" for n in reversed(names)]
