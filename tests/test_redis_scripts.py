"""Script calls pipelined on one server: one round trip for the lot (no SCRIPT EXISTS before
each pipeline, as redis-py's own script calls send), and the script loaded again when the
server lost it."""

import pytest
import redis.asyncio as redis

from party_engine.backends.redis_backend import redis_client, run_script

COUNTER = """
local n = redis.call('INCRBY', KEYS[1], ARGV[1])
return n
"""


async def _calls(admin: redis.Redis, command: str) -> int:
    stats = await admin.info("commandstats")
    return int(stats.get(f"cmdstat_{command}", {}).get("calls", 0))


async def test_pipelined_calls_send_no_script_exists_and_keep_their_order(redis_url):
    client = redis_client(redis_url, decode_responses=True)
    script = client.register_script(COUNTER)
    async with redis.Redis.from_url(redis_url) as admin:
        await admin.script_load(COUNTER)
        before = await _calls(admin, "script|exists")
        calls = [(["counter"], [step]) for step in (1, 2, 3, 4)]
        replies = await run_script(client, script, calls, chunk=3)
        assert await _calls(admin, "script|exists") == before
    await client.aclose()
    assert replies == [1, 3, 6, 10]


async def test_a_flushed_script_is_loaded_again_and_every_call_runs_once(redis_url):
    client = redis_client(redis_url, decode_responses=True)
    script = client.register_script(COUNTER)
    async with redis.Redis.from_url(redis_url) as admin:
        await admin.script_flush()
        replies = await run_script(client, script, [(["once"], [5]), (["once"], [7])], chunk=8)
        assert await admin.get("once") == b"12"
    await client.aclose()
    assert replies == [5, 12]


async def test_a_script_error_is_raised(redis_url):
    client = redis_client(redis_url, decode_responses=True)
    script = client.register_script(COUNTER)
    try:
        with pytest.raises(redis.ResponseError, match="not an integer"):
            await run_script(client, script, [(["text"], ["not a number"])], chunk=8)
    finally:
        await client.aclose()
