"""The report with every role in its own process, on RabbitMQ and Redis, with the default
archive settings: a party played through a gateway, a relay and an archive worker has its
whole report as soon as the archive has written the batch its end flushes (not a batch age
later), marked not final until the archive's batch age has passed since the end."""

import httpx
import pytest

from party_engine.backends.outbox_redis import RedisOutbox
from party_engine.config import DEFAULT_REDIS_PREFIX
from party_engine.tokens import UserRole
from tests.gateway_harness import SECRET, Client, GatewayProcess, seed_over_http, token
from tests.pipeline_helpers import (
    eventually,
    role_processes,
    unique_prefix,
)


@pytest.fixture
def roles(tmp_path):
    with role_processes(tmp_path / "roles.log") as start:
        yield start


async def test_an_ended_partys_report_comes_from_the_archive_its_end_flushed(
    rabbitmq_server, redis_url, tmp_path, roles
):
    env = {
        "PARTY_REDIS_URL": redis_url,
        "PARTY_AMQP_URL": rabbitmq_server.url,
        "PARTY_AMQP_PREFIX": unique_prefix(),
        "PARTY_PUSH_URL": "memory://",
        "PARTY_ARCHIVE_URL": (tmp_path / "archive").as_uri(),
        "PARTY_JWT_SECRET": SECRET,
        "PARTY_LOG_LEVEL": "warning",
    }
    gateway = GatewayProcess(redis_url, **env).start()
    outbox = RedisOutbox(redis_url, prefix=DEFAULT_REDIS_PREFIX)
    try:
        roles("relay", env)
        roles("archive", env)
        party, listing = await seed_over_http(gateway.http)
        sharer = await Client.connect(gateway.url, user="shopper-1")
        liker = await Client.connect(gateway.url, user="shopper-2")
        await sharer.join(party)
        await liker.join(party)
        offsets = [
            (await sharer.reply(type="share", party=party, listing=listing, id=n))["offset"]
            for n in range(1, 4)
        ]
        for n, offset in enumerate(offsets[:2]):
            ack = await liker.reply(type="like", party=party, share=offset, id=10 + n)
            assert ack["type"] == "ack", ack
        await sharer.reply(type="leave", party=party, id=9)
        await sharer.close()

        async def relayed() -> bool:
            return await outbox.depth(party) == 0

        await eventually(relayed, within=20)
        host = {"Authorization": f"Bearer {token('host-1', UserRole.HOST)}"}
        async with httpx.AsyncClient(base_url=gateway.http, headers=host) as http:
            (await http.post(f"/parties/{party}/end")).raise_for_status()
            body: dict = {}

            async def complete() -> bool:
                nonlocal body
                body = (await http.get(f"/parties/{party}/report")).raise_for_status().json()
                return body["report"]["shares"] == 3 and body["report"]["joins"] == 2

            # Well within PARTY_ARCHIVE_BATCH_SECONDS (60): the end flushed the open batch.
            await eventually(complete, within=30)
        await liker.close()
    finally:
        gateway.stop()
        await outbox.close()
    report = body["report"]
    assert body["final"] is False  # the batch age (60 s) has not passed since the end
    assert (report["likes"], report["shoppers"], report["peak_presence"]) == (2, 2, 2)
    assert report["presence_per_minute"][0] == 2
    assert report["push"] is None  # no worker ran here to send the start push
    assert report["top_sharers"] == [{"id": "shopper-1", "shares": 3, "likes": 2}]
    assert [entry["likes"] for entry in report["top_listings"]] == [2]
