"""Bearer tokens: HS256 JWTs whose `sub` is the user id and `role` is host or shopper."""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum

import jwt


class UserRole(StrEnum):
    HOST = "host"
    SHOPPER = "shopper"


@dataclass(frozen=True, slots=True)
class Principal:
    user_id: str
    role: UserRole


class InvalidToken(Exception):
    pass


def issue_token(
    secret: str, user_id: str, role: UserRole, ttl: timedelta = timedelta(days=1)
) -> str:
    now = datetime.now(UTC)
    claims = {"sub": user_id, "role": role.value, "iat": now, "exp": now + ttl}
    return jwt.encode(claims, secret, algorithm="HS256")


def verify_token(secret: str, token: str) -> Principal:
    try:
        claims = jwt.decode(
            token, secret, algorithms=["HS256"], options={"require": ["sub", "role", "exp"]}
        )
        return Principal(user_id=str(claims["sub"]), role=UserRole(claims["role"]))
    except (jwt.PyJWTError, ValueError) as error:
        raise InvalidToken(str(error)) from error
