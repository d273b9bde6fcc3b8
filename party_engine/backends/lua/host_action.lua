-- ARGV[2] item (a JSON object without offset/share), ARGV[3] history size, ARGV[4] channel,
-- ARGV[5] action (pick, unpick, remove, mute, unmute), ARGV[6] target (a share offset, or a
-- user id for mute and unmute), ARGV[7] muted until (Unix ms, 0: as long as the stream),
-- ARGV[8] the event of an action on a share without offset and listing_id (and a removal's
-- sharer_id, likes, picked), '' for none; ARGV[9] and ARGV[10] the position the caller knows
-- (see writable_epoch).
-- Returns {offset, payload}; -1 when the target is no share (any more); 0 when the action
-- would change nothing. Every refusal comes before any write.
local epoch = writable_epoch(ARGV[9], ARGV[10])
local action = ARGV[5]
local target = ARGV[6]
local head = ''
local event_head = ''
if action == 'mute' then
  redis.call('HSET', KEYS[10], target, ARGV[7])
elseif action == 'unmute' then
  if not muted(target) then
    return 0
  end
  redis.call('HDEL', KEYS[10], target)
else
  if redis.call('HEXISTS', KEYS[4], target) == 0 then
    return -1
  end
  head = ',"share":' .. target
  event_head = ',"listing_id":' .. cjson.encode(redis.call('HGET', KEYS[6], target))
  if action == 'pick' then
    if redis.call('SADD', KEYS[9], target) == 0 then
      return 0
    end
  elseif action == 'unpick' then
    if redis.call('SREM', KEYS[9], target) == 0 then
      return 0
    end
  else
    -- A removed share is no share any more: not in snapshots, not likeable, not pickable.
    local likes = redis.call('HGET', KEYS[4], target)
    local sharer = redis.call('HGET', KEYS[11], target) or ''
    redis.call('HDEL', KEYS[4], target)
    local picked = redis.call('SREM', KEYS[9], target)
    event_head = event_head .. ',"sharer_id":' .. cjson.encode(sharer) .. ',"likes":' .. likes
      .. ',"picked":' .. picked
    local prefix = '{"offset":' .. target .. ','
    for _, payload in ipairs(redis.call('LRANGE', KEYS[3], 0, -1)) do
      if string.sub(payload, 1, #prefix) == prefix then
        redis.call('LREM', KEYS[3], 1, payload)
        break
      end
    end
  end
end
local offset = redis.call('HINCRBY', KEYS[1], 'offset', 1)
local sep, rest = item_rest(ARGV[2])
local payload = '{"offset":' .. offset .. head .. sep .. rest
append(epoch, offset, payload, ARGV[3], ARGV[4])
record('"offset":' .. offset .. event_head, ARGV[8], '', offset)
return {offset, payload}
