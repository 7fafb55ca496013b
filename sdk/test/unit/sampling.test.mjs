// The script and the collector decide sampling alike: the table of session ids and decisions in
// crates/rum-enrich/src/sampling.rs (which the collector's own test checks) is read from that file
// and checked against the script's inSample, so neither side can change the rule alone.
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
