"""Lua shared by the scripts that keep zsets of member -> expiry (presence, the connection
registry): `now` in ms from Redis's clock, so that every gateway's expiries compare on one
clock, and `expire_with_last(key)`, so that a key lives exactly as long as its last member."""

PRELUDE = """
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local function expire_with_last(key)
  local last = redis.call('ZRANGE', key, -1, -1, 'WITHSCORES')
  if #last > 0 then
    redis.call('PEXPIREAT', key, last[2])
  end
end
"""
