// The pure parts of the `calls` summary and of trace context (src/calls.js): endpoint keys and
// caps, status alignment, the slowest traced call, origin matching, the traceparent format and
// flags, and the trace id of Server-Timing.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MAX_CALLS, add, noteCall, serverTrace, slot, traced, traceparent } from '../../src/calls.js';

test('slot and add keep the first 50 keys of a map and drop the rest', () => {
  const map = {};
  for (let i = 0; i < 60; i++) add(map, `https://o${i}.example`, i);
  assert.equal(Object.keys(map).length, 50);
  assert.equal(map['https://o49.example'], 49);
  assert.equal(map['https://o50.example'], undefined);
  add(map, 'https://o1.example', 10);
  assert.equal(map['https://o1.example'], 11, 'a kept key still adds up');
  assert.equal(slot(map, 'new', () => 0), undefined);
  assert.equal(slot({}, 'new', () => 7), 7);
});

test('calls by METHOD url: durations and statuses in call order, of the same length', () => {
  const endpoints = {};
  noteCall(endpoints, 'GET https://api.example/items/42', 120, 200);
  noteCall(endpoints, 'GET https://api.example/items/42', 80, 404);
  noteCall(endpoints, 'POST https://shop.example/api/cart', 300, 0);
  assert.deepEqual(endpoints, {
    'GET https://api.example/items/42': { durations: [120, 80], status: [200, 404] },
    'POST https://shop.example/api/cart': { durations: [300], status: [0] },
  });
  assert.equal(JSON.stringify(endpoints).includes('trace'), false, 'no trace fields without a traced call');
});

test('at most 50 endpoints and 5,000 calls of one endpoint per delta; later ones are dropped', () => {
  const endpoints = {};
  for (let i = 0; i < 55; i++) noteCall(endpoints, `GET https://api.example/${i}`, i, 200);
  assert.equal(Object.keys(endpoints).length, 50);
  assert.equal(endpoints['GET https://api.example/50'], undefined);
  const key = 'GET https://api.example/0';
  for (let i = 0; i < MAX_CALLS + 10; i++) noteCall(endpoints, key, 1, 500, 'f'.repeat(32));
  assert.equal(MAX_CALLS, 5000);
  assert.equal(endpoints[key].durations.length, 5000);
  assert.equal(endpoints[key].status.length, 5000);
  assert.deepEqual(endpoints[key].status.slice(0, 2), [200, 500]);
});

test('trace and traced: the slowest call of the key that carried our traceparent', () => {
  const endpoints = {};
  const key = 'GET https://api.example/items';
  noteCall(endpoints, key, 50, 200, 'a'.repeat(32));
  noteCall(endpoints, key, 900, 200);
  noteCall(endpoints, key, 120.5, 200, 'b'.repeat(32));
  noteCall(endpoints, key, 100, 200, 'c'.repeat(32));
  noteCall(endpoints, key, 120.5, 500, 'd'.repeat(32));
  assert.deepEqual(endpoints[key], {
    durations: [50, 900, 120.5, 100, 120.5],
    status: [200, 200, 200, 200, 500],
    // The untraced 900 ms call does not count; of two equally slow ones, the first stays.
    trace: 'b'.repeat(32),
    traced: 120.5,
  });
});

test('traced origins: exact origin strings, RegExps on the absolute URL, the tag\'s list', () => {
  const url = (text) => new URL(text);
  const origins = ['https://api.example.com', /^https:\/\/[a-z]+\.cdn\.example\/v2\//];
  assert.equal(traced(origins, url('https://api.example.com/items/42?x=1')), true);
  assert.equal(traced(origins, url('https://API.example.com:443/items')), true, 'the URL\'s origin is normalised');
  for (const other of [
    'https://api.example.com.evil.test/items',
    'https://evil.test/https://api.example.com',
    'http://api.example.com/items',
    'https://api.example.com:8443/items',
    'https://sub.api.example.com/items',
  ])
    assert.equal(traced(origins, url(other)), false, other);
  assert.equal(traced(origins, url('https://img.cdn.example/v2/a.json')), true);
  assert.equal(traced(origins, url('https://img.cdn.example/v1/a.json')), false);
  // data-trace-origins="https://a.example https://b.example:8080,https://c.example"
  const tag = ' https://a.example  https://b.example:8080,https://c.example ';
  for (const origin of ['https://a.example', 'https://b.example:8080', 'https://c.example']) assert.equal(traced(tag, url(`${origin}/x`)), true, origin);
  assert.equal(traced(tag, url('https://b.example/x')), false);
  // Without the option, or with a malformed one (a bare attribute is `true`): never, and no throw.
  for (const none of [undefined, null, '', true, 42, {}, []]) assert.ok(!traced(/** @type {any} */ (none), url('https://a.example/')), String(none));
});

test('traceparent: version 00, fresh lowercase hex ids per call, flags 01 when sampled, else 00', () => {
  const format = /^00-([0-9a-f]{32})-([0-9a-f]{16})-(0[01])$/;
  const seen = new Set();
  for (let i = 0; i < 200; i++) {
    const sampled = i % 2 == 0;
    const header = traceparent(sampled);
    const [, trace, parent, flags] = format.exec(header) || assert.fail(header);
    assert.equal(flags, sampled ? '01' : '00');
    assert.notEqual(trace, '0'.repeat(32));
    assert.notEqual(parent, '0'.repeat(16));
    assert.equal(header.slice(3, 35), trace, 'the trace id is characters 3..35');
    seen.add(trace).add(parent);
  }
  assert.equal(seen.size, 400, 'no id repeats');
});

test('traceparent never has an all-zero trace or parent id: those draws are thrown away', (context) => {
  const random = crypto.getRandomValues.bind(crypto);
  // The first draw has an all-zero trace id, the second an all-zero parent id, the third is random.
  const draws = [(bytes) => bytes.fill(0, 0, 32), (bytes) => bytes.fill(0, 32)];
  context.mock.method(crypto, 'getRandomValues', (bytes) => {
    random(bytes);
    return (draws.shift() || ((b) => b))(bytes);
  });
  const header = traceparent(true);
  assert.equal(draws.length, 0);
  assert.match(header, /^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
  assert.doesNotMatch(header, /-0{16}/);
});

test('Server-Timing: the trace id of a well-formed traceparent entry, else nothing', () => {
  const trace = '4bf92f3577b34da6a3ce929d0e0e4736';
  const entry = (...serverTiming) => ({ serverTiming });
  assert.equal(serverTrace(entry({ name: 'db', description: '', duration: 12 }, { name: 'traceparent', description: `00-${trace}-00f067aa0ba902b7-01`, duration: 0 })), trace);
  assert.equal(serverTrace(entry({ name: 'traceparent', description: `00-${trace}-00f067aa0ba902b7-00` })), trace);
  for (const description of [
    `01-${trace}-00f067aa0ba902b7-01`,
    `00-${trace.toUpperCase()}-00f067aa0ba902b7-01`,
    `00-${trace}-00f067aa0ba902b7`,
    `00-${trace}-00f067aa0ba902b7-01-extra`,
    `00-${trace.slice(1)}-00f067aa0ba902b7-01`,
    `00-${'0'.repeat(32)}-00f067aa0ba902b7-01`,
    '',
  ])
    assert.equal(serverTrace(entry({ name: 'traceparent', description })), undefined, description);
  assert.equal(serverTrace(entry({ name: 'trace', description: `00-${trace}-00f067aa0ba902b7-01` })), undefined);
  assert.equal(serverTrace(entry()), undefined);
  assert.equal(serverTrace({}), undefined, 'a browser without serverTiming');
});
