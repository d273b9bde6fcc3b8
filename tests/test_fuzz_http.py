"""Schemathesis against the hosts' HTTP API, on each store backend, as a host and as a shopper:
no response is a 5xx, and every response (status, content type, body) is one the OpenAPI
document describes. Valid and invalid requests, a fixed number per operation, derandomized.

Schemathesis serves the app in-process on its own event-loop thread: the app's lifespan starts
the engine there on the first request, and `shutdown_lifespans` stops it after each test."""

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator
from schemathesis import GenerationMode
from schemathesis.python import asgi
from schemathesis.specs.openapi.checks import positive_data_acceptance

from party_engine.api.app import create_app
from party_engine.config import Settings
from party_engine.engine import Engine
from party_engine.tokens import UserRole, issue_token
from tests.api_harness import PROBLEM, SECRET, api_client, started_engine

EXAMPLES_PER_OPERATION = 12


def _bearer(user: str, role: UserRole) -> dict[str, str]:
    return {"Authorization": f"Bearer {issue_token(SECRET, user, role)}"}


HOST = _bearer("host-1", UserRole.HOST)
CALLERS = {"host": HOST, "shopper": _bearer("shopper-1", UserRole.SHOPPER)}

# The document as the app serves it; an engine that is never started only lends it its settings.
SCHEMA = schemathesis.openapi.from_dict(create_app(Engine(Settings(jwt_secret=SECRET))).openapi())
OPERATIONS = [(op.path, op.method) for op in (r.ok() for r in SCHEMA.get_all_operations())]


def _seed(app: Any) -> dict[str, str]:
    """A live party and a matching listing, so that some cases reach past the 404s."""
    host = CALLERS["host"]
    with asgi.get_client(app) as http:
        starts_at = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
        theme = {"kind": "brand", "value": "Nike"}
        body = {"title": "Seed", "theme": theme, "starts_at": starts_at}
        party_id = http.post("/parties", json=body, headers=host).json()["id"]
        http.post(f"/parties/{party_id}/start", headers=host).raise_for_status()
        listing = {
            "title": "Nike shoe",
            "brand": "Nike",
            "category": "shoes",
            "price_cents": 5000,
            "currency": "EUR",
        }
        listing_id = http.post("/listings", json=listing, headers=host).json()["id"]
    return {"party_id": party_id, "listing_id": listing_id}


class Api:
    def __init__(self, app: Any) -> None:
        self.schema = schemathesis.openapi.from_asgi("/openapi.json", app)
        # Unknown query parameters are ignored, as most HTTP APIs do; not a rejection to expect.
        self.schema.config.generation.update(allow_extra_parameters=False)
        self.seeded = _seed(app)


@pytest.fixture
def api(store_url: str) -> Iterator[Api]:
    try:
        yield Api(create_app(Engine(Settings(redis_url=store_url, jwt_secret=SECRET))))
    finally:
        asgi.shutdown_lifespans()


@pytest.mark.parametrize("caller", sorted(CALLERS))
@pytest.mark.parametrize("operation", OPERATIONS, ids=" ".join)
@settings(
    max_examples=EXAMPLES_PER_OPERATION,
    deadline=2000,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)
@given(data=st.data())
def test_api_answers_every_request_as_documented(
    api: Api, operation: tuple[str, str], caller: str, data: st.DataObject
) -> None:
    path, method = operation
    mode = data.draw(st.sampled_from([GenerationMode.POSITIVE, GenerationMode.NEGATIVE]))
    case = data.draw(api.schema[path][method].as_strategy(generation_mode=mode))
    known = {k: v for k, v in api.seeded.items() if k in (case.path_parameters or {})}
    if mode is GenerationMode.POSITIVE and known and data.draw(st.booleans()):
        case.path_parameters = {**case.path_parameters, **known}
    response = case.call_and_validate(
        headers=CALLERS[caller], excluded_checks=[positive_data_acceptance]
    )
    if mode is GenerationMode.POSITIVE:
        _assert_schema_valid_request_passed_validation(response)


# Rules the document cannot state (starts_at in the future, a cursor this server handed out, a
# push token without spaces) refuse some schema-valid requests with `invalid_value`; those
# refusals are documented 422s. A schema-valid request refused by request validation itself
# would mean the document and the models disagree.
VALIDATION_PROBLEMS = {
    "urn:party-engine:problem:invalid_fields",
    "urn:party-engine:problem:malformed_json",
}


def _assert_schema_valid_request_passed_validation(response: Any) -> None:
    if response.status_code in (400, 422):
        assert response.json()["type"] not in VALIDATION_PROBLEMS, (
            response.request.body,
            response.text,
        )


# --- what the fuzzing found, as plain tests --------------------------------------------------


async def test_problem_responses_are_documented_as_problem_json() -> None:
    """FastAPI documented only its own 422 body (application/json, HTTPValidationError); the
    401/403/404/409 and 400 problems were not in the document at all."""
    async with started_engine("memory://") as engine, api_client(engine) as http:
        document = (await http.get("/openapi.json")).json()
        refused = await http.get("/parties/nope")
    assert refused.status_code == 401
    assert refused.headers["content-type"] == PROBLEM
    get_party = document["paths"]["/parties/{party_id}"]["get"]["responses"]
    for status in ("401", "404", "422"):
        assert list(get_party[status]["content"]) == [PROBLEM], status
    start = document["paths"]["/parties/{party_id}/start"]["post"]["responses"]
    assert {"401", "403", "404", "409", "422"} <= set(start)
    assert "400" in document["paths"]["/listings"]["post"]["responses"]


@pytest.mark.parametrize(
    "field, value",
    [
        ("title", " "),
        ("title", "\u0085"),  # Unicode white space, but not to JSON Schema's (ECMA 262) `\s`
        ("tags", ["\n"]),
        ("title", " " * 200 + "shoe"),  # short once stripped, but past the documented maxLength
    ],
)
async def test_the_document_and_the_api_agree_on_blank_and_padded_texts(
    field: str, value: Any
) -> None:
    """The document said blank texts were valid (its minLength counted white space) and the API
    refused them as invalid fields; padding past the documented maxLength was accepted."""
    listing = {
        "title": "Nike shoe",
        "brand": "Nike",
        "category": "shoes",
        "price_cents": 5000,
        "currency": "EUR",
        field: value,
    }
    async with started_engine("memory://") as engine, api_client(engine) as http:
        document = (await http.get("/openapi.json")).json()
        created = await http.post("/listings", json=listing, headers=HOST)
    body_schema = document["components"]["schemas"]["ListingCreate"]
    assert created.status_code == 422, created.text
    assert not Draft202012Validator({**body_schema, "$defs": {}}, format_checker=None).is_valid(
        listing
    )


async def test_a_device_token_padded_past_its_documented_length_is_refused() -> None:
    async with started_engine("memory://") as engine, api_client(engine) as http:
        padded = {"platform": "fcm", "token": " " * 4096 + "token"}
        registered = await http.post("/me/devices", json=padded, headers=HOST)
    assert registered.status_code == 422, registered.text


@pytest.mark.parametrize("query", ["cursor=zz", "theme_value=Nike"])
async def test_a_refused_query_parameter_is_reported_in_the_query(query: str) -> None:
    """These refusals said `"in": "body"` of a GET without a body."""
    async with started_engine("memory://") as engine, api_client(engine) as http:
        refused = await http.get(f"/parties?{query}", headers=HOST)
    assert refused.status_code == 422
    (error,) = refused.json()["errors"]
    assert error["in"] == "query"
    assert error["field"] == query.split("=")[0]
