-- ARGV[2] and ARGV[3] the position the caller knows (see writable_epoch). Returns
-- {epoch, offset}.
local epoch = writable_epoch(ARGV[2], ARGV[3])
return {epoch, tonumber(redis.call('HGET', KEYS[1], 'offset'))}
