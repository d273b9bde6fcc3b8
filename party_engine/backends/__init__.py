"""Backends, picked by the scheme of their settings URL and imported lazily, so a user of the
embedded default never imports redis, aio-pika or aioboto3."""

from urllib.parse import urlsplit

from ..ports import Store


def open_store(url: str) -> Store:
    """The store (and later fan-out and history) backend named by PARTY_REDIS_URL."""
    if urlsplit(url).scheme == "memory":
        from .store_memory import MemoryStore

        return MemoryStore()
    from .store_redis import RedisStore

    return RedisStore(url)
