// In real headless Chromium against `rum standalone`: a first visit, a reload and a restore from
// the back-forward cache are three page views whose beacons carry nav = navigate, reload and
// back-forward-cache, and the aggregator's navigation dimension counts one of each.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { startEnvironment, waitFor } from './harness.mjs';

let env;
before(async () => {
  env = await startEnvironment(['nav']);
}, { timeout: 60000 });
after(async () => {
  await env?.stop();
}, { timeout: 30000 });

test('navigate, reload and back-forward-cache restore give the right navigation types', { timeout: 60000 }, async () => {
  const page = await env.newPage();
  const url = `${env.pageOrigin}/nav.html?key=nav-key`;
  const ready = () => page.waitForFunction(() => window.rum && window.rum.flush && document.readyState == 'complete');

  await page.goto(url);
  await ready();
  await page.reload();
  await ready();
  const beforeLeaving = await page.evaluate(() => performance.getEntriesByType('navigation')[0].type);
  assert.equal(beforeLeaving, 'reload');

  // Away to another page and back: Chromium restores nav.html from the back-forward cache.
  await page.goto(`${env.pageOrigin}/other.html`);
  // A restore fires pageshow, not load: wait for the commit only.
  await page.goBack({ waitUntil: 'commit' });
  await page.waitForFunction(() => document.title == 'nav');
  const restored = await page.evaluate(() => {
    const entry = performance.getEntriesByType('navigation')[0];
    return { type: entry.type, notRestoredReasons: entry.notRestoredReasons && JSON.stringify(entry.notRestoredReasons) };
  });
  // Still the reload's document (its navigation entry): the page came back from the cache.
  assert.equal(restored.type, 'reload', `not restored from the back-forward cache: ${restored.notRestoredReasons}`);
  await page.waitForTimeout(300);
  await page.goto(`${env.pageOrigin}/blank.html`);

  const beacons = await waitFor('beacons of three page views', () => {
    const received = env.beaconsFor('nav-key');
    return new Set(received.map((beacon) => beacon.pid)).size >= 3 && received;
  });
  const navByPage = new Map(beacons.map((beacon) => [beacon.pid, beacon.nav]));
  assert.deepEqual([...navByPage.values()].sort(), ['back-forward-cache', 'navigate', 'reload']);
  assert.equal(new Set(beacons.map((beacon) => beacon.sid)).size, 1, 'one session across the three');
  for (const beacon of beacons) assert.equal(beacon.status, 202);
  // The restored page view measured its own vitals (web-vitals reports them again after a restore).
  const restoredVitals = beacons.filter((beacon) => beacon.nav == 'back-forward-cache').flatMap((beacon) => beacon.events);
  assert.ok(restoredVitals.some((event) => event.type == 'vital' && event.name == 'FCP'), JSON.stringify(restoredVitals));
  assert.ok(!restoredVitals.some((event) => event.type == 'nav'), 'no navigation timing for a restore');

  for (const navigation of ['navigate', 'reload', 'back-forward-cache']) {
    await waitFor(`rum_page_views_total for ${navigation}`, async () =>
      (await env.metric('rum_page_views_total', { view: 'site_nav', site: 'nav', navigation })) == 1,
    );
  }
  assert.equal(await env.metric('rum_page_views_total', { view: 'site', site: 'nav' }), 3);
  await page.context().close();
});
