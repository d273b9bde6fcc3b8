-- ARGV[2] item (a JSON object without offset/share), ARGV[3] history size,
-- ARGV[4] snapshot size, ARGV[5] channel, ARGV[6] listing id. Returns {offset, payload}.
local epoch = stream_epoch()
local offset = redis.call('HINCRBY', KEYS[1], 'offset', 1)
local sep, rest = item_rest(ARGV[2])
local payload = '{"offset":' .. offset .. ',"share":' .. offset .. sep .. rest
append(epoch, offset, payload, ARGV[3], ARGV[5])
redis.call('HSET', KEYS[4], offset, 0)
redis.call('HSET', KEYS[6], offset, ARGV[6])
redis.call('LPUSH', KEYS[3], payload)
redis.call('LTRIM', KEYS[3], 0, tonumber(ARGV[4]) - 1)
return {offset, payload}
