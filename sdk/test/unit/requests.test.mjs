// dist/rum.js's fetch and XHR wrappers in a bare global object with a fake fetch and
// XMLHttpRequest (Node's Headers and Request): the `calls` summary as sent, the traceparent on
// calls to `traceOrigins` (the page's headers kept, its own traceparent left alone, no-cors
// calls untouched), its sampled flag with sampling and consent, and Server-Timing's trace id in
// the beacon.
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import vm from 'node:vm';

const distDir = resolve(dirname(fileURLToPath(import.meta.url)), '../../dist');
const source = await readFile(join(distDir, 'rum.js'), 'utf8');

const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-(0[01])$/;
const API = 'https://api.example';
const OTHER = 'https://other.example';

/** A stand-in XMLHttpRequest: records open(), the headers set, and dispatches loadend on finish(). */
class FakeXhr {
  open(method, url) {
    this.opened = [method, url];
    this.headers = [];
    this.status = 0;
  }
  setRequestHeader(name, value) {
    this.headers.push([name, value]);
  }
  send() {
    FakeXhr.sent.push(this);
  }
  addEventListener(type, listener, options) {
    (this.listeners ||= []).push([type, listener, options?.once]);
  }
  /** Ends the request with `status` (an abort fires abort, then loadend). */
  finish(status, aborted) {
    this.status = status;
    for (const type of aborted ? ['abort', 'loadend'] : ['loadend'])
      for (const entry of [...this.listeners])
        if (entry[0] == type) {
          if (entry[2]) this.listeners.splice(this.listeners.indexOf(entry), 1);
          entry[1]({ type });
        }
  }
}

/**
 * rum.js with these data-* attributes and queued calls, on a page at https://shop.example/ whose
 * fetch answers `answer(input, init)` (default: status 200) and records what it got.
 */
const page = ({ dataset = {}, queued = [], navigation, answer = () => ({ status: 200, type: 'cors' }) } = {}) => {
  const beacons = [];
  const fetched = [];
  const listeners = {};
  let clock = 0;
  FakeXhr.sent = [];
  const fetch = (...args) => {
    fetched.push(args);
    const result = answer(...args);
    return result instanceof Error ? Promise.reject(result) : Promise.resolve(result);
  };
  const context = vm.createContext({
    URL,
    TextEncoder,
    TextDecoder,
    crypto,
    Headers,
    Request,
    fetch,
    XMLHttpRequest: FakeXhr,
    setTimeout: () => {},
    addEventListener: (type, listener) => (listeners[type] ||= []).push(listener),
    location: { href: 'https://shop.example/cart' },
    // Every reading is 10 ms later: a call ending right after it started took 10 ms.
    performance: { getEntriesByType: (type) => (type == 'navigation' && navigation ? [navigation] : []), now: () => (clock += 10) },
    navigator: { sendBeacon: (url, body) => beacons.push(JSON.parse(body)) },
    document: {
      referrer: '',
      readyState: 'complete',
      visibilityState: 'visible',
      currentScript: {
        src: 'https://collector.example/rum.js',
        dataset: { key: 'SITE_KEY', disable: 'vitals navigation errors spa hints actions frames resources', remoteConfig: 'false', ...dataset },
      },
    },
    rum: { q: queued },
  });
  context.self = context;
  vm.runInContext(source, context);
  return {
    context,
    beacons,
    fetched,
    xhrs: FakeXhr.sent,
    /** The page is left: the exit beacon with the summaries. */
    leave: () => listeners.pagehide?.forEach((listener) => listener({ type: 'pagehide' })),
    xhr: (method, url) => {
      const xhr = new context.XMLHttpRequest();
      xhr.open(method, url);
      return xhr;
    },
  };
};

/** The headers a fake fetch call went out with, as [name, value] pairs (lower-case names). */
const headersOf = ([input, init]) => [...new Headers(init?.headers ?? (input instanceof Request ? input.headers : undefined))];
const header = (call, name) => new Map(headersOf(call)).get(name);
const settle = () => new Promise((done) => setImmediate(done));
const events = (beacons, type) => beacons.flatMap((beacon) => beacon.events).filter((event) => event.type == type);

