"""Bearer tokens: HS256 JWTs whose `sub` is the user id and `role` is host or shopper."""

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum

import jwt

from .domain.ids import ID_PATTERN


class UserRole(StrEnum):
    HOST = "host"
    SHOPPER = "shopper"


@dataclass(frozen=True, slots=True)
class Principal:
    user_id: str
    role: UserRole


class InvalidToken(Exception):
    pass


@dataclass(frozen=True, slots=True)
class TokenRules:
    """What a token must satisfy here: signed with `secret`, and carrying `iss` / `aud` equal
    to these when they are set. `leeway_seconds` forgives clock skew between the issuer and
    this server on `exp`, `iat` and `nbf`."""

    secret: str
    issuer: str | None = None
    audience: str | None = None
    leeway_seconds: float = 30.0


def issue_token(
    secret: str,
    user_id: str,
    role: UserRole,
    ttl: timedelta = timedelta(days=1),
    *,
    issuer: str | None = None,
    audience: str | None = None,
) -> str:
    now = datetime.now(UTC)
    claims: dict[str, object] = {"sub": user_id, "role": role.value, "iat": now, "exp": now + ttl}
    if issuer:
        claims["iss"] = issuer
    if audience:
        claims["aud"] = audience
    return jwt.encode(claims, secret, algorithm="HS256")


def verify_token(rules: TokenRules, token: str) -> Principal:
    required = ["sub", "role", "exp"]
    required += ["iss"] if rules.issuer else []
    required += ["aud"] if rules.audience else []
    try:
        claims = jwt.decode(
            token,
            rules.secret,
            algorithms=["HS256"],
            issuer=rules.issuer,
            audience=rules.audience,
            leeway=rules.leeway_seconds,
            options={"require": required},
        )
        user_id = str(claims["sub"])
        if not re.match(ID_PATTERN, user_id):
            # A user id becomes part of Redis keys and of every share item (bounded in size).
            raise ValueError(f"sub must match {ID_PATTERN}")
        return Principal(user_id=user_id, role=UserRole(claims["role"]))
    except (jwt.PyJWTError, ValueError) as error:
        raise InvalidToken(str(error)) from error
