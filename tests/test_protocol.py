"""The wire format: what each client frame decodes to, what each bad one gets, and that every
server frame the encoders write is one the schema allows."""

import json
import re
from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator, ValidationError, validators

from party_engine.api.models import MAX_IMAGE_URL_LENGTH, MAX_IMAGE_URLS, ListingCreate
from party_engine.backends.items import splice_front
from party_engine.domain.listings import PUBLIC_FIELDS, Listing
from party_engine.domain.parties import PartyState
from party_engine.ports import StreamPosition
from party_engine.protocol import (
    MAX_SHARE_ITEM_BYTES,
    SHARED_LISTING_FIELDS,
    Auth,
    Join,
    Leave,
    Like,
    Ping,
    ProtocolError,
    Share,
    decode_client_frame,
    encode_ack,
    encode_drain,
    encode_error,
    encode_events,
    encode_events_from_encoded_items,
    encode_joined,
    encode_like_item,
    encode_party_state,
    encode_pong,
    encode_presence,
    encode_share_item,
    load_schema,
)

SCHEMAS = Path(__file__).parents[1] / "schemas"
CLIENT_SCHEMA = load_schema("ws-client.schema.json")
SERVER_SCHEMA = load_schema("ws-server.schema.json")
SERVER = Draft202012Validator(SERVER_SCHEMA, format_checker=Draft202012Validator.FORMAT_CHECKER)
MAX_SAFE = 2**53 - 1


def _ecma_pattern(validator, pattern, instance, schema):
    # JSON Schema patterns are ECMA-262 regexes, where "$" does not match before a final newline.
    # Python's "$" does, so plain jsonschema would let "p1\n" through; fastjsonschema does not.
    if validator.is_type(instance, "string") and not re.search(
        pattern.replace("$", r"\Z"), instance
    ):
        yield ValidationError(f"{instance!r} does not match {pattern!r}")


# The reference reading of the client schema: the whole oneOf, by jsonschema.
CLIENT_REFERENCE = validators.extend(Draft202012Validator, {"pattern": _ecma_pattern})(
    CLIENT_SCHEMA
)


def refused(raw: str | bytes) -> ProtocolError:
    with pytest.raises(ProtocolError) as caught:
        decode_client_frame(raw)
    assert caught.value.code == "bad_frame"
    return caught.value


def server_frame(data: bytes) -> dict:
    frame = orjson.loads(data)
    SERVER.validate(frame)
    return frame


# --- the schemas themselves -------------------------------------------------------------


@pytest.mark.parametrize("schema", [CLIENT_SCHEMA, SERVER_SCHEMA], ids=["client", "server"])
def test_each_schema_is_a_valid_draft_2020_12_schema(schema):
    Draft202012Validator.check_schema(schema)


def test_load_schema_reads_the_files_in_schemas():
    assert CLIENT_SCHEMA == json.loads((SCHEMAS / "ws-client.schema.json").read_text())


def test_the_asyncapi_document_describes_ws_with_both_schemas():
    document = yaml.safe_load((SCHEMAS / "asyncapi.yaml").read_text())
    assert document["asyncapi"].startswith("3.")
    assert document["channels"]["socket"]["address"] == "/ws"
    payloads = [m["payload"]["schema"]["$ref"] for m in document["components"]["messages"].values()]
    assert payloads == ["./ws-client.schema.json", "./ws-server.schema.json"]
    assert all((SCHEMAS / ref).is_file() for ref in payloads)


