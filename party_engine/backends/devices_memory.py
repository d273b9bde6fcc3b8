"""The embedded device store: devices, subscriptions and notices in process memory."""

from collections import deque

from ..domain.devices import NOTICES_KEPT, Device, Platform, SentNotice
from ..domain.themes import Theme
from .embedded import InProcess


class MemoryDeviceStore(InProcess):
    def __init__(self) -> None:
        self._devices: dict[str, Device] = {}
        self._by_token: dict[tuple[Platform, str], str] = {}
        self._subscriptions: dict[str, dict[str, str]] = {}
        self._notices: dict[str, deque[SentNotice]] = {}

    async def save_device(self, device: Device) -> None:
        previous = self._devices.get(device.id)
        old_token = (previous.platform, previous.token) if previous is not None else None
        if old_token is not None and self._by_token.get(old_token) == device.id:
            del self._by_token[old_token]  # unless another device took the token over
        self._devices[device.id] = device
        self._by_token[(device.platform, device.token)] = device.id

    async def get_device(self, device_id: str) -> Device | None:
        return self._devices.get(device_id)

    async def device_by_token(self, platform: Platform, token: str) -> Device | None:
        device_id = self._by_token.get((platform, token))
        return self._devices.get(device_id) if device_id else None

    async def devices(self, user_id: str) -> list[Device]:
        mine = [d for d in self._devices.values() if d.user_id == user_id]
        return sorted(mine, key=lambda d: (d.created_at, d.id))

    async def remove_device(self, device_id: str) -> None:
        device = self._devices.pop(device_id, None)
        if device is not None and self._by_token.get((device.platform, device.token)) == device_id:
            del self._by_token[device.platform, device.token]
        self._subscriptions.pop(device_id, None)

    async def set_subscription(self, device_id: str, theme: Theme, subscription: str) -> None:
        self._subscriptions.setdefault(device_id, {})[theme.key] = subscription

    async def pop_subscription(self, device_id: str, theme: Theme) -> str | None:
        return self._subscriptions.get(device_id, {}).pop(theme.key, None)

    async def subscriptions(self, device_id: str) -> dict[str, str]:
        return dict(self._subscriptions.get(device_id, {}))

    async def record_notice(self, user_ids: list[str], notice: SentNotice) -> None:
        for user_id in user_ids:
            self._notices.setdefault(user_id, deque(maxlen=NOTICES_KEPT)).appendleft(notice)

    async def notices(self, user_id: str, limit: int = 50) -> list[SentNotice]:
        return list(self._notices.get(user_id, ()))[:limit]
