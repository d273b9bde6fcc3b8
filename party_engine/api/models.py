"""Request and response bodies of the HTTP API."""

from datetime import datetime
from typing import Annotated

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints
from pydantic_core import PydanticCustomError

from ..domain.listings import Listing
from ..domain.parties import (
    DEFAULT_DURATION_MINUTES,
    MAX_DURATION_MINUTES,
    MIN_DURATION_MINUTES,
    Party,
    PartyState,
)
from ..domain.themes import Theme, ThemeKind

# Unicode White_Space, spelt out: `\s` differs between the regexes of JSON Schema (ECMA 262:
# U+FEFF, not U+0085), of pydantic (Rust: the reverse) and Python's str.strip (also U+001C-1F).
_WHITE_SPACE = "\t\n\v\f\r \x85\xa0\u1680" + "".join(map(chr, range(0x2000, 0x200B)))
_WHITE_SPACE += "\u2028\u2029\u202f\u205f\u3000"
WHITE_SPACE_CLASS = "".join(f"\\u{ord(char):04x}" for char in _WHITE_SPACE)
# A text with something besides white space; checked with its length before it is stripped, so
# that the OpenAPI document states exactly what is accepted (" " is not a title, and 200
# characters of padding around one are too long).
NOT_BLANK = f"[^{WHITE_SPACE_CLASS}]"


def _not_blank_then_stripped(text: str) -> str:
    stripped = text.strip(_WHITE_SPACE)
    if not stripped:
        raise PydanticCustomError("blank", "must not be blank")
    return stripped


# The OpenAPI document states the pattern (DOCUMENTED_NOT_BLANK); the check itself is the
# validator (NOT_BLANK_STRIPPED), so that a person reads "must not be blank", not a regular
# expression of white space. Lengths are measured before stripping.
DOCUMENTED_NOT_BLANK = Field(json_schema_extra={"pattern": NOT_BLANK})
NOT_BLANK_STRIPPED = AfterValidator(_not_blank_then_stripped)
ShortText = Annotated[
    str, StringConstraints(min_length=1, max_length=200), DOCUMENTED_NOT_BLANK, NOT_BLANK_STRIPPED
]
Name = Annotated[
    str, StringConstraints(min_length=1, max_length=100), DOCUMENTED_NOT_BLANK, NOT_BLANK_STRIPPED
]
LongText = Annotated[str, StringConstraints(max_length=2000)]
# A listing's images: at most MAX_IMAGE_URLS, each printable ASCII (a URL's non-ASCII is
# percent-encoded) without '"' or '\' (so JSON never escapes it) and at most
# MAX_IMAGE_URL_LENGTH long: every share item carries them (protocol.MAX_SHARE_ITEM_BYTES).
# Printable ASCII has no white space past the scheme's "//", so the fuzzing's white-space
# concern is met by the character class itself.
MAX_IMAGE_URLS = 8
MAX_IMAGE_URL_LENGTH = 1000
ImageUrl = Annotated[
    str, StringConstraints(pattern=r"^https?://[!#-\[\]-~]+$", max_length=MAX_IMAGE_URL_LENGTH)
]
Tag = Annotated[
    str, StringConstraints(min_length=1, max_length=50), DOCUMENTED_NOT_BLANK, NOT_BLANK_STRIPPED
]
Duration = Annotated[int, Field(ge=MIN_DURATION_MINUTES, le=MAX_DURATION_MINUTES)]


# The largest offset a party's stream gives (the wire schemas' eventOffset).
MAX_OFFSET = 2**53 - 1


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ThemeBody(Strict):
    kind: ThemeKind
    value: Name

    def to_domain(self) -> Theme:
        return Theme(self.kind, self.value)

    @classmethod
    def of(cls, theme: Theme) -> "ThemeBody":
        return cls(kind=theme.kind, value=theme.value)


class PartyCreate(Strict):
    title: ShortText
    theme: ThemeBody
    starts_at: AwareDatetime
    duration_minutes: Duration = DEFAULT_DURATION_MINUTES
    description: LongText | None = None


class PartyPatch(Strict):
    title: ShortText | None = None
    theme: ThemeBody | None = None
    starts_at: AwareDatetime | None = None
    duration_minutes: Duration | None = None
    description: LongText | None = None


class PartyOut(BaseModel):
    id: str
    host_id: str
    title: str
    description: str | None
    theme: ThemeBody
    state: PartyState
    starts_at: datetime
    ends_at: datetime
    duration_minutes: int
    created_at: datetime
    started_at: datetime | None
    ended_at: datetime | None
    cohosts: list[str] = Field(description="who shares the host's live tools")

    @classmethod
    def of(cls, party: Party) -> "PartyOut":
        return cls(
            id=party.id,
            host_id=party.host_id,
            title=party.title,
            description=party.description,
            theme=ThemeBody.of(party.theme),
            state=party.state,
            starts_at=party.starts_at,
            ends_at=party.ends_at,
            duration_minutes=party.duration_minutes,
            created_at=party.created_at,
            started_at=party.started_at,
            ended_at=party.ended_at,
            cohosts=list(party.cohosts),
        )


class PartyList(BaseModel):
    items: list[PartyOut]
    next_cursor: str | None = Field(description="pass as `cursor` for the next page")


# A listing's public fields (domain.listings.PUBLIC_FIELDS) but the assigned ones, and
# PUBLIC_FIELDS spelt out for the OpenAPI document; tests/test_api.py keeps them equal. (Comments,
# not docstrings: a docstring would become a description in the OpenAPI document.)
class ListingCreate(Strict):
    title: ShortText
    brand: Name
    category: Name
    size: Annotated[str, StringConstraints(max_length=32)] | None = None
    price_cents: Annotated[int, Field(ge=0, le=100_000_000)]
    currency: Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")]
    image_urls: Annotated[list[ImageUrl], Field(max_length=MAX_IMAGE_URLS)] = []
    tags: Annotated[list[Tag], Field(max_length=20)] = []


class ListingOut(BaseModel):
    id: str
    seller_id: str
    title: str
    brand: str
    category: str
    size: str | None
    price_cents: int
    currency: str
    image_urls: list[str]
    tags: list[str]

    @classmethod
    def of(cls, listing: Listing) -> "ListingOut":
        return cls(**listing.public_fields())


class MatchOut(BaseModel):
    matches: bool
    reason: str


class FollowList(BaseModel):
    items: list[ThemeBody]


class PickIn(Strict):
    offset: int = Field(ge=1, le=MAX_OFFSET, description="the offset of the share's event")


class HostActionOut(BaseModel):
    offset: int = Field(description="the offset of the action's event in the party's stream")


class MuteOut(HostActionOut):
    until: datetime | None = Field(description="when the mute ends; null: with the party")
