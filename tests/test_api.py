"""The hosts' HTTP API, driven the way a client drives it, on both store backends."""

import asyncio
import time
from datetime import UTC, datetime, timedelta

import pytest
import redis.asyncio as redis

from party_engine.api.models import ListingCreate, ListingOut
from party_engine.config import Settings
from party_engine.domain.listings import ASSIGNED_FIELDS, PUBLIC_FIELDS, Listing
from party_engine.engine import Engine
from party_engine.tokens import UserRole, issue_token
from tests.api_harness import GATEWAY, PROBLEM, SECRET, api_client, started_engine
from tests.servers import RedisServer


@pytest.fixture
async def engine(store_url):
    async with started_engine(store_url) as engine:
        yield engine


@pytest.fixture
async def client(engine):
    async with api_client(engine) as client:
        yield client


def auth(user: str, role: UserRole = UserRole.HOST) -> dict[str, str]:
    return {"Authorization": f"Bearer {issue_token(SECRET, user, role)}"}


HOST = auth("host-1")
OTHER_HOST = auth("host-2")
SHOPPER = auth("shopper-1", UserRole.SHOPPER)


def in_hours(hours: float) -> str:
    return (datetime.now(UTC) + timedelta(hours=hours)).isoformat()


def party_body(**overrides):
    body = {
        "title": "Nike night",
        "theme": {"kind": "brand", "value": "Nike"},
        "starts_at": in_hours(1),
    }
    return {**body, **overrides}


async def create_party(client, **overrides):
    response = await client.post("/parties", json=party_body(**overrides), headers=HOST)
    assert response.status_code == 201, response.text
    return response.json()


async def count_parties(client) -> int:
    return len((await client.get("/parties", headers=HOST)).json()["items"])


def assert_problem(response, status: int):
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    body = response.json()
    assert body["status"] == status
    assert body["title"] and body["detail"] and body["type"]
    return body


# --- the story of a party ---------------------------------------------------------------


async def test_a_host_schedules_lists_starts_and_ends_a_party(client):
    party = await create_party(client, description="Sneakers only")
    assert party["state"] == "scheduled"
    assert party["host_id"] == "host-1"
    assert party["duration_minutes"] == 120
    assert party["ends_at"] > party["starts_at"]

    listed = (await client.get("/parties", headers=SHOPPER)).json()
    assert [p["id"] for p in listed["items"]] == [party["id"]]

    started = await client.post(f"/parties/{party['id']}/start", headers=HOST)
    assert started.json()["state"] == "live"
    ended = await client.post(f"/parties/{party['id']}/end", headers=HOST)
    assert ended.json()["state"] == "ended"
    assert (await client.get(f"/parties/{party['id']}", headers=SHOPPER)).json()["state"] == "ended"


async def test_parties_filter_by_state_and_theme_and_page(client):
    first = await create_party(client, starts_at=in_hours(1))
    await create_party(client, starts_at=in_hours(2), theme={"kind": "season", "value": "Summer"})
    third = await create_party(client, starts_at=in_hours(3))
    await client.post(f"/parties/{third['id']}/start", headers=HOST)

    nike = await client.get("/parties?theme_kind=brand&theme_value=NIKE", headers=HOST)
    assert [p["id"] for p in nike.json()["items"]] == [first["id"], third["id"]]
    live = await client.get("/parties?state=live", headers=HOST)
    assert [p["id"] for p in live.json()["items"]] == [third["id"]]

    page = (await client.get("/parties?limit=2", headers=HOST)).json()
    assert len(page["items"]) == 2 and page["next_cursor"]
    rest = await client.get(f"/parties?limit=2&cursor={page['next_cursor']}", headers=HOST)
    assert [p["id"] for p in rest.json()["items"]] == [third["id"]]


async def test_the_owner_edits_a_scheduled_party(client):
    party = await create_party(client)
    response = await client.patch(
        f"/parties/{party['id']}", json={"title": "Renamed", "duration_minutes": 60}, headers=HOST
    )
    assert response.status_code == 200
    assert response.json()["title"] == "Renamed"
    assert response.json()["duration_minutes"] == 60


async def test_delete_cancels_and_keeps_the_record(client):
    party = await create_party(client)
    response = await client.delete(f"/parties/{party['id']}", headers=HOST)
    assert response.json()["state"] == "cancelled"
    kept = await client.get(f"/parties/{party['id']}", headers=HOST)
    assert kept.json()["state"] == "cancelled"


