-- ARGV[2] since offset, ARGV[3] since epoch, ARGV[4] at most this many entries. Returns
-- {epoch, offset, entries, base}: the first history entries after the since offset, read
-- together with the position (none when another epoch or an offset in the future makes them
-- useless), and the offset the epoch started after.
local epoch = stream_epoch()
local offset = tonumber(redis.call('HGET', KEYS[1], 'offset'))
local base = tonumber(redis.call('HGET', KEYS[1], 'base') or 0)
local since = tonumber(ARGV[2])
if epoch ~= ARGV[3] or since >= offset then
  return {epoch, offset, {}, base}
end
local entries = redis.call('XRANGE', KEYS[2], (since + 1) .. '-0', '+', 'COUNT', ARGV[4])
return {epoch, offset, entries, base}
