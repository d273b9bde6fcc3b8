-- ARGV[2] item (a JSON object without offset/share/likes), ARGV[3] history size,
-- ARGV[4] channel, ARGV[5] share offset, ARGV[6] user id.
-- Returns {offset, payload, listing id}; 0 when the user already liked the share; -1 when it is no share.
local epoch = stream_epoch()
local share = ARGV[5]
if redis.call('HEXISTS', KEYS[4], share) == 0 then
  return -1
end
if redis.call('SADD', KEYS[5], share .. ':' .. ARGV[6]) == 0 then
  return 0
end
local likes = redis.call('HINCRBY', KEYS[4], share, 1)
local offset = redis.call('HINCRBY', KEYS[1], 'offset', 1)
local sep, rest = item_rest(ARGV[2])
local payload = '{"offset":' .. offset .. ',"share":' .. share .. ',"likes":' .. likes .. sep .. rest
append(epoch, offset, payload, ARGV[3], ARGV[4])
return {offset, payload, redis.call('HGET', KEYS[6], share)}
