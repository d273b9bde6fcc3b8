"""Domain events as JSON bytes on the queue: `{"type": <routing key>, "id": ..., ...}`.

Decoding checks every field, so a worker can tell a malformed body (and why) from a handler
failure and park it at once instead of retrying it.
"""

import dataclasses
import logging
from datetime import datetime
from typing import Any

import orjson

from ..domain.events import (
    DomainEvent,
    LikeCreated,
    PartyEnded,
    PartyJoined,
    PartyLeft,
    PartyReminder,
    PartyStarted,
    PushSent,
    PushWave,
    ShareCreated,
    SharePicked,
    ShareRemoved,
    ShareUnpicked,
)

EVENT_TYPES: dict[str, type[DomainEvent]] = {
    cls.routing_key: cls
    for cls in (
        ShareCreated,
        LikeCreated,
        SharePicked,
        ShareUnpicked,
        ShareRemoved,
        PartyStarted,
        PartyEnded,
        PartyReminder,
        PushWave,
        PushSent,
        PartyJoined,
        PartyLeft,
    )
}

log = logging.getLogger(__name__)

_PARSERS: dict[type, Any] = {str: str, int: int, datetime: datetime.fromisoformat}


class MalformedEvent(ValueError):
    """A body that is not a valid event; the message says what is wrong with it."""


def encode_event(event: DomainEvent) -> bytes:
    return orjson.dumps({"type": event.routing_key, **_fields(event)})


def encode_event_without(event: DomainEvent, *names: str) -> bytes:
    """The event without the named fields, for a Redis script to splice them in front."""
    fields = {name: value for name, value in _fields(event).items() if name not in names}
    return orjson.dumps({"type": event.routing_key, **fields})


def _fields(event: DomainEvent) -> dict[str, Any]:
    return {field.name: getattr(event, field.name) for field in dataclasses.fields(event)}


def decode_event(body: bytes) -> DomainEvent:
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as error:
        raise MalformedEvent(f"body is not JSON: {error}") from None
    if not isinstance(data, dict):
        raise MalformedEvent("body is not a JSON object")
    cls = EVENT_TYPES.get(data.get("type"))  # type: ignore[arg-type]
    if cls is None:
        raise MalformedEvent(f"unknown event type {data.get('type')!r}")
    values = {}
    for field in dataclasses.fields(cls):
        values[field.name] = _field(data, field.name, field.type)
    return cls(**values)


def _field(data: dict[str, Any], name: str, kind: Any) -> Any:
    if name not in data:
        raise MalformedEvent(f"missing field {name!r}")
    value = data[name]
    if kind is int:
        if not isinstance(value, int) or isinstance(value, bool):
            raise MalformedEvent(f"field {name!r} must be an integer")
        return value
    if not isinstance(value, str) or (kind is str and not value):
        raise MalformedEvent(f"field {name!r} must be a non-empty string")
    try:
        return _PARSERS[kind](value)
    except ValueError:
        raise MalformedEvent(f"field {name!r} is not a valid {kind.__name__}") from None


def decode_relayed(bodies: list[bytes]) -> list[DomainEvent]:
    """The events of outbox entries. Our own scripts wrote them, so a body that is no event is
    never expected; it is logged (it can never be delivered) and skipped."""
    events = []
    for body in bodies:
        try:
            events.append(decode_event(body))
        except MalformedEvent as error:
            log.error("dropping outbox entry %r: %s", body, error)
    return events
