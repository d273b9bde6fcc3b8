-- Returns {epoch, offset}.
local epoch = stream_epoch()
return {epoch, tonumber(redis.call('HGET', KEYS[1], 'offset'))}
