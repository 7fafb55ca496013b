// The built files where browser APIs are missing: rum.js in a global object that has none of
// what it uses, and rum.mjs imported in Node (server-side rendering). Nothing may throw, and the
// public API must be there and do nothing.
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import vm from 'node:vm';

const distDir = resolve(dirname(fileURLToPath(import.meta.url)), '../../dist');

test('rum.js with a data-key but no performance, observers, fetch, storage or events: no throw', async () => {
  const source = await readFile(join(distDir, 'rum.js'), 'utf8');
  // Only what a script tag needs to be found; every API rum.js measures with is absent.
  const script = { src: 'https://collector.example/rum.js', dataset: { key: 'SITE_KEY', requireConsent: '' } };
  const context = vm.createContext({ document: { currentScript: script }, location: { href: 'https://shop.example/' } });
  context.self = context;
  vm.runInContext(source, context);
  const rum = context.rum;
  assert.deepEqual(Object.keys(rum).sort(), ['consent', 'event', 'flush', 'init', 'mark']);
  rum.mark('x', 1);
  rum.event('purchase', { value: 1 });
  rum.consent();
  rum.flush();
  rum.init({ key: 'again' });
});

test('rum.mjs imports and runs in Node without a DOM (server-side rendering)', async () => {
  const module = await import(join(distDir, 'rum.mjs'));
  assert.deepEqual(Object.keys(module).sort(), ['consent', 'event', 'flush', 'init', 'mark']);
  module.consent(true);
  module.init({ key: 'SITE_KEY' });
  module.mark('x');
  module.event('purchase');
  module.flush();
});
