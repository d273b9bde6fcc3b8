"""The gateway's side of the per-user connection cap: it renews the connections it holds, so
they keep counting past the registry's ttl, and frees them when they close."""

from party_engine.backends.connections_memory import MemoryConnectionRegistry
from party_engine.gateway.connection_cap import ConnectionCap
from tests.broker_helpers import eventually


async def test_held_connections_are_renewed_and_released():
    registry = MemoryConnectionRegistry()
    cap = ConnectionCap(
        registry, gateway_id="g1", limit=2, ttl_seconds=0.3, renew_after_seconds=0.0
    )
    held = await cap.admit("u1")
    assert held is not None
    assert await registry.register("u1", "witness", limit=2, ttl_seconds=0.3)
    assert await cap.admit("u1") is None

    async def witness_expired():
        await cap.renew_due()  # what the gateway's renewal round does every second
        return await registry.register("u1", "probe", limit=2, ttl_seconds=30)

    await eventually(witness_expired, within=5)
    assert await cap.admit("u1") is None  # `held` was renewed: it still counts

    await cap.release("u1", held)
    assert await cap.admit("u1") is not None