# --- good frames --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("frame", "decoded"),
    [
        ({"type": "join", "party": "p1"}, Join("p1")),
        (
            {"type": "join", "id": "j-1", "party": "p1", "since": {"offset": 0, "epoch": "e1"}},
            Join("p1", StreamPosition(0, "e1"), "j-1"),
        ),
        ({"type": "leave", "id": 3, "party": "p1"}, Leave("p1", 3)),
        (
            {"type": "share", "id": "s", "party": "Party_1-x", "listing": "l" * 64},
            Share("Party_1-x", "l" * 64, "s"),
        ),
        ({"type": "like", "party": "p1", "share": MAX_SAFE}, Like("p1", MAX_SAFE)),
        ({"type": "ping"}, Ping()),
        ({"type": "ping", "id": -MAX_SAFE}, Ping(-MAX_SAFE)),
        ({"type": "auth", "token": "eyJ.a.b", "id": "a1"}, Auth("eyJ.a.b", "a1")),
    ],
)
@pytest.mark.parametrize("as_text", [False, True], ids=["bytes", "str"])
def test_each_valid_frame_decodes_to_its_dataclass(frame, decoded, as_text):
    raw = orjson.dumps(frame)
    assert decode_client_frame(raw.decode() if as_text else raw) == decoded


def test_whole_floats_count_as_integers_and_come_out_as_int():
    frame = decode_client_frame(
        '{"type": "join", "id": 7.0, "party": "p1", "since": {"offset": 3.0, "epoch": "e"}}'
    )
    assert frame == Join("p1", StreamPosition(3, "e"), 7)
    assert type(frame.since.offset) is int and type(frame.id) is int
    assert type(decode_client_frame('{"type":"like","party":"p","share":2.0}').share) is int


# --- bad frames ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("[1, 2]", "frame: must be a JSON object"),
        ('"ping"', "frame: must be a JSON object"),
        ("{}", "frame.type: required"),
        (
            '{"type": "dance"}',
            "frame.type: must be one of join, leave, share, like, ping, auth, pick, unpick",
        ),
        (
            '{"type": null}',
            "frame.type: must be one of join, leave, share, like, ping, auth, pick, unpick",
        ),
        (
            '{"type": ["join"]}',
            "frame.type: must be one of join, leave, share, like, ping, auth, pick, unpick",
        ),
        ('{"type": "join"}', "join.party: required"),
        ('{"type": "share", "party": "p1"}', "share.listing: required"),
        ('{"type": "like", "party": "p1"}', "like.share: required"),
        ('{"type": "join", "party": "p1", "since": {"epoch": "e"}}', "join.since.offset: required"),
        (
            '{"type": "join", "party": "p1", "since": {"offset": "1", "epoch": "e"}}',
            "join.since.offset: must be integer",
        ),
        (
            '{"type": "join", "party": "p1", "since": {"offset": -1, "epoch": "e"}}',
            "join.since.offset: must be bigger than or equal to 0",
        ),
        (
            '{"type": "join", "party": "p1", "since": {"offset": 1, "epoch": ""}}',
            "join.since.epoch: must be longer than or equal to 1 characters",
        ),
        ('{"type": "join", "party": "p1", "since": null}', "join.since: must be object"),
        (
            '{"type": "like", "party": "p1", "share": 0}',
            "like.share: must be bigger than or equal to 1",
        ),
        ('{"type": "like", "party": "p1", "share": 1.5}', "like.share: must be integer"),
        ('{"type": "like", "party": "p1", "share": true}', "like.share: must be integer"),
        ('{"type": "leave", "party": 12}', "leave.party: must be string"),
        ('{"type": "ping", "extra": 1}', "ping.extra: not allowed"),
        ('{"type": "leave", "party": "p1", "listing": "l1"}', "leave.listing: not allowed"),
        (
            '{"type": "join", "party": "p1", "since": {"offset": 1, "epoch": "e", "x": 0}}',
            "join.since.x: not allowed",
        ),
        ('{"type": "ping", "id": ""}', "ping.id: must be longer than or equal to 1 characters"),
        ('{"type": "ping", "id": true}', "ping.id: must be string or integer"),
        ('{"type": "ping", "id": {"a": 1}}', "ping.id: must be string or integer"),
    ],
)
def test_each_bad_frame_gets_bad_frame_naming_the_field(raw, message):
    assert refused(raw).message == message


