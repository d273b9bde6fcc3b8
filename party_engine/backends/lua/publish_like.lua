-- ARGV[2] item (a JSON object without offset/share/likes), ARGV[3] history size,
-- ARGV[4] channel, ARGV[5] share offset, ARGV[6] user id, ARGV[7] LikeCreated without offset
-- and listing_id ('' for none), ARGV[8] idempotency key field ('' for none), ARGV[9] outbox
-- max depth, ARGV[10] and ARGV[11] the position the caller knows (see writable_epoch). Returns {offset, payload, listing id}; {offset, '', listing id} when the key was
-- answered before; 0 when the user already liked the share; -1 when it is no share; -2 when
-- the outbox is full; -3 when the user is muted. Every refusal comes before any write: a refused like leaves no mark.
local epoch = writable_epoch(ARGV[10], ARGV[11])
local share = ARGV[5]
if redis.call('HEXISTS', KEYS[4], share) == 0 then
  return -1
end
local listing = redis.call('HGET', KEYS[6], share)
local before = repeated(ARGV[8])
if before then
  return {answered_before(ARGV[8], before), '', listing}
end
local liker = share .. ':' .. ARGV[6]
if redis.call('SISMEMBER', KEYS[5], liker) == 1 then
  return 0
end
if muted(ARGV[6]) then
  return -3
end
if outbox_full(ARGV[9]) then
  return -2
end
redis.call('SADD', KEYS[5], liker)
local likes = redis.call('HINCRBY', KEYS[4], share, 1)
local offset = redis.call('HINCRBY', KEYS[1], 'offset', 1)
local sep, rest = item_rest(ARGV[2])
local payload = '{"offset":' .. offset .. ',"share":' .. share .. ',"likes":' .. likes .. sep .. rest
append(epoch, offset, payload, ARGV[3], ARGV[4])
record('"offset":' .. offset .. ',"listing_id":' .. cjson.encode(listing), ARGV[7], ARGV[8], offset)
return {offset, payload, listing}
