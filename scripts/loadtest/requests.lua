-- wrk script for scripts/loadtest.sh. QUIVER_OP chooses the request:
--   query:  POST /collections/$QUIVER_COLLECTION/points/query, top 10 with
--           payloads;
--   upsert: PUT /collections/$QUIVER_COLLECTION/points?wait=true, one point
--           per request with a fresh random id.
-- Vectors are taken in turn from $QUIVER_VECTORS (one JSON array per line).
local vectors = {}
for line in io.lines(os.getenv("QUIVER_VECTORS")) do
  vectors[#vectors + 1] = line
end
local op = os.getenv("QUIVER_OP")
local base = "/collections/" .. os.getenv("QUIVER_COLLECTION") .. "/points"
local headers = { ["Content-Type"] = "application/json" }
local i = 0
math.randomseed(os.time() + tonumber(tostring({}):sub(8), 16) % 100000)

local function next_vector()
  i = i + 1
  return vectors[(i % #vectors) + 1]
end

if op == "query" then
  request = function()
    local body = '{"query":' .. next_vector() .. ',"limit":10,"with_payload":true}'
    return wrk.format("POST", base .. "/query", headers, body)
  end
elseif op == "upsert" then
  request = function()
    local id = math.random(1000000, 2000000000)
    local body = '{"points":[{"id":' .. id .. ',"vector":' .. next_vector() .. ',"payload":{"src":"wrk"}}]}'
    return wrk.format("PUT", base .. "?wait=true", headers, body)
  end
else
  error("QUIVER_OP must be query or upsert, not " .. tostring(op))
end
