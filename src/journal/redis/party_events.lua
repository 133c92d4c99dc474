-- One party's stored events with seq > since, oldest first, at most limit.
--
-- KEYS[1] pe:<party> (list of seqs, ascending)   KEYS[2] log (stream)
-- ARGV[1] since   ARGV[2] limit
--
-- Returns the stored JSON texts. Seqs whose entry was purged are skipped.

local since, limit = tonumber(ARGV[1]), tonumber(ARGV[2])
local out = {}
if limit <= 0 then
  return out
end
local seqs = redis.call('LRANGE', KEYS[1], 0, -1)
for _, s in ipairs(seqs) do
  if tonumber(s) > since then
    local id = s .. '-0'
    local entry = redis.call('XRANGE', KEYS[2], id, id)[1]
    if entry then
      local fields = entry[2]
      for f = 1, #fields, 2 do
        if fields[f] == 'e' then
          out[#out + 1] = fields[f + 1]
          break
        end
      end
      if #out >= limit then
        break
      end
    end
  end
end
return out
