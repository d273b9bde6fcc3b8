"""Devices and notifications over HTTP (embedded push; SNS is covered in test_push.py)."""

from datetime import UTC, datetime, timedelta

import httpx
import pytest

from party_engine.roles import Role
from party_engine.tokens import UserRole, issue_token
from tests.api_harness import PROBLEM, SECRET, api_client, started_engine
from tests.pipeline_helpers import eventually


@pytest.fixture
async def client(store_url):
    # With a worker: the start push is sent by the party-push worker.
    roles = frozenset({Role.GATEWAY, Role.WORKER})
    async with started_engine(store_url, roles) as engine, api_client(engine) as client:
        yield client


def auth(user: str, role: UserRole = UserRole.SHOPPER) -> dict[str, str]:
    return {"Authorization": f"Bearer {issue_token(SECRET, user, role)}"}


FAN = auth("fan")
OTHER = auth("other")
HOST = auth("host-1", UserRole.HOST)


def fcm(token: str) -> dict[str, str]:
    return {"platform": "fcm", "token": token}


async def devices_of(client, headers) -> list[dict]:
    response = await client.get("/me/devices", headers=headers)
    assert response.status_code == 200
    return response.json()["items"]


async def test_a_device_is_registered_once_per_token_listed_and_removed(client):
    body = {"platform": "apns", "token": "a" * 64}
    first = await client.post("/me/devices", json=body, headers=FAN)
    again = await client.post("/me/devices", json=body, headers=FAN)
    assert first.status_code == again.status_code == 201
    assert first.json()["id"] == again.json()["id"]
    assert [d["id"] for d in await devices_of(client, FAN)] == [first.json()["id"]]

    removed = await client.delete(f"/me/devices/{first.json()['id']}", headers=FAN)
    assert removed.status_code == 204
    assert await devices_of(client, FAN) == []


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"platform": "blackberry", "token": "t"}, 422),  # unknown platform
        ({"platform": "fcm", "token": ""}, 422),  # empty token
        ({"platform": "fcm", "token": "   "}, 422),  # blank token
        ({"platform": "fcm", "token": "t" * 5000}, 422),  # 5 kB token
        ({"platform": "fcm", "token": "with space"}, 422),  # not a token
        ({"platform": "fcm"}, 422),  # no token
        ({"platform": "fcm", "token": "t", "extra": 1}, 422),  # unknown field
    ],
)
async def test_a_bad_device_gets_a_problem_and_nothing_is_created(client, body, status):
    response = await client.post("/me/devices", json=body, headers=FAN)
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    assert await devices_of(client, FAN) == []


async def test_a_device_needs_a_token_of_its_owner(client):
    response = await client.post("/me/devices", json={"platform": "fcm", "token": "t"})
    assert response.status_code == 401
    assert response.headers["content-type"] == PROBLEM


async def test_deleting_a_device_id_outside_the_id_pattern_gets_422_and_keeps_devices(client):
    device = await client.post("/me/devices", json={"platform": "fcm", "token": "t"}, headers=FAN)
    assert device.status_code == 201
    for path in (f"/me/devices/{device.json()['id']}:subs", "/me/devices/abc:subs"):
        response = await client.delete(path, headers=FAN)
        assert response.status_code == 422, response.text
        assert response.headers["content-type"] == PROBLEM
    assert len(await devices_of(client, FAN)) == 1


async def test_deleting_a_device_of_another_user_is_not_found_and_keeps_it(client):
    device = await client.post("/me/devices", json={"platform": "fcm", "token": "t"}, headers=FAN)
    response = await client.delete(f"/me/devices/{device.json()['id']}", headers=OTHER)
    assert response.status_code == 404
    assert response.headers["content-type"] == PROBLEM
    assert len(await devices_of(client, FAN)) == 1


async def test_a_follower_sees_the_party_start_notice_in_their_notifications(client):
    assert (await client.put("/me/follows/brand/Nike", headers=FAN)).status_code == 204
    starts_at = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    party = await client.post(
        "/parties",
        json={
            "title": "Nike night",
            "theme": {"kind": "brand", "value": "Nike"},
            "starts_at": starts_at,
        },
        headers=HOST,
    )
    party_id = party.json()["id"]
    assert (await client.post(f"/parties/{party_id}/start", headers=HOST)).status_code == 200

    async def notified() -> bool:
        response = await client.get("/me/notifications", headers=FAN)
        assert response.status_code == 200
        return bool(response.json()["items"])

    await eventually(notified, within=10)
    [notice] = (await client.get("/me/notifications", headers=FAN)).json()["items"]
    assert notice["data"] == {"party_id": party_id, "kind": "party.started"}
    assert (await client.get("/me/notifications", headers=OTHER)).json()["items"] == []


async def test_a_bad_notifications_limit_is_a_problem(client):
    response = await client.get("/me/notifications?limit=0", headers=FAN)
    assert response.status_code == 422
    assert response.headers["content-type"] == PROBLEM


async def test_devices_past_the_per_user_cap_get_409_and_a_known_token_still_registers(store_url):
    async with (
        started_engine(store_url, max_devices_per_user=2) as engine,
        api_client(engine) as client,
    ):

        async def register(token: str, headers=FAN) -> httpx.Response:
            return await client.post("/me/devices", json=fcm(token), headers=headers)

        assert [(await register(token)).status_code for token in ("t0", "t1")] == [201, 201]
        third = await register("t2")
        assert third.status_code == 409
        assert third.json()["type"].endswith(":too_many_devices")
        assert (await register("t1")).status_code == 201  # already registered: idempotent
        assert len(await devices_of(client, FAN)) == 2
        assert (await register("o", OTHER)).status_code == 201
