"""Liveness and readiness probes."""

import asyncio

from fastapi import APIRouter

from .deps import EngineDep
from .problems import Problem, documented

router = APIRouter(tags=["health"])

_PING_TIMEOUT_SECONDS = 2.0


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """The process is alive and serving."""
    return {"status": "ok"}


@router.get("/readyz", responses=documented(503))
async def readyz(engine: EngineDep) -> dict[str, str]:
    """Every backend this process opened is connected and answers, and the services run;
    503 names what is missing."""
    waiting = engine.connections.waiting()
    failing = [f"{name} (not connected yet)" for name in waiting]
    for name, backend in engine.backends.named().items():
        if name in waiting:
            continue
        try:
            await asyncio.wait_for(backend.ping(), _PING_TIMEOUT_SECONDS)
        except Exception as error:  # any failure means not ready, whatever the client raised
            failing.append(f"{name} ({type(error).__name__})")
    if not failing and not engine.running:
        failing.append("services (starting)" if engine.failed is None else "services (failed)")
    if failing:
        raise Problem(503, f"not answering: {', '.join(failing)}", code="not_ready")
    return {"status": "ready"}
