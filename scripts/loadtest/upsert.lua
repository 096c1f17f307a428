-- wrk script: PUT /collections/$QUIVER_COLLECTION/points?wait=true, one
-- point per request, fresh random ids, vectors from $QUIVER_VECTORS.
local vectors = {}
for line in io.lines(os.getenv("QUIVER_VECTORS")) do
  vectors[#vectors + 1] = line
end
local path = "/collections/" .. os.getenv("QUIVER_COLLECTION") .. "/points?wait=true"
local headers = { ["Content-Type"] = "application/json" }
local i = 0
math.randomseed(os.time() + tonumber(tostring({}):sub(8), 16) % 100000)

request = function()
  i = i + 1
  local id = math.random(1000000, 2000000000)
  local body = '{"points":[{"id":' .. id .. ',"vector":' .. vectors[(i % #vectors) + 1] .. ',"payload":{"src":"wrk"}}]}'
  return wrk.format("PUT", path, headers, body)
end
