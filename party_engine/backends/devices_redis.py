"""The Redis device store.

Keys (under the store's `pe:` prefix):
  device:{id}                 hash: id, user_id, platform, token, created_at, endpoint_arn
  devices:{user}              zset of the user's device ids, scored by created_at
  device-token:{platform}:{h} the device id of a token (h: sha256 of the token, keys stay short)
  device:{id}:subs            hash: theme key -> subscription id
  notices:{user}              list of JSON notices, newest first, trimmed to NOTICES_KEPT
"""

import hashlib
from datetime import datetime
from typing import cast

import orjson

from ..domain.devices import Device, Platform, SentNotice
from ..domain.themes import Theme
from .devices_memory import NOTICES_KEPT
from .redis_backend import RedisBackend, decoded_hash, hash_mapping
from .store_redis import PREFIX


def _device_key(device_id: str) -> str:
    return f"{PREFIX}device:{device_id}"


def _user_index(user_id: str) -> str:
    return f"{PREFIX}devices:{user_id}"


def _token_key(platform: Platform, token: str) -> str:
    digest = hashlib.sha256(token.encode()).hexdigest()
    return f"{PREFIX}device-token:{platform.value}:{digest}"


def _subs_key(device_id: str) -> str:
    return f"{PREFIX}device:{device_id}:subs"


def _notices_key(user_id: str) -> str:
    return f"{PREFIX}notices:{user_id}"


def _to_hash(device: Device) -> dict[str, str]:
    return {
        "id": device.id,
        "user_id": device.user_id,
        "platform": device.platform.value,
        "token": device.token,
        "created_at": device.created_at.isoformat(),
        "endpoint_arn": device.endpoint_arn or "",
    }


def _from_hash(fields: dict[str, str]) -> Device:
    return Device(
        id=fields["id"],
        user_id=fields["user_id"],
        platform=Platform(fields["platform"]),
        token=fields["token"],
        created_at=datetime.fromisoformat(fields["created_at"]),
        endpoint_arn=fields["endpoint_arn"] or None,
    )


class RedisDeviceStore(RedisBackend):
    async def save_device(self, device: Device) -> None:
        previous = await self.get_device(device.id)
        async with self.client.pipeline(transaction=True) as pipe:
            if previous is not None:
                pipe.delete(_token_key(previous.platform, previous.token))
                pipe.zrem(_user_index(previous.user_id), device.id)
            pipe.hset(_device_key(device.id), mapping=hash_mapping(_to_hash(device)))
            pipe.zadd(_user_index(device.user_id), {device.id: device.created_at.timestamp()})
            pipe.set(_token_key(device.platform, device.token), device.id)
            await pipe.execute()

    async def get_device(self, device_id: str) -> Device | None:
        fields = decoded_hash(await self.client.hgetall(_device_key(device_id)))
        return _from_hash(fields) if fields else None

    async def device_by_token(self, platform: Platform, token: str) -> Device | None:
        device_id = cast(str | None, await self.client.get(_token_key(platform, token)))
        return await self.get_device(device_id) if device_id else None

    async def devices(self, user_id: str) -> list[Device]:
        ids = cast(list[str], await self.client.zrange(_user_index(user_id), 0, -1))
        async with self.client.pipeline(transaction=False) as pipe:
            for device_id in ids:
                pipe.hgetall(_device_key(device_id))
            rows = await pipe.execute()
        return [_from_hash(row) for row in rows if row]

    async def remove_device(self, device_id: str) -> None:
        device = await self.get_device(device_id)
        if device is None:
            return
        async with self.client.pipeline(transaction=True) as pipe:
            pipe.delete(_device_key(device_id), _subs_key(device_id))
            pipe.delete(_token_key(device.platform, device.token))
            pipe.zrem(_user_index(device.user_id), device_id)
            await pipe.execute()

    async def set_subscription(self, device_id: str, theme: Theme, subscription: str) -> None:
        await self.client.hset(_subs_key(device_id), theme.key, subscription)

    async def pop_subscription(self, device_id: str, theme: Theme) -> str | None:
        async with self.client.pipeline(transaction=True) as pipe:
            pipe.hget(_subs_key(device_id), theme.key)
            pipe.hdel(_subs_key(device_id), theme.key)
            subscription, _ = await pipe.execute()
        return subscription

    async def subscriptions(self, device_id: str) -> dict[str, str]:
        return decoded_hash(await self.client.hgetall(_subs_key(device_id)))

    async def record_notice(self, user_ids: list[str], notice: SentNotice) -> None:
        encoded = orjson.dumps(
            {
                "id": notice.id,
                "title": notice.title,
                "body": notice.body,
                "data": notice.data,
                "at": notice.at.isoformat(),
            }
        )
        async with self.client.pipeline(transaction=False) as pipe:
            for user_id in user_ids:
                pipe.lpush(_notices_key(user_id), encoded)
                pipe.ltrim(_notices_key(user_id), 0, NOTICES_KEPT - 1)
            await pipe.execute()

    async def notices(self, user_id: str, limit: int = 50) -> list[SentNotice]:
        rows = cast(list[str], await self.client.lrange(_notices_key(user_id), 0, limit - 1))
        return [_notice_from_json(row) for row in rows]


def _notice_from_json(row: str) -> SentNotice:
    fields = orjson.loads(row)
    return SentNotice(
        id=fields["id"],
        title=fields["title"],
        body=fields["body"],
        data=fields["data"],
        at=datetime.fromisoformat(fields["at"]),
    )
