// Beacon packing under the 64 KiB cap, string clipping and URL scrubbing (src/beacon.js).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MAX_BEACON_BYTES, MAX_BEACON_EVENTS, byteLength, clip, packBeacons, stripUrl, stripUrlsIn } from '../../src/beacon.js';

const head = { v: 1, sid: 'aaaaaaaaaaaaaaaa', pid: 'bbbbbbbbbbbbbbbb', url: 'https://shop.example/p', nav: 'navigate', sent: 1763760000000 };
const vitals = ['LCP', 'CLS', 'INP', 'FCP', 'TTFB'].map((name, index) => ({ type: 'vital', name, value: index + 0.5, id: `v5-1-${index}` }));
const error = (index, stackBytes) => ({ type: 'error', kind: 'error', message: `E${index}`, stack: 'x'.repeat(stackBytes) });

/** Parses every body and checks the limits every beacon must respect. */
const check = (bodies) =>
  bodies.map((body) => {
    assert.ok(byteLength(body) <= MAX_BEACON_BYTES, `body of ${byteLength(body)} bytes`);
    assert.ok(byteLength(body) < 65536);
    const beacon = JSON.parse(body);
    assert.deepEqual({ ...beacon, events: undefined }, { ...head, events: undefined });
    assert.ok(beacon.events.length <= MAX_BEACON_EVENTS);
    return beacon;
  });

test('a small page view is one beacon with the head and every event', () => {
  const [beacon, ...rest] = check(packBeacons(head, [...vitals, error(0, 100)]));
  assert.equal(rest.length, 0);
  assert.deepEqual(beacon.events, [...vitals, error(0, 100)]);
});

test('a page view with no events is still one beacon (it counts as a page view)', () => {
  const bodies = packBeacons(head, []);
  assert.equal(bodies.length, 1);
  assert.deepEqual(JSON.parse(bodies[0]), { ...head, events: [] });
});

test('large events split across beacons under 64 KiB, vitals first, nothing lost or repeated', () => {
  const events = [...vitals, ...Array.from({ length: 40 }, (_, index) => error(index, 8000))];
  const beacons = check(packBeacons(head, events));
  assert.ok(beacons.length >= 5, `${beacons.length} beacons`);
  assert.deepEqual(beacons[0].events.slice(0, 5), vitals);
  assert.deepEqual(beacons.flatMap((beacon) => beacon.events), events);
  // Greedy packing: each beacon but the last is nearly full.
  for (const body of packBeacons(head, events).slice(0, -1)) assert.ok(byteLength(body) > MAX_BEACON_BYTES - 8200);
});

test('more than 256 events split by count', () => {
  const events = Array.from({ length: 600 }, (_, index) => ({ type: 'custom', name: `m${index}`, value: index }));
  const beacons = check(packBeacons(head, events));
  assert.deepEqual(beacons.map((beacon) => beacon.events.length), [256, 256, 88]);
  assert.deepEqual(beacons.flatMap((beacon) => beacon.events), events);
});

test('sizes are counted in UTF-8 bytes, not characters', () => {
  const wide = Array.from({ length: 20 }, (_, index) => ({ type: 'error', kind: 'error', message: `${index}` + '€'.repeat(1500) }));
  const bodies = packBeacons(head, wide);
  check(bodies);
  // 20 x ~4.5 KB of UTF-8 cannot fit in one 64 KB body although it is only ~30 000 characters.
  assert.ok(bodies.length >= 2);
});

test('an event that cannot fit even alone is dropped, the rest is kept', () => {
  const beacons = check(packBeacons(head, [...vitals, error(1, 70000), error(2, 10)]));
  assert.deepEqual(beacons.flatMap((beacon) => beacon.events), [...vitals, error(2, 10)]);
});

test('clip: at most the byte limit, never a broken character or lone surrogate', () => {
  assert.equal(clip('short', 1024), 'short');
  assert.equal(byteLength(clip('a'.repeat(5000), 1024)), 1021);
  for (const text of ['€'.repeat(800), '😀'.repeat(600), 'a' + '😀'.repeat(600)]) {
    const clipped = clip(text, 1024);
    assert.ok(byteLength(clipped) <= 1024);
    assert.ok(clipped.length > 300);
    assert.doesNotMatch(clipped, /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/);
  }
  // A lone surrogate (which the collector's JSON parser rejects) becomes U+FFFD.
  assert.equal(clip('a\ud800b', 100), 'a\ufffdb');
  assert.equal(clip(42, 100), '42');
});

test('default URL scrubbing drops query, fragment and credentials', () => {
  assert.equal(stripUrl('https://shop.example/products/42?utm_source=mail&email=a@b.c#reviews'), 'https://shop.example/products/42');
  assert.equal(stripUrl('https://user:secret@shop.example/a#x?y'), 'https://shop.example/a');
  assert.equal(stripUrl('https://shop.example/'), 'https://shop.example/');
});

test('URLs inside messages and stacks lose their query strings, keep line and column', () => {
  const stack = 'TypeError: x\n    at f (https://shop.example/app.js?v=3&token=abc:10:5)\n    at https://shop.example/b.js#frag:1:2';
  assert.equal(
    stripUrlsIn(stack),
    'TypeError: x\n    at f (https://shop.example/app.js:10:5)\n    at https://shop.example/b.js:1:2',
  );
  assert.equal(stripUrlsIn('Failed to load https://api.example/x?key=secret now?'), 'Failed to load https://api.example/x now?');
});
