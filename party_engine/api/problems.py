"""Every HTTP error as an RFC 9457 problem response (application/problem+json)."""

import logging
from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from starlette.exceptions import HTTPException

from ..backends.unavailable import unavailable_errors
from ..domain.errors import (
    Conflict,
    DomainError,
    Forbidden,
    InvalidTransition,
    InvalidValue,
    NotFound,
)

log = logging.getLogger(__name__)

MEDIA_TYPE = "application/problem+json"

_STATUS_OF_DOMAIN_ERROR: dict[type[DomainError], int] = {
    NotFound: 404,
    Forbidden: 403,
    InvalidTransition: 409,
    Conflict: 409,
    InvalidValue: 422,
}


class Problem(Exception):
    """Raise from a route to answer with a problem response."""

    def __init__(
        self,
        status: int,
        detail: str,
        *,
        code: str | None = None,
        headers: dict[str, str] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.code = code
        self.headers = headers
        self.extra = extra


_PROBLEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["type", "title", "status", "detail"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["in", "field", "detail"],
                "properties": {
                    "in": {"type": "string"},
                    "field": {"type": "string"},
                    "detail": {"type": "string"},
                },
            },
        },
    },
}


def documented(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """A route's `responses=` for the problem responses it can answer with, so the OpenAPI
    document lists them as application/problem+json (FastAPI's default 422 body is not ours)."""
    return {
        status: {
            "description": HTTPStatus(status).phrase,
            "content": {MEDIA_TYPE: {"schema": _PROBLEM_SCHEMA}},
        }
        for status in statuses
    }


def problem_response(
    status: int,
    detail: str,
    *,
    code: str | None = None,
    headers: Mapping[str, str] | None = None,
    **extra: Any,
) -> Response:
    body = {
        "type": f"urn:party-engine:problem:{code}" if code else "about:blank",
        "title": HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
        **extra,
    }
    return Response(orjson.dumps(body), status, headers=headers, media_type=MEDIA_TYPE)


def _field_errors(error: RequestValidationError) -> list[dict[str, str]]:
    fields = []
    for item in error.errors():
        location, *path = item["loc"]
        fields.append(
            {
                "in": str(location),
                "field": ".".join(str(part) for part in path) or str(location),
                "detail": item["msg"],
            }
        )
    return fields


async def _on_validation_error(request: Request, error: RequestValidationError) -> Response:
    if any(item["type"] == "json_invalid" for item in error.errors()):
        return problem_response(400, "the request body is not valid JSON", code="malformed_json")
    return problem_response(
        422, "some fields are invalid", code="invalid_fields", errors=_field_errors(error)
    )


async def _on_domain_error(request: Request, error: DomainError) -> Response:
    status = _STATUS_OF_DOMAIN_ERROR.get(type(error), 400)
    extra: dict[str, Any] = {}
    if isinstance(error, InvalidValue) and error.field:
        extra["errors"] = [{"in": error.location, "field": error.field, "detail": error.message}]
    return problem_response(status, error.message, code=error.code, **extra)


async def _on_problem(request: Request, problem: Problem) -> Response:
    return problem_response(
        problem.status, problem.detail, code=problem.code, headers=problem.headers, **problem.extra
    )


async def _on_http_exception(request: Request, error: HTTPException) -> Response:
    return problem_response(error.status_code, str(error.detail), headers=error.headers)


async def _on_unavailable(request: Request, error: Exception) -> Response:
    log.warning("%s %s: a backend is unavailable: %r", request.method, request.url.path, error)
    return problem_response(
        503,
        "a backend this request needs is unavailable; try again shortly",
        code="unavailable",
        headers={"Retry-After": "1"},
    )


async def _on_unexpected(request: Request, error: Exception) -> Response:
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    return problem_response(500, "the server failed to handle this request", code="internal")


def install(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, _on_validation_error)  # type: ignore[arg-type]
    app.add_exception_handler(DomainError, _on_domain_error)  # type: ignore[arg-type]
    app.add_exception_handler(Problem, _on_problem)  # type: ignore[arg-type]
    app.add_exception_handler(HTTPException, _on_http_exception)  # type: ignore[arg-type]
    for error_type in unavailable_errors():  # after the engine opened its backends
        app.add_exception_handler(error_type, _on_unavailable)
    app.add_exception_handler(Exception, _on_unexpected)
