-- wrk script: the same data as a Faro payload and as a native beacon, to compare what translating a
-- Faro batch costs (benches/README.md, "Other agents"):
--
--   FARO_FORMAT=faro    POST /collect                    crates/rum-collector/fixtures/faro_batch_2.json
--                                                        (LCP with attribution and a thrown error, as the
--                                                        Faro Web SDK 2.12.1 sent them), x-api-key: demo
--   FARO_FORMAT=native  POST /rum/v1/beacon?key=demo     the native beacon it translates to
--
-- Each request gets a fresh page view id (Faro's navigation id, the native pid), so the
-- aggregator counts new page views as it would for real traffic.

local FORMAT = os.getenv("FARO_FORMAT") or "native"
local POOL_SIZE = 1000
local format = string.format

local FARO = [[{"meta":{"sdk":{"name":"faro-web","version":"2.12.1"},"app":{"name":"shop","version":"1.2.3","environment":"production"},"browser":{"name":"Chrome","version":"156.0.0.0","os":"Linux unknown","userAgent":"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 Safari/537.36","language":"en-US","mobile":false,"brands":"unknown","viewportWidth":"1280","viewportHeight":"720"},"os":{"name":"Linux"},"page":{"url":"https://shop.example.com/"},"session":{"id":"MeNYxRdcCr"}},"exceptions":[{"type":"TypeError","value":"boom","timestamp":"2026-12-02T07:09:08.044Z","stacktrace":{"frames":[{"filename":"https://shop.example.com/","function":"HTMLButtonElement.onclick","lineno":23,"colno":215}]}}],"measurements":[{"type":"web-vitals","values":{"lcp":292,"delta":292,"element_render_delay":265.79999999701977,"time_to_first_byte":26.200000002980232},"timestamp":"2026-12-02T07:09:08.100Z","context":{"id":"v6-1796195346934-9755271076736","rating":"good","navigation_type":"navigate","navigation_entry_id":"%s","element":"html>body>h1"}}]}]]

local NATIVE = [[{"v":1,"sid":"MeNYxRdcCr","pid":"%s","url":"https://shop.example.com/","nav":"navigate","sent":%d,"events":[{"type":"vital","name":"LCP","value":292,"id":"v6-1796195346934-9755271076736","rating":"good","attr":{"renderDelay":265.79999999701977,"ttfb":26.200000002980232,"target":"html>body>h1"}},{"type":"error","kind":"error","message":"TypeError: boom","source":"https://shop.example.com/","line":23,"col":215,"stack":"at HTMLButtonElement.onclick (https://shop.example.com/:23:215)"}]}]]

local pool, cursor = {}, 0

function init(args)
  math.randomseed(20261202)
  local now_ms = os.time() * 1000
  local headers = {
    ["Host"] = wrk.headers["Host"],
    ["Content-Type"] = FORMAT == "faro" and "application/json" or "text/plain;charset=UTF-8",
    ["Origin"] = "https://shop.example.com",
    ["User-Agent"] = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 Safari/537.36",
  }
  if FORMAT == "faro" then headers["x-api-key"] = "demo" end
  for i = 1, POOL_SIZE do
    local page_view = format("nav%07d", i)
    local body = FORMAT == "faro" and format(FARO, page_view) or format(NATIVE, page_view, now_ms)
    pool[i] = wrk.format("POST", nil, headers, body)
  end
end

function request()
  cursor = cursor % POOL_SIZE + 1
  return pool[cursor]
end
