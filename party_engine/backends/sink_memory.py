"""The embedded relay's sink: the embedded event queue (queue_memory.py) of this process."""

from ..ports import BackendUnavailable
from .embedded import InProcess
from .event_codec import decode_relayed
from .queue_memory import MemoryQueue


class QueueSink(InProcess):
    def __init__(self, queue: MemoryQueue) -> None:
        self._queue = queue

    async def deliver(self, events: list[bytes]) -> None:
        if not self._queue.has_room():
            raise BackendUnavailable("the embedded event queue is full")
        for event in decode_relayed(events):
            await self._queue.publish(event)
