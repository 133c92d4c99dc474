-- Creates the cluster's meta hash on first use and reads it back.
--
-- KEYS[1] meta   ARGV[1] partitions   ARGV[2] created_at   ARGV[3] format
-- Returns {partitions, format} as stored (the first opener's).

redis.call('HSETNX', KEYS[1], 'partitions', ARGV[1])
redis.call('HSETNX', KEYS[1], 'created_at', ARGV[2])
redis.call('HSETNX', KEYS[1], 'format', ARGV[3])
return redis.call('HMGET', KEYS[1], 'partitions', 'format')
