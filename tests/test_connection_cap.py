"""The gateway's side of the per-user connection cap: it renews the connections it holds, so
they keep counting past the registry's ttl, and frees them when they close."""

import asyncio

from party_engine.backends.connections_memory import MemoryConnectionRegistry
from party_engine.gateway.connection_cap import ConnectionCap
from tests.broker_helpers import eventually


async def test_held_connections_are_renewed_and_released():
    registry = MemoryConnectionRegistry()
    cap = ConnectionCap(
        registry, gateway_id="g1", limit=2, ttl_seconds=0.3, renew_after_seconds=0.01
    )
    held = await cap.admit("u1")
    assert held is not None
    assert await registry.register([("u1", "witness")], limit=2, ttl_seconds=0.3) == [True]
    assert await cap.admit("u1") is None

    async def witness_expired():
        await cap.renew_due()  # what the gateway's renewal round does every second
        return (await registry.register([("u1", "probe")], limit=2, ttl_seconds=30))[0]

    await eventually(witness_expired, within=5)
    assert await cap.admit("u1") is None  # `held` was renewed: it still counts

    await cap.release("u1", held)
    assert await cap.admit("u1") is not None


class CountedRegistry(MemoryConnectionRegistry):
    """The embedded registry, its register and unregister calls recorded; each takes a turn of
    the loop."""

    def __init__(self) -> None:
        super().__init__()
        self.batches: list[list[tuple[str, str]]] = []
        self.unregistered: list[list[tuple[str, str]]] = []
        self.called = asyncio.Event()

    async def register(self, connections, *, limit, ttl_seconds):
        self.batches.append(list(connections))
        self.called.set()
        await asyncio.sleep(0)
        return await super().register(connections, limit=limit, ttl_seconds=ttl_seconds)

    async def unregister(self, connections):
        self.unregistered.append(list(connections))
        await asyncio.sleep(0)
        await super().unregister(connections)


async def test_connections_opened_together_cost_one_registration():
    registry = CountedRegistry()
    cap = ConnectionCap(registry, gateway_id="g1", limit=2)
    admitted = await asyncio.gather(*(cap.admit(f"u{n}") for n in range(50)), cap.admit("u0"))
    assert all(admitted)
    assert len(registry.batches) == 1
    assert len(registry.batches[0]) == 51


async def test_admits_during_a_registration_wait_for_exactly_one_more():
    registry = CountedRegistry()
    cap = ConnectionCap(registry, gateway_id="g1", limit=2)
    first = asyncio.ensure_future(cap.admit("u1"))
    await registry.called.wait()  # the first registration is on its way
    later = [asyncio.ensure_future(cap.admit(f"v{n}")) for n in range(10)]
    await asyncio.gather(first, *later)
    assert [len(batch) for batch in registry.batches] == [1, 10]


async def test_the_cap_holds_within_one_registration():
    cap = ConnectionCap(CountedRegistry(), gateway_id="g1", limit=2)
    admitted = await asyncio.gather(*(cap.admit("u1") for _ in range(5)))
    assert sum(connection is not None for connection in admitted) == 2


async def test_connections_closed_together_cost_one_unregistration():
    registry = CountedRegistry()
    cap = ConnectionCap(registry, gateway_id="g1", limit=2)
    held = await asyncio.gather(*(cap.admit(f"u{n}") for n in range(30)))
    await asyncio.gather(*(cap.release(f"u{n}", h) for n, h in enumerate(held)))
    assert registry.unregistered == [[(f"u{n}", h) for n, h in enumerate(held)]]
    assert registry._users == {}


class FailingRegistry(MemoryConnectionRegistry):
    async def register(self, connections, *, limit, ttl_seconds):
        raise ConnectionError("registry down")

    async def unregister(self, connections):
        raise ConnectionError("registry down")


async def test_a_registry_outage_admits_everyone_and_the_renewal_counts_them():
    registry = FailingRegistry()
    cap = ConnectionCap(registry, gateway_id="g1", limit=1, renew_after_seconds=60.0)
    admitted = await asyncio.gather(*(cap.admit("u1") for _ in range(3)))
    assert all(admitted)
    await cap.renew_due()  # due at once, though renewal is otherwise every 60 s
    assert len(registry._users["u1"]) == 3
    await asyncio.gather(*(cap.release("u1", connection) for connection in admitted))  # no raise
    assert len(registry._users["u1"]) == 3  # left to expire
