// In real headless Chromium against `rum standalone`: sampling decided by the collector. A site
// sends at its server-side rate of 1; the rate is changed to 0 in the config file and reloaded
// (SIGHUP), and the very next page load sends nothing: the script read the new rate at start
// (GET /rum/v1/config, revalidated on every load). A page that does not ask (data-remote-config
// "false", as an old cached script would) still sends, and the edge drops its beacon by the same
// rule, answered 202 and counted as sampled_out.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { sleep, startEnvironment, waitFor } from './harness.mjs';

const SITE = 'srv';
const KEY = `${SITE}-key`;

let env;
before(async () => {
  env = await startEnvironment([SITE], { siteToml: { [SITE]: 'sample_rate = 1' } });
}, { timeout: 60000 });
after(async () => {
  await env?.stop();
}, { timeout: 30000 });

const configRequests = () => env.beacons.filter((record) => record.path == '/rum/v1/config' && record.key == KEY);

/** Loads a page of the site in `page`, waits for its configuration answer, flushes and leaves. */
async function load(page, query = '') {
  const asked = configRequests().length;
  await page.goto(`${env.pageOrigin}/plain.html?key=${KEY}${query}`);
  await page.waitForFunction(() => window.rum && window.rum.flush && document.readyState == 'complete');
  if (!query.includes('remote-config=false')) {
    await waitFor('the page to read its configuration', () => configRequests().length > asked && configRequests().at(-1).status);
  }
  // A moment for the answer to reach the agent, then everything out.
  await sleep(200);
  await page.evaluate(() => window.rum.flush());
  await page.goto(`${env.pageOrigin}/blank.html`);
}

test('a server-side sample rate of 0 stops the next page load from sending', { timeout: 90000 }, async () => {
  const page = await env.newPage();
  await load(page);
  const sent = await waitFor('the first page view', () => env.beaconsFor(KEY).length && env.beaconsFor(KEY));
  for (const beacon of sent) {
    assert.equal(beacon.status, 202, beacon.answer);
    assert.equal(beacon.sr, undefined, 'rate 1 is not sent');
  }
  assert.deepEqual(JSON.parse(configRequests().at(-1).answer), { sampleRate: 1, disable: [] });
  await waitFor('the page view counted', async () => (await env.metric('rum_page_views_total', { view: 'site', site: SITE })) == 1);

  await env.rum.reconfigure({ siteToml: { [SITE]: 'sample_rate = 0' } });
  const before = env.beaconsFor(KEY).length;
  await load(page);
  assert.deepEqual(JSON.parse(configRequests().at(-1).answer), { sampleRate: 0, disable: [] });
  // Nothing left the page: no beacon reached the front, none had to be dropped.
  await sleep(1000);
  assert.equal(env.beaconsFor(KEY).length, before, 'the page after the change sent nothing');
  assert.equal(await env.metric('rum_dropped_total', { stage: 'enrich', reason: 'sampled_out', item: 'beacon' }), 0);

  // A page that does not read the configuration sends at its tag's rate; the edge drops it.
  await load(page, '&remote-config=false');
  const late = await waitFor('the unconfigured page to send', () => env.beaconsFor(KEY).length > before && env.beaconsFor(KEY).slice(before));
  for (const beacon of late) assert.equal(beacon.status, 202, beacon.answer);
  await waitFor('the edge to drop it as sampled out', async () =>
    (await env.metric('rum_dropped_total', { stage: 'enrich', reason: 'sampled_out', item: 'beacon' })) == late.length);
  assert.equal(await env.metric('rum_page_views_total', { view: 'site', site: SITE }), 1, 'still one page view');
  await page.context().close();
});
