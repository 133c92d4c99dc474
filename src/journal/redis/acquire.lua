-- Grants a partition's lease to a node if nobody holds it.
--
-- KEYS[1] lease (hash node, epoch)   KEYS[2] epoch (counter)   KEYS[3] seq
-- ARGV[1] node id   ARGV[2] TTL (milliseconds)
--
-- Returns {epoch, current seq} when granted, nil when the lease is held
-- (by anyone, this node included).

if redis.call('EXISTS', KEYS[1]) == 1 then
  return false
end
local epoch = redis.call('INCR', KEYS[2])
redis.call('HSET', KEYS[1], 'node', ARGV[1], 'epoch', epoch)
redis.call('PEXPIRE', KEYS[1], ARGV[2])
local seq = redis.call('GET', KEYS[3])
return {epoch, tonumber(seq or '0')}