test('every call is summarised by method and URL; failed and slow ones are also request events', async () => {
  const { context, beacons, leave, xhr } = page({
    dataset: { slowRequestMs: '15' },
    answer: (input) => (String(input).includes('down') ? new TypeError('Failed to fetch') : { status: String(input).includes('missing') ? 404 : 200, type: 'cors' }),
  });
  await context.fetch(`${API}/items/42?token=secret`);
  await context.fetch(`${API}/items/42#top`, { method: 'post' });
  await context.fetch(`${API}/missing`);
  await context.fetch('/local/down').catch(() => {});
  const request = xhr('GET', `${API}/items/42`);
  request.send();
  request.finish(500);
  const aborted = xhr('GET', `${API}/aborted`);
  aborted.send();
  aborted.finish(0, true);
  await settle();
  leave();
  const [calls] = events(beacons, 'calls');
  assert.deepEqual(calls, {
    type: 'calls',
    endpoints: {
      [`GET ${API}/items/42`]: { durations: [10, 10], status: [200, 500] },
      [`POST ${API}/items/42`]: { durations: [10], status: [200] },
      [`GET ${API}/missing`]: { durations: [10], status: [404] },
      'GET https://shop.example/local/down': { durations: [10], status: [0] },
    },
  });
  assert.deepEqual(
    events(beacons, 'request').map((event) => [event.method, event.url, event.status]),
    [
      ['GET', `${API}/missing`, 404],
      ['GET', 'https://shop.example/local/down', 0],
      ['GET', `${API}/items/42`, 500],
    ],
  );
  // A delta: nothing new, no second calls event.
  leave();
  assert.equal(events(beacons, 'calls').length, 1);
});

test('calls to traced origins get a traceparent (flags 01), others none; the slowest traced call is linked', async () => {
  const { context, beacons, fetched, leave, xhr } = page({ dataset: { traceOrigins: `${API} https://b.example`, traceState: 'rum=1' } });
  const untracedInit = { headers: { 'x-page': '1' } };
  await context.fetch(`${OTHER}/items`, untracedInit);
  assert.equal(fetched[0][1], untracedInit, 'an untraced call gets the page\'s own arguments');
  assert.equal(header(fetched[0], 'traceparent'), undefined);
  await context.fetch(`${API}.evil.test/items`);
  assert.equal(header(fetched[1], 'traceparent'), undefined, 'an origin is matched exactly');

  // The page's headers, in each form fetch takes, stay; ours are added.
  const forms = [
    { headers: { 'X-Page': 'object' } },
    { headers: new Headers({ 'X-Page': 'headers' }) },
    { headers: [['X-Page', 'pairs']] },
  ];
  for (const init of forms) await context.fetch(`${API}/items`, { ...init, method: 'PUT' });
  await context.fetch(new Request(`${API}/items`, { method: 'PUT', headers: { 'X-Page': 'request' } }));
  const traced = fetched.slice(2);
  assert.deepEqual(
    traced.map((call) => header(call, 'x-page')),
    ['object', 'headers', 'pairs', 'request'],
  );
  const ids = traced.map((call) => {
    assert.equal(call[0].method, 'PUT');
    const [, trace, parent, flags] = TRACEPARENT.exec(header(call, 'traceparent')) || assert.fail(headersOf(call));
    assert.equal(flags, '01');
    assert.equal(header(call, 'tracestate'), 'rum=1');
    return [trace, parent];
  });
  assert.equal(new Set(ids.flat()).size, 8, 'fresh ids per call');

  const request = xhr('GET', `${API}/xhr`);
  request.send();
  const xhrHeaders = new Map(request.headers);
  assert.match(xhrHeaders.get('traceparent'), TRACEPARENT);
  assert.equal(xhrHeaders.get('tracestate'), 'rum=1');
  request.finish(200);
  const untracedXhr = xhr('GET', `${OTHER}/xhr`);
  untracedXhr.send();
  assert.deepEqual(untracedXhr.headers, []);
  untracedXhr.finish(200);

  await settle();
  leave();
  const [{ endpoints }] = events(beacons, 'calls');
  // Every PUT took 10 ms: the first of them is the slowest.
  assert.equal(endpoints[`PUT ${API}/items`].trace, ids[0][0]);
  assert.equal(endpoints[`PUT ${API}/items`].traced, 10);
  assert.equal(endpoints[`GET ${API}/xhr`].trace, xhrHeaders.get('traceparent').slice(3, 35));
  assert.equal('trace' in endpoints[`GET ${OTHER}/items`], false);
  assert.equal('trace' in endpoints[`GET ${OTHER}/xhr`], false);
});

