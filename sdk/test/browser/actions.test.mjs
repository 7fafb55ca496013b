// In real headless Chromium against `rum standalone`: user actions and business events. A page with
// named (data-rum-action) and unnamed buttons, a tapped icon button, a key press, a link, a form
// submission, a click whose fetch (300 ms) is followed by a DOM change, a rage click (4 clicks), a
// dead click on a plain div, a click whose handler throws, and rum.event('purchase') twice. The
// beacons must carry each action once with its kind, loading time and frustration signals, rum
// must accept every event, and /metrics must count them by name. Then the privacy switch
// (actionNames: 'attribute') and `disable: 'actions'`.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { startEnvironment, waitFor } from './harness.mjs';

let env;
before(async () => {
  env = await startEnvironment(['actions', 'masked', 'disabled'], { actions: true });
}, { timeout: 60000 });
after(async () => {
  await env?.stop();
}, { timeout: 30000 });

/** Opens the actions page for `query` once rum.js runs and the load is recorded. */
async function open(query, options) {
  const page = await env.newPage(options);
  await page.goto(`${env.pageOrigin}/actions.html?${query}`);
  await page.waitForFunction(() => window.rum && window.rum.event && document.readyState == 'complete');
  await page.waitForTimeout(300);
  return page;
}

/**
 * Waits until one action settled: 100 ms of quiet, the detector's 100 ms wait for late resource
 * entries, and a margin. Actions on different elements never fold, so no longer wait is needed.
 */
const settled = (page) => page.waitForTimeout(400);

/** Leaves the page (which sends it) and returns its beacons once `ready(events)` holds. */
async function leave(page, key, ready) {
  await page.goto(`${env.pageOrigin}/blank.html`);
  const beacons = await waitFor(`the beacons of ${key}`, () => {
    const received = env.beaconsFor(key);
    return ready(received.flatMap((beacon) => beacon.events)) && received;
  });
  for (const beacon of beacons) {
    assert.equal(beacon.status, 202, beacon.answer);
    assert.deepEqual(JSON.parse(beacon.answer).rejected, [], beacon.record.body);
  }
  return beacons.flatMap((beacon) => beacon.events);
}

const ofType = (events, type) => events.filter((event) => event.type == type);

