"""Path parameters shared by the routes: ids are checked against the id pattern (422 otherwise)
before any backend sees them."""

from typing import Annotated

from fastapi import Path

from ..domain.ids import ID_PATTERN

PartyId = Annotated[str, Path(pattern=ID_PATTERN)]
ListingId = Annotated[str, Path(pattern=ID_PATTERN)]
DeviceId = Annotated[str, Path(pattern=ID_PATTERN)]
UserId = Annotated[str, Path(pattern=ID_PATTERN)]
Offset = Annotated[int, Path(ge=1, le=2**53 - 1)]
