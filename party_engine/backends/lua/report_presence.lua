-- Replace one gateway's counts. KEYS[1] the gateway's counts hash, KEYS[2] the zset of gateways
-- scored by when their report expires (ms). ARGV[1] gateway id, ARGV[2] ttl ms, then pairs of
-- party id, count.
local now = redis.call('TIME')
local now_ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
local ttl = tonumber(ARGV[2])
redis.call('DEL', KEYS[1])
for i = 3, #ARGV, 2 do
  redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1])
end
redis.call('PEXPIRE', KEYS[1], ttl)
redis.call('ZADD', KEYS[2], now_ms + ttl, ARGV[1])
return 1
