// In real headless Chromium against `rum standalone`: a page answered with
// `Server-Timing: traceparent;desc="00-<trace>-<span>-01"` whose script lists a local "API" (its own
// port) in data-trace-origins. The page fetches from the API (with a header of its own, so the
// call is preflighted), from a second local server that is not listed, and makes an XHR to the
// API. The API servers' logs show the traceparent on the listed origin's calls only (valid ids,
// flags 01, the preflight allowing it, the page's header kept); the beacons carry the `calls`
// summary linked to those trace ids and the document's trace; /metrics shows the calls by
// endpoint, and the OpenMetrics scrape their trace ids as exemplars.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer } from 'node:http';
import { after, before, test } from 'node:test';
import { startEnvironment, waitFor } from './harness.mjs';

const SITE = 'traces';
const KEY = `${SITE}-key`;
/** The document's backend trace, as its response names it in Server-Timing. */
const PAGE_TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
const SERVER_TIMING = `traceparent;desc="00-${PAGE_TRACE}-00f067aa0ba902b7-01"`;
const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;

/**
 * A local API on its own port: records every request (method, path, headers) and answers CORS,
 * its preflight allowing traceparent and tracestate (what docs/sdk.md asks of a backend).
 */
async function api() {
  const requests = [];
  const server = createServer((req, res) => {
    requests.push({ method: req.method, path: req.url, headers: req.headers });
    const cors = { 'access-control-allow-origin': '*' };
    if (req.method == 'OPTIONS') {
      return res
        .writeHead(204, { ...cors, 'access-control-allow-methods': 'GET', 'access-control-allow-headers': 'traceparent, tracestate, x-page' })
        .end();
    }
    res.writeHead(200, { ...cors, 'content-type': 'application/json' }).end('{}');
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { server, requests, port: server.address().port, origin: `http://127.0.0.1:${server.address().port}` };
}

let env;
/** Listed in data-trace-origins. */
let traced;
/** Not listed. */
let other;
before(async () => {
  traced = await api();
  other = await api();
  // allowed_lateness 0: a minute's histograms (and their exemplars) are exported once it ended.
  env = await startEnvironment([SITE], { actions: true, aggregator: 'allowed_lateness = "0s"' });
}, { timeout: 60000 });
after(async () => {
  await env?.stop();
  traced?.server.close();
  other?.server.close();
}, { timeout: 30000 });

/** The /metrics text in the OpenMetrics format (the one that carries exemplars). */
const openMetrics = async () =>
  (await fetch(`${env.rum.adminUrl}/metrics`, { headers: { accept: 'application/openmetrics-text; version=1.0.0' } })).text();

/** Sent by the page: the trace ids of the two traced calls, and the beacons. */
let sent;

test('calls to the listed origin carry a traceparent, the others none; the beacons link them', { timeout: 60000 }, async () => {
  const page = await env.newPage();
  const query = new URLSearchParams({ key: KEY, 'trace-origins': traced.origin, api: traced.origin, other: other.origin, 'server-timing': SERVER_TIMING });
  await page.goto(`${env.pageOrigin}/traces.html?${query}`);
  await page.waitForFunction(() => window.rum && window.rum.flush);
  assert.deepEqual(await page.evaluate(() => window.__calls()), [200, 200, 200]);
  await page.goto(`${env.pageOrigin}/blank.html`);
  await page.context().close();
  assert.deepEqual(page.pageErrors, []);

  // The API's log: a preflight for the fetch (which has a header of the page's own), then the
  // fetch with the page's header and ours, and the XHR with ours.
  const byPath = (server, method, path) => server.requests.filter((request) => request.method == method && request.path == path);
  const preflights = traced.requests.filter((request) => request.method == 'OPTIONS');
  assert.ok(preflights.length >= 1, JSON.stringify(traced.requests.map((request) => [request.method, request.path])));
  for (const preflight of preflights) assert.match(preflight.headers['access-control-request-headers'], /traceparent/);
  const [fetched] = byPath(traced, 'GET', '/items/42');
  const [xhr] = byPath(traced, 'GET', '/xhr/9');
  assert.ok(fetched && xhr, JSON.stringify(traced.requests.map((request) => [request.method, request.path])));
  assert.equal(fetched.headers['x-page'], 'kept', "the page's own header is kept");
  const ids = [fetched, xhr].map((request) => {
    const [, trace, parent, flags] = TRACEPARENT.exec(request.headers.traceparent || '') || assert.fail(JSON.stringify(request.headers));
    assert.equal(flags, '01', 'this session is sampled');
    assert.notEqual(trace, '0'.repeat(32));
    assert.notEqual(parent, '0'.repeat(16));
    assert.equal(request.headers.tracestate, undefined, 'no traceState option');
    return trace;
  });
  assert.notEqual(ids[0], ids[1], 'a fresh trace per call');
  const [untraced] = byPath(other, 'GET', '/items/7');
  assert.ok(untraced, JSON.stringify(other.requests));
  assert.equal(untraced.headers.traceparent, undefined, 'not a listed origin');
  assert.equal(other.requests.filter((request) => request.method == 'OPTIONS').length, 0, 'no preflight for it either');

  // The exit beacon: every beacon accepted, the document's trace in each, and one calls event.
  const events = (type) => env.beaconsFor(KEY).flatMap((beacon) => beacon.events).filter((event) => event.type == type);
  await waitFor('the exit beacon with the calls', () => events('calls').length, 10000);
  const beacons = env.beaconsFor(KEY);
  for (const beacon of beacons) {
    assert.equal(beacon.status, 202, beacon.answer);
    assert.equal(beacon.trace, PAGE_TRACE, 'the Server-Timing trace of the document');
  }
  const calls = events('calls');
  assert.equal(calls.length, 1, JSON.stringify(calls));
  const { endpoints } = calls[0];
  const entry = (key) => endpoints[key] || assert.fail(`no ${key} in ${JSON.stringify(endpoints)}`);
  const itemsCall = entry(`GET ${traced.origin}/items/42`);
  const xhrCall = entry(`GET ${traced.origin}/xhr/9`);
  const otherCall = entry(`GET ${other.origin}/items/7`);
  assert.deepEqual(itemsCall.status, [200]);
  assert.equal(itemsCall.durations.length, 1);
  assert.equal(itemsCall.trace, ids[0]);
  assert.equal(itemsCall.traced, itemsCall.durations[0]);
  assert.equal(xhrCall.trace, ids[1]);
  assert.deepEqual(otherCall.status, [200]);
  assert.equal('trace' in otherCall, false);
  // Our own beacons and configuration request are no calls of the page.
  for (const key of Object.keys(endpoints)) assert.ok(!key.includes(env.collectorOrigin), key);
  sent = { ids, endpoints };
});

test('/metrics: calls by endpoint, and the trace ids as exemplars (OpenMetrics)', { timeout: 120000 }, async () => {
  assert.ok(sent, 'the first test sent the calls');
  const endpoint = (path) => `127.0.0.1:${traced.port}${path}`;
  const callBuckets = (text, path) =>
    text
      .split('\n')
      .filter(
        (line) =>
          line.startsWith('rum_request_duration_seconds_bucket{') &&
          line.includes(`site="${SITE}"`) &&
          line.includes('method="GET"') &&
          line.includes(`endpoint="${endpoint(path)}"`) &&
          line.includes('status="2xx"') &&
          line.includes('le="'),
      );
  const plain = async () => (await fetch(`${env.rum.adminUrl}/metrics`)).text();
  await waitFor('the calls by endpoint on /metrics', async () => callBuckets(await plain(), '/items/:id').length, 30000);
  assert.ok(callBuckets(await plain(), '/xhr/:id').length, 'the XHR to the API');

  // Exemplars: the traced call's trace id on its duration bucket, the document's on the page
  // view's histograms (exported once its minute has ended: up to a minute from now).
  const exemplar = (trace) => `# {trace_id="${trace}"}`;
  const text = await waitFor(
    "the document's trace as an exemplar",
    async () => {
      const scraped = await openMetrics();
      return scraped.split('\n').some((line) => line.startsWith('rum_ttfb_seconds_bucket{') && line.includes(exemplar(PAGE_TRACE))) && scraped;
    },
    90000,
  );
  const lines = text.split('\n');
  assert.ok(
    callBuckets(text, '/items/:id').some((line) => line.includes(exemplar(sent.ids[0]))),
    callBuckets(text, '/items/:id').join('\n') || 'no rum_request_duration_seconds_bucket lines for the API',
  );
  assert.ok(callBuckets(text, '/xhr/:id').some((line) => line.includes(exemplar(sent.ids[1]))), callBuckets(text, '/xhr/:id').join('\n'));
  // Never a label: the trace ids appear only after `#`.
  for (const line of lines) if (line.includes(PAGE_TRACE) || line.includes(sent.ids[0])) assert.match(line, /^[^#]+ # \{trace_id="[0-9a-f]{32}"\}/, line);
});
