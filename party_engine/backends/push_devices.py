"""Device registration and theme subscriptions, shared by both push backends.

The bookkeeping (which device is whose, which theme topics it is subscribed to) is the same
whether push is embedded or SNS; a backend overrides the four hooks that touch the real
service. The embedded push leaves them as no-ops.
"""

from dataclasses import replace

from ..clock import Clock
from ..domain.devices import Device, Platform, SentNotice, validate_token
from ..domain.errors import NotFound
from ..domain.ids import new_id
from ..domain.themes import Theme
from ..ports import DeviceStore, FollowStore, Notification


class DeviceBook:
    def __init__(self, follows: FollowStore, devices: DeviceStore, clock: Clock) -> None:
        self._follows = follows
        self._devices = devices
        self._clock = clock

    # --- hooks for the real service ------------------------------------------------------

    async def _endpoint_for(
        self, platform: Platform, token: str, current: str | None
    ) -> str | None:
        """The push endpoint of a token, made usable (enabled, with this token)."""
        return None

    async def _delete_endpoint(self, endpoint: str) -> None:
        pass

    async def _subscribe(self, device: Device, theme: Theme) -> str | None:
        """Subscribe the device to the theme's topic; returns the subscription id."""
        return None

    async def _unsubscribe(self, subscription: str) -> None:
        pass

    # --- the Push port's device half -----------------------------------------------------

    async def register_device(self, user_id: str, platform: Platform, token: str) -> Device:
        token = validate_token(token)
        existing = await self._devices.device_by_token(platform, token)
        current_endpoint = existing.endpoint_arn if existing else None
        endpoint = await self._endpoint_for(platform, token, current_endpoint)
        if existing is not None and existing.user_id == user_id:
            if endpoint != existing.endpoint_arn:
                existing = replace(existing, endpoint_arn=endpoint)
                await self._devices.save_device(existing)
            return existing
        if existing is not None:
            # The token moved to another user (an app reinstalled under a new login): the old
            # owner's subscriptions go, the endpoint stays for the new owner.
            await self._unsubscribe_all(existing)
            await self._devices.remove_device(existing.id)
        device = Device(
            id=new_id(),
            user_id=user_id,
            platform=platform,
            token=token,
            created_at=self._clock.now(),
            endpoint_arn=endpoint,
        )
        await self._devices.save_device(device)
        for theme in await self._follows.follows(user_id):
            await self._subscribe_device(device, theme)
        return device

    async def devices(self, user_id: str) -> list[Device]:
        return await self._devices.devices(user_id)

    async def remove_device(self, user_id: str, device_id: str) -> None:
        device = await self._devices.get_device(device_id)
        if device is None or device.user_id != user_id:
            # Someone else's device is reported as missing, so ids cannot be probed.
            raise NotFound(f"no device {device_id}")
        await self._forget(device)

    async def follow(self, user_id: str, theme: Theme) -> None:
        for device in await self._devices.devices(user_id):
            if theme.key not in await self._devices.subscriptions(device.id):
                await self._subscribe_device(device, theme)

    async def unfollow(self, user_id: str, theme: Theme) -> None:
        for device in await self._devices.devices(user_id):
            subscription = await self._devices.pop_subscription(device.id, theme)
            if subscription is not None:
                await self._unsubscribe(subscription)

    async def notices(self, user_id: str, limit: int = 50) -> list[SentNotice]:
        return await self._devices.notices(user_id, limit)

    # --- shared steps --------------------------------------------------------------------

    async def _subscribe_device(self, device: Device, theme: Theme) -> None:
        subscription = await self._subscribe(device, theme)
        if subscription is not None:
            await self._devices.set_subscription(device.id, theme, subscription)

    async def _unsubscribe_all(self, device: Device) -> None:
        for subscription in (await self._devices.subscriptions(device.id)).values():
            await self._unsubscribe(subscription)

    async def _forget(self, device: Device) -> None:
        await self._unsubscribe_all(device)
        if device.endpoint_arn is not None:
            await self._delete_endpoint(device.endpoint_arn)
        await self._devices.remove_device(device.id)

    def _notice(self, notification: Notification) -> SentNotice:
        return SentNotice(
            id=new_id(),
            title=notification.title,
            body=notification.body,
            data=dict(notification.data),
            at=self._clock.now(),
        )
