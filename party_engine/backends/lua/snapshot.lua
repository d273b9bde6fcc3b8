-- ARGV[2] how many latest shares, ARGV[3] how many bytes they may weigh together. Returns
-- {epoch, offset, shares (newest first), like counts, picks}.
local epoch = stream_epoch()
local offset = tonumber(redis.call('HGET', KEYS[1], 'offset'))
local count = tonumber(ARGV[2])
local max_bytes = tonumber(ARGV[3])
local shares = {}
if count > 0 then
  shares = redis.call('LRANGE', KEYS[3], 0, count - 1)
end
local kept = {}
local likes = {}
local weight = 0
for i, payload in ipairs(shares) do
  weight = weight + #payload
  if weight > max_bytes then
    break
  end
  kept[i] = payload
  local share = string.match(payload, '^{"offset":(%d+)')
  likes[i] = tonumber(redis.call('HGET', KEYS[4], share) or 0)
end
return {epoch, offset, kept, likes, redis.call('SMEMBERS', KEYS[9])}
