-- Sum the counts of every gateway whose report is alive. KEYS[1] the zset of gateways,
-- ARGV[1] the prefix of the gateways' counts hashes, ARGV[2..] party ids.
-- (Computed key names: fine on one Redis, not on a cluster.)
local now = redis.call('TIME')
local now_ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now_ms)
local totals = {}
for i = 2, #ARGV do
  totals[i - 1] = 0
end
for _, gateway in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  local counts = redis.call('HMGET', ARGV[1] .. gateway, unpack(ARGV, 2))
  for i = 1, #ARGV - 1 do
    if counts[i] then
      totals[i] = totals[i] + tonumber(counts[i])
    end
  end
end
return totals
