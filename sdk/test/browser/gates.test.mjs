// In real headless Chromium against `rum standalone`: sampling at 0% sends nothing, consent
// withheld sends nothing (and stores nothing), the async loader's queued calls and a later consent
// work, and a blocked endpoint (ad blocker, CSP, no sendBeacon) never throws into the page.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { sentData, sleep, startEnvironment, waitFor } from './harness.mjs';

let env;
before(async () => {
  env = await startEnvironment(['control', 'sampled-out', 'no-consent', 'consent', 'blocked', 'direct']);
}, { timeout: 60000 });
after(async () => {
  await env?.stop();
}, { timeout: 30000 });

/** What the page does in every scenario: an error, a rejection, a failing fetch, a route change. */
async function exercise(page) {
  await page.waitForFunction(() => window.rum && window.rum.flush && document.readyState == 'complete');
  // Let rum.js record the load (navigation timing is read after the load event).
  await page.waitForTimeout(300);
  await page.click('#throw');
  await page.click('#reject');
  await page.click('#fetch');
  await page.waitForFunction(() => window.__fetched == 500);
  await page.click('#route');
  await page.evaluate(() => window.rum.flush());
}

/** Leaves the page (hiding it) and gives any beacon time to arrive. */
async function leave(page) {
  await page.goto(`${env.pageOrigin}/blank.html`);
  await sleep(1500);
}

test('sampling: 100% sends (control), 0% sends nothing for the whole session', { timeout: 60000 }, async () => {
  const control = await env.newPage();
  await control.goto(`${env.pageOrigin}/plain.html?key=control-key&sample-rate=1`);
  await exercise(control);
  await leave(control);
  const sent = env.beaconsFor('control-key');
  assert.ok(sent.length >= 2, 'the same page at 100% does send');
  assert.ok(sent.every((beacon) => beacon.status == 202));
  await waitFor('the control page views on /metrics', async () => (await env.metric('rum_page_views_total', { view: 'site', site: 'control' })) == 2);

  const page = await env.newPage();
  for (const path of ['/plain.html?key=sampled-out-key&sample-rate=0', '/plain.html?key=sampled-out-key&sample-rate=0&n=2']) {
    await page.goto(env.pageOrigin + path);
    await exercise(page);
  }
  await leave(page);
  assert.deepEqual(env.beaconsFor('sampled-out-key'), []);
  assert.equal(env.beacons.filter((record) => record.key == 'sampled-out-key' && sentData(record)).length, 0);
  assert.equal(await env.metric('rum_page_views_total', { view: 'site', site: 'sampled-out' }), undefined);
  await control.context().close();
  await page.context().close();
});

test('consent withheld: nothing is sent and nothing is stored', { timeout: 60000 }, async () => {
  const page = await env.newPage();
  await page.goto(`${env.pageOrigin}/plain.html?key=no-consent-key&require-consent`);
  await exercise(page);
  assert.equal(await page.evaluate(() => sessionStorage.length), 0, 'no session id before consent');
  await leave(page);
  assert.equal(env.beacons.filter((record) => record.key == 'no-consent-key' && sentData(record)).length, 0);
  assert.equal(await env.metric('rum_page_views_total', { view: 'site', site: 'no-consent' }), undefined);
  await page.context().close();
});

test('the async loader snippet: queued init/mark apply; data measured before consent is sent after it', { timeout: 60000 }, async () => {
  const page = await env.newPage();
  await page.goto(`${env.pageOrigin}/loader.html?key=consent-key`);
  await exercise(page);
  await sleep(500);
  assert.equal(env.beacons.filter((record) => record.key == 'consent-key' && sentData(record)).length, 0, 'nothing before consent');
  await page.click('#consent');
  await page.evaluate(() => window.rum.flush());
  const beacons = await waitFor('beacons after consent', () => {
    const received = env.beaconsFor('consent-key');
    return received.length >= 2 && received;
  });
  assert.equal(await page.evaluate(() => sessionStorage.length), 1, 'the session id is stored once consent is given');
  assert.deepEqual(new Set(beacons.map((beacon) => beacon.nav)), new Set(['navigate', 'soft']));
  const first = beacons.filter((beacon) => beacon.nav == 'navigate').flatMap((beacon) => beacon.events);
  assert.deepEqual(
    first.filter((event) => !['vital', 'nav', 'action', 'resources', 'calls', 'loaf'].includes(event.type)).map((event) => event.name || event.message || event.url),
    ['queued_mark', 'TypeError: boom from the page', 'Error: rejected by the page', `${env.pageOrigin}/api/500`],
  );
  // What the page loaded before the route change goes with its page view, not with the soft one.
  assert.equal(first.filter((event) => event.type == 'resources').length, 1, JSON.stringify(first));
  // The clicks too (the route change's click belongs to the page view it was made in).
  assert.deepEqual(first.filter((event) => event.type == 'action').map((event) => event.name).sort(), ['fetch', 'reject', 'route', 'throw']);
  for (const beacon of beacons) assert.equal(beacon.status, 202);
  await leave(page);
  await page.context().close();
});

