-- wrk script: POST /collections/$QUIVER_COLLECTION/points/query with query
-- vectors taken in turn from $QUIVER_VECTORS (one JSON array per line).
local vectors = {}
for line in io.lines(os.getenv("QUIVER_VECTORS")) do
  vectors[#vectors + 1] = line
end
local path = "/collections/" .. os.getenv("QUIVER_COLLECTION") .. "/points/query"
local headers = { ["Content-Type"] = "application/json" }
local i = 0

request = function()
  i = i + 1
  local body = '{"query":' .. vectors[(i % #vectors) + 1] .. ',"limit":10,"with_payload":true}'
  return wrk.format("POST", path, headers, body)
end
