"""Flat string mappings of domain records, as stored in Redis hashes."""

from datetime import datetime

import orjson

from ..domain.listings import Listing
from ..domain.parties import Party, PartyState
from ..domain.themes import Theme, ThemeKind


def _time(value: datetime | None) -> str:
    return value.isoformat() if value is not None else ""


def _parse_time(value: str) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def party_to_hash(party: Party) -> dict[str, str]:
    return {
        "id": party.id,
        "host_id": party.host_id,
        "title": party.title,
        "description": party.description if party.description is not None else "",
        "has_description": "1" if party.description is not None else "0",
        "theme_kind": party.theme.kind.value,
        "theme_value": party.theme.value,
        "starts_at": _time(party.starts_at),
        "ends_at": _time(party.ends_at),
        "duration_minutes": str(party.duration_minutes),
        "state": party.state.value,
        "created_at": _time(party.created_at),
        "started_at": _time(party.started_at),
        "ended_at": _time(party.ended_at),
        "version": str(party.version),
        "cohosts": orjson.dumps(party.cohosts).decode(),
    }


def party_from_hash(fields: dict[str, str]) -> Party:
    return Party(
        id=fields["id"],
        host_id=fields["host_id"],
        title=fields["title"],
        description=fields["description"] if fields["has_description"] == "1" else None,
        theme=Theme(ThemeKind(fields["theme_kind"]), fields["theme_value"]),
        starts_at=datetime.fromisoformat(fields["starts_at"]),
        ends_at=datetime.fromisoformat(fields["ends_at"]),
        duration_minutes=int(fields["duration_minutes"]),
        state=PartyState(fields["state"]),
        created_at=datetime.fromisoformat(fields["created_at"]),
        started_at=_parse_time(fields["started_at"]),
        ended_at=_parse_time(fields["ended_at"]),
        version=int(fields["version"]),
        cohosts=tuple(orjson.loads(fields.get("cohosts", "[]"))),  # none before co-hosts came
    )


# Every field spelt out, not derived from the dataclass: each has its own string encoding
# (ints, JSON arrays, a has_size flag for None, created_at by repr), and this is the stored
# format, which must change only on purpose. tests/test_store_contract.py checks that it keeps
# every field of Listing.
def listing_to_hash(listing: Listing) -> dict[str, str]:
    return {
        "id": listing.id,
        "seller_id": listing.seller_id,
        "title": listing.title,
        "brand": listing.brand,
        "category": listing.category,
        "price_cents": str(listing.price_cents),
        "currency": listing.currency,
        "image_urls": orjson.dumps(listing.image_urls).decode(),
        "size": listing.size if listing.size is not None else "",
        "has_size": "1" if listing.size is not None else "0",
        "tags": orjson.dumps(listing.tags).decode(),
        "created_at": repr(listing.created_at),
    }


def listing_from_hash(fields: dict[str, str]) -> Listing:
    return Listing(
        id=fields["id"],
        seller_id=fields["seller_id"],
        title=fields["title"],
        brand=fields["brand"],
        category=fields["category"],
        price_cents=int(fields["price_cents"]),
        currency=fields["currency"],
        image_urls=tuple(orjson.loads(fields["image_urls"])),
        size=fields["size"] if fields["has_size"] == "1" else None,
        tags=tuple(orjson.loads(fields["tags"])),
        created_at=float(fields["created_at"]),
    )


def theme_from_key(key: str) -> Theme:
    kind, value = key.split(":", 1)
    return Theme(ThemeKind(kind), value)
