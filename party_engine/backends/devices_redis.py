"""The Redis device store, laid out for a Redis Cluster.

Keys (under the store's `pe:` prefix; {id} is the device's hash tag, the rest placeholders):
  device:{id}                 hash: id, user_id, platform, token, created_at, endpoint_arn
  device:{id}:subs            hash: theme key -> subscription id (the device's slot)
  devices:{user}              zset of the user's device ids, scored by created_at
  device-token:{platform}:{h} the device id of a token (h: sha256 of the token, keys stay short)
  notices:{user}              list of JSON notices, newest first, trimmed to NOTICES_KEPT

The device's hash is the record; the user's zset and the token key are indexes in other
slots, written after it (a save adds the new entries, then drops the old ones; a removal
drops the hash first), each write idempotent. Every read checks an index entry against the
hash, so an entry left behind by a process that died between two writes is never answered
(and a re-registration, which saves again, repairs a missing one). A token key is dropped
only while it still names this device, so a token taken over by another device keeps its
entry.

Before the cluster layout the device hashes were device:{id} without a hash tag: devices
registered then are not read by this layout (no production data; a migration would RENAME
device:x to device:{x}, and its :subs likewise).
"""

import hashlib
from datetime import datetime
from typing import cast

import orjson

from ..domain.devices import NOTICES_KEPT, Device, Platform, SentNotice
from ..domain.themes import Theme
from .redis_backend import RedisBackend, call_script, decoded_hash, hash_mapping


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


# KEYS: a token key. ARGV: the device id it must still name to be dropped.
_DROP_TOKEN = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


class RedisDeviceStore(RedisBackend):
    def __init__(self, url: str, *, prefix: str) -> None:
        super().__init__(url, prefix=prefix)
        self._drop_token = self.client.register_script(_DROP_TOKEN)

    async def save_device(self, device: Device) -> None:
        previous = await self.get_device(device.id)
        await self.client.hset(self._device_key(device.id), mapping=hash_mapping(_to_hash(device)))
        async with self.client.pipeline(transaction=False) as pipe:
            pipe.zadd(self._user_index(device.user_id), {device.id: device.created_at.timestamp()})
            pipe.set(self._token_key(device.platform, device.token), device.id)
            await pipe.execute()
        if previous is not None:
            if (previous.platform, previous.token) != (device.platform, device.token):
                await self._forget_token(previous)
            if previous.user_id != device.user_id:
                await self.client.zrem(self._user_index(previous.user_id), device.id)

    async def get_device(self, device_id: str) -> Device | None:
        fields = decoded_hash(await self.client.hgetall(self._device_key(device_id)))
        return _from_hash(fields) if fields else None

    async def device_by_token(self, platform: Platform, token: str) -> Device | None:
        device_id = cast(str | None, await self.client.get(self._token_key(platform, token)))
        device = await self.get_device(device_id) if device_id else None
        if device is None or (device.platform, device.token) != (platform, token):
            return None  # an entry left behind (see the module's docstring)
        return device

    async def devices(self, user_id: str) -> list[Device]:
        ids = cast(list[str], await self.client.zrange(self._user_index(user_id), 0, -1))
        async with self.client.pipeline(transaction=False) as pipe:
            for device_id in ids:
                pipe.hgetall(self._device_key(device_id))
            rows = await pipe.execute()
        found = [_from_hash(row) for row in rows if row]
        return [device for device in found if device.user_id == user_id]

    async def remove_device(self, device_id: str) -> None:
        device = await self.get_device(device_id)
        if device is None:
            return
        await self.client.delete(self._device_key(device_id), self._subs_key(device_id))
        await self._forget_token(device)
        await self.client.zrem(self._user_index(device.user_id), device_id)

    async def _forget_token(self, device: Device) -> None:
        await call_script(
            self.client,
            self._drop_token,
            keys=[self._token_key(device.platform, device.token)],
            args=[device.id],
        )

    async def set_subscription(self, device_id: str, theme: Theme, subscription: str) -> None:
        await self.client.hset(self._subs_key(device_id), theme.key, subscription)

    async def pop_subscription(self, device_id: str, theme: Theme) -> str | None:
        async with self.client.pipeline(transaction=True) as pipe:
            pipe.hget(self._subs_key(device_id), theme.key)
            pipe.hdel(self._subs_key(device_id), theme.key)
            subscription, _ = await pipe.execute()
        return subscription

    async def subscriptions(self, device_id: str) -> dict[str, str]:
        return decoded_hash(await self.client.hgetall(self._subs_key(device_id)))

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
                pipe.lpush(self._notices_key(user_id), encoded)
                pipe.ltrim(self._notices_key(user_id), 0, NOTICES_KEPT - 1)
            await pipe.execute()

    async def notices(self, user_id: str, limit: int = 50) -> list[SentNotice]:
        rows = cast(list[str], await self.client.lrange(self._notices_key(user_id), 0, limit - 1))
        return [_notice_from_json(row) for row in rows]

    def _notices_key(self, user_id: str) -> str:
        return f"{self.prefix}notices:{user_id}"

    def _subs_key(self, device_id: str) -> str:
        return f"{self.prefix}device:{{{device_id}}}:subs"

    def _user_index(self, user_id: str) -> str:
        return f"{self.prefix}devices:{user_id}"

    def _token_key(self, platform: Platform, token: str) -> str:
        digest = hashlib.sha256(token.encode()).hexdigest()
        return f"{self.prefix}device-token:{platform.value}:{digest}"

    def _device_key(self, device_id: str) -> str:
        return f"{self.prefix}device:{{{device_id}}}"


def _notice_from_json(row: str) -> SentNotice:
    fields = orjson.loads(row)
    return SentNotice(
        id=fields["id"],
        title=fields["title"],
        body=fields["body"],
        data=fields["data"],
        at=datetime.fromisoformat(fields["at"]),
    )