@pytest.mark.parametrize(
    "party",
    ["", "p 1", "p/1", "p\u00e91", "p1\n", "\np1", "p" * 65],
    ids=["empty", "space", "slash", "non-ascii", "trailing-newline", "leading-newline", "65-chars"],
)
def test_party_and_listing_ids_must_be_1_to_64_url_safe_characters(party):
    pattern = "must match pattern ^[A-Za-z0-9_-]{1,64}$"
    leave = {"type": "leave", "party": party}
    assert refused(orjson.dumps(leave)).message == f"leave.party: {pattern}"
    share = {"type": "share", "party": "p1", "listing": party}
    assert refused(orjson.dumps(share)).message == f"share.listing: {pattern}"


@pytest.mark.parametrize(
    "raw",
    [
        b"not json",
        b"",
        b"{",
        b'{"type": "ping"} x',
        b"\xff\xfe",
        b"NaN",
        b'{"type": "like", "party": "p1", "share": 1e400}',
        b'{"type": "like", "party": "p1", "share": 1' + b"0" * 400 + b"}",
    ],
    ids=["words", "empty", "unclosed", "trailing", "not-utf8", "nan", "1e400", "400-digits"],
)
def test_text_that_is_not_utf8_json_is_a_bad_frame(raw):
    assert refused(raw).message.startswith("frame: not valid JSON (")


@pytest.mark.parametrize(
    "number",
    ["9007199254740992", "18446744073709551615", "18446744073709551616", "1e300"],
)
def test_integers_past_what_a_javascript_number_holds_are_refused(number):
    like = refused(f'{{"type": "like", "party": "p1", "share": {number}}}')
    assert like.message == f"like.share: must be smaller than or equal to {MAX_SAFE}"
    join = refused(
        f'{{"type": "join", "party": "p1", "since": {{"offset": {number}, "epoch": "e"}}}}'
    )
    assert join.message == f"join.since.offset: must be smaller than or equal to {MAX_SAFE}"
    ping = refused(f'{{"type": "ping", "id": -{number}}}')
    assert ping.message == f"ping.id: must be bigger than or equal to {-MAX_SAFE}"
    assert ping.frame_id is None


def test_deep_nesting_is_a_bad_frame_not_a_recursion_error():
    assert refused(b"[" * 100_000 + b"]" * 100_000).message.startswith("frame: not valid JSON")
    deep = b'{"type": "join", "party": "p1", "since": ' + b"[" * 1000 + b"]" * 1000 + b"}"
    assert refused(deep).message == "join.since: must be object"


# --- the id comes back with the error when it can be read ---------------------------------


@pytest.mark.parametrize(
    ("raw", "frame_id"),
    [
        ('{"type": "share", "id": "abc", "party": "p1"}', "abc"),
        ('{"type": "dance", "id": 7}', 7),
        ('{"id": 7}', 7),
        ('{"type": "like", "id": 7.0, "party": "p1", "share": "x"}', 7),
        ('{"type": "ping", "id": 7, "extra": true}', 7),
        ('{"type": "share", "id": "", "party": "p1"}', None),
        ('{"type": "share", "id": "' + "i" * 65 + '", "party": "p1"}', None),
        ('{"type": "share", "id": 1.5, "party": "p1"}', None),
        ('{"type": "share", "id": [7], "party": "p1"}', None),
        ('{"type": "share", "party": "p1"}', None),
    ],
)
def test_the_error_carries_the_frame_id_when_it_is_a_valid_id(raw, frame_id):
    error = refused(raw)
    assert error.frame_id == frame_id
    assert type(error.frame_id) is type(frame_id)


