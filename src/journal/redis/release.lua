-- Gives a lease up if it is still the given one.
--
-- KEYS[1] lease   ARGV[1] node id   ARGV[2] epoch
-- Returns 1 if released, 0 if the lease is another (or none).

local lease = redis.call('HMGET', KEYS[1], 'node', 'epoch')
if lease[1] == ARGV[1] and lease[2] == ARGV[2] then
  redis.call('DEL', KEYS[1])
  return 1
end
return 0
