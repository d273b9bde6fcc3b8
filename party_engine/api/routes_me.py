"""The caller's own things: the themes they follow."""

from typing import Annotated

from fastapi import APIRouter, Path, status

from ..domain.themes import Theme, ThemeKind
from .auth import User
from .deps import EngineDep
from .models import FollowList, ThemeBody
from .problems import Problem, documented

router = APIRouter(prefix="/me", tags=["me"])

ThemeValue = Annotated[str, Path(min_length=1, max_length=100)]


@router.get("/follows", responses=documented(401))
async def list_follows(user: User, engine: EngineDep) -> FollowList:
    themes = await engine.store.follows(user.user_id)
    return FollowList(items=[ThemeBody.of(theme) for theme in themes])


@router.put(
    "/follows/{kind}/{value}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=documented(401, 409, 422),
)
async def follow(kind: ThemeKind, value: ThemeValue, user: User, engine: EngineDep) -> None:
    """Follow a theme (idempotent): its parties' start notices reach this user's devices."""
    theme = Theme(kind, value)
    follows = {followed.key for followed in await engine.store.follows(user.user_id)}
    if theme.key not in follows and len(follows) >= engine.settings.max_follows_per_user:
        raise Problem(
            409,
            f"a user follows at most {engine.settings.max_follows_per_user} themes",
            code="too_many_follows",
        )
    await engine.store.follow(user.user_id, theme)
    await engine.push.follow(user.user_id, theme)


@router.delete(
    "/follows/{kind}/{value}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=documented(401, 422),
)
async def unfollow(kind: ThemeKind, value: ThemeValue, user: User, engine: EngineDep) -> None:
    theme = Theme(kind, value)
    await engine.store.unfollow(user.user_id, theme)
    await engine.push.unfollow(user.user_id, theme)