async def test_a_listing_is_created_read_and_matched_against_a_theme(client):
    response = await client.post(
        "/listings",
        json={
            "title": "Air Max 90",
            "brand": "nike",
            "category": "Shoes",
            "size": "42",
            "price_cents": 12000,
            "currency": "EUR",
            "image_urls": ["https://img.example/airmax.jpg"],
            "tags": ["summer"],
        },
        headers=SHOPPER,
    )
    assert response.status_code == 201
    listing = response.json()
    assert listing["seller_id"] == "shopper-1"
    assert (await client.get(f"/listings/{listing['id']}", headers=HOST)).json() == listing

    nike = await create_party(client)
    adidas = await create_party(client, theme={"kind": "brand", "value": "Adidas"})
    yes = await client.get(f"/parties/{nike['id']}/matches/{listing['id']}", headers=HOST)
    no = await client.get(f"/parties/{adidas['id']}/matches/{listing['id']}", headers=HOST)
    assert yes.json()["matches"] is True
    assert no.json() == {"matches": False, "reason": "brand is 'nike', the party wants 'Adidas'"}


def test_the_listing_bodies_spell_the_domain_listings_public_fields_in_order():
    # ListingOut and ListingCreate are written out for the OpenAPI document; the domain's
    # PUBLIC_FIELDS is the one list, and these must not drift from it.
    assert tuple(ListingOut.model_fields) == PUBLIC_FIELDS
    assert tuple(ListingCreate.model_fields) == tuple(
        name for name in PUBLIC_FIELDS if name not in ASSIGNED_FIELDS
    )
    listing = Listing("l1", "s1", "Air", "Nike", "shoes", 1, "EUR", ("https://i/1",), "42", ("x",))
    out = ListingOut.of(listing).model_dump()
    assert out == {name: getattr(listing, name) for name in PUBLIC_FIELDS} | {
        "image_urls": ["https://i/1"],
        "tags": ["x"],
    }
    again = Listing.from_public_fields(out, created_at=listing.created_at)
    assert again == listing


async def test_a_user_follows_and_unfollows_themes(client):
    assert (await client.put("/me/follows/brand/Nike", headers=SHOPPER)).status_code == 204
    assert (await client.put("/me/follows/season/summer", headers=SHOPPER)).status_code == 204
    follows = (await client.get("/me/follows", headers=SHOPPER)).json()["items"]
    assert follows == [{"kind": "brand", "value": "nike"}, {"kind": "season", "value": "summer"}]
    assert (await client.delete("/me/follows/brand/NIKE", headers=SHOPPER)).status_code == 204
    follows = (await client.get("/me/follows", headers=SHOPPER)).json()["items"]
    assert follows == [{"kind": "season", "value": "summer"}]


async def test_health_and_readiness(client):
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    assert (await client.get("/readyz")).json() == {"status": "ready"}


# --- what each bad input gets --------------------------------------------------------------


async def test_no_token_gets_401(client):
    body = assert_problem(await client.get("/parties"), 401)
    assert "Bearer" in body["detail"]


@pytest.mark.parametrize(
    "header",
    [
        "Bearer not-a-jwt",
        f"Bearer {issue_token('another-secret-that-is-long-enough-for-hs256', 'u', UserRole.HOST)}",
        f"Bearer {issue_token(SECRET, 'u', UserRole.HOST, timedelta(minutes=-5))}",
        "Basic dXNlcjpwYXNz",
    ],
    ids=["garbage", "wrong-secret", "expired", "not-bearer"],
)
async def test_a_bad_token_gets_401(client, header):
    assert_problem(await client.get("/parties", headers={"Authorization": header}), 401)


async def test_a_shopper_cannot_schedule_a_party_403(client):
    response = await client.post("/parties", json=party_body(), headers=SHOPPER)
    assert_problem(response, 403)
    assert await count_parties(client) == 0


@pytest.mark.parametrize("action", ["start", "end"])
async def test_another_host_cannot_start_or_end_my_party_403(client, action):
    party = await create_party(client)
    if action == "end":
        await client.post(f"/parties/{party['id']}/start", headers=HOST)
    before = (await client.get(f"/parties/{party['id']}", headers=HOST)).json()
    assert_problem(await client.post(f"/parties/{party['id']}/{action}", headers=OTHER_HOST), 403)
    assert (await client.get(f"/parties/{party['id']}", headers=HOST)).json() == before


