"""Themes: what a party is about and what shoppers follow."""

from dataclasses import dataclass
from enum import StrEnum


class ThemeKind(StrEnum):
    BRAND = "brand"
    CATEGORY = "category"
    SEASON = "season"
    STYLE = "style"


@dataclass(frozen=True, slots=True)
class Theme:
    kind: ThemeKind
    value: str

    @property
    def key(self) -> str:
        """The normalised identity of a theme: followers and party themes meet on it."""
        return f"{self.kind.value}:{normalise(self.value)}"


def normalise(value: str) -> str:
    """Theme values compare case-insensitively and ignore surrounding space."""
    return value.strip().casefold()
