"""Hypothesis strategies for WebSocket client frames, derived from schemas/ws-client.schema.json:
valid frames of every type the schema lists, and invalid ones (wrong types, unknown `type`,
random JSON, non-JSON text, binary, deep nesting, frames padded to around the size limit).

A small generator for the JSON Schema keywords the wire schemas use rather than
hypothesis-jsonschema, whose 0.23.1 fails on the hypothesis this project runs
(`'many' object has no attribute 'more'`); a keyword it does not know fails loudly, so a schema
change it cannot follow is noticed instead of generating the wrong frames."""

import json
import re
from typing import Any

import orjson
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from party_engine.protocol import load_schema

CLIENT_SCHEMA = load_schema("ws-client.schema.json")
SERVER_SCHEMA = load_schema("ws-server.schema.json")
CLIENT = Draft202012Validator(CLIENT_SCHEMA)
SERVER = Draft202012Validator(SERVER_SCHEMA)
FRAME_ID = Draft202012Validator({"$defs": CLIENT_SCHEMA["$defs"], "$ref": "#/$defs/frameId"})

_ANNOTATIONS = {"description", "title", "$schema", "$id", "$defs", "examples", "default"}
_JS_MAX_SAFE = 2**53 - 1

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=12,
)


def _resolve(schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        ref = schema["$ref"]
        if not ref.startswith("#/$defs/") or len(schema) > 1:
            raise NotImplementedError(
                f"ws_frames: a $ref beside other keywords or not local: {ref}"
            )
        schema = CLIENT_SCHEMA["$defs"][ref.removeprefix("#/$defs/")]
    return schema


def from_schema(schema: dict[str, Any]) -> st.SearchStrategy[Any]:
    """Values that `schema` (a part of the client schema) accepts."""
    schema = _resolve(schema)
    keywords = set(schema) - _ANNOTATIONS
    if "const" in schema:
        return st.just(schema["const"])
    if "enum" in schema:
        return st.sampled_from(schema["enum"])
    if "oneOf" in schema or "anyOf" in schema:
        return st.one_of(
            [from_schema(branch) for branch in schema.get("oneOf", schema.get("anyOf"))]
        )
    kind = schema.get("type")
    if isinstance(kind, list):
        return st.one_of([from_schema({**schema, "type": one}) for one in kind])
    if kind == "string":
        _known(keywords, {"type", "pattern", "minLength", "maxLength", "minimum", "maximum"})
        low, high = schema.get("minLength", 0), schema.get("maxLength", 80)
        if "pattern" in schema:
            # JSON Schema patterns search; an anchored one must match the whole string.
            return st.from_regex(re.compile(schema["pattern"])).filter(
                lambda text: low <= len(text) <= high
            )
        return st.text(min_size=low, max_size=high)
    if kind == "integer":
        _known(keywords, {"type", "minimum", "maximum", "minLength", "maxLength"})
        return st.integers(
            schema.get("minimum", -_JS_MAX_SAFE), schema.get("maximum", _JS_MAX_SAFE)
        )
    if kind == "boolean":
        return st.booleans()
    if kind == "null":
        return st.none()
    if kind == "object":
        _known(keywords, {"type", "properties", "required", "additionalProperties"})
        properties = schema.get("properties", {})
        required = {name: from_schema(properties[name]) for name in schema.get("required", [])}
        optional = {
            name: from_schema(sub) for name, sub in properties.items() if name not in required
        }
        return st.fixed_dictionaries(required, optional=optional)
    raise NotImplementedError(f"ws_frames: no generator for {schema}")


def _known(keywords: set[str], known: set[str]) -> None:
    if keywords - known:
        raise NotImplementedError(f"ws_frames: keywords {sorted(keywords - known)} not generated")


# Every frame type the schema lists, each with an id, so that its answer can be told apart.
valid_frames = st.one_of([from_schema(branch) for branch in CLIENT_SCHEMA["oneOf"]]).filter(
    CLIENT.is_valid
)
frame_ids = from_schema(CLIENT_SCHEMA["$defs"]["frameId"])


def steered(
    frames: st.SearchStrategy[dict[str, Any]], known: dict[str, st.SearchStrategy[Any]]
) -> st.SearchStrategy[dict[str, Any]]:
    """Frames that name the seeded party, listing, share or history position now and then
    (random ids only ever reach `party_not_found`): a field named in `known`, at any depth, is
    drawn from its strategy half the time. Every frame gets an id, so its answer can be told
    apart."""

    @st.composite
    def steer(draw: st.DrawFn) -> dict[str, Any]:
        def visit(value: Any) -> Any:
            if not isinstance(value, dict):
                return value
            return {
                key: draw(known[key]) if key in known and draw(st.booleans()) else visit(inner)
                for key, inner in value.items()
            }

        frame = visit(draw(frames))
        if "id" not in frame:
            frame["id"] = draw(frame_ids)
        return frame

    return steer().filter(CLIENT.is_valid)


def wrong_types(frames: st.SearchStrategy[dict[str, Any]]) -> st.SearchStrategy[dict[str, Any]]:
    """A valid frame with one field (maybe a new one) set to any JSON value, or without it."""

    @st.composite
    def mutate(draw: st.DrawFn) -> dict[str, Any]:
        frame = dict(draw(frames))
        key = draw(st.sampled_from(sorted(frame)) | st.text(max_size=8))
        if draw(st.booleans()):
            frame[key] = draw(json_values)
        else:
            frame.pop(key, None)
        return frame

    return mutate()


def unknown_types(frames: st.SearchStrategy[dict[str, Any]]) -> st.SearchStrategy[dict[str, Any]]:
    return st.builds(lambda frame, kind: {**frame, "type": kind}, frames, json_values)


def deep(max_bytes: int) -> st.SearchStrategy[bytes]:
    """Nested arrays or objects, alone or as a field of a frame, up to the frame size limit."""

    def nest(depth: int, inner: bytes, wrap: bool) -> bytes:
        nested = b"[" * depth + inner + b"]" * depth
        return b'{"type":"share","id":1,"party":"p","listing":' + nested + b"}" if wrap else nested

    return st.builds(
        nest,
        st.integers(1, max_bytes // 2 - 40),
        st.sampled_from([b"", b"1", b'{"a":[]}']),
        st.booleans(),
    )


def sized(frames: st.SearchStrategy[dict[str, Any]], max_bytes: int) -> st.SearchStrategy[bytes]:
    """A frame padded (in its `party`) to just under, at, or past the frame size limit."""

    def pad(frame: dict[str, Any], size: int) -> bytes:
        bare = orjson.dumps({**frame, "party": ""})
        return orjson.dumps({**frame, "party": "x" * max(0, size - len(bare))})

    sizes = st.integers(max_bytes - 2, max_bytes + 2) | st.integers(max_bytes, 2 * max_bytes)
    return st.builds(pad, frames, sizes)


def payloads(
    known: dict[str, st.SearchStrategy[Any]], max_bytes: int
) -> st.SearchStrategy[str | bytes]:
    """What a client may put in one WebSocket message: text frames, and binary ones."""
    frames = steered(valid_frames, known)
    as_text = json.dumps  # not orjson: integers past 64 bits are JSON too
    return st.one_of(
        frames.map(as_text),
        wrong_types(frames).map(as_text),
        unknown_types(frames).map(as_text),
        json_values.map(as_text),
        st.text(st.characters(exclude_categories=["Cs"]), max_size=200),
        st.binary(max_size=200),
        frames.map(orjson.dumps),
        deep(max_bytes).map(bytes.decode),
        sized(frames, max_bytes).map(bytes.decode),
    )
