-- ARGV[2] how many latest shares. Returns {epoch, offset, shares (newest first), like counts}.
local epoch = stream_epoch()
local offset = tonumber(redis.call('HGET', KEYS[1], 'offset'))
local count = tonumber(ARGV[2])
local shares = {}
if count > 0 then
  shares = redis.call('LRANGE', KEYS[3], 0, count - 1)
end
local likes = {}
for i, payload in ipairs(shares) do
  local share = string.match(payload, '^{"offset":(%d+)')
  likes[i] = tonumber(redis.call('HGET', KEYS[4], share) or 0)
end
return {epoch, offset, shares, likes}