async def test_another_host_cannot_edit_or_cancel_my_party_403(client):
    party = await create_party(client)
    patch = await client.patch(f"/parties/{party['id']}", json={"title": "x"}, headers=OTHER_HOST)
    assert_problem(patch, 403)
    assert_problem(await client.delete(f"/parties/{party['id']}", headers=OTHER_HOST), 403)
    assert (await client.get(f"/parties/{party['id']}", headers=HOST)).json() == party


async def test_malformed_json_gets_400_and_creates_nothing(client):
    response = await client.post(
        "/parties", content=b'{"title": ', headers={**HOST, "content-type": "application/json"}
    )
    assert_problem(response, 400)
    assert await count_parties(client) == 0


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"title": 5}, "title"),
        ({"title": "x" * 10_000}, "title"),
        ({"title": "   "}, "title"),
        ({"theme": {"kind": "color", "value": "red"}}, "theme.kind"),
        ({"theme": "Nike"}, "theme"),
        ({"starts_at": "tomorrow"}, "starts_at"),
        ({"starts_at": "2031-01-01T20:00:00"}, "starts_at"),
        ({"duration_minutes": 14}, "duration_minutes"),
        ({"duration_minutes": 361}, "duration_minutes"),
        ({"duration_minutes": "long"}, "duration_minutes"),
        ({"sponsor": "ACME"}, "sponsor"),
    ],
    ids=[
        "title-not-string",
        "title-10kB",
        "title-blank",
        "unknown-theme-kind",
        "theme-not-object",
        "starts_at-not-a-time",
        "starts_at-without-zone",
        "duration-too-short",
        "duration-too-long",
        "duration-not-int",
        "unknown-field",
    ],
)
async def test_an_invalid_party_gets_422_naming_the_field_and_creates_nothing(
    client, change, field
):
    response = await client.post("/parties", json=party_body(**change), headers=HOST)
    body = assert_problem(response, 422)
    assert field in [error["field"] for error in body["errors"]]
    assert await count_parties(client) == 0


async def test_a_missing_field_gets_422(client):
    body = {"title": "No theme", "starts_at": in_hours(1)}
    problem = assert_problem(await client.post("/parties", json=body, headers=HOST), 422)
    assert [error["field"] for error in problem["errors"]] == ["theme"]


async def test_a_start_in_the_past_gets_422_and_creates_nothing(client):
    response = await client.post("/parties", json=party_body(starts_at=in_hours(-1)), headers=HOST)
    body = assert_problem(response, 422)
    assert body["errors"][0]["field"] == "starts_at"
    assert await count_parties(client) == 0


async def test_a_start_beyond_a_year_gets_422_and_creates_nothing(client):
    for starts_at in ("9999-12-31T23:00:00Z", in_hours(24 * 367)):
        response = await client.post("/parties", json=party_body(starts_at=starts_at), headers=HOST)
        assert assert_problem(response, 422)["errors"][0]["field"] == "starts_at"
    assert await count_parties(client) == 0


async def test_moving_a_party_beyond_a_year_gets_422_and_keeps_it(client):
    party = await create_party(client)
    patch = {"starts_at": "9999-12-31T23:00:00Z"}
    response = await client.patch(f"/parties/{party['id']}", json=patch, headers=HOST)
    assert_problem(response, 422)
    kept = (await client.get(f"/parties/{party['id']}", headers=HOST)).json()
    assert kept["starts_at"] == party["starts_at"]


@pytest.mark.parametrize(
    "path",
    [
        "/parties/a:b",
        "/parties/{party}/start",
        "/parties/x%20y/stats",
        "/listings/l:1",
        "/parties/{party}/matches/a.b",
        f"/parties/{'p' * 65}",
    ],
)
async def test_an_id_outside_the_id_pattern_gets_422(client, path):
    party = await create_party(client)
    path = path.replace("{party}", "a{b}" if "start" in path else party["id"])
    method = "POST" if path.endswith("/start") else "GET"
    problem = assert_problem(await client.request(method, path, headers=HOST), 422)
    assert problem["errors"][0]["field"].endswith("_id")


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/parties/nope"),
        ("PATCH", "/parties/nope"),
        ("DELETE", "/parties/nope"),
        ("POST", "/parties/nope/start"),
        ("POST", "/parties/nope/end"),
        ("GET", "/listings/nope"),
        ("GET", "/parties/nope/matches/nope"),
    ],
)
async def test_an_unknown_id_gets_404(client, method, path):
    kwargs = {"json": {"title": "x"}} if method == "PATCH" else {}
    assert_problem(await client.request(method, path, headers=HOST, **kwargs), 404)


