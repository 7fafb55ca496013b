// In real headless Chromium against `rum standalone`: a page loading resources from two other
// local origins (other ports; one sends Timing-Allow-Origin, one does not), whose own inline task
// blocks the main thread for 120 ms and whose script from the second origin blocks it for 200 ms.
// The script reports the resources by origin (`resources`) and the long animation frames (`loaf`),
// and /metrics shows them: resources per origin (counts, durations, untimed ones apart), by
// initiator type, the frames, their blocking time, and the script time by origin, the third
// party's under its own origin and the inline task's as first-party.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer } from 'node:http';
import { after, before, test } from 'node:test';
import { startEnvironment, waitFor } from './harness.mjs';

const SITE = 'tp';
const KEY = `${SITE}-key`;

/** A 1x1 BMP. */
const PIXEL = Buffer.from('424d3a0000000000000036000000280000000100000001000000010018000000000004000000130b0000130b00000000000000000000ffffff00', 'hex');

/**
 * A third party on its own port: pixel.bmp (with Timing-Allow-Origin when `timingAllowed`) and
 * block.js, a script that keeps the main thread busy for ?ms= once the page has loaded.
 */
async function thirdParty(timingAllowed) {
  const server = createServer((req, res) => {
    const url = new URL(req.url, 'http://third-party');
    const headers = timingAllowed ? { 'timing-allow-origin': '*' } : {};
    if (url.pathname == '/pixel.bmp') {
      res.writeHead(200, { 'content-type': 'image/bmp', 'cache-control': 'no-store', ...headers });
      return res.end(PIXEL);
    }
    if (url.pathname != '/block.js') return res.writeHead(404).end();
    const ms = Number(url.searchParams.get('ms') || 0);
    res.writeHead(200, { 'content-type': 'text/javascript; charset=utf-8', ...headers });
    res.end(`addEventListener('load', () => setTimeout(() => {
  const end = performance.now() + ${ms};
  while (performance.now() < end);
  window.__thirdParty = 1;
}, 400));`);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { server, origin: `http://127.0.0.1:${server.address().port}` };
}

let env;
/** Sends Timing-Allow-Origin. */
let timed;
/** Does not; its script blocks the main thread. */
let untimed;
before(async () => {
  timed = await thirdParty(true);
  untimed = await thirdParty(false);
  env = await startEnvironment([SITE], { actions: true });
}, { timeout: 60000 });
after(async () => {
  await env?.stop();
  timed?.server.close();
  untimed?.server.close();
}, { timeout: 30000 });

const site = { view: 'site', site: SITE };

test('resources and long animation frames by origin reach /metrics', { timeout: 90000 }, async () => {
  const thirdPartyOrigin = untimed.origin;
  const page = await env.newPage();
  await page.goto(`${env.pageOrigin}/third-party.html?key=${KEY}&tao=${encodeURIComponent(timed.origin)}&tp=${encodeURIComponent(untimed.origin)}`);
  await page.waitForFunction(() => window.__firstParty && window.__thirdParty && window.rum && window.rum.flush);
  // Frames are reported after they end; give the observer a moment, then leave (the beacon).
  await page.waitForTimeout(300);
  await page.goto(`${env.pageOrigin}/blank.html`);
  await page.context().close();

  // The exit beacon is on its way (sendBeacon): wait for it.
  const sentEvents = (type) => env.beaconsFor(KEY).flatMap((beacon) => beacon.events).filter((event) => event.type == type);
  await waitFor('the exit beacon', () => sentEvents('resources').length, 10000);
  const beacons = env.beaconsFor(KEY);
  for (const beacon of beacons) assert.equal(beacon.status, 202, beacon.answer);
  const loaf = sentEvents('loaf');
  assert.equal(loaf.length, 1, JSON.stringify(loaf));
  assert.ok(loaf[0].scripts[thirdPartyOrigin] >= 190, JSON.stringify(loaf[0]));
  const resources = sentEvents('resources');
  assert.equal(resources.length, 1, JSON.stringify(resources));
  const sent = resources[0].origins;
  assert.equal(sent[timed.origin].durations.length, 2, JSON.stringify(sent));
  assert.equal(sent[timed.origin].untimed, 0, JSON.stringify(sent));
  assert.equal(sent[untimed.origin].durations.length, 2, JSON.stringify(sent));
  assert.equal(sent[untimed.origin].untimed, 2, JSON.stringify(sent));
  assert.ok(sent[timed.origin].bytes > 0 && sent[untimed.origin].bytes == 0, JSON.stringify(sent));

  // Per origin on /metrics: the page's own rum.js comes from the collector's origin, so only the
  // two third parties are checked by name.
  const origin = (name) => ({ ...site, origin: name });
  await waitFor('the resources on /metrics', async () => (await env.metric('rum_resource_duration_seconds_count', origin(timed.origin))) == 2, 20000);
  assert.equal(await env.metric('rum_resource_duration_seconds_count', origin(untimed.origin)), 2);
  assert.equal(await env.metric('rum_resource_duration_seconds_bucket', { ...origin(untimed.origin), le: '+Inf' }), 2);
  assert.equal(await env.metric('rum_resources_untimed_total', origin(timed.origin)), 0);
  assert.equal(await env.metric('rum_resources_untimed_total', origin(untimed.origin)), 2);
  assert.ok((await env.metric('rum_resource_transfer_bytes_total', origin(timed.origin))) > 0);
  assert.equal(await env.metric('rum_resources_by_type_total', { ...site, type: 'img' }), 3);
  assert.ok((await env.metric('rum_resources_by_type_total', { ...site, type: 'script' })) >= 2);

  const thirdPartySeconds = { ...site, origin: thirdPartyOrigin };
  await waitFor('the long frames on /metrics', async () => (await env.metric('rum_long_frames_total', site)) >= 2, 20000);
  const blocking = await env.metric('rum_long_frame_blocking_seconds_total', site);
  // 120 ms and 200 ms tasks: blocking is their time past 50 ms each, at least 70 + 150 ms.
  assert.ok(blocking >= 0.2, `blocking ${blocking} s`);
  const byThirdParty = await env.metric('rum_long_frame_script_seconds_total', thirdPartySeconds);
  const byFirstParty = await env.metric('rum_long_frame_script_seconds_total', { ...site, origin: 'first-party' });
  assert.ok(byThirdParty >= 0.19 && byThirdParty < 1, `third party ${byThirdParty} s`);
  assert.ok(byFirstParty >= 0.11, `first party ${byFirstParty} s`);
  // "Which third party blocks the main thread most" is one query: the largest series by origin.
  const series = (await env.metrics()).filter(
    (sample) => sample.name == 'rum_long_frame_script_seconds_total' && sample.labels.view == 'site' && sample.labels.site == SITE,
  );
  const top = series.filter((sample) => sample.labels.origin != 'first-party').sort((a, b) => b.value - a.value)[0];
  assert.equal(top.labels.origin, thirdPartyOrigin);
});
