-- ARGV[2] item (a JSON object without offset/share), ARGV[3] history size,
-- ARGV[4] snapshot size, ARGV[5] channel, ARGV[6] listing id, ARGV[7] ShareCreated without
-- offset ('' for none), ARGV[8] idempotency key field ('' for none), ARGV[9] outbox max depth,
-- ARGV[10] the sharer ('' for no mute check), ARGV[11] and ARGV[12] the position the caller
-- knows (epoch, '' for none; offset): see writable_epoch. Returns {offset, payload}; {offset, ''} when the
-- key was answered before; -2 when the outbox is full, -3 when the sharer is muted (nothing
-- written).
local epoch = writable_epoch(ARGV[11], ARGV[12])
local before = repeated(ARGV[8])
if before then
  return {answered_before(ARGV[8], before), ''}
end
if muted(ARGV[10]) then
  return -3
end
if outbox_full(ARGV[9]) then
  return -2
end
local offset = redis.call('HINCRBY', KEYS[1], 'offset', 1)
local sep, rest = item_rest(ARGV[2])
local payload = '{"offset":' .. offset .. ',"share":' .. offset .. sep .. rest
append(epoch, offset, payload, ARGV[3], ARGV[5])
redis.call('HSET', KEYS[4], offset, 0)
redis.call('HSET', KEYS[6], offset, ARGV[6])
if ARGV[10] ~= '' then
  redis.call('HSET', KEYS[11], offset, ARGV[10])
end
redis.call('LPUSH', KEYS[3], payload)
redis.call('LTRIM', KEYS[3], 0, tonumber(ARGV[4]) - 1)
record('"offset":' .. offset, ARGV[7], ARGV[8], offset)
return {offset, payload}
