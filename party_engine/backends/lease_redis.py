"""A leadership lease on Redis: SET NX PX to take it, a check-and-extend script to renew it.

Key: pe:lease:{name} = the holder's random token, expiring after the TTL unless renewed.
A holder that cannot renew (Redis unreachable, or its lease expired and someone else took it)
reports that it no longer leads. A holder that pauses longer than the TTL may act once more
before it notices; the actions themselves are conditional (optimistic locks), so that is safe.
"""

import logging
import secrets

from redis.exceptions import RedisError

from .redis_backend import RedisClient, call_script, redis_client

log = logging.getLogger(__name__)

# Extend only our own lease: compare the token and extend in one atomic step.
_RENEW = """
if redis.call('get', KEYS[1]) == ARGV[1] then
  return redis.call('pexpire', KEYS[1], ARGV[2])
end
return 0
"""

_RELEASE = """
if redis.call('get', KEYS[1]) == ARGV[1] then
  return redis.call('del', KEYS[1])
end
return 0
"""


class RedisLease:
    def __init__(self, url: str, *, prefix: str, name: str, ttl_seconds: float) -> None:
        self.client: RedisClient = redis_client(
            url, decode_responses=True, socket_timeout=ttl_seconds / 3
        )
        self._key = f"{prefix}lease:{name}"
        self._ttl_ms = int(ttl_seconds * 1000)
        self._token = secrets.token_hex(16)
        self._held = False
        self._renew = self.client.register_script(_RENEW)
        self._release = self.client.register_script(_RELEASE)

    async def connect(self) -> None:
        await self.client.ping()

    async def close(self) -> None:
        await self.release()
        await self.client.aclose()

    async def ping(self) -> None:
        await self.client.ping()

    async def hold(self) -> bool:
        try:
            if self._held:
                self._held = bool(
                    await call_script(
                        self.client, self._renew, [self._key], [self._token, self._ttl_ms]
                    )
                )
                if self._held:
                    return True
                log.warning("lost the lease %s to another holder", self._key)
            self._held = bool(
                await self.client.set(self._key, self._token, nx=True, px=self._ttl_ms)
            )
        except RedisError as error:
            if self._held:
                log.warning("lost the lease %s: %s", self._key, error)
            self._held = False
        return self._held

    async def release(self) -> None:
        if not self._held:
            return
        self._held = False
        try:
            await call_script(self.client, self._release, keys=[self._key], args=[self._token])
        except RedisError as error:
            log.warning(
                "could not release the lease %s (it expires by itself): %s", self._key, error
            )
