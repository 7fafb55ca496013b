// The script and the collector agree on what the collector's configuration says: sampling is
// decided alike (the table of session ids and decisions in crates/rum-enrich/src/sampling.rs, which
// the collector's own test checks, is read from that file and checked against the script's
// inSample), and the switches a site's `disable` may name are the script's features (rum-config's
// SCRIPT_FEATURES against rum.d.ts's RumFeature), so neither side can change them alone.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { inSample } from '../../src/session.js';

const rust = readFileSync(new URL('../../../crates/rum-enrich/src/sampling.rs', import.meta.url), 'utf8');
const table = rust.slice(rust.indexOf('const AGREED'), rust.indexOf('];', rust.indexOf('const AGREED')));
const rows = [...table.matchAll(/\("([0-9a-v]{16})", ([0-9.]+), (true|false)\)/g)].map(([, id, rate, kept]) => [id, Number(rate), kept == 'true']);

test('the script decides as the collector does', () => {
  assert.ok(rows.length >= 10, `read ${rows.length} rows of the collector's table`);
  for (const [id, rate, kept] of rows) assert.equal(inSample(id, rate), kept, `${id} at ${rate}`);
});

test("the collector's switch names are the script's features", () => {
  const config = readFileSync(new URL('../../../crates/rum-config/src/lib.rs', import.meta.url), 'utf8');
  const list = /pub const SCRIPT_FEATURES: \[&str; \d+\] = \[([^\]]*)\]/.exec(config);
  assert.ok(list, 'SCRIPT_FEATURES in rum-config');
  const collector = [...list[1].matchAll(/"(\w+)"/g)].map(([, name]) => name);
  const types = readFileSync(new URL('../../src/rum.d.ts', import.meta.url), 'utf8');
  const script = [.../export type RumFeature = ([^;]+);/.exec(types)[1].matchAll(/'(\w+)'/g)].map(([, name]) => name);
  assert.deepEqual(collector.sort(), script.sort());
});
