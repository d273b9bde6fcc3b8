"""WebSocket wire format: decode and validate client frames, encode server frames. No I/O.

schemas/ws-client.schema.json is the single source of truth for what a client may send. Its top
level is a oneOf whose branches are told apart by a "type" const, so a frame is valid exactly when
the branch its "type" names accepts it. Decoding therefore runs only that branch, compiled by
fastjsonschema: a share frame decodes in about 3 us, where jsonschema takes 60-85 us for the one
branch and about 230 us for the whole oneOf (2-core EPYC, CPython 3.11). A failing branch also
says which field is wrong, which the whole oneOf cannot.

Server frames are encoded once with orjson and the bytes sent as they are; the hot path joins
already-encoded event items instead of encoding them again. A share or like item is encoded
here without its offsets; the broker splices "offset" and "share" (and a like's "likes") in
front when it gives the item its place in the party's stream.
"""

import copy
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from importlib import resources
from pathlib import Path
from typing import Any

import fastjsonschema
import orjson

from .domain.listings import Listing
from .ports import StreamPosition

FrameId = str | int


@dataclass(frozen=True, slots=True)
class Join:
    party: str
    since: StreamPosition | None = None
    id: FrameId | None = None


@dataclass(frozen=True, slots=True)
class Leave:
    party: str
    id: FrameId | None = None


@dataclass(frozen=True, slots=True)
class Share:
    party: str
    listing: str
    id: FrameId | None = None
    key: str | None = None  # idempotency key: a resend with it is answered with the first ack


@dataclass(frozen=True, slots=True)
class Like:
    party: str
    share: int
    id: FrameId | None = None
    key: str | None = None  # idempotency key, as a share's


@dataclass(frozen=True, slots=True)
class Ping:
    id: FrameId | None = None


@dataclass(frozen=True, slots=True)
class Auth:
    token: str = field(repr=False)
    id: FrameId | None = None


@dataclass(frozen=True, slots=True)
class Pick:
    """A host's pick (or unpick) of a share, from the console."""

    party: str
    share: int
    picked: bool  # false: an unpick frame
    id: FrameId | None = None


ClientFrame = Join | Leave | Share | Like | Ping | Auth | Pick


