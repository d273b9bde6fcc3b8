"""Listings and the theme rule that decides whether one may be shared into a party."""

from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any, get_origin

from .themes import Theme, ThemeKind, normalise

# What anyone may see of a listing, in the order it is shown (the HTTP API's bodies follow
# it); created_at is the store's own. api/models.py spells these again for OpenAPI, and a test
# keeps the two equal.
PUBLIC_FIELDS = (
    "id",
    "seller_id",
    "title",
    "brand",
    "category",
    "size",
    "price_cents",
    "currency",
    "image_urls",
    "tags",
)
# The public fields the server sets when a listing is made; the seller writes the rest.
ASSIGNED_FIELDS = ("id", "seller_id")


@dataclass(frozen=True, slots=True)
class Listing:
    id: str
    seller_id: str
    title: str
    brand: str
    category: str
    price_cents: int
    currency: str
    image_urls: tuple[str, ...] = ()
    size: str | None = None
    tags: tuple[str, ...] = ()
    created_at: float = 0.0

    def public_fields(self) -> dict[str, Any]:
        """Name -> value of each of PUBLIC_FIELDS, in that order."""
        return {name: getattr(self, name) for name in PUBLIC_FIELDS}

    @classmethod
    def from_public_fields(cls, values: Mapping[str, Any], created_at: float) -> "Listing":
        """A listing from a value for each of PUBLIC_FIELDS; sequences may come as lists."""
        public: dict[str, Any] = {
            name: tuple(values[name]) if name in _SEQUENCES else values[name]
            for name in PUBLIC_FIELDS
        }
        return cls(**public, created_at=created_at)


_SEQUENCES = frozenset(field.name for field in fields(Listing) if get_origin(field.type) is tuple)


@dataclass(frozen=True, slots=True)
class ThemeMatch:
    matches: bool
    reason: str


_ATTRIBUTE_OF_KIND = {ThemeKind.BRAND: "brand", ThemeKind.CATEGORY: "category"}


def match_theme(listing: Listing, theme: Theme) -> ThemeMatch:
    """A listing matches when its field named by the theme kind equals the theme value.

    Brand and category compare with the listing's own field; season and style have no
    field of their own and are looked up in the listing's tags. All comparisons are
    case-insensitive.
    """
    wanted = normalise(theme.value)
    attribute = _ATTRIBUTE_OF_KIND.get(theme.kind)
    if attribute is not None:
        actual = getattr(listing, attribute)
        if normalise(actual) == wanted:
            return ThemeMatch(True, f"{attribute} is {actual!r}")
        return ThemeMatch(False, f"{attribute} is {actual!r}, the party wants {theme.value!r}")
    if any(normalise(tag) == wanted for tag in listing.tags):
        return ThemeMatch(True, f"tagged {theme.value!r} ({theme.kind.value})")
    return ThemeMatch(False, f"not tagged {theme.value!r} ({theme.kind.value})")
