"""Who is calling: the bearer token as a FastAPI dependency."""

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from ..tokens import InvalidToken, Principal, UserRole, verify_token
from .problems import Problem

_bearer = HTTPBearer(auto_error=False, description="A JWT from `party-engine token`")


def current_user(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    if credentials is None:
        raise Problem(
            401,
            "send Authorization: Bearer <token>",
            code="unauthenticated",
            headers={"WWW-Authenticate": "Bearer"},
        )
    try:
        return verify_token(request.app.state.engine.settings.token_rules, credentials.credentials)
    except InvalidToken as error:
        raise Problem(401, f"invalid token: {error}", code="unauthenticated") from error


def current_host(user: Annotated[Principal, Depends(current_user)]) -> Principal:
    if user.role is not UserRole.HOST:
        raise Problem(403, "only hosts may do this", code="forbidden")
    return user


User = Annotated[Principal, Depends(current_user)]
Host = Annotated[Principal, Depends(current_host)]
