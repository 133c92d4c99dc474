-- Appends one batch of events to a partition's log, atomically.
--
-- KEYS[1] log (stream)    KEYS[2] seq (counter)    KEYS[3] parties (hash)
-- KEYS[4] deleted (hash)  KEYS[5] lease (hash)     KEYS[6] batch:<id>
-- KEYS[6 + i] pe:<party of entry i> (list), i = 1..n
-- ARGV[1] origin node id  ARGV[2] fence node ('' = no fence)
-- ARGV[3] fence epoch     ARGV[4] batch key TTL (seconds)
-- ARGV[2 + 3i], ARGV[3 + 3i], ARGV[4 + 3i]: entry i's party, op ('c'
-- create, 'd' delete, 'o' other) and stored JSON without seq.
--
-- Returns the seq of the first entry. Error replies, before any write:
-- FENCED (the lease is not the fence), EXISTS <party> (a create of a
-- party that exists). (Redis 7 makes a one-word error `ERR <word>`, so
-- each carries a detail after its code.)

local done = redis.call('GET', KEYS[6])
if done then
  return tonumber(done)
end

if ARGV[2] ~= '' then
  local lease = redis.call('HMGET', KEYS[5], 'node', 'epoch')
  if lease[1] ~= ARGV[2] or lease[2] ~= ARGV[3] then
    return redis.error_reply('FENCED the lease is not the fence')
  end
end

local n = (#ARGV - 4) / 3

-- Every create is checked before anything is written; a create after a
-- delete of the same party in this batch is allowed.
local exists = {}
for i = 1, n do
  local party, op = ARGV[2 + 3 * i], ARGV[3 + 3 * i]
  if op == 'c' then
    local e = exists[party]
    if e == nil then
      e = redis.call('HEXISTS', KEYS[3], party) == 1
    end
    if e then
      return redis.error_reply('EXISTS ' .. party)
    end
    exists[party] = true
  elseif op == 'd' then
    exists[party] = false
  end
end

local last = redis.call('INCRBY', KEYS[2], n)
local first = last - n + 1
for i = 1, n do
  local party, op, json = ARGV[2 + 3 * i], ARGV[3 + 3 * i], ARGV[4 + 3 * i]
  local seq = string.format('%d', first + i - 1)
  json = string.sub(json, 1, -2) .. ',"seq":' .. seq .. '}'
  redis.call('XADD', KEYS[1], seq .. '-0', 'e', json, 'n', ARGV[1])
  redis.call('RPUSH', KEYS[6 + i], seq)
  if op == 'c' then
    redis.call('HSET', KEYS[3], party, seq)
  elseif op == 'd' then
    redis.call('HDEL', KEYS[3], party)
    redis.call('HSET', KEYS[4], party, seq)
  end
end
if n > 0 then
  redis.call('SET', KEYS[6], string.format('%d', first), 'EX', ARGV[4])
end
return first
