-- Prelude of every party stream script (prepended when the scripts are loaded).
-- KEYS[1] meta hash {epoch, offset}, KEYS[2] history stream (entry id "<offset>-0", field p),
-- KEYS[3] latest shares list (newest first), KEYS[4] likes hash (share offset -> count, one
-- field per share ever made), KEYS[5] likers set ("<share offset>:<user id>"), KEYS[6] share
-- listings hash (share offset -> listing id).
-- ARGV[1] a fresh random epoch, used only when the stream does not exist (yet, or any more).

local function stream_epoch()
  local epoch = redis.call('HGET', KEYS[1], 'epoch')
  if epoch then
    return epoch
  end
  -- A lost meta hash means the stream was lost: start a new epoch with nothing of the old one.
  redis.call('DEL', KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6])
  redis.call('HSET', KEYS[1], 'epoch', ARGV[1], 'offset', 0)
  return ARGV[1]
end

-- The item without its opening brace, and the separator it needs after the spliced fields.
local function item_rest(item)
  local rest = string.sub(item, 2)
  if rest == '}' then
    return '', rest
  end
  return ',', rest
end

local function append(epoch, offset, payload, history_size, channel)
  redis.call('XADD', KEYS[2], 'MAXLEN', '~', history_size, offset .. '-0', 'p', payload)
  redis.call('PUBLISH', channel, 'p' .. epoch .. ' ' .. offset .. '\n' .. payload)
end