test('a traceparent the page set stays as it is (and is not linked); no-cors calls get no header', async () => {
  const { context, beacons, fetched, leave, xhr } = page({ dataset: { traceOrigins: API } });
  const own = '00-11111111111111111111111111111111-2222222222222222-01';
  await context.fetch(`${API}/own`, { headers: { TraceParent: own } });
  assert.equal(header(fetched[0], 'traceparent'), own);
  await context.fetch(new Request(`${API}/own`, { headers: { traceparent: own } }));
  assert.equal(header(fetched[1], 'traceparent'), own);
  await context.fetch(`${API}/opaque`, { mode: 'no-cors' });
  assert.equal(header(fetched[2], 'traceparent'), undefined);

  const request = xhr('GET', `${API}/own-xhr`);
  request.setRequestHeader('Traceparent', own);
  request.send();
  assert.deepEqual(request.headers, [['Traceparent', own]]);
  request.finish(200);
  // The same XMLHttpRequest opened again: the page's header went with the earlier open().
  request.open('GET', `${API}/own-xhr`);
  request.send();
  assert.match(new Map(request.headers).get('traceparent'), TRACEPARENT);
  request.finish(200);

  await settle();
  leave();
  const [{ endpoints }] = events(beacons, 'calls');
  assert.equal('trace' in endpoints[`GET ${API}/own`], false);
  assert.equal('trace' in endpoints[`GET ${API}/opaque`], false);
  assert.equal(endpoints[`GET ${API}/own-xhr`].durations.length, 2);
  assert.equal(endpoints[`GET ${API}/own-xhr`].trace, new Map(request.headers).get('traceparent').slice(3, 35));
});

test('a session sampled out still propagates, with flags 00, and sends nothing; without traceOrigins nothing is wrapped', async () => {
  const sampledOut = page({ dataset: { traceOrigins: API, sampleRate: '0' } });
  await sampledOut.context.fetch(`${API}/items`);
  assert.equal(TRACEPARENT.exec(header(sampledOut.fetched[0], 'traceparent'))[3], '00');
  await settle();
  sampledOut.leave();
  assert.deepEqual(sampledOut.beacons, []);

  const untouched = page({ dataset: { sampleRate: '0' } });
  assert.equal(untouched.context.fetch.name, 'fetch', 'the page\'s own fetch');
  assert.equal(untouched.context.XMLHttpRequest.prototype.send, FakeXhr.prototype.send);
});

test('before consent the flag is 00, after it 01 (what was measured before is sent with it)', async () => {
  const { context, beacons, fetched, leave } = page({ dataset: { traceOrigins: API, requireConsent: '' } });
  await context.fetch(`${API}/before`);
  context.rum.consent();
  await context.fetch(`${API}/after`);
  assert.deepEqual(
    fetched.map((call) => TRACEPARENT.exec(header(call, 'traceparent'))[3]),
    ['00', '01'],
  );
  await settle();
  leave();
  assert.deepEqual(Object.keys(events(beacons, 'calls')[0].endpoints), [`GET ${API}/before`, `GET ${API}/after`]);
});

test('Server-Timing traceparent: its trace id is the beacon\'s `trace`; a malformed one is not sent', () => {
  const trace = '4bf92f3577b34da6a3ce929d0e0e4736';
  const navigation = { type: 'navigate', serverTiming: [{ name: 'traceparent', description: `00-${trace}-00f067aa0ba902b7-01`, duration: 0 }] };
  const { context, beacons } = page({ navigation, dataset: { disable: 'vitals navigation errors requests hints actions frames resources' } });
  context.rum.flush();
  assert.equal(beacons[0].trace, trace);
  // (Soft and back-forward-cache page views carry none: test/unit/agent.test.mjs.)
  const none = page({ navigation: { type: 'navigate', serverTiming: [{ name: 'traceparent', description: 'garbage' }] } });
  none.context.rum.flush();
  assert.equal('trace' in none.beacons[0], false);
});
