"""What every embedded (in-process) backend shares: a lifecycle with nothing to open."""


class InProcess:
    """connect, close and ping of a backend that lives in this process: there is nothing to
    open or close, and it always answers. A backend that holds something overrides close."""

    async def connect(self) -> None:
        pass

    async def close(self) -> None:
        pass

    async def ping(self) -> None:
        pass
