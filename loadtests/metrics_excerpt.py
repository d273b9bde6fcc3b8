"""Each role in its own process, on a private Redis and RabbitMQ (tests/servers.py), with its
metrics on a port of its own: a follower follows a theme, a host starts a party of it and the
scheduler another (their start pushes go out in waves), a shopper joins, shares and likes; then
every role's `/metrics` is printed: the `party_*` samples that are not zero (histograms as
their _count and _sum). Shows what an operator scrapes from the split topology; measures
nothing.

    python -m loadtests.metrics_excerpt     (make metrics-excerpt)
"""

import asyncio
import contextlib
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

from party_engine.tokens import UserRole
from tests.gateway_harness import SECRET, Client, seed_over_http, token
from tests.metered_role import MeteredRole
from tests.servers import RabbitMQServer, RedisServer

ROLES = ("gateway", "worker", "relay", "scheduler")


def excerpt(role: MeteredRole) -> list[str]:
    """The role's non-zero party_* samples, one line each (histogram buckets left out)."""
    text = httpx.get(f"http://127.0.0.1:{role.metrics_port}/metrics").text
    lines = []
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            name = sample.name
            if not name.startswith("party_") or name.endswith(("_bucket", "_created")):
                continue
            if sample.value:
                labels = ",".join(f'{k}="{v}"' for k, v in sorted(sample.labels.items()))
                lines.append(f"{name}{{{labels}}} {sample.value:g}")
    return lines


async def drive(gateway: str) -> None:
    async with httpx.AsyncClient(base_url=gateway) as http:
        follower = {"Authorization": f"Bearer {token('follower-1', UserRole.SHOPPER)}"}
        (await http.put("/me/follows/brand/Nike", headers=follower)).raise_for_status()
        # One the scheduler starts in a second (its lateness), beside the host's own start.
        host = {"Authorization": f"Bearer {token('host-1', UserRole.HOST)}"}
        soon = (datetime.now(UTC) + timedelta(seconds=1)).isoformat()
        body = {"title": "Soon", "theme": {"kind": "brand", "value": "Nike"}, "starts_at": soon}
        (await http.post("/parties", json=body, headers=host)).raise_for_status()
    party, listing = await seed_over_http(gateway)  # a host starts it: the start push
    client = await Client.connect(gateway.replace("http", "ws") + "/ws")
    try:
        await client.join(party)
        share = await client.reply(id=1, type="share", party=party, listing=listing)
        await client.reply(id=2, type="like", party=party, share=share["offset"])
    finally:
        await client.close()


def main() -> None:
    with contextlib.ExitStack() as stack:
        redis = stack.enter_context(RedisServer())
        rabbitmq = stack.enter_context(RabbitMQServer())
        log_dir = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        env = {
            "PARTY_REDIS_URL": redis.url,
            "PARTY_AMQP_URL": rabbitmq.url,
            "PARTY_PUSH_URL": "memory://",
            "PARTY_JWT_SECRET": SECRET,
            "PARTY_LOG_LEVEL": "warning",
        }
        roles = [MeteredRole(role, env, log_dir) for role in ROLES]
        for role in roles:
            stack.callback(role.stop)
        try:
            roles[0].wait_serving(roles[0].port)
            for role in roles:
                role.wait_serving(role.metrics_port)
        except AssertionError as error:
            raise SystemExit(str(error)) from None
        asyncio.run(drive(f"http://127.0.0.1:{roles[0].port}"))
        time.sleep(3)  # a relay round, the worker's batches, a scrape's worth of gauges
        for role in roles:
            print(f"--- {role.role} (http://127.0.0.1:{role.metrics_port}/metrics)")
            print("\n".join(excerpt(role)))


if __name__ == "__main__":
    main()
