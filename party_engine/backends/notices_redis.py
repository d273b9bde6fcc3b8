"""The Redis notice book: seller-notice windows, shared by every worker, laid out for a
Redis Cluster.

A party's windows, answers and due entries live in the party's bucket (redis_buckets: B is
the bucket tag of the party id, `{notices-07}`), so noting a share is one script in one
slot, and the due windows are spread over BUCKETS zsets instead of one hot key.
Keys (under `pe:`; {party}, {seller}, {event id} are placeholders, B is the only tag):
  notice:B:{party}:{seller}  hash: until (window end, epoch seconds), pending (shares not told)
  notices:B:due              zset "{party}:{seller}" -> when its summary is due (or its lease
                             ends); present only while shares are pending
  noticed:B:{party}:{event id}  the answer note_share gave for that event ("now" or "later")
take_due reads every bucket's due members (up to `limit` each, one round trip), then leases
them with one script per bucket that has some (which checks each is still due), starting at a
different bucket each time, until it has `limit`.

Before the cluster layout these were notice:{party}:{seller}, one notices:due and
noticed:{event id}: windows open then are not seen by this layout (no production data; at
worst a seller gets one notice at once instead of a summary).
"""

from typing import cast

from ..ports import DueNotice
from .redis_backend import RedisBackend, call_script
from .redis_buckets import BUCKETS, bucket_tag, every_bucket_tag

_ANSWER_SECONDS = 7 * 24 * 3600
_KEEP_SECONDS = 24 * 3600  # a window's hash outlives its end by this much
_BUCKET = "notices"

# KEYS: window hash, due zset, answer key (one bucket). ARGV: now, window seconds, due member,
# keep seconds, answer seconds.
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

# KEYS: a bucket's due zset, then the window hash of each candidate. ARGV: now, lease seconds,
# then the candidates' members. Leases each candidate still due (another sweeper may have
# taken it since it was read) with shares pending, drops those without; returns member,
# pending pairs.
_TAKE_DUE = """
local now = tonumber(ARGV[1])
local out = {}
for i = 2, #KEYS do
  local member = ARGV[i + 1]
  local due = tonumber(redis.call('ZSCORE', KEYS[1], member) or 'inf')
  if due <= now then
    local pending = tonumber(redis.call('HGET', KEYS[i], 'pending') or '0')
    if pending > 0 then
      redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), member)
      table.insert(out, member)
      table.insert(out, pending)
    else
      redis.call('ZREM', KEYS[1], member)
    end
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
        self._note_share = self.client.register_script(_NOTE_SHARE)
        self._take_due = self.client.register_script(_TAKE_DUE)
        self._settle = self.client.register_script(_SETTLE)
        self._first_bucket = 0  # where the next take_due starts, so no bucket waits forever

    async def note_share(
        self, party_id: str, seller_id: str, event_id: str, now: float, window_seconds: float
    ) -> bool:
        tag = bucket_tag(_BUCKET, party_id)
        member = _member(party_id, seller_id)
        answer = await call_script(
            self.client,
            self._note_share,
            keys=[
                self._window_key(tag, member),
                self._due(tag),
                f"{self.prefix}noticed:{tag}:{party_id}:{event_id}",
            ],
            args=[repr(now), repr(window_seconds), member, _KEEP_SECONDS, _ANSWER_SECONDS],
        )
        return answer == "now"

    async def take_due(self, now: float, lease_seconds: float, limit: int = 100) -> list[DueNotice]:
        tags = every_bucket_tag(_BUCKET)
        start, self._first_bucket = self._first_bucket, (self._first_bucket + 1) % BUCKETS
        tags = tags[start:] + tags[:start]
        async with self.client.pipeline(transaction=False) as pipe:
            for tag in tags:
                pipe.zrangebyscore(self._due(tag), "-inf", repr(now), start=0, num=limit)
            candidates = cast(list[list[str]], await pipe.execute())
        due: list[DueNotice] = []
        for tag, members in zip(tags, candidates, strict=True):
            members = members[: limit - len(due)]
            if not members:
                continue
            flat = await call_script(
                self.client,
                self._take_due,
                keys=[self._due(tag), *(self._window_key(tag, m) for m in members)],
                args=[repr(now), repr(lease_seconds), *members],
            )
            for member, pending in zip(flat[::2], flat[1::2], strict=True):
                party_id, seller_id = member.split(":", 1)
                due.append(DueNotice(party_id, seller_id, int(pending)))
        return due

    async def settle(self, notice: DueNotice, now: float, window_seconds: float) -> None:
        tag = bucket_tag(_BUCKET, notice.party_id)
        member = _member(notice.party_id, notice.seller_id)
        await call_script(
            self.client,
            self._settle,
            keys=[self._window_key(tag, member), self._due(tag)],
            args=[notice.shares, repr(now), repr(window_seconds), member, _KEEP_SECONDS],
        )

    def _due(self, tag: str) -> str:
        return f"{self.prefix}notices:{tag}:due"

    def _window_key(self, tag: str, member: str) -> str:
        return f"{self.prefix}notice:{tag}:{member}"