# --- whatever arrives, the answer is a frame or ProtocolError -----------------------------

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)
entity_ids = st.from_regex(r"[A-Za-z0-9_-]{1,64}", fullmatch=True)
offsets = st.integers(0, MAX_SAFE)
positions = st.fixed_dictionaries({"offset": offsets, "epoch": st.text(min_size=1, max_size=64)})
optional_id = {"id": st.text(min_size=1, max_size=64) | st.integers(-MAX_SAFE, MAX_SAFE)}
valid_frames = st.one_of(
    st.fixed_dictionaries(
        {"type": st.just("join"), "party": entity_ids}, optional=optional_id | {"since": positions}
    ),
    st.fixed_dictionaries({"type": st.just("leave"), "party": entity_ids}, optional=optional_id),
    st.fixed_dictionaries(
        {"type": st.just("share"), "party": entity_ids, "listing": entity_ids},
        optional=optional_id,
    ),
    st.fixed_dictionaries(
        {"type": st.just("like"), "party": entity_ids, "share": st.integers(1, MAX_SAFE)},
        optional=optional_id,
    ),
    st.fixed_dictionaries({"type": st.just("ping")}, optional=optional_id),
)
edge_values = st.sampled_from(
    [-1, 0, 1, 1.0, 1.5, MAX_SAFE, MAX_SAFE + 1, -MAX_SAFE - 1, 2**64, True, None, "", "p1\n"]
)
FIELDS = ["type", "id", "party", "listing", "share", "since", "offset", "epoch", "extra"]


@st.composite
def near_valid_frames(draw) -> dict:
    """A valid frame, often with one field dropped, added or changed (maybe inside "since"),
    so that fuzzing reaches each branch's rules and their edges, not only "type"."""
    frame = draw(valid_frames)
    field = draw(st.sampled_from(FIELDS))
    target = frame["since"] if field in ("offset", "epoch") and "since" in frame else frame
    change = draw(st.sampled_from(["none", "drop", "set"]))
    if change == "drop":
        target.pop(field, None)
    elif change == "set":
        target[field] = draw(edge_values | st.text(max_size=66) | json_values)
    return frame


def decode_or_refuse(raw: str | bytes) -> bool:
    """True if the frame decoded; ProtocolError is the only other outcome allowed."""
    try:
        decode_client_frame(raw)
    except ProtocolError as error:
        assert error.code == "bad_frame" and error.message
        return False
    return True


@settings(deadline=None)
@given(st.binary())
def test_arbitrary_bytes_never_raise_anything_but_protocol_error(raw):
    decode_or_refuse(raw)


@settings(deadline=None)
@given(st.text())
def test_arbitrary_text_never_raises_anything_but_protocol_error(raw):
    decode_or_refuse(raw)


@settings(deadline=None, max_examples=300)
@given(json_values | near_valid_frames())
def test_a_json_value_decodes_exactly_when_the_whole_client_schema_accepts_it(value):
    assert decode_or_refuse(json.dumps(value)) == CLIENT_REFERENCE.is_valid(value)


# --- server frames ------------------------------------------------------------------------

AT = "2025-03-01T18:30:00.123456+00:00"
LISTING = {
    "id": "l1",
    "title": "Gazelle",
    "brand": "Adidas",
    "category": "shoes",
    "price_cents": 8900,
    "currency": "EUR",
    "image_urls": ["https://img.example/l1.jpg"],
    "size": "42",  # fields beyond the listed ones are allowed
}
SHARE_ITEM = {"offset": 5, "kind": "share", "share": 5, "listing": LISTING, "user": "u1", "at": AT}
LIKE_ITEM = {"offset": 6, "kind": "like", "share": 5, "user": "u2", "likes": 1, "at": AT}


def test_joined_carries_snapshot_and_position_and_says_recovered_only_when_told():
    snapshot = {"state": "live", "shares": [SHARE_ITEM], "likes": {5: 1}, "presence": 2}
    frame = server_frame(encode_joined("p1", snapshot, 6, "e1", None))
    assert frame == {
        "type": "joined",
        "party": "p1",
        "snapshot": {"state": "live", "shares": [SHARE_ITEM], "likes": {"5": 1}, "presence": 2},
        "position": {"offset": 6, "epoch": "e1"},
    }
    assert server_frame(encode_joined("p1", snapshot, 6, "e1", False))["recovered"] is False
    empty = {"state": "scheduled", "shares": [], "likes": {}, "presence": 0}
    assert server_frame(encode_joined("p1", empty, 0, "e1", True))["recovered"] is True


