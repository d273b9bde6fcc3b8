"""Cursor paging over parties ordered by (starts_at, id), shared by both stores."""

import base64
import math
from dataclasses import dataclass

from ..domain.errors import InvalidValue


@dataclass(frozen=True, slots=True)
class Position:
    score: float
    party_id: str

    def encode(self) -> str:
        return base64.urlsafe_b64encode(f"{self.score!r}|{self.party_id}".encode()).decode()

    def is_before_or_at(self, score: float, party_id: str) -> bool:
        return (score, party_id) <= (self.score, self.party_id)


def decode_cursor(cursor: str) -> Position:
    try:
        score, party_id = base64.urlsafe_b64decode(cursor.encode()).decode().split("|", 1)
        if not math.isfinite(float(score)):
            raise ValueError("not a finite position")
        return Position(float(score), party_id)
    except (ValueError, UnicodeDecodeError) as error:
        raise InvalidValue(
            "cursor is not one this server handed out", field="cursor", location="query"
        ) from error