test('actions: names, kinds, loading time, rage, dead and error clicks, business events; on /metrics', { timeout: 120000 }, async (context) => {
  const page = await open('key=actions-key', { hasTouch: true });
  await page.click('#named');
  await settled(page);
  await page.focus('#unnamed');
  await page.keyboard.press('Enter');
  await settled(page);
  await page.tap('#menu');
  await settled(page);
  await page.click('#link');
  await settled(page);
  await page.fill('#email', 'someone@example.com');
  await page.click('#subscribe');
  await settled(page);
  await page.click('#load');
  await page.waitForFunction(() => window.__changedAt);
  await settled(page);
  for (let click = 0; click < 4; click++) await page.click('#rage');
  // A rage click is reported once no further click can fold into it (1 s after the last).
  await page.waitForTimeout(1200);
  await page.click('#dead');
  await settled(page);
  await page.click('#throw');
  await settled(page);
  await page.evaluate(() => {
    window.rum.event('purchase', { value: 59.9 });
    window.rum.event('purchase', { value: 59.9 });
  });
  // The loading time as the page saw it: from its click handler to its DOM change.
  const measured = await page.evaluate(() => window.__changedAt - window.__clickAt);
  assert.ok(measured >= 300, `the fetch took ${measured} ms`);
  assert.deepEqual(page.pageErrors, ['TypeError: payment failed'], 'rum.js threw nothing into the page');

  const events = await leave(page, 'actions-key', (received) => ofType(received, 'event').length == 2);
  const actions = ofType(events, 'action');
  const byName = Object.fromEntries(actions.map((action) => [action.name, action]));
  assert.deepEqual(
    actions.map((action) => action.name).sort(),
    ['Add to cart', 'Apply coupon', 'Checkout now', 'Load reviews', 'Open menu', 'Pay', 'Read the FAQ', 'Shipping details', 'Subscribe'],
    'each action once (the 4 rage clicks are one)',
  );
  const plain = (name, kind, extra = {}) => ({ type: 'action', name, kind, errors: 0, requests: 0, clicks: 1, ...extra });
  // No activity after these: no loading time, and buttons and links are never dead.
  assert.deepEqual(byName['Add to cart'], plain('Add to cart', 'click'));
  assert.deepEqual(byName['Checkout now'], plain('Checkout now', 'key'));
  assert.deepEqual(byName['Open menu'], plain('Open menu', 'tap'));
  assert.deepEqual(byName['Read the FAQ'], plain('Read the FAQ', 'click'));
  // The click on the submit button is the submission: one action, named after the button, whose
  // handler changed the DOM at once.
  const { dur: subscribeDur, ...subscribe } = byName.Subscribe;
  assert.deepEqual(subscribe, plain('Subscribe', 'submit'));
  assert.ok(subscribeDur >= 0 && subscribeDur < 50, `submit dur ${subscribeDur}`);
  // The fetch and the DOM change after it: the loading time the page measured (within 20 ms).
  const { dur, ...load } = byName['Load reviews'];
  assert.deepEqual(load, plain('Load reviews', 'click', { requests: 1 }));
  context.diagnostic(`Load reviews: dur ${dur} ms, the page measured ${measured} ms`);
  assert.ok(Math.abs(dur - measured) <= 20, `dur ${dur} ms, the page measured ${measured} ms`);
  assert.deepEqual(byName['Apply coupon'], plain('Apply coupon', 'click', { clicks: 4, frustration: ['rage'] }));
  assert.deepEqual(byName['Shipping details'], plain('Shipping details', 'click', { frustration: ['dead'] }));
  assert.deepEqual(byName.Pay, plain('Pay', 'click', { errors: 1, frustration: ['error'] }));
  assert.deepEqual(ofType(events, 'event'), [
    { type: 'event', name: 'purchase', value: 59.9 },
    { type: 'event', name: 'purchase', value: 59.9 },
  ]);
  // Nothing typed into the form left the page.
  for (const record of env.beacons) assert.doesNotMatch(record.body, /someone/);
  // rum knew every field (no unknown member ignored, no malformed hint dropped).
  for (const what of ['unknown_field', 'invalid_hint']) {
    assert.equal(await env.metric('rum_collector_ignored_total', { what }), 0, what);
  }

  // On /metrics, once stage 1 has flushed.
  const labels = { view: 'site', site: 'actions' };
  await waitFor('the actions on /metrics', async () => (await env.metric('rum_events_total', { ...labels, event: 'purchase' })) == 2);
  for (const name of Object.keys(byName)) {
    assert.equal(await env.metric('rum_actions_total', { ...labels, action: name }), 1, name);
  }
  const frustrations = (await env.metrics()).filter(
    (sample) => sample.name == 'rum_action_frustrations_total' && sample.labels.site == 'actions' && sample.labels.view == 'site' && sample.value > 0,
  );
  assert.deepEqual(
    frustrations.map((sample) => `${sample.labels.action}:${sample.labels.signal}=${sample.value}`).sort(),
    ['Apply coupon:rage=1', 'Pay:error=1', 'Shipping details:dead=1'],
  );
  assert.ok(Math.abs((await env.metric('rum_event_value_total', { ...labels, event: 'purchase' })) - 119.8) < 1e-9);
  assert.equal(await env.metric('rum_action_timed_total', { ...labels, action: 'Load reviews' }), 1);
  const seconds = await env.metric('rum_action_time_seconds_total', { ...labels, action: 'Load reviews' });
  assert.ok(Math.abs(seconds - dur / 1000) < 1e-6, `rum_action_time_seconds_total ${seconds}, dur ${dur} ms`);
  assert.equal(await env.metric('rum_action_timed_total', { ...labels, action: 'Add to cart' }) ?? 0, 0);
  const timed = actions.filter((action) => action.dur != null).length;
  assert.equal(await env.metric('rum_action_loading_window_samples', labels), timed, 'every loading time in the window');
  await page.context().close();
});

test("actions: actionNames 'attribute' sends data-rum-action names only; disable: 'actions' sends none", { timeout: 60000 }, async () => {
  const masked = await open('key=masked-key&action-names=attribute');
  await masked.click('#named');
  await settled(masked);
  await masked.click('#unnamed');
  await settled(masked);
  await masked.click('#dead');
  await settled(masked);
  await masked.evaluate(() => window.rum.event('signup'));
  const maskedEvents = await leave(masked, 'masked-key', (received) => ofType(received, 'event').length == 1);
  assert.deepEqual(ofType(maskedEvents, 'action').map((action) => action.name), ['Add to cart', '<button>', '<div>']);
  assert.deepEqual(ofType(maskedEvents, 'event'), [{ type: 'event', name: 'signup' }]);
  await masked.context().close();

  const disabled = await open('key=disabled-key&disable=actions');
  await disabled.click('#named');
  await disabled.click('#dead');
  await settled(disabled);
  // Business events are calls of the page, not collection: they still go out.
  await disabled.evaluate(() => window.rum.event('signup', { value: 1 }));
  const disabledEvents = await leave(disabled, 'disabled-key', (received) => ofType(received, 'event').length == 1);
  assert.deepEqual(ofType(disabledEvents, 'action'), []);
  await disabled.context().close();
});
