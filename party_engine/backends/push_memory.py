"""The embedded push: every notice is recorded per user in the device store, readable at
`GET /me/notifications`, so `make run` shows party-start notices without any AWS account."""

from ..domain.themes import Theme
from ..ports import Notification
from .embedded import InProcess
from .push_devices import DeviceBook


class MemoryPush(InProcess, DeviceBook):
    async def notify_user(self, user_id: str, notification: Notification) -> None:
        await self._devices.record_notice([user_id], self._notice(notification))

    async def notify_shard(
        self, theme: Theme, shard: int, followers: list[str], notification: Notification
    ) -> None:
        await self._devices.record_notice(followers, self._notice(notification))
