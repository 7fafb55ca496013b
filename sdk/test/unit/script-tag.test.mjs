// dist/rum.js configured by its script tag's data-* attributes (data-release -> release,
// data-environment -> environment) and by queued init() calls, run in a bare global object with
// just enough of a browser to send one beacon (every measuring part disabled).
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import vm from 'node:vm';

const distDir = resolve(dirname(fileURLToPath(import.meta.url)), '../../dist');
const source = await readFile(join(distDir, 'rum.js'), 'utf8');

/** The beacons (parsed) rum.js sends on flush() with these data-* attributes and queued calls. */
const beacons = (dataset, queued = []) => {
  const sent = [];
  const context = vm.createContext({
    URL,
    TextEncoder,
    TextDecoder,
    crypto,
    setTimeout: () => {},
    addEventListener: () => {},
    location: { href: 'https://shop.example/' },
    performance: { getEntriesByType: () => [], now: () => 0 },
    navigator: { sendBeacon: (url, body) => sent.push(JSON.parse(body)) },
    document: {
      referrer: '',
      readyState: 'complete',
      currentScript: { src: 'https://collector.example/rum.js', dataset: { key: 'SITE_KEY', disable: 'vitals navigation errors requests spa hints actions', ...dataset } },
    },
    rum: { q: queued },
  });
  context.self = context;
  vm.runInContext(source, context);
  context.rum.flush();
  return sent;
};

test('data-release and data-environment are sent as rel and env', () => {
  const [beacon] = beacons({ release: '1.4.2', environment: 'production' });
  assert.equal(beacon.rel, '1.4.2');
  assert.equal(beacon.env, 'production');
});

test('queued init() options are merged over the data-* attributes', () => {
  const [beacon] = beacons({ release: '1.4.2', environment: 'production' }, [['init', [{ environment: 'staging' }]]]);
  assert.deepEqual([beacon.rel, beacon.env], ['1.4.2', 'staging']);
});

test('no data-release or data-environment, a bare one (true) or an invalid one: no rel, no env', () => {
  for (const dataset of [{}, { release: '', environment: '' }, { release: 'false', environment: 'pro duction' }, { release: 'r'.repeat(65) }]) {
    const sent = beacons(dataset);
    assert.equal(sent.length, 1, JSON.stringify(dataset));
    assert.deepEqual(Object.keys(sent[0]), ['v', 'sid', 'pid', 'url', 'nav', 'sent', 'seq', 'events'], JSON.stringify(dataset));
  }
});
