-- Removes the events of deleted parties from a partition's log, fenced
-- like an append, a bounded number of parties per call.
--
-- KEYS[1] log   KEYS[2] deleted (hash party -> delete seq)   KEYS[3] lease
-- ARGV[1] fence node   ARGV[2] fence epoch   ARGV[3] upto seq
-- ARGV[4] most parties this call   ARGV[5] the pe: key prefix (the party
-- id follows it; same hash tag as KEYS, so the same slot)
--
-- For each party deleted at a seq <= upto: XDEL its events up to its
-- delete seq, drop those seqs from its pe: list (a party created again
-- after the delete keeps its later ones), HDEL it from deleted.
-- Returns {events removed, parties purged, 1 if more may remain else 0}.

local lease = redis.call('HMGET', KEYS[3], 'node', 'epoch')
if lease[1] ~= ARGV[1] or lease[2] ~= ARGV[2] then
  return redis.error_reply('FENCED the lease is not the fence')
end
local upto, most = tonumber(ARGV[3]), tonumber(ARGV[4])
local removed, parties = 0, 0
local cursor = '0'
repeat
  local page = redis.call('HSCAN', KEYS[2], cursor, 'COUNT', 100)
  cursor = page[1]
  local kv = page[2]
  for i = 1, #kv, 2 do
    local party, at = kv[i], tonumber(kv[i + 1])
    if at <= upto then
      local pe = ARGV[5] .. party
      local seqs = redis.call('LRANGE', pe, 0, -1)
      local ids, k = {}, 0
      for _, s in ipairs(seqs) do
        if tonumber(s) > at then
          break
        end
        k = k + 1
        ids[#ids + 1] = s .. '-0'
        if #ids == 100 then
          removed = removed + redis.call('XDEL', KEYS[1], unpack(ids))
          ids = {}
        end
      end
      if #ids > 0 then
        removed = removed + redis.call('XDEL', KEYS[1], unpack(ids))
      end
      if k >= #seqs then
        redis.call('DEL', pe)
      elseif k > 0 then
        redis.call('LTRIM', pe, k, -1)
      end
      redis.call('HDEL', KEYS[2], party)
      parties = parties + 1
      if parties >= most then
        return {removed, parties, 1}
      end
    end
  end
until cursor == '0'
return {removed, parties, 0}
