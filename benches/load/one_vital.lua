-- wrk script: one vital per request, as the same data in two formats, to compare what a
-- translated agent payload costs against a native beacon (benches/README.md, "Other agents"):
--
--   ONE_VITAL_FORMAT=native      POST /rum/v1/beacon?key=demo      a BEACON.md beacon with one vital
--   ONE_VITAL_FORMAT=web_vitals  POST /rum/v1/web-vitals?key=demo  web-vitals' JSON.stringify(metric)
--
-- Both carry the same name, value, id, rating and navigation type per pool entry (same seed), the
-- page URL in the native body and in the web-vitals request's Referer.

local FORMAT = os.getenv("ONE_VITAL_FORMAT") or "native"
local POOL_SIZE = 1000
local PAGE = "https://shop.example.com/products/42"
local random, format = math.random, string.format

local VITALS = {
  { "LCP", 400, 6000, 2500, 4000 }, { "INP", 16, 900, 200, 500 }, { "CLS", 0, 0.6, 0.1, 0.25 },
  { "FCP", 300, 4000, 1800, 3000 }, { "TTFB", 50, 2500, 800, 1800 },
}

local pool, cursor = {}, 0

function init(args)
  math.randomseed(20261202)
  local now_ms = os.time() * 1000
  local headers = {
    ["Host"] = wrk.headers["Host"],
    ["Content-Type"] = "text/plain;charset=UTF-8",
    ["Origin"] = "https://shop.example.com",
    ["User-Agent"] = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
    ["Referer"] = PAGE,
  }
  for i = 1, POOL_SIZE do
    local vital = VITALS[random(1, #VITALS)]
    local name, low, high, good, poor = vital[1], vital[2], vital[3], vital[4], vital[5]
    local value = low + random() * (high - low)
    local rating = value <= good and "good" or (value <= poor and "needs-improvement" or "poor")
    local id = format("v5-%d-%d", now_ms - random(0, 30000), random(1000000000000, 8999999999999))
    local body
    if FORMAT == "web_vitals" then
      body = format('{"name":"%s","value":%.4f,"rating":"%s","delta":%.4f,"entries":[],"id":"%s","navigationType":"navigate"}',
        name, value, rating, value, id)
    else
      body = format('{"v":1,"sid":"%s","pid":"%s","url":"%s","nav":"navigate","sent":%d,"events":[{"type":"vital","name":"%s","value":%.4f,"id":"%s","rating":"%s"}]}',
        id, id, PAGE, now_ms, name, value, id, rating)
    end
    pool[i] = wrk.format("POST", nil, headers, body)
  end
end

function request()
  cursor = cursor % POOL_SIZE + 1
  return pool[cursor]
end
