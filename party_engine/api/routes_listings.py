"""Sellers list items; the seller is whoever's token made the listing."""

from fastapi import APIRouter, status

from ..domain.errors import NotFound
from ..domain.ids import new_id
from ..domain.listings import Listing
from .auth import User
from .deps import EngineDep
from .models import ListingCreate, ListingOut
from .params import ListingId
from .problems import documented

router = APIRouter(prefix="/listings", tags=["listings"])


@router.post("", status_code=status.HTTP_201_CREATED, responses=documented(400, 401, 422))
async def create_listing(body: ListingCreate, user: User, engine: EngineDep) -> ListingOut:
    listing = Listing.from_public_fields(
        {"id": new_id(), "seller_id": user.user_id, **body.model_dump()},
        created_at=engine.clock.now().timestamp(),
    )
    await engine.store.create_listing(listing)
    return ListingOut.of(listing)


@router.get("/{listing_id}", responses=documented(401, 404, 422))
async def get_listing(listing_id: ListingId, engine: EngineDep, _: User) -> ListingOut:
    listing = await engine.store.get_listing(listing_id)
    if listing is None:
        raise NotFound(f"no listing {listing_id}")
    return ListingOut.of(listing)
