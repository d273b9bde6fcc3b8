"""The embedded notice book: seller-notice windows in process memory."""

from dataclasses import dataclass

from ..ports import DueNotice
from .embedded import InProcess


@dataclass(slots=True)
class _Window:
    until: float = 0.0  # when the current window closes
    pending: int = 0  # shares counted in it, not yet told
    leased_until: float = 0.0


class MemoryNoticeBook(InProcess):
    def __init__(self) -> None:
        self._windows: dict[tuple[str, str], _Window] = {}
        self._answers: dict[str, bool] = {}  # event id -> the answer note_share gave

    async def note_share(
        self, party_id: str, seller_id: str, event_id: str, now: float, window_seconds: float
    ) -> bool:
        if event_id in self._answers:
            return self._answers[event_id]
        window = self._windows.setdefault((party_id, seller_id), _Window())
        send_now = window.until <= now
        if send_now:
            window.until = now + window_seconds
        else:
            window.pending += 1
        self._answers[event_id] = send_now
        return send_now

    async def take_due(self, now: float, lease_seconds: float, limit: int = 100) -> list[DueNotice]:
        due: list[DueNotice] = []
        for (party_id, seller_id), window in self._windows.items():
            if len(due) >= limit:
                break
            if window.pending and window.until <= now and window.leased_until <= now:
                window.leased_until = now + lease_seconds
                due.append(DueNotice(party_id, seller_id, window.pending))
        return due

    async def settle(self, notice: DueNotice, now: float, window_seconds: float) -> None:
        window = self._windows[notice.party_id, notice.seller_id]
        window.pending -= notice.shares
        window.until = now + window_seconds
        window.leased_until = 0.0