class ProtocolError(Exception):
    """A client frame was refused; `message` names the field, `frame_id` is echoed if readable."""

    def __init__(
        self, message: str, frame_id: FrameId | None = None, code: str = "bad_frame"
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.frame_id = frame_id


def load_schema(name: str) -> dict[str, Any]:
    """A wire schema by file name: the wheel ships schemas/ as party_engine/_schemas."""
    packaged = resources.files(__package__).joinpath("_schemas", name)
    source = packaged if packaged.is_file() else Path(__file__).parents[1] / "schemas" / name
    return orjson.loads(source.read_bytes())


def _no_remote(uri: str) -> Any:
    raise ValueError(f"{uri}: the wire schemas must not reference remote documents")


def _compile(schema: dict[str, Any], ref: str) -> Callable[[Any], Any]:
    """A validator for the part of `schema` at `ref` ("#/$defs/...")."""
    wrapper = {key: schema[key] for key in ("$schema", "$id", "$defs")} | {"$ref": ref}
    # fastjsonschema rewrites "$ref"s in place, hence the copy; refusing http(s) keeps the
    # network out of import time; use_default=False: checking a frame never changes it.
    return fastjsonschema.compile(
        copy.deepcopy(wrapper),
        handlers={"http": _no_remote, "https": _no_remote},
        use_default=False,
    )


def _branches(schema: dict[str, Any]) -> dict[str, str]:
    """Frame type -> ref of its branch. Running only that branch equals checking the oneOf as
    long as the top level holds nothing else and each branch requires its own const "type"."""
    if set(schema) - {"$schema", "$id", "title", "description", "$defs", "oneOf"}:
        raise RuntimeError("the client schema's top level must be only a oneOf of its $defs")
    branches = {}
    for option in schema["oneOf"]:
        branch = schema["$defs"][option["$ref"].removeprefix("#/$defs/")]
        if "type" not in branch["required"]:
            raise RuntimeError(f"client frame branch {option['$ref']} must require 'type'")
        branches[branch["properties"]["type"]["const"]] = option["$ref"]
    if len(branches) != len(schema["oneOf"]):
        raise RuntimeError("two client frame branches share a 'type'")
    return branches


def _frame_id(obj: dict[str, Any]) -> FrameId | None:
    value = obj.get("id")
    # JSON Schema counts 3.0 as an integer; the frames carry ints.
    return int(value) if isinstance(value, float) else value


def _position(since: dict[str, Any] | None) -> StreamPosition | None:
    return None if since is None else StreamPosition(int(since["offset"]), since["epoch"])


_BUILDERS: dict[str, Callable[[dict[str, Any]], ClientFrame]] = {
    "join": lambda o: Join(o["party"], _position(o.get("since")), _frame_id(o)),
    "leave": lambda o: Leave(o["party"], _frame_id(o)),
    "share": lambda o: Share(o["party"], o["listing"], _frame_id(o), o.get("key")),
    "like": lambda o: Like(o["party"], int(o["share"]), _frame_id(o), o.get("key")),
    "ping": lambda o: Ping(_frame_id(o)),
    "auth": lambda o: Auth(o["token"], _frame_id(o)),
    "pick": lambda o: Pick(o["party"], int(o["share"]), True, _frame_id(o)),
    "unpick": lambda o: Pick(o["party"], int(o["share"]), False, _frame_id(o)),
}

_CLIENT_SCHEMA = load_schema("ws-client.schema.json")
_VALIDATORS = {
    kind: _compile(_CLIENT_SCHEMA, ref) for kind, ref in _branches(_CLIENT_SCHEMA).items()
}
_validate_frame_id = _compile(_CLIENT_SCHEMA, "#/$defs/frameId")
if _VALIDATORS.keys() != _BUILDERS.keys():
    raise RuntimeError(f"client frame types {sorted(_VALIDATORS)} need a dataclass each")


def _readable_id(obj: dict[str, Any]) -> FrameId | None:
    if "id" not in obj:
        return None
    try:
        _validate_frame_id(obj["id"])
    except fastjsonschema.JsonSchemaValueException:
        return None
    return _frame_id(obj)


def _clip(name: str) -> str:
    return name if len(name) <= 64 else name[:61] + "..."


def _describe(kind: str, error: fastjsonschema.JsonSchemaValueException) -> str:
    """'<type>.<field>: <what is wrong>' from fastjsonschema's report of the first failure."""
    path = [kind, *error.path[1:]]  # error.path starts with fastjsonschema's own "data"
    if error.rule == "required":
        missing = next((name for name in error.rule_definition if name not in error.value), "?")
        return f"{'.'.join([*path, missing])}: required"
    if error.rule == "additionalProperties":
        known = error.definition.get("properties", {})
        unknown = next((name for name in error.value if name not in known), "?")
        return f"{'.'.join([*path, _clip(unknown)])}: not allowed"
    return f"{'.'.join(path)}: {error.message.removeprefix(error.name or '').strip()}"


def decode_client_frame(data: str | bytes) -> ClientFrame:
    """Parse and validate one client frame; any fault raises ProtocolError, nothing else."""
    try:
        obj = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise ProtocolError(f"frame: not valid JSON ({exc.msg})") from None
    if not isinstance(obj, dict):
        raise ProtocolError("frame: must be a JSON object")
    kind = obj.get("type")
    if not isinstance(kind, str) or (validate := _VALIDATORS.get(kind)) is None:
        reason = "required" if "type" not in obj else f"must be one of {', '.join(_VALIDATORS)}"
        raise ProtocolError(f"frame.type: {reason}", _readable_id(obj))
    try:
        validate(obj)
    except fastjsonschema.JsonSchemaValueException as exc:
        raise ProtocolError(_describe(kind, exc), _readable_id(obj)) from None
    return _BUILDERS[kind](obj)


def _dump(frame: dict[str, Any], **optional: Any) -> bytes:
    frame.update((key, value) for key, value in optional.items() if value is not None)
    return orjson.dumps(frame)


def encode_joined(
    party: str, snapshot: dict[str, Any], offset: int, epoch: str, recovered: bool | None = None
) -> bytes:
    """`snapshot["likes"]` may be keyed by int share offsets: they go out as strings."""
    frame: dict[str, Any] = {
        "type": "joined",
        "party": party,
        "snapshot": snapshot,
        "position": {"offset": offset, "epoch": epoch},
    }
    if recovered is not None:
        frame["recovered"] = recovered
    return orjson.dumps(frame, option=orjson.OPT_NON_STR_KEYS)


def encode_events(party: str, items: list[dict[str, Any]]) -> bytes:
    return orjson.dumps({"type": "events", "party": party, "items": items})


def encode_events_from_encoded_items(party: str, encoded_items: list[bytes]) -> bytes:
    """The events frame around items already encoded by `orjson.dumps(item)`, byte for byte
    what encode_events gives for the same items."""
    return (
        b'{"type":"events","party":'
        + orjson.dumps(party)
        + b',"items":['
        + b",".join(encoded_items)
        + b"]}"
    )


def encode_presence(party: str, count: int) -> bytes:
    return orjson.dumps({"type": "presence", "party": party, "count": count})


def encode_party_state(party: str, state: str) -> bytes:
    return orjson.dumps({"type": "party", "party": party, "state": state})


def encode_ack(frame_id: FrameId, offset: int | None = None) -> bytes:
    """Only for a frame that had an id: ack requires one (see ws-server.schema.json)."""
    return _dump({"type": "ack", "id": frame_id}, offset=offset)


def encode_error(
    code: str,
    message: str,
    frame_id: FrameId | None = None,
    retry_after_ms: int | None = None,
) -> bytes:
    return _dump(
        {"type": "error", "code": code, "message": message},
        id=frame_id,
        retry_after_ms=retry_after_ms,
    )


def encode_drain(retry_after_ms: int) -> bytes:
    return orjson.dumps({"type": "drain", "retry_after_ms": retry_after_ms})


def encode_pong(frame_id: FrameId | None = None) -> bytes:
    return _dump({"type": "pong"}, id=frame_id)


# What a share item carries of its listing, in this order: the public fields (see
# domain.listings.PUBLIC_FIELDS) that ws-server.schema.json's "listing" requires.
SHARED_LISTING_FIELDS = (
    "id",
    "title",
    "brand",
    "category",
    "price_cents",
    "currency",
    "image_urls",
)


# The most a share item can weigh, from the bounds of POST /listings (api/models.py: every
# text escaped at 6 bytes a character, 8 image URLs of 1,000 ASCII characters) and of ids;
# tests/test_protocol.py checks it. A snapshot holds at most 50 of them.
MAX_SHARE_ITEM_BYTES = 12 * 1024


def encode_share_item(listing: Listing, user_id: str, at: datetime) -> bytes:
    """A share item without "offset" and "share" (Broker.publish_share splices them in)."""
    public = listing.public_fields()
    return orjson.dumps(
        {
            "kind": "share",
            "listing": {name: public[name] for name in SHARED_LISTING_FIELDS},
            "user": user_id,
            "at": at.isoformat(),
        }
    )


def encode_like_item(user_id: str, at: datetime) -> bytes:
    """A like item without "offset", "share" and "likes" (Broker.publish_like splices them in)."""
    return orjson.dumps({"kind": "like", "user": user_id, "at": at.isoformat()})


# A host action's item kind on the wire (ws-server.schema.json), by ports.HostAction value.
HOST_ITEM_KINDS = {
    "pick": "pick",
    "unpick": "unpick",
    "remove": "removed",
    "mute": "mute",
    "unmute": "unmute",
}


def encode_host_item(
    action: str,
    user_id: str,
    at: datetime,
    *,
    target: str | None = None,
    until: datetime | None = None,
) -> bytes:
    """A host action's item without "offset" (and "share" for a share's: the broker splices
    them in). `target` is the muted or unmuted user; `until` when a mute ends (none: with the
    party)."""
    item: dict[str, Any] = {"kind": HOST_ITEM_KINDS[action], "user": user_id}
    if target is not None:
        item["target"] = target
        if action == "mute":
            item["until"] = until.isoformat() if until is not None else None
    item["at"] = at.isoformat()
    return orjson.dumps(item)
