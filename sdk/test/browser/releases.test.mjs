// In real headless Chromium against `rum standalone`: two releases of a site served in turn, the
// second one slower (its largest image arrives 1.5 s late instead of 0.1 s). Every page view carries
// its release (data-release), the site_release view shows the two releases' LCP side by side on
// /metrics, and a release_regression rule (the newest release's p75 LCP over the previous one's,
// at least 3 samples on each side) fires for the slower release, naming the release it is compared
// with, through a real webhook receiver.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer } from 'node:http';
import { after, before, test } from 'node:test';
import { startEnvironment, waitFor } from './harness.mjs';

const SITE = 'rel';
const KEY = `${SITE}-key`;
const VISITS = 3;

let env;
let hook;
/** Webhook payloads (Alertmanager webhook format) the rule's receiver got, parsed. */
const notifications = [];
before(async () => {
  hook = createServer((req, res) => {
    let body = '';
    req.on('data', (chunk) => (body += chunk));
    req.on('end', () => {
      notifications.push(JSON.parse(body));
      res.writeHead(200).end();
    });
  });
  hook.listen(0, '127.0.0.1');
  await once(hook, 'listening');
  env = await startEnvironment([SITE], {
    extraToml: `[[aggregator.views]]
name = "site_release"
dimensions = ["site", "release"]

[alerts]
evaluation_interval = "1s"
default_rules = false

[[alerts.webhooks]]
url = "http://127.0.0.1:${hook.address().port}/hook"

[[alerts.rules]]
name = "RelLcpRegressed"
kind = "release_regression"
metric = "lcp"
statistic = "p75"
op = ">"
threshold = 1.2
min_delta = 0.2
view = "site_release"
window = "5m"
min_samples = ${VISITS}`,
  });
}, { timeout: 60000 });
after(async () => {
  await env?.stop();
  hook?.close();
}, { timeout: 30000 });

/** One visitor of `release`: loads the page, waits for its image, leaves (which sends the LCP). */
async function visit(release, heroMs) {
  const page = await env.newPage();
  await page.goto(`${env.pageOrigin}/release.html?key=${KEY}&release=${release}&hero=${heroMs}`);
  await page.waitForFunction(() => document.getElementById('hero').complete && window.rum && window.rum.flush);
  await page.waitForTimeout(200);
  await page.goto(`${env.pageOrigin}/blank.html`);
  await page.context().close();
}

const lcp = (release) => ({ view: 'site_release', site: SITE, release, window: '5m' });

test('two releases side by side, and the slower one alerts', { timeout: 120000 }, async () => {
  for (let i = 0; i < VISITS; i++) await visit('1.0', 100);
  await waitFor('release 1.0 counted', async () => (await env.metric('rum_lcp_window_samples', lcp('1.0'))) == VISITS, 20000);
  for (let i = 0; i < VISITS; i++) await visit('2.0', 1500);
  await waitFor('release 2.0 counted', async () => (await env.metric('rum_lcp_window_samples', lcp('2.0'))) == VISITS, 20000);

  // Every beacon said its release and was accepted.
  const beacons = env.beaconsFor(KEY);
  for (const beacon of beacons) assert.equal(beacon.status, 202, beacon.answer);
  assert.deepEqual([...new Set(beacons.map((beacon) => beacon.rel))].sort(), ['1.0', '2.0']);

  // Side by side: the same series, one per release.
  const fast = await env.metric('rum_lcp_window_seconds', { ...lcp('1.0'), quantile: '0.75' });
  const slow = await env.metric('rum_lcp_window_seconds', { ...lcp('2.0'), quantile: '0.75' });
  assert.ok(fast < 1.0 && slow >= 1.5, `p75 LCP 1.0: ${fast} s, 2.0: ${slow} s`);

  // The comparison fires for 2.0 against 1.0, with the ratio as its value.
  await waitFor('the release alert to fire', async () =>
    (await env.metric('rum_alerts', { alertname: 'RelLcpRegressed', alertstate: 'firing' })) == 1, 20000);
  const alert = await waitFor('the webhook notification', () =>
    notifications.flatMap((payload) => payload.alerts).find((sent) => sent.status == 'firing'), 20000);
  assert.equal(alert.labels.alertname, 'RelLcpRegressed');
  assert.equal(alert.labels.release, '2.0');
  assert.equal(alert.labels.previous_release, '1.0');
  assert.equal(alert.labels.site, SITE);
  const firing = notifications.flatMap((payload) => payload.alerts).filter((sent) => sent.status == 'firing');
  assert.ok(firing.every((sent) => sent.labels.release == '2.0'), 'nothing fires for the faster release');
});
