"""Listings and the theme rule that decides whether one may be shared into a party."""

from dataclasses import dataclass

from .themes import Theme, ThemeKind, normalise


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