async def test_matching_an_unknown_listing_gets_404(client):
    party = await create_party(client)
    assert_problem(await client.get(f"/parties/{party['id']}/matches/nope", headers=HOST), 404)


@pytest.mark.parametrize(
    ("path", "expected_state"),
    [("end", "scheduled"), ("start", "ended")],
    ids=["end-before-start", "start-after-end"],
)
async def test_a_transition_outside_the_state_machine_gets_409(client, path, expected_state):
    party = await create_party(client)
    if expected_state == "ended":
        await client.post(f"/parties/{party['id']}/start", headers=HOST)
        await client.post(f"/parties/{party['id']}/end", headers=HOST)
    assert_problem(await client.post(f"/parties/{party['id']}/{path}", headers=HOST), 409)
    assert (await client.get(f"/parties/{party['id']}", headers=HOST)).json()["state"] == (
        expected_state
    )


async def test_editing_a_live_party_gets_409(client):
    party = await create_party(client)
    await client.post(f"/parties/{party['id']}/start", headers=HOST)
    response = await client.patch(f"/parties/{party['id']}", json={"title": "x"}, headers=HOST)
    assert_problem(response, 409)


async def test_cancelling_an_ended_party_gets_409(client):
    party = await create_party(client)
    await client.post(f"/parties/{party['id']}/start", headers=HOST)
    await client.post(f"/parties/{party['id']}/end", headers=HOST)
    assert_problem(await client.delete(f"/parties/{party['id']}", headers=HOST), 409)


@pytest.mark.parametrize(
    "query",
    [
        "state=dancing",
        "limit=0",
        "limit=101",
        "theme_kind=brand",
        "theme_kind=color&theme_value=red",
        "cursor=garbage",
        "cursor=bmFufHg=",  # "nan|x": a non-finite position
        "cursor=aW5mfHg=",  # "inf|x"
    ],
)
async def test_bad_list_queries_get_422(client, query):
    assert_problem(await client.get(f"/parties?{query}", headers=HOST), 422)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"price_cents": -1}, "price_cents"),
        ({"price_cents": "free"}, "price_cents"),
        ({"currency": "euro"}, "currency"),
        ({"image_urls": ["ftp://x"]}, "image_urls.0"),
        ({"title": "x" * 10_000}, "title"),
        ({"brand": ""}, "brand"),
        ({"seller_id": "someone-else"}, "seller_id"),
    ],
)
async def test_an_invalid_listing_gets_422(client, change, field):
    body = {
        "title": "Tee",
        "brand": "Nike",
        "category": "Tops",
        "price_cents": 1,
        "currency": "EUR",
    }
    response = await client.post("/listings", json={**body, **change}, headers=SHOPPER)
    assert field in [error["field"] for error in assert_problem(response, 422)["errors"]]


@pytest.mark.parametrize(
    ("image_urls", "field"),
    [
        ([f"https://img.example/{n}.jpg" for n in range(9)], "image_urls"),
        (["https://img.example/" + "x" * 1000], "image_urls.0"),
        (['https://img.example/"quoted"'], "image_urls.0"),
        (["https://img.example/\u00e9t\u00e9.jpg"], "image_urls.0"),
    ],
)
async def test_too_many_or_too_long_image_urls_get_422_and_create_nothing(
    client, engine, monkeypatch, image_urls, field
):
    created = []
    monkeypatch.setattr(engine.store, "create_listing", created.append)
    body = {
        "title": "Tee",
        "brand": "Nike",
        "category": "Tops",
        "price_cents": 1,
        "currency": "EUR",
        "image_urls": image_urls,
    }
    response = await client.post("/listings", json=body, headers=SHOPPER)
    assert field in [error["field"] for error in assert_problem(response, 422)["errors"]]
    assert created == []