def test_events_batch_share_and_like_items():
    frame = server_frame(encode_events("p1", [SHARE_ITEM, LIKE_ITEM]))
    assert frame == {"type": "events", "party": "p1", "items": [SHARE_ITEM, LIKE_ITEM]}


@pytest.mark.parametrize("items", [[SHARE_ITEM], [SHARE_ITEM, LIKE_ITEM, LIKE_ITEM]])
def test_events_from_encoded_items_are_the_same_bytes_as_encode_events(items):
    encoded = [orjson.dumps(item) for item in items]
    assert encode_events_from_encoded_items("p1", encoded) == encode_events("p1", items)


# --- share and like items ----------------------------------------------------------------

GAZELLE = Listing(
    id="l1",
    seller_id="seller-1",
    title="Gazelle",
    brand="Adidas",
    category="shoes",
    price_cents=8900,
    currency="EUR",
    image_urls=("https://img.example/l1.jpg",),
    size="42",
    tags=("retro",),
    created_at=1.5,
)
AT_TIME = datetime(2025, 3, 1, 18, 30, 0, 123456, tzinfo=UTC)


def as_published(item: bytes, *front: tuple[str, int]) -> dict:
    """The item the way the broker publishes it (offsets spliced in front), checked against the
    server schema inside an events frame."""
    published = splice_front(item, list(front))
    frame = server_frame(encode_events_from_encoded_items("p1", [published]))
    return frame["items"][0]


def test_a_share_item_is_the_listings_shared_fields_the_sharer_and_the_time():
    item = encode_share_item(GAZELLE, "u1", AT_TIME)
    assert item == (
        b'{"kind":"share","listing":{"id":"l1","title":"Gazelle","brand":"Adidas",'
        b'"category":"shoes","price_cents":8900,"currency":"EUR",'
        b'"image_urls":["https://img.example/l1.jpg"]},"user":"u1","at":"' + AT.encode() + b'"}'
    )
    assert as_published(item, ("offset", 5), ("share", 5)) == SHARE_ITEM | {
        "listing": {k: v for k, v in LISTING.items() if k != "size"}
    }


@pytest.mark.parametrize(
    "listing",
    [
        GAZELLE,
        Listing("l-2_x", "s", 'Tee "\u00e9"\n', "", "", 0, "USD"),  # no images, odd text
        Listing("l3", "s", "Bag", "Prada", "bags", 10**12, "JPY", ("a", "b", "c")),
    ],
    ids=["full", "bare", "many-images"],
)
def test_each_share_item_has_what_the_console_and_clients_read(listing):
    item = as_published(encode_share_item(listing, "u1", AT_TIME), ("offset", 9), ("share", 9))
    # party_engine/console/static/live/feed.js: kind, offset, share, user, at, and the listing's
    # title, brand, price_cents, currency and image_urls[0].
    assert (item["kind"], item["offset"], item["share"]) == ("share", 9, 9)
    assert (item["user"], item["at"]) == ("u1", AT)
    assert item["listing"] == {name: getattr(listing, name) for name in SHARED_LISTING_FIELDS} | {
        "image_urls": list(listing.image_urls)
    }


def test_a_share_item_of_the_largest_listing_the_api_accepts_stays_within_its_bound():
    # Every text at its longest, of characters JSON escapes to 6 bytes (strip_whitespace keeps
    # control characters), and every image URL at its longest.
    body = ListingCreate(
        title="\x01" * 200,
        brand="\x01" * 100,
        category="\x01" * 100,
        size="\x01" * 32,
        price_cents=100_000_000,
        currency="EUR",
        image_urls=["https://" + "~" * (MAX_IMAGE_URL_LENGTH - 8)] * MAX_IMAGE_URLS,
        tags=["\x01" * 50] * 20,
    )
    longest_id = "x" * 64  # domain.ids.ID_PATTERN
    listing = Listing.from_public_fields(
        {"id": longest_id, "seller_id": longest_id, **body.model_dump()}, created_at=0.0
    )
    at = datetime(2031, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC)
    item = encode_share_item(listing, longest_id, at)
    published = splice_front(item, [("offset", 2**53), ("share", 2**53)])
    assert len(item) > MAX_SHARE_ITEM_BYTES * 3 // 4  # the bound is near what an item reaches
    assert len(published) <= MAX_SHARE_ITEM_BYTES


