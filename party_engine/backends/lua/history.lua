-- ARGV[2] since offset, ARGV[3] since epoch, ARGV[4] at most this many entries. Returns
-- {epoch, offset, entries}: the first history entries after the since offset, read together
-- with the position (none when another epoch or an offset in the future makes them useless).
local epoch = stream_epoch()
local offset = tonumber(redis.call('HGET', KEYS[1], 'offset'))
local since = tonumber(ARGV[2])
if epoch ~= ARGV[3] or since >= offset then
  return {epoch, offset, {}}
end
return {epoch, offset, redis.call('XRANGE', KEYS[2], (since + 1) .. '-0', '+', 'COUNT', ARGV[4])}
