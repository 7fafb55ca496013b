-- wrk script for the soak (benches/load/soak.py): the realistic mix of beacon_mix.lua, with a
-- share of hostile requests, paced by a fixed delay per request.
--
-- Environment (besides beacon_mix.lua's):
--   BEACON_MIX_LUA   path of beacon_mix.lua (required)
--   SOAK_HOSTILE     share of hostile requests (default 0.05), spread evenly over: malformed JSON
--                    (400), a gzip bomb (413 decompressed_too_large), an oversize body (413
--                    body_too_large), an unknown site key (403)
--   SOAK_BOMB_FILE   the gzip bomb's bytes (written by soak.py)
--   SOAK_DELAY_MS    pause before each request on a connection (default 0: as fast as possible)

dofile(assert(os.getenv("BEACON_MIX_LUA"), "BEACON_MIX_LUA must name beacon_mix.lua"))

local HOSTILE = tonumber(os.getenv("SOAK_HOSTILE") or "") or 0.05
local DELAY_MS = tonumber(os.getenv("SOAK_DELAY_MS") or "") or 0
local BOMB_FILE = os.getenv("SOAK_BOMB_FILE")

local mix_init, mix_request = init, request
local hostile = {}

function init(args)
  mix_init(args)
  local headers = {
    ["Host"] = wrk.headers["Host"],
    ["Content-Type"] = "text/plain;charset=UTF-8",
    ["User-Agent"] = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
  }
  local good = mix_request()
  local good_body = good:match("\r\n\r\n(.*)$")
  hostile[#hostile + 1] = wrk.format("POST", wrk.path, headers, '{"v":1,"sid":"soak","pid":')
  hostile[#hostile + 1] = wrk.format("POST", wrk.path, headers, string.rep("x", 70 * 1024))
  hostile[#hostile + 1] = wrk.format("POST", "/rum/v1/beacon?key=no-such-key", headers, good_body)
  if BOMB_FILE and BOMB_FILE ~= "" then
    local file = assert(io.open(BOMB_FILE, "rb"))
    local bomb = file:read("*a")
    file:close()
    local gzip_headers = {}
    for name, value in pairs(headers) do gzip_headers[name] = value end
    gzip_headers["Content-Encoding"] = "gzip"
    hostile[#hostile + 1] = wrk.format("POST", wrk.path, gzip_headers, bomb)
  end
end

function request()
  if HOSTILE > 0 and math.random() < HOSTILE then
    return hostile[math.random(1, #hostile)]
  end
  return mix_request()
end

if DELAY_MS > 0 then
  function delay()
    return DELAY_MS
  end
end
