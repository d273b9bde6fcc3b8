"""The caller's devices (push targets) and the notices pushed to them."""

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query, status
from pydantic import BaseModel, StringConstraints

from ..domain.devices import MAX_TOKEN_LENGTH, Device, Platform, SentNotice
from .auth import User
from .deps import EngineDep
from .models import DOCUMENTED_NOT_BLANK, NOT_BLANK_STRIPPED, Strict
from .params import DeviceId
from .problems import Problem, documented

router = APIRouter(prefix="/me", tags=["me"])

Token = Annotated[
    str,
    StringConstraints(min_length=1, max_length=MAX_TOKEN_LENGTH),
    DOCUMENTED_NOT_BLANK,
    NOT_BLANK_STRIPPED,
]


class DeviceCreate(Strict):
    platform: Platform
    token: Token


class DeviceOut(BaseModel):
    id: str
    platform: Platform
    created_at: datetime

    @classmethod
    def of(cls, device: Device) -> "DeviceOut":
        return cls(id=device.id, platform=device.platform, created_at=device.created_at)


class DeviceList(BaseModel):
    items: list[DeviceOut]


class NoticeOut(BaseModel):
    id: str
    title: str
    body: str
    data: dict[str, str]
    at: datetime

    @classmethod
    def of(cls, notice: SentNotice) -> "NoticeOut":
        return cls(
            id=notice.id, title=notice.title, body=notice.body, data=notice.data, at=notice.at
        )


class NoticeList(BaseModel):
    items: list[NoticeOut]


@router.post(
    "/devices", status_code=status.HTTP_201_CREATED, responses=documented(400, 401, 409, 422)
)
async def register_device(body: DeviceCreate, user: User, engine: EngineDep) -> DeviceOut:
    """Register this app install for push (idempotent per token; a token that was disabled is
    enabled again). The device is subscribed to every theme the user follows."""
    devices = await engine.push.devices(user.user_id)
    known = any(d.platform is body.platform and d.token == body.token for d in devices)
    if not known and len(devices) >= engine.settings.max_devices_per_user:
        raise Problem(
            409,
            f"a user registers at most {engine.settings.max_devices_per_user} devices; "
            "remove one first",
            code="too_many_devices",
        )
    device = await engine.push.register_device(user.user_id, body.platform, body.token)
    return DeviceOut.of(device)


@router.get("/devices", responses=documented(401))
async def list_devices(user: User, engine: EngineDep) -> DeviceList:
    return DeviceList(items=[DeviceOut.of(d) for d in await engine.push.devices(user.user_id)])


@router.delete(
    "/devices/{device_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=documented(401, 404, 422),
)
async def remove_device(device_id: DeviceId, user: User, engine: EngineDep) -> None:
    await engine.push.remove_device(user.user_id, device_id)


@router.get("/notifications", responses=documented(401, 422))
async def list_notices(
    user: User, engine: EngineDep, limit: Annotated[int, Query(ge=1, le=100)] = 50
) -> NoticeList:
    """What was pushed to the caller, newest first. Recorded by the embedded push; with SNS the
    notices go to the devices only and this list stays empty."""
    notices = await engine.push.notices(user.user_id, limit)
    return NoticeList(items=[NoticeOut.of(n) for n in notices])
