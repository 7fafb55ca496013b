// In real headless Chromium: rum.js arrives 2.5 s late through the async loader snippet of
// docs/sdk.md, after the user pressed two buttons (10 ms, then 70 ms handlers). Chromium keeps event
// timings for late observers only from 104 ms (plus the first input), so without help a late script
// sees the short first input and misses the longer one. The snippet's observer buffers them and hands
// them over: rum's INP equals that of web-vitals started at once on the same page. The control runs
// the snippet as it was before (no buffer) and must come out lower, or the test proves nothing.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { startEnvironment, untilDrawn as drawnUntil, waitFor } from './harness.mjs';

/**
 * Headless Chromium presents frames with a varying delay: it can push the longer interaction past
 * 104 ms (then it is buffered anyway) or the first input close to the longer one, and such a run
 * shows nothing. Up to three runs find one that does.
 */
const ATTEMPTS = [1, 2, 3];
const BUFFERED_FROM_MS = 104;

let env;
before(async () => {
  env = await startEnvironment(ATTEMPTS.flatMap((attempt) => [`late${attempt}`, `control${attempt}`]));
}, { timeout: 60000 });
after(async () => {
  await env?.stop();
}, { timeout: 30000 });

/** Presses both buttons before rum.js arrives, then leaves; rum's INP and web-vitals' INP. */
async function lateScriptInp(site, buffer) {
  const page = await env.newPage();
  await page.goto(`${env.pageOrigin}/late.html?key=${site}-key&page=${site}&buffer=${buffer}&delay=2500`, {
    // Not `load`: an async script holds the load event back until it has run.
    waitUntil: 'domcontentloaded',
  });
  const untilDrawn = (what, condition) => drawnUntil(page, what, condition);
  await page.click('#short');
  await page.screenshot();
  await page.click('#long');
  await page.screenshot();
  // Both presses happened before rum.js ran (the loader's stub still queues), or the test is void.
  const pressed = await page.evaluate(() => ({ stub: Array.isArray(window.rum.q), at: performance.now() }));
  assert.ok(pressed.stub, `rum.js arrived before the presses (${pressed.at} ms)`);
  await untilDrawn('the longer interaction', () => window.__reference.INP && window.__reference.INP.value >= 70);
  await page.waitForFunction(() => window.rum && !window.rum.q, null, { timeout: 10000 });
  // web-vitals in rum.js reports from an idle callback: let it run, as above.
  await untilDrawn('rum.js settled', () => document.readyState == 'complete');
  await page.waitForTimeout(500);
  await untilDrawn('rum.js settled', () => true);
  const firstInput = await page.evaluate(() => performance.getEntriesByType('first-input')[0]?.duration);
  await page.goto(`${env.pageOrigin}/blank.html`);
  const reference = await waitFor('the reference values', () => env.references.find((posted) => posted.page == site));
  const beacons = await waitFor('rum beacons', () => {
    const received = env.beaconsFor(`${site}-key`);
    return received.length && received;
  });
  for (const beacon of beacons) assert.equal(beacon.status, 202, beacon.answer);
  const inp = beacons
    .flatMap((beacon) => beacon.events)
    .filter((event) => event.type == 'vital' && event.name == 'INP')
    .map((event) => event.value);
  await page.context().close();
  console.log(`${site}: rum INP ${inp.join(', ') || 'none'}; web-vitals started at once ${reference.values.INP.value}`);
  return { ours: inp.length ? Math.max(...inp) : undefined, theirs: reference.values.INP.value, firstInput };
}

/** Shortest gap between the first input and the longer interaction for a run to tell them apart. */
const MIN_GAP_MS = 16;

/**
 * The first run whose longer interaction stays under the buffering threshold and is clearly longer
 * than the first input.
 */
async function telling(prefix, buffer) {
  const runs = [];
  for (const attempt of ATTEMPTS) {
    const run = await lateScriptInp(`${prefix}${attempt}`, buffer);
    if (run.theirs < BUFFERED_FROM_MS && run.theirs - run.firstInput >= MIN_GAP_MS) return run;
    runs.push(run);
  }
  assert.fail(`no run told the two interactions apart under ${BUFFERED_FROM_MS} ms: ${JSON.stringify(runs)}`);
}

test('through the loader snippet, a script 2.5 s late reports the INP of web-vitals started at once', { timeout: 240000 }, async () => {
  const { ours, theirs } = await telling('late', 1);
  assert.ok(ours !== undefined && Math.abs(ours - theirs) <= 8, `INP ${ours} vs ${theirs}`);
});

test('control: the snippet without the buffer misses the interaction under 104 ms', { timeout: 240000 }, async () => {
  const { ours, theirs, firstInput } = await telling('control', 0);
  // Only the first input (which Chromium always keeps) reached the late script.
  assert.ok(ours === undefined || Math.abs(ours - firstInput) <= 8, `INP ${ours}, first input ${firstInput}, web-vitals ${theirs}`);
  assert.ok(ours === undefined || ours < theirs, `INP ${ours} vs ${theirs}: the late script saw the longer interaction`);
});
