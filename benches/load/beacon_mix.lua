-- wrk script: POSTs a realistic mix of RUM beacons (BEACON.md format, version 1).
--
--   wrk -t1 -c32 -d20s --latency -s benches/load/beacon_mix.lua \
--       'http://127.0.0.1:8080/rum/v1/beacon?key=demo'
--
-- Mix (per pool entry): ~60% page summaries (5 vitals + nav), ~25% small beacons (1-2 vitals),
-- ~10% beacons with a JS error or a failed request, ~5% 12-event beacons. Bodies run from a few
-- hundred bytes to ~3 KB. With BEACON_FEATURES=1 (every feature of the script on, issue 20's
-- "realistic mix that includes actions, resources and errors"): 45% summaries, 20% exit beacons
-- (the final CLS and INP, 1-3 user actions, a business event on one in five, long frames, resources
-- of 3-6 origins, every fetch/XHR call of 2-5 endpoints, a third of them with a trace), 20%
-- small, 10% problem, 5% large; the exit beacons run to ~4 KB. `sid`/`pid` (1..64 chars of [A-Za-z0-9_-]), URLs and vital values are
-- random per body; `sent` is now in ms.
--
-- All requests are built in init() into a pool, so the per-request cost on the generator core is
-- one table lookup. The pool is deterministic for a given seed, so two servers measured in one run
-- get byte-identical request streams (apart from `sent`).
--
-- Environment:
--   BEACON_POOL_SIZE     bodies in the pool (default 1000)
--   BEACON_SEED          PRNG seed (default 20251122; thread n uses seed + n)
--   BEACON_ORIGIN        Origin header (default https://shop.example.com)
--   BEACON_TRACK_STATUS  0 = do not define response() (saves generator CPU; then only wrk's own
--                        "Non-2xx or 3xx responses" line tells about bad answers). Default 1.
--   BEACON_DUMP          file to write the pool's bodies to, one JSON document per line (thread 1)
--   BEACON_FORWARDED_FOR 1 = add `X-Forwarded-For: <public IPv4>`, a different address per body, as a
--                        load balancer would (for a collector that trusts 127.0.0.1 and does GeoIP).
--                        The addresses do not come from the PRNG, so the bodies stay the same.
--
-- done() prints machine-readable lines for the driver script:
--   BEACON_POOL <n> summary=<n> small=<n> problem=<n> large=<n> bytes_min=<n> bytes_avg=<n> bytes_max=<n>
--   STATUS <code> <count>           (one per status code seen, when tracking)
--   NON_2XX <count>                 (when tracking)

local POOL_SIZE = tonumber(os.getenv("BEACON_POOL_SIZE") or "") or 1000
local SEED = tonumber(os.getenv("BEACON_SEED") or "") or 20251122
local ORIGIN = os.getenv("BEACON_ORIGIN") or "https://shop.example.com"
local TRACK_STATUS = os.getenv("BEACON_TRACK_STATUS") ~= "0"
local DUMP = os.getenv("BEACON_DUMP")
local FORWARDED_FOR = os.getenv("BEACON_FORWARDED_FOR") == "1"
local FEATURES = os.getenv("BEACON_FEATURES") == "1"

local random, format, concat = math.random, string.format, table.concat

-- ---------------------------------------------------------------------------------------------
-- Generation helpers (run once, in init; speed does not matter here).

local ID_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-"

local function random_id()
  -- 1..64 characters; mostly the 16..36 that real clients use, sometimes the extremes.
  local len
  local r = random()
  if r < 0.8 then len = random(16, 36) elseif r < 0.9 then len = random(1, 15) else len = random(37, 64) end
  local out = {}
  for i = 1, len do
    local k = random(1, 64)
    out[i] = ID_CHARS:sub(k, k)
  end
  return concat(out)
end

local function json_string(s)
  s = s:gsub('[%c"\\]', function(c)
    if c == '"' then return '\\"' elseif c == "\\" then return "\\\\" elseif c == "\n" then return "\\n"
    elseif c == "\t" then return "\\t" else return format("\\u%04x", c:byte()) end
  end)
  return '"' .. s .. '"'
end

local function pick(list) return list[random(1, #list)] end

local function weighted(choices) -- { {weight, value}, ... }
  local r, acc = random(), 0
  for _, c in ipairs(choices) do
    acc = acc + c[1]
    if r < acc then return c[2] end
  end
  return choices[#choices][2]
end

local function uniform(lo, hi) return lo + (hi - lo) * random() end

-- Roughly log-normal: most values near `typical`, a long tail up to `max`.
local function skewed(typical, max)
  local v = typical * math.exp((random() + random() + random() - 1.5) * 1.2)
  if v > max then v = max end
  return v
end

local function f1(x) return format("%.1f", x) end

local PAGES = {
  function() return "/" end,
  function() return format("/products/%d", random(1, 5000)) end,
  function() return format("/products/%d", random(1, 5000)) end,
  function() return format("/category/%s?page=%d", pick({ "shoes", "bags", "outdoor", "kids", "sale" }), random(1, 12)) end,
  function() return format("/search?q=%s&sort=%s", pick({ "red+sneakers", "backpack", "rain+jacket", "gift" }), pick({ "price", "rating", "new" })) end,
  function() return "/cart" end,
  function() return pick({ "/checkout/shipping", "/checkout/payment", "/checkout/done" }) end,
  function() return format("/blog/%d/%s", random(2019, 2025), pick({ "how-to-choose-boots", "summer-sale", "care-guide" })) end,
}

local function page_url()
  local url = "https://shop.example.com" .. pick(PAGES)()
  if random() < 0.15 then
    url = url .. (url:find("?", 1, true) and "&" or "?") ..
      format("utm_source=%s&utm_medium=%s&utm_campaign=%s", pick({ "mail", "google", "facebook", "partner" }),
        pick({ "cpc", "email", "social" }), pick({ "spring", "bf2025", "retarget-" .. random(1, 99) }))
  end
  if random() < 0.1 then url = url .. pick({ "#reviews", "#details", "#top" }) end
  return url
end

local function referrer()
  return weighted({
    { 0.35, "https://www.google.com/" }, { 0.2, "" }, { 0.25, "https://shop.example.com/" },
    { 0.05, "https://www.bing.com/" }, { 0.05, "https://l.facebook.com/" },
    { 0.1, "https://shop.example.com/category/shoes?page=2" },
  })
end

local TARGETS = {
  "img.hero", "div.banner>h1", "main>section.grid>div:nth-child(3)>img", "h1.product-title",
  "#product-gallery>img.active", "p.lead", "div.cookie-consent", "html>body>div#app>header",
}
local INP_TARGETS = { "button#buy", "#add-to-cart", "a.nav-link", "input#search", "button.size-option", "div.carousel>button.next" }
local MESSAGES = {
  "TypeError: Cannot read properties of undefined (reading 'price')",
  "TypeError: x is undefined",
  "ReferenceError: gtag is not defined",
  "SyntaxError: Unexpected token '<', \"<!DOCTYPE \"... is not valid JSON",
  "Uncaught (in promise) Error: Network request failed",
  "ResizeObserver loop completed with undelivered notifications.",
}
local FUNCS = { "renderCart", "onClick", "hydrate", "fetchJSON", "updatePrice", "t.render", "Object.dispatch", "n" }

local function stack_trace(bundle)
  local frames = {}
  for i = 1, random(3, 9) do
    frames[i] = format("    at %s (%s:%d:%d)", pick(FUNCS), bundle, random(1, 3), random(1, 90000))
  end
  return concat(frames, "\n")
end

-- ---------------------------------------------------------------------------------------------
-- Events.

local vital_seq

local function rating(v, good, poor)
  if v <= good then return "good" elseif v <= poor then return "needs-improvement" else return "poor" end
end

local function vital_id(sent)
  vital_seq = vital_seq + 1
  return format("v5-%.0f-%d%06d", sent - random(0, 30000), random(1000000, 9999999), random(0, 999999))
end

local VITALS = {}

VITALS.LCP = function(sent, ttfb)
  ttfb = ttfb or skewed(180, 3000)
  local v = skewed(1900, 20000)
  if v < ttfb + 50 then v = ttfb + uniform(50, 600) end -- LCP comes after the first byte
  -- LCP = ttfb + loadDelay + loadDuration + renderDelay (web-vitals attribution)
  local rest = v - ttfb
  local load_delay = uniform(0, rest * 0.4)
  local load_duration = uniform(0, (rest - load_delay) * 0.7)
  local render_delay = rest - load_delay - load_duration
  return format('{"type":"vital","name":"LCP","value":%s,"id":"%s","rating":"%s","attr":{"target":%s,"url":%s,"ttfb":%s,"loadDelay":%s,"loadDuration":%s,"renderDelay":%s}}',
    f1(v), vital_id(sent), rating(v, 2500, 4000), json_string(pick(TARGETS)),
    json_string(format("https://cdn.example.com/img/%d/hero-%dw.webp", random(1, 5000), pick({ 640, 1280, 1920 }))),
    f1(ttfb), f1(load_delay), f1(load_duration), f1(render_delay))
end

VITALS.CLS = function(sent)
  local v = random() < 0.5 and uniform(0, 0.02) or skewed(0.05, 2.5)
  return format('{"type":"vital","name":"CLS","value":%s,"id":"%s","rating":"%s","attr":{"target":%s}}',
    format("%.4f", v), vital_id(sent), rating(v, 0.1, 0.25), json_string(pick(TARGETS)))
end

VITALS.INP = function(sent)
  local input_delay, processing, presentation = random(0, 60), random(8, 300), random(8, 120)
  if random() < 0.1 then processing = processing + random(200, 1500) end
  local v = input_delay + processing + presentation
  return format('{"type":"vital","name":"INP","value":%d,"id":"%s","rating":"%s","attr":{"target":%s,"interactionType":"%s","inputDelay":%d,"processing":%d,"presentation":%d}}',
    v, vital_id(sent), rating(v, 200, 500), json_string(pick(INP_TARGETS)), pick({ "pointer", "pointer", "keyboard" }),
    input_delay, processing, presentation)
end

VITALS.FCP = function(sent)
  local v = skewed(950, 15000)
  if random() < 0.5 then
    return format('{"type":"vital","name":"FCP","value":%s,"id":"%s"}', f1(v), vital_id(sent))
  end
  return format('{"type":"vital","name":"FCP","value":%s,"id":"%s","rating":"%s"}', f1(v), vital_id(sent), rating(v, 1800, 3000))
end

VITALS.TTFB = function(sent, ttfb)
  local v = ttfb or skewed(180, 3000)
  return format('{"type":"vital","name":"TTFB","value":%s,"id":"%s","rating":"%s"}', f1(v), vital_id(sent), rating(v, 800, 1800))
end

local function nav_event(ttfb)
  local dns, connect = random() < 0.6 and 0 or uniform(1, 80), random() < 0.6 and 0 or uniform(5, 120)
  local tls = connect > 0 and uniform(5, connect) or 0
  local download = uniform(2, 200)
  local interactive = ttfb + download + uniform(100, 2500)
  local complete = interactive + uniform(50, 1500)
  return format('{"type":"nav","dns":%s,"connect":%s,"tls":%s,"ttfb":%s,"download":%s,"domInteractive":%s,"domComplete":%s,"load":%s,"transferSize":%d,"protocol":"%s"}',
    f1(dns), f1(connect), f1(tls), f1(ttfb), f1(download), f1(interactive), f1(complete), f1(complete + uniform(1, 80)),
    random(300, 250000), pick({ "h2", "h2", "h3", "http/1.1" }))
end

local function error_event()
  local bundle = format("https://shop.example.com/static/js/app.%06x.js", random(0, 0xffffff))
  local kind = weighted({ { 0.7, "error" }, { 0.3, "unhandledrejection" } })
  local message = pick(MESSAGES)
  return format('{"type":"error","kind":"%s","message":%s,"source":%s,"line":%d,"col":%d,"stack":%s}',
    kind, json_string(message), json_string(bundle), random(1, 3), random(1, 90000),
    json_string(message .. "\n" .. stack_trace(bundle)))
end

local API = { "/cart", "/cart/items", "/products/%d/stock", "/recommendations?for=%d", "/checkout/session", "/search/suggest?q=ba" }

local function request_event(failed)
  local path = format(pick(API), random(1, 5000))
  local status = failed and pick({ 0, 404, 429, 500, 502, 503, 504 }) or pick({ 200, 200, 200, 201, 204, 304 })
  return format('{"type":"request","url":%s,"method":"%s","status":%d,"duration":%s}',
    json_string("https://api.example.com" .. path), pick({ "GET", "GET", "POST" }), status,
    f1(failed and skewed(900, 30000) or skewed(120, 5000)))
end

local ACTIONS = { "Add to cart", "Buy now", "<button>", "Search", "Next image", "Size M", "Apply coupon" }
local THIRD_PARTIES = { "https://cdn.example.com", "https://fonts.example.net", "https://tags.example.org",
  "https://ads.example.io", "https://cdn.jsdelivr.example", "https://maps.example.com" }

local function hex(bytes)
  local out = {}
  for i = 1, bytes do out[i] = format("%02x", random(0, 255)) end
  return concat(out)
end

local function action_event()
  local frustration = weighted({ { 0.85, "" }, { 0.07, ',"frustration":["rage"]' }, { 0.05, ',"frustration":["dead"]' }, { 0.03, ',"frustration":["error"]' } })
  return format('{"type":"action","name":%s,"kind":"%s","dur":%s,"errors":0,"requests":%d,"clicks":%d%s}',
    json_string(pick(ACTIONS)), pick({ "click", "click", "tap", "key" }), f1(skewed(250, 10000)), random(0, 3),
    frustration:find("rage") and random(3, 6) or 1, frustration)
end

local function loaf_event()
  local scripts = {}
  for i = 1, random(1, 3) do
    scripts[i] = format("%s:%s", json_string(i == 1 and "https://shop.example.com" or pick(THIRD_PARTIES)), f1(skewed(60, 2000)))
  end
  return format('{"type":"loaf","count":%d,"blocking":%s,"scripts":{%s}}', random(1, 8), f1(skewed(120, 5000)), concat(scripts, ","))
end

local function resources_event()
  local origins, seen = {}, {}
  for i = 1, random(3, 6) do
    local origin = i == 1 and "https://shop.example.com" or pick(THIRD_PARTIES)
    if not seen[origin] then
      seen[origin] = true
      local durations = {}
      for j = 1, random(2, 8) do durations[j] = format("%d", math.floor(skewed(90, 8000))) end
      local untimed = i > 1 and random() < 0.5 and #durations or 0
      origins[#origins + 1] = format('%s:{"bytes":%d,"untimed":%d,"durations":[%s]}', json_string(origin),
        untimed > 0 and 0 or random(1000, 400000), untimed, concat(durations, ","))
    end
  end
  return format('{"type":"resources","origins":{%s},"types":{"script":%d,"img":%d,"css":%d,"fetch":%d}}',
    concat(origins, ","), random(2, 12), random(1, 30), random(1, 4), random(0, 6))
end

local function calls_event()
  local endpoints, seen = {}, {}
  for _ = 1, random(2, 5) do
    local key = format("%s https://api.example.com%s", pick({ "GET", "GET", "POST" }), format(pick(API), random(1, 5000)))
    if not seen[key] then
      seen[key] = true
      local durations, statuses = {}, {}
      for j = 1, random(1, 6) do
        durations[j] = format("%d", math.floor(skewed(120, 5000)))
        statuses[j] = format("%d", weighted({ { 0.9, 200 }, { 0.04, 404 }, { 0.03, 500 }, { 0.03, 0 } }))
      end
      local trace = random() < 0.33 and format(',"trace":"%s","traced":%s', hex(16), durations[1]) or ""
      endpoints[#endpoints + 1] = format('%s:{"durations":[%s],"status":[%s]%s}', json_string(key),
        concat(durations, ","), concat(statuses, ","), trace)
    end
  end
  return format('{"type":"calls","endpoints":{%s}}', concat(endpoints, ","))
end

local function custom_event()
  return format('{"type":"custom","name":"%s","value":%s}',
    pick({ "checkout_render", "search_results", "img_gallery_ready", "hydration" }), f1(skewed(300, 10000)))
end

-- ---------------------------------------------------------------------------------------------
-- Beacons.

local function envelope(sent, events)
  local parts = {
    format('{"v":1,"sid":"%s","pid":"%s","url":%s', random_id(), random_id(), json_string(page_url())),
  }
  local ref = referrer()
  if ref ~= "" or random() < 0.5 then parts[#parts + 1] = ',"ref":' .. json_string(ref) end
  parts[#parts + 1] = format(',"nav":"%s","sent":%.0f,"seq":%d', weighted({
    { 0.8, "navigate" }, { 0.08, "reload" }, { 0.07, "back-forward" }, { 0.03, "back-forward-cache" }, { 0.02, "prerender" },
  }), sent, random(0, 2))
  if random() < 0.7 then -- Chromium: Network Information API and deviceMemory
    parts[#parts + 1] = format(',"conn":{"type":"%s","rtt":%d,"down":%s,"save":%s},"dev":{"mem":%s,"cores":%d,"touch":%d,"vw":%d,"vh":%d,"sw":%d,"sh":%d}',
      pick({ "4g", "4g", "4g", "3g", "slow-2g" }), 50 * random(0, 12), f1(pick({ 1.5, 3.2, 10, 10 })), random() < 0.05 and "true" or "false",
      pick({ "0.5", "2", "4", "8", "8" }), pick({ 2, 4, 8, 8, 12 }), pick({ 0, 0, 5, 10 }), pick({ 390, 412, 1280, 1440, 1920 }),
      pick({ 664, 800, 900, 1080 }), pick({ 412, 800, 1920 }), pick({ 915, 1280, 1080 }))
  else -- Safari / Firefox: no connection info, no deviceMemory
    parts[#parts + 1] = format(',"dev":{"cores":%d,"touch":%d,"vw":%d,"vh":%d,"sw":%d,"sh":%d}',
      pick({ 4, 8, 10 }), pick({ 0, 5 }), pick({ 390, 430, 1440, 1512 }), pick({ 664, 745, 900, 982 }),
      pick({ 390, 834, 1512 }), pick({ 844, 1194, 982 }))
  end
  parts[#parts + 1] = ',"events":[' .. concat(events, ",") .. "]}"
  return concat(parts)
end

local function summary_events(sent)
  local ttfb = skewed(180, 3000)
  return {
    VITALS.LCP(sent, ttfb), VITALS.CLS(sent), VITALS.INP(sent), VITALS.FCP(sent), VITALS.TTFB(sent, ttfb), nav_event(ttfb),
  }
end

local KINDS = {
  summary = function(sent) -- 5 vitals + nav
    return summary_events(sent)
  end,
  small = function(sent) -- early or update beacon: 1-2 vitals
    local pair = pick({ { "FCP", "TTFB" }, { "CLS" }, { "INP" }, { "LCP" }, { "CLS", "INP" }, { "TTFB" } })
    local events = {}
    for i, name in ipairs(pair) do events[i] = VITALS[name](sent) end
    return events
  end,
  problem = function(sent) -- a JS error or a failed request, with 0-2 vitals around it
    local events = {}
    for i = 1, random(0, 2) do events[i] = VITALS[pick({ "CLS", "INP", "LCP", "FCP" })](sent) end
    if random() < 0.55 then events[#events + 1] = error_event() else events[#events + 1] = request_event(true) end
    if random() < 0.2 then events[#events + 1] = request_event(random() < 0.5) end
    return events
  end,
  exit = function(sent) -- the page's last beacon with every feature on: final CLS and INP, actions, ...
    local events = { VITALS.CLS(sent), VITALS.INP(sent) }
    for _ = 1, random(1, 3) do events[#events + 1] = action_event() end
    if random() < 0.2 then events[#events + 1] = format('{"type":"event","name":"purchase","value":%s}', f1(uniform(5, 400))) end
    events[#events + 1] = loaf_event()
    events[#events + 1] = resources_event()
    events[#events + 1] = calls_event()
    return events
  end,
  large = function(sent) -- 12 events: summary + requests, errors, custom timings
    local events = summary_events(sent)
    events[#events + 1] = error_event()
    events[#events + 1] = request_event(true)
    while #events < 12 do
      events[#events + 1] = random() < 0.6 and request_event(false) or custom_event()
    end
    return events
  end,
}

local MIX = FEATURES
  and { { 0.45, "summary" }, { 0.20, "exit" }, { 0.20, "small" }, { 0.10, "problem" }, { 0.05, "large" } }
  or { { 0.60, "summary" }, { 0.25, "small" }, { 0.10, "problem" }, { 0.05, "large" } }

-- ---------------------------------------------------------------------------------------------
-- wrk hooks.

local threads = {}
local thread_count = 0

function setup(thread)
  thread_count = thread_count + 1
  thread:set("thread_index", thread_count)
  threads[thread_count] = thread
end

local pool, pool_len, cursor = nil, 0, 0
statuses = {}      -- globals: read back by done() through thread:get()
pool_stats = nil

function init(args)
  local index = thread_index or 1
  math.randomseed(SEED + index)
  vital_seq = 0
  local now_ms = os.time() * 1000
  local headers = {
    ["Host"] = wrk.headers["Host"],
    ["Content-Type"] = "text/plain;charset=UTF-8",
    ["Origin"] = ORIGIN,
    ["User-Agent"] = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
    ["Accept"] = "*/*",
  }
  local dump = (DUMP and DUMP ~= "" and index == 1) and assert(io.open(DUMP, "w")) or nil
  -- The mix exactly (up to rounding), in random order.
  local kinds = {}
  for _, share in ipairs(MIX) do
    for _ = 1, math.floor(share[1] * POOL_SIZE + 0.5) do kinds[#kinds + 1] = share[2] end
  end
  while #kinds < POOL_SIZE do kinds[#kinds + 1] = "summary" end
  for i = #kinds, 2, -1 do
    local j = random(1, i)
    kinds[i], kinds[j] = kinds[j], kinds[i]
  end
  local counts = { summary = 0, small = 0, problem = 0, large = 0, exit = 0 }
  local total, min_len, max_len = 0, math.huge, 0
  pool = {}
  for i = 1, POOL_SIZE do
    local kind = kinds[i]
    local sent = now_ms + random(0, 999)
    local body = envelope(sent, KINDS[kind](sent))
    counts[kind] = counts[kind] + 1
    total = total + #body
    if #body < min_len then min_len = #body end
    if #body > max_len then max_len = #body end
    if dump then dump:write(body, "\n") end
    if FORWARDED_FOR then
      -- Spread over public unicast space (never 0/8, 10/8 or 127/8), deterministic per body.
      local first = 1 + (i * 37) % 223
      if first == 10 or first == 127 then first = first + 1 end
      headers["X-Forwarded-For"] = format("%d.%d.%d.%d", first, (i * 101) % 256, (i * 53) % 256, 1 + (i * 29) % 254)
    end
    pool[i] = wrk.format("POST", wrk.path, headers, body)
  end
  if dump then dump:close() end
  pool_len = #pool
  cursor = 0
  pool_stats = {
    n = pool_len, summary = counts.summary, small = counts.small, problem = counts.problem, large = counts.large,
    exit = counts.exit,
    bytes_min = min_len, bytes_avg = math.floor(total / pool_len + 0.5), bytes_max = max_len,
  }
end

function request()
  cursor = cursor + 1
  if cursor > pool_len then cursor = 1 end
  return pool[cursor]
end

if TRACK_STATUS then
  function response(status)
    statuses[status] = (statuses[status] or 0) + 1
  end
end

function done(summary, latency, requests)
  local merged, codes = {}, {}
  for _, thread in ipairs(threads) do
    local stats = thread:get("pool_stats")
    if stats and thread == threads[1] then
      io.write(format("BEACON_POOL %d summary=%d small=%d problem=%d large=%d exit=%d bytes_min=%d bytes_avg=%d bytes_max=%d\n",
        stats.n, stats.summary, stats.small, stats.problem, stats.large, stats.exit, stats.bytes_min, stats.bytes_avg, stats.bytes_max))
    end
    for code, count in pairs(thread:get("statuses") or {}) do
      if not merged[code] then codes[#codes + 1] = code end
      merged[code] = (merged[code] or 0) + count
    end
  end
  if not TRACK_STATUS then
    io.write("STATUS_TRACKING off (BEACON_TRACK_STATUS=0)\n")
    return
  end
  table.sort(codes)
  local bad = 0
  for _, code in ipairs(codes) do
    io.write(format("STATUS %d %d\n", code, merged[code]))
    if code < 200 or code > 299 then bad = bad + merged[code] end
  end
  io.write(format("NON_2XX %d\n", bad))
  if bad > 0 then
    io.write(format("!!!!!!!! %d NON-2XX ANSWERS (of %d): the server rejected beacons; these numbers do not measure beacon handling !!!!!!!!\n",
      bad, summary.requests))
  end
end
