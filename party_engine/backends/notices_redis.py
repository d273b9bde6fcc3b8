"""The Redis notice book: seller-notice windows, shared by every worker.

Keys (under `pe:`):
  notice:{party}:{seller}   hash: until (window end, epoch seconds), pending (shares not told)
  notices:due               zset "{party} {seller}" -> when its summary is due (or its lease
                            ends); present only while shares are pending
  noticed:{event id}        the answer note_share gave for that event ("now" or "later")
"""

from ..ports import DueNotice
from .redis_backend import RedisBackend

_ANSWER_SECONDS = 7 * 24 * 3600
_KEEP_SECONDS = 24 * 3600  # a window's hash outlives its end by this much

# KEYS: window hash, due zset, answer key. ARGV: now, window seconds, due member.
_NOTE_SHARE = """
local prior = redis.call('GET', KEYS[3])
if prior then return prior end
local now, window = tonumber(ARGV[1]), tonumber(ARGV[2])
local untill = tonumber(redis.call('HGET', KEYS[1], 'until') or '0')
local answer = 'later'
if untill <= now then
  untill = now + window
  redis.call('HSET', KEYS[1], 'until', tostring(untill))
  answer = 'now'
else
  redis.call('HINCRBY', KEYS[1], 'pending', 1)
  redis.call('ZADD', KEYS[2], 'NX', untill, ARGV[3])
end
redis.call('EXPIRE', KEYS[1], math.ceil(untill - now) + tonumber(ARGV[4]))
redis.call('SET', KEYS[3], answer, 'EX', ARGV[5])
return answer
"""

# KEYS: due zset. ARGV: now, lease seconds, limit, key prefix. Returns member, pending pairs.
_TAKE_DUE = """
local out = {}
local members = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, ARGV[3])
for _, member in ipairs(members) do
  local pending = tonumber(redis.call('HGET', ARGV[4] .. member, 'pending') or '0')
  if pending > 0 then
    redis.call('ZADD', KEYS[1], tonumber(ARGV[1]) + tonumber(ARGV[2]), member)
    table.insert(out, member)
    table.insert(out, pending)
  else
    redis.call('ZREM', KEYS[1], member)
  end
end
return out
"""

# KEYS: window hash, due zset. ARGV: shares told, now, window seconds, member, keep seconds.
_SETTLE = """
local pending = redis.call('HINCRBY', KEYS[1], 'pending', -tonumber(ARGV[1]))
local untill = tonumber(ARGV[2]) + tonumber(ARGV[3])
redis.call('HSET', KEYS[1], 'until', tostring(untill))
redis.call('EXPIRE', KEYS[1], math.ceil(tonumber(ARGV[3])) + tonumber(ARGV[5]))
if pending > 0 then
  redis.call('ZADD', KEYS[2], untill, ARGV[4])
else
  redis.call('ZREM', KEYS[2], ARGV[4])
end
return pending
"""


def _member(party_id: str, seller_id: str) -> str:
    return f"{party_id}:{seller_id}"


class RedisNoticeBook(RedisBackend):
    def __init__(self, url: str, *, prefix: str) -> None:
        super().__init__(url, prefix=prefix)
        self._due = f"{prefix}notices:due"
        self._note_share = self.client.register_script(_NOTE_SHARE)
        self._take_due = self.client.register_script(_TAKE_DUE)
        self._settle = self.client.register_script(_SETTLE)

    async def note_share(
        self, party_id: str, seller_id: str, event_id: str, now: float, window_seconds: float
    ) -> bool:
        member = _member(party_id, seller_id)
        answer = await self._note_share(
            keys=[self._window_key(member), self._due, f"{self.prefix}noticed:{event_id}"],
            args=[repr(now), repr(window_seconds), member, _KEEP_SECONDS, _ANSWER_SECONDS],
        )
        return answer == "now"

    async def take_due(self, now: float, lease_seconds: float, limit: int = 100) -> list[DueNotice]:
        flat = await self._take_due(
            keys=[self._due], args=[repr(now), repr(lease_seconds), limit, f"{self.prefix}notice:"]
        )
        due = []
        for member, pending in zip(flat[::2], flat[1::2], strict=True):
            party_id, seller_id = member.split(":", 1)
            due.append(DueNotice(party_id, seller_id, int(pending)))
        return due

    async def settle(self, notice: DueNotice, now: float, window_seconds: float) -> None:
        member = _member(notice.party_id, notice.seller_id)
        await self._settle(
            keys=[self._window_key(member), self._due],
            args=[notice.shares, repr(now), repr(window_seconds), member, _KEEP_SECONDS],
        )

    def _window_key(self, member: str) -> str:
        return f"{self.prefix}notice:{member}"