def test_the_share_item_carries_the_listing_fields_the_server_schema_requires():
    required = SERVER_SCHEMA["$defs"]["listing"]["required"]
    assert list(SHARED_LISTING_FIELDS) == required
    assert set(SHARED_LISTING_FIELDS) <= set(PUBLIC_FIELDS)


def test_a_like_item_is_the_liker_and_the_time():
    item = encode_like_item("u2", AT_TIME)
    assert item == b'{"kind":"like","user":"u2","at":"' + AT.encode() + b'"}'
    assert as_published(item, ("offset", 6), ("share", 5), ("likes", 1)) == LIKE_ITEM


def test_items_without_their_offsets_are_not_yet_valid_events():
    for item in (encode_share_item(GAZELLE, "u1", AT_TIME), encode_like_item("u2", AT_TIME)):
        assert not SERVER.is_valid(orjson.loads(encode_events_from_encoded_items("p1", [item])))


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (encode_presence("p1", 50_000), {"type": "presence", "party": "p1", "count": 50_000}),
        (encode_party_state("p1", "live"), {"type": "party", "party": "p1", "state": "live"}),
        (
            encode_party_state("p1", PartyState.CANCELLED),
            {"type": "party", "party": "p1", "state": "cancelled"},
        ),
        (encode_ack("a1"), {"type": "ack", "id": "a1"}),
        (encode_ack(7, offset=12), {"type": "ack", "id": 7, "offset": 12}),
        (
            encode_error("bad_frame", "share.listing: required"),
            {"type": "error", "code": "bad_frame", "message": "share.listing: required"},
        ),
        (
            encode_error("rate_limited", "slow down", frame_id="s1", retry_after_ms=1500),
            {
                "type": "error",
                "code": "rate_limited",
                "message": "slow down",
                "id": "s1",
                "retry_after_ms": 1500,
            },
        ),
        (
            encode_error("too_many_parties", "leave one first", frame_id=3),
            {"type": "error", "code": "too_many_parties", "message": "leave one first", "id": 3},
        ),
        (encode_drain(2500), {"type": "drain", "retry_after_ms": 2500}),
        (encode_pong(), {"type": "pong"}),
        (encode_pong("x"), {"type": "pong", "id": "x"}),
    ],
)
def test_each_encoder_writes_a_frame_the_server_schema_allows(data, expected):
    assert isinstance(data, bytes)
    assert server_frame(data) == expected


@pytest.mark.parametrize(
    "frame",
    [
        orjson.loads(encode_events("p1", [])),
        orjson.loads(encode_events("p1", [{**LIKE_ITEM, "at": "yesterday"}])),
        orjson.loads(encode_events("p1", [{k: v for k, v in SHARE_ITEM.items() if k != "user"}])),
        orjson.loads(encode_error("teapot", "no")),
        orjson.loads(encode_ack(None)),
        orjson.loads(encode_party_state("p1", "paused")),
        {"type": "presence", "party": "p1", "count": 3, "extra": 1},
        {"type": "hello"},
    ],
    ids=[
        "empty-batch",
        "bad-timestamp",
        "share-without-user",
        "unknown-error-code",
        "ack-without-id",
        "unknown-state",
        "extra-field",
        "unknown-type",
    ],
)
def test_the_server_schema_refuses_what_the_protocol_does_not_allow(frame):
    assert not SERVER.is_valid(frame)


def test_an_auth_frame_keeps_its_token_out_of_its_repr():
    frame = decode_client_frame('{"type": "auth", "token": "eyJ.secret.sig"}')
    assert frame == Auth("eyJ.secret.sig") and "secret" not in repr(frame)