async def test_eight_image_urls_of_a_thousand_characters_are_a_listing(client):
    urls = [f"https://img.example/{n}/" + "x" * 978 for n in range(8)]
    assert {len(url) for url in urls} == {1000}
    body = {
        "title": "Tee",
        "brand": "Nike",
        "category": "Tops",
        "price_cents": 1,
        "currency": "EUR",
        "image_urls": urls,
    }
    response = await client.post("/listings", json=body, headers=SHOPPER)
    assert response.status_code == 201, response.text
    assert response.json()["image_urls"] == urls


@pytest.mark.parametrize("path", ["/me/follows/color/red", f"/me/follows/brand/{'x' * 200}"])
async def test_following_a_bad_theme_gets_422_and_follows_nothing(client, path):
    assert_problem(await client.put(path, headers=SHOPPER), 422)
    assert (await client.get("/me/follows", headers=SHOPPER)).json()["items"] == []


async def test_an_unknown_route_gets_a_404_problem(client):
    assert_problem(await client.get("/nowhere"), 404)


async def test_a_wrong_method_gets_a_405_problem(client):
    assert_problem(await client.put("/parties", headers=HOST), 405)


async def test_readiness_is_503_naming_the_backend_that_does_not_answer():
    with RedisServer() as redis_server:
        async with started_engine(redis_server.url) as engine, api_client(engine) as client:
            try:
                assert (await client.get("/readyz")).status_code == 200
                redis_server.stop()
                body = assert_problem(await client.get("/readyz"), 503)
                assert "store" in body["detail"]
                assert (await client.get("/healthz")).status_code == 200
            finally:
                redis_server.start()  # so that the engine can close its connections


async def test_readiness_names_each_backend_not_connected_yet_until_redis_answers():
    redis_server = RedisServer()  # not started yet: the engine starts without it
    engine = Engine(Settings(redis_url=redis_server.url, jwt_secret=SECRET), roles=GATEWAY)
    try:
        await engine.start(wait=0)
        async with api_client(engine) as client:
            detail = assert_problem(await client.get("/readyz"), 503)["detail"]
            for name in ("store", "broker", "rate_limits", "presence"):
                assert f"{name} (not connected yet)" in detail
            assert "events" not in detail  # embedded: connected at once
            unavailable = assert_problem(await client.get("/parties/p1", headers=HOST), 503)
            assert unavailable["type"].endswith(":unavailable")
            assert (await client.get("/healthz")).status_code == 200

            await asyncio.to_thread(redis_server.start)
            deadline = time.monotonic() + 10
            while (await client.get("/readyz")).status_code != 200:
                assert time.monotonic() < deadline, "not ready 10 s after Redis answered"
                await asyncio.sleep(0.05)
            assert engine.running
    finally:
        await engine.stop()
        redis_server.close()


async def test_follows_past_the_per_user_cap_get_409_and_refollowing_is_fine(store_url):
    async with (
        started_engine(store_url, max_follows_per_user=2) as engine,
        api_client(engine) as client,
    ):
        for value in ("Nike", "Adidas"):
            response = await client.put(f"/me/follows/brand/{value}", headers=HOST)
            assert response.status_code == 204
        problem = assert_problem(await client.put("/me/follows/brand/Puma", headers=HOST), 409)
        assert problem["type"].endswith(":too_many_follows")
        assert (await client.put("/me/follows/brand/ nike ", headers=HOST)).status_code == 204
        follows = (await client.get("/me/follows", headers=HOST)).json()["items"]
        assert sorted(item["value"] for item in follows) == ["adidas", "nike"]


async def test_a_full_redis_refusing_writes_is_a_503_problem_and_nothing_half_done(redis_url):
    async with (
        started_engine(redis_url) as engine,
        api_client(engine) as client,
        redis.Redis.from_url(redis_url) as admin,
    ):
        await admin.config_set("maxmemory", 1)  # noeviction: every write is refused (OOM)
        try:
            response = await client.post("/parties", json=party_body(), headers=HOST)
        finally:
            await admin.config_set("maxmemory", 0)
        problem = assert_problem(response, 503)
        assert problem["type"].endswith(":unavailable")
        assert await count_parties(client) == 0


async def test_a_blank_title_is_refused_in_words_a_person_reads(client):
    response = await client.post("/parties", json=party_body(title=" \u3000 "), headers=HOST)
    problem = assert_problem(response, 422)
    assert problem["errors"] == [{"in": "body", "field": "title", "detail": "must not be blank"}]
