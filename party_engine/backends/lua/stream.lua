-- Prelude of every party stream script (prepended when the scripts are loaded).
-- KEYS[1] meta hash {epoch, offset}, KEYS[2] history stream (entry id "<offset>-0", field p),
-- KEYS[3] latest shares list (newest first), KEYS[4] likes hash (share offset -> count, one
-- field per share ever made), KEYS[5] likers set ("<share offset>:<user id>"), KEYS[6] share
-- listings hash (share offset -> listing id), KEYS[7] outbox stream (field e: an encoded domain
-- event, for the relay), KEYS[8] idempotency keys hash ("<len>:<user id>:<key>" -> offset),
-- KEYS[9] picks set (share offsets the host picked), KEYS[10] mutes hash (user id -> muted
-- until, Unix ms; 0: for as long as the stream lives), KEYS[11] sharers hash (share offset ->
-- sharer id, for a removal's event).
-- ARGV[1] a fresh random epoch, used only when the stream does not exist (yet, or any more) or
-- must start a new epoch (writable_epoch). `publish_command` (PUBLISH, or SPUBLISH on a Redis
-- Cluster) is defined in front of this prelude when the scripts are loaded (broker_redis.py).

local function stream_epoch()
  local epoch = redis.call('HGET', KEYS[1], 'epoch')
  if epoch then
    return epoch
  end
  -- A lost meta hash means the stream was lost: start a new epoch with nothing of the old one.
  -- The outbox stays: what it holds was acknowledged and still goes to the workers.
  redis.call('DEL', KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[8], KEYS[9], KEYS[10],
    KEYS[11])
  redis.call('HSET', KEYS[1], 'epoch', ARGV[1], 'offset', 0)
  return ARGV[1]
end

-- The epoch to write in. A caller that has seen more of this epoch than the server holds (a
-- failover promoted a replica that lacked the latest writes, or a restart lost unsynced ones)
-- starts a new epoch above what it saw: an offset once published never names another
-- publication, and clients holding a position of the old epoch resync. The history of the old
-- epoch goes (a new epoch's history holds only its own publications); `base` is the offset the
-- epoch starts after. known_epoch '' (or nil): the caller knows nothing.
local function writable_epoch(known_epoch, known_offset)
  local epoch = stream_epoch()
  if known_epoch ~= epoch then
    return epoch
  end
  local known = tonumber(known_offset)
  if known <= tonumber(redis.call('HGET', KEYS[1], 'offset')) then
    return epoch
  end
  redis.call('DEL', KEYS[2])
  redis.call('HSET', KEYS[1], 'epoch', ARGV[1], 'offset', known, 'base', known)
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
  redis.call(publish_command, channel, 'p' .. epoch .. ' ' .. offset .. '\n' .. payload)
end

-- The offset an idempotency key (ARGV field, '' for none) was first answered with, or nil.
local function repeated(field)
  if field == '' then
    return nil
  end
  return redis.call('HGET', KEYS[8], field)
end

-- Whether the outbox is past its bound (checked before anything is written).
local function outbox_full(max_depth)
  return redis.call('XLEN', KEYS[7]) >= tonumber(max_depth)
end

-- Record what an acknowledged frame did: its event in the outbox ('' for none: no event), the
-- completed event being the template with `head` spliced in front; its key, if any.
local function record(head, event, field, offset)
  if event ~= '' then
    local sep, rest = item_rest(event)
    redis.call('XADD', KEYS[7], '*', 'e', '{' .. head .. sep .. rest)
  end
  if field ~= '' then
    redis.call('HSET', KEYS[8], field, offset)
  end
end

-- The offset a repeated key was first answered with. The key is written again (same value) so
-- that this call propagates to the replicas like a first one: a WAIT after it then confirms
-- the replicas hold the first write too (replication is in order).
local function answered_before(field, before)
  redis.call('HSET', KEYS[8], field, before)
  return tonumber(before)
end

-- Whether the host muted this user ('' for nobody) and the mute still holds, on Redis's clock.
local function muted(user)
  if user == '' then
    return false
  end
  local until_ms = redis.call('HGET', KEYS[10], user)
  if not until_ms then
    return false
  end
  if until_ms == '0' then
    return true
  end
  local now = redis.call('TIME')
  return tonumber(until_ms) > tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
end