test('straight to rum, no front in between: sendBeacon and the keepalive fetch (CORS) both land', { timeout: 60000 }, async () => {
  const endpoint = encodeURIComponent(`${env.rum.publicUrl}/rum/v1/beacon`);
  for (const variant of ['', '&nobeacon=1']) {
    const page = await env.newPage();
    await page.goto(`${env.pageOrigin}/plain.html?key=direct-key&endpoint=${endpoint}${variant}`);
    await exercise(page);
    await leave(page);
    assert.deepEqual(page.pageErrors.length, 2, page.pageErrors.join('\n'));
    await page.context().close();
  }
  // Two page views per visit (the first, then the soft one after the route change).
  await waitFor('both visits on /metrics', async () => (await env.metric('rum_page_views_total', { view: 'site', site: 'direct' })) == 4);
  assert.equal(await env.metric('rum_errors_total', { view: 'site', site: 'direct', kind: 'error' }), 2);
  assert.equal(await env.metric('rum_requests_failed_total', { view: 'site', site: 'direct' }), 2);
});

/**
 * A page whose beacon endpoint is blocked: it must see exactly its own error and rejection, no
 * other exception, and rum.js must still have tried to send.
 */
async function blockedPage(path, block) {
  const page = await env.newPage();
  const blocked = [];
  if (block) {
    await page.route('**/blocked/**', (route) => {
      blocked.push(route.request().url());
      return route.abort('blockedbyclient');
    });
  }
  await page.goto(env.pageOrigin + path);
  await exercise(page);
  await page.evaluate(() => window.rum.flush());
  await page.evaluate(() => window.rum.mark('after_block', 1));
  await page.evaluate(() => window.rum.flush());
  await sleep(1000);
  const counts = await page.evaluate(() => window.__counts);
  return { page, blocked, counts };
}

const ownErrorsOnly = ({ page, counts }) => {
  assert.equal(counts.error, 1, counts.messages.join('\n'));
  assert.equal(counts.rejection, 1, counts.messages.join('\n'));
  assert.deepEqual(counts.messages.sort(), ['Error: rejected by the page', 'Uncaught TypeError: boom from the page']);
  assert.equal(page.pageErrors.length, 2, page.pageErrors.join('\n'));
};

test('a blocked endpoint never throws into the page: blocked by the client, sendBeacon path', { timeout: 60000 }, async () => {
  const endpoint = `${env.collectorOrigin}/blocked/rum/v1/beacon`;
  const result = await blockedPage(`/plain.html?key=blocked-key&endpoint=${encodeURIComponent(endpoint)}`, true);
  ownErrorsOnly(result);
  assert.ok(result.blocked.length >= 2, `rum.js tried to send (${result.blocked.length} blocked requests)`);
  await leave(result.page);
  ownErrorsOnly(result);
  await result.page.context().close();
});

test('a blocked endpoint never throws into the page: no sendBeacon, keepalive fetch path', { timeout: 60000 }, async () => {
  const endpoint = `${env.collectorOrigin}/blocked/rum/v1/beacon`;
  const result = await blockedPage(`/plain.html?key=blocked-key&nobeacon=1&endpoint=${encodeURIComponent(endpoint)}`, true);
  ownErrorsOnly(result);
  assert.ok(result.blocked.length >= 2, `rum.js fell back to fetch (${result.blocked.length} blocked requests)`);
  assert.equal(await result.page.evaluate(() => navigator.sendBeacon), undefined);
  await leave(result.page);
  ownErrorsOnly(result);
  await result.page.context().close();
});

test('a blocked endpoint never throws into the page: Content-Security-Policy connect-src', { timeout: 60000 }, async () => {
  // connect-src 'self' forbids the collector's origin; rum.js itself loads (script-src is open).
  const result = await blockedPage('/plain.html?key=blocked-key&csp=1', false);
  ownErrorsOnly(result);
  assert.ok(result.counts.csp >= 1, 'the beacons were blocked by the CSP');
  await leave(result.page);
  assert.equal(env.beaconsFor('blocked-key').length, 0);
  await result.page.context().close();
});
