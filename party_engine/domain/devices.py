"""Devices that receive mobile push, and the notices pushed to them."""

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from .errors import InvalidValue

# APNs tokens are 64 hex characters and FCM registration tokens a few hundred; SNS refuses
# tokens much longer than this, so a longer one is a client bug, not a device.
MAX_TOKEN_LENGTH = 4096

# Each user's notice log keeps this many of the newest notices.
NOTICES_KEPT = 100


class Platform(StrEnum):
    APNS = "apns"
    FCM = "fcm"


@dataclass(frozen=True, slots=True)
class Device:
    """One app install of one user. `endpoint_arn` is the SNS platform endpoint (None when
    push is embedded); a token belongs to at most one device."""

    id: str
    user_id: str
    platform: Platform
    token: str
    created_at: datetime
    endpoint_arn: str | None = None


@dataclass(frozen=True, slots=True)
class SentNotice:
    """A push as recorded for a user: what `GET /me/notifications` lists."""

    id: str
    title: str
    body: str
    data: dict[str, str]
    at: datetime


def validate_token(token: str) -> str:
    token = token.strip()
    if not token:
        raise InvalidValue("token must not be empty", field="token")
    if len(token) > MAX_TOKEN_LENGTH:
        raise InvalidValue(f"token is longer than {MAX_TOKEN_LENGTH} characters", field="token")
    if any(char.isspace() or not char.isprintable() for char in token):
        raise InvalidValue("token must not contain spaces or control characters", field="token")
    return token
