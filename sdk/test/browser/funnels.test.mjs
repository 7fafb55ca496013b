// In real headless Chromium against `rum standalone`: sessions and funnels. A shop of three pages
// (home, a cart with a named Checkout button, a payment page that calls rum.event('purchase')) and a
// three-step funnel (cart page view, Checkout action, purchase event). Eight visitors, each in its
// own browser context (its own sessionStorage, so its own session id), walk it: three to the end,
// two to the cart only, one to Checkout only, one who purchases before visiting the cart (only step 1
// counts) and one who sees the cart twice before converting (the step counts once). rum must accept
// every beacon; once the minute of the last beacon is final (allowed_lateness 0s) and the sessions
// idle (idle 2s), /metrics must show exactly the steps, conversions, step times, ended sessions,
// bounces, page views, entry and exit routes the walks imply.
//
// Sessions end, and funnel occurrences become final, only at minute boundaries. So that a walk never
// straddles one (a gap of more than 2 s across a boundary would end the session half way, and a beacon
// arriving just before one could miss it), each visitor starts only if its walk fits before the next
// boundary with a margin, and waits for the boundary otherwise; the test asserts that this held.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { sleep, startEnvironment, waitFor } from './harness.mjs';

const SITE = 'funnel';
const KEY = `${SITE}-key`;
const IDLE_MS = 2000;
const MINUTE = 60000;
/** A walk must end this long before the next minute boundary (stage 1 flushes every second). */
const BOUNDARY_MARGIN_MS = 3000;
/** The longest a visitor's walk may take (the walks here take 2-4 s). */
const WALK_BUDGET_MS = 12000;

const STEPS = ['route:/shop/cart.html', 'action:Checkout', 'event:purchase'];

let env;
before(async () => {
  env = await startEnvironment([SITE], {
    aggregator: 'allowed_lateness = "0s"',
    extraToml: `[aggregator.sessions]
idle = "2s"

[[aggregator.funnels]]
name = "checkout"
site = "${SITE}"
steps = [{ route = "/shop/cart.html" }, { action = "Checkout" }, { event = "purchase" }]`,
  });
}, { timeout: 60000 });
after(async () => {
  await env?.stop();
}, { timeout: 30000 });

/** Beacons (parsed) of session `sid`, in arrival order. */
const beaconsOf = (sid) => env.beaconsFor(KEY).filter((beacon) => beacon.sid == sid);

/**
 * What the beacons of a session carry, per page view in order of first arrival: its route (the
 * page's path) and the funnel-relevant actions and events, in beacon order.
 */
function pageViewsOf(beacons) {
  const views = new Map();
  for (const beacon of beacons) {
    if (!views.has(beacon.pid)) views.set(beacon.pid, { route: new URL(beacon.url).pathname, names: [] });
    for (const event of beacon.events) {
      if (event.type == 'action' || event.type == 'event') views.get(beacon.pid).names.push(`${event.type}:${event.name}`);
    }
  }
  return [...views.values()];
}

/**
 * Occurrences of a session as the collector sees them: per beacon in arrival order, the page view
 * first when the beacon is its page view's first, then the actions and business events in order.
 * rum's receive time of a beacon lies between the front's receipt and rum's answer (`lo`, `hi`).
 */
function occurrencesOf(beacons) {
  const seen = new Set();
  const occurrences = [];
  beacons.forEach((beacon, index) => {
    const at = { beacon: index, lo: beacon.record.receivedAt, hi: beacon.record.answeredAt };
    if (!seen.has(beacon.pid)) {
      seen.add(beacon.pid);
      occurrences.push({ ...at, what: `route:${new URL(beacon.url).pathname}` });
    }
    for (const event of beacon.events) {
      if (event.type == 'action' || event.type == 'event') occurrences.push({ ...at, what: `${event.type}:${event.name}` });
    }
  });
  return occurrences;
}

/**
 * A funnel walked over occurrences: each step once, in order, at its first occurrence after the
 * previous one. Per step reached, the bounds [lo, hi] (ms) of the time since the first step.
 */
function funnelOf(occurrences) {
  const times = [];
  let start;
  for (const occurrence of occurrences) {
    if (times.length == STEPS.length || occurrence.what != STEPS[times.length]) continue;
    if (times.length == 0) start = occurrence;
    times.push(occurrence.beacon == start.beacon ? [0, 0] : [occurrence.lo - start.hi, occurrence.hi - start.lo]);
  }
  return times;
}

const nextBoundary = (ms) => Math.floor(ms / MINUTE) * MINUTE + MINUTE;

/** Waits for the next minute boundary if a walk started now might not end well before it. */
async function awayFromBoundary() {
  const now = Date.now();
  if (nextBoundary(now) - now < WALK_BUDGET_MS + BOUNDARY_MARGIN_MS) await sleep(nextBoundary(now) - now + 500);
}

/**
 * One visitor in a fresh browser context: opens each page in turn (`checkout`: clicks the Checkout
 * button; `purchase`: calls rum.event('purchase', {value: 10})), then a blank page without rum.js.
 * Leaving a page sends its beacon; the next page is opened only once it arrived, so beacons arrive
 * in walk order. Returns the session id and what its beacons carried.
 */
async function walk(steps) {
  await awayFromBoundary();
  const started = Date.now();
  const page = await env.newPage();
  let sid;
  const expected = [];
  const arrived = (count) =>
    waitFor(`the beacons of page view ${count} of ${sid}`, () => {
      const views = pageViewsOf(beaconsOf(sid));
      return views.length == count && views[count - 1].names.length == expected[count - 1].names.length;
    });
  for (const step of steps) {
    await page.goto(`${env.pageOrigin}/shop/${step.page}.html?key=${KEY}`);
    await page.waitForFunction(() => window.rum && window.rum.event && window.__rum && document.readyState == 'complete');
    const [id] = (await page.evaluate(() => sessionStorage.getItem('_rum_s'))).split('.');
    if (sid) assert.equal(id, sid, 'one session id across the pages of a visitor');
    sid = id;
    // The page just left has sent its beacon.
    if (expected.length) await arrived(expected.length);
    const names = [];
    await page.waitForTimeout(200);
    if (step.checkout) {
      await page.click('#checkout');
      // The action settles (100 ms quiet and the detector's 100 ms wait) before the page is left.
      await page.waitForTimeout(400);
      names.push('action:Checkout');
    }
    if (step.purchase) {
      await page.evaluate(() => window.rum.event('purchase', { value: 10 }));
      names.push('event:purchase');
    }
    expected.push({ route: `/shop/${step.page}.html`, names });
  }
  await page.goto(`${env.pageOrigin}/blank.html`);
  await arrived(expected.length);
  // A second exit beacon (visibilitychange, then pagehide) of the last page would be on its way now.
  await page.waitForTimeout(300);
  assert.deepEqual(page.pageErrors, [], 'nothing thrown into the pages');
  await page.context().close();
  const beacons = beaconsOf(sid);
  for (const beacon of beacons) {
    assert.equal(beacon.status, 202, beacon.answer);
    assert.deepEqual(JSON.parse(beacon.answer).rejected, [], beacon.record.body);
  }
  assert.deepEqual(pageViewsOf(beacons), expected, `what the beacons of ${sid} carried`);
  assert.ok(Date.now() - started < WALK_BUDGET_MS, `the walk took ${Date.now() - started} ms`);
  return { sid, steps };
}

const home = { page: 'home' };
const cart = { page: 'cart' };
const cartCheckout = { page: 'cart', checkout: true };
const payPurchase = { page: 'pay', purchase: true };

/** The visitors: what each walks. */
const VISITORS = [
  ...Array.from({ length: 3 }, () => ['full', [home, cartCheckout, payPurchase]]),
  ...Array.from({ length: 2 }, () => ['cart only', [home, cart]]),
  ['checkout, no purchase', [cartCheckout]],
  ['purchase before the cart', [payPurchase, cart]],
  ['the cart twice, then converts', [cart, cartCheckout, payPurchase]],
];

/**
 * What the walks imply (kept literal, so a mistake in the walks or in the model below shows): steps
 * 3+2+1+1+1, 3+1+1, 3+1; page views 3x3 + 2x2 + 1 + 2 + 3; one bounce (the Checkout-only visitor);
 * entries home 3+2, cart 1+1, pay 1; exits pay 3+1, cart 2+1+1.
 */
const EXPECTED = {
  steps: [8, 5, 4],
  conversions: 4,
  stepCounts: [8, 5, 4],
  sessions: 8,
  bounces: 1,
  pageViews: 19,
  active: 0,
  durationCount: 8,
  entries: { '/shop/cart.html': 2, '/shop/home.html': 5, '/shop/pay.html': 1 },
  exits: { '/shop/cart.html': 4, '/shop/pay.html': 4 },
};

/** The same, computed from the beacons the collector got, with the step and session times. */
function model(sids) {
  const sessions = sids.map((sid) => {
    const beacons = beaconsOf(sid);
    const views = pageViewsOf(beacons);
    const lo = beacons.map((beacon) => beacon.record.receivedAt);
    const hi = beacons.map((beacon) => beacon.record.answeredAt);
    // First to last beacon, as rum timed them.
    const duration = [Math.max(0, Math.max(...lo) - Math.min(...hi)), Math.max(...hi) - Math.min(...lo)];
    return { views, funnel: funnelOf(occurrencesOf(beacons)), duration, first: Math.min(...lo), last: Math.max(...hi) };
  });
  const sum = (bounds) => [0, 1].map((end) => bounds.reduce((total, bound) => total + bound[end], 0) / 1000);
  const count = (values) => values.reduce((counts, value) => ({ ...counts, [value]: (counts[value] || 0) + 1 }), {});
  const reached = STEPS.map((_, step) => sessions.filter((session) => session.funnel.length > step));
  return {
    counts: {
      steps: reached.map((list) => list.length),
      conversions: reached[STEPS.length - 1].length,
      stepCounts: reached.map((list) => list.length),
      sessions: sessions.length,
      bounces: sessions.filter((session) => session.views.length == 1).length,
      pageViews: sessions.reduce((sum, session) => sum + session.views.length, 0),
      active: 0,
      durationCount: sessions.length,
      entries: count(sessions.map((session) => session.views[0].route)),
      exits: count(sessions.map((session) => session.views.at(-1).route)),
    },
    /** Bounds of the seconds from step 1, summed per step over the sessions that reached it. */
    stepSums: STEPS.map((_, step) => sum(reached[step].map((session) => session.funnel[step]))),
    /** Bounds of the sessions' summed durations (s). */
    durationSum: sum(sessions.map((session) => session.duration)),
    sessions,
  };
}

/** Every series of `name` for the site, by the value of `label` (sorted). */
const byLabel = (samples, name, label) =>
  Object.fromEntries(
    samples
      .filter((sample) => sample.name == name && sample.labels.site == SITE)
      .map((sample) => [sample.labels[label], sample.value])
      .sort(([a], [b]) => (a < b ? -1 : 1)),
  );

/** The session and funnel families of the site on /metrics. */
async function exported() {
  const samples = await env.metrics();
  const value = (name, labels = {}) =>
    samples.find((sample) => sample.name == name && Object.entries({ site: SITE, ...labels }).every(([key, v]) => sample.labels[key] == v))?.value;
  const funnel = { funnel: 'checkout' };
  const steps = STEPS.map((target, index) => ({ ...funnel, step: String(index + 1), target }));
  const step = (index) => ({ ...funnel, step: String(index + 1) });
  /** A series without labels (the session table's health, over every site). */
  const global = (name) => samples.find((sample) => sample.name == name)?.value;
  return {
    counts: {
      steps: steps.map((labels) => value('rum_funnel_sessions_total', labels)),
      conversions: value('rum_funnel_conversions_total', funnel),
      stepCounts: STEPS.map((_, index) => value('rum_funnel_step_seconds_count', step(index))),
      sessions: value('rum_sessions_total'),
      bounces: value('rum_session_bounces_total'),
      pageViews: value('rum_session_page_views_total'),
      active: value('rum_sessions_active'),
      durationCount: value('rum_session_duration_seconds_count'),
      entries: byLabel(samples, 'rum_session_entries_total', 'route'),
      exits: byLabel(samples, 'rum_session_exits_total', 'route'),
    },
    stepSums: STEPS.map((_, index) => value('rum_funnel_step_seconds_sum', step(index))),
    durationSum: value('rum_session_duration_seconds_sum'),
    health: {
      evicted: global('rum_aggregator_sessions_evicted_total'),
      dropped: global('rum_aggregator_session_occurrences_dropped_total'),
      folded: global('rum_aggregator_session_routes_folded_total'),
    },
    targets: samples.filter((sample) => sample.name == 'rum_funnel_sessions_total' && sample.labels.site == SITE).map((sample) => sample.labels.target),
  };
}

const FUNNEL_KEYS = ['steps', 'conversions', 'stepCounts'];
const pick = (object, keys) => Object.fromEntries(keys.map((key) => [key, object[key]]));

/** Polls /metrics until `keys` of the counts equal `expected` or `deadline` (ms since the epoch) passes; returns the last reading. */
async function settledBy(what, keys, expected, deadline) {
  let last;
  while (true) {
    last = await exported();
    try {
      assert.deepEqual(pick(last.counts, keys), pick(expected, keys));
      return last;
    } catch (error) {
      if (Date.now() > deadline) {
        error.message = `${what} by ${new Date(deadline).toISOString()}:\n${error.message}`;
        throw error;
      }
    }
    await sleep(500);
  }
}

test('funnels and sessions: steps once per session and in order, conversions, bounces, entries and exits on /metrics', { timeout: 200000 }, async (context) => {
  const walked = [];
  for (const [name, steps] of VISITORS) {
    const visitor = await walk(steps);
    walked.push(visitor);
    context.diagnostic(`${name}: session ${visitor.sid}, ${steps.map((step) => step.page + (step.checkout ? '+Checkout' : '') + (step.purchase ? '+purchase' : '')).join(' -> ')}`);
  }
  const sids = walked.map((visitor) => visitor.sid);
  assert.equal(new Set(sids).size, VISITORS.length, 'a session per visitor');
  // Every beacon of the site is one of these sessions'.
  assert.deepEqual(env.beaconsFor(KEY).filter((beacon) => !sids.includes(beacon.sid)), []);

  const expectation = model(sids);
  assert.deepEqual(expectation.counts, EXPECTED, 'the beacons carry what the walks did');
  // No walk straddled a minute boundary, and each ended well before the next one.
  for (const session of expectation.sessions) {
    assert.equal(Math.floor(session.first / MINUTE), Math.floor(session.last / MINUTE), 'a walk within one minute');
    assert.ok(nextBoundary(session.last) - session.last >= BOUNDARY_MARGIN_MS - 500, `last beacon ${session.last % MINUTE} ms into its minute`);
  }
  const last = Math.max(...expectation.sessions.map((session) => session.last));
  // The minute of the last beacon is final at the next boundary, and every session was idle for
  // 2 s by then (a walk ends >= 2.5 s before it); stage 1 flushes every second.
  const boundary = nextBoundary(last);
  context.diagnostic(`last beacon at ${new Date(last).toISOString()}; counts final at ${new Date(boundary).toISOString()}`);

  const funnels = await settledBy('the funnel counts', FUNNEL_KEYS, EXPECTED, boundary + 20000);
  context.diagnostic(`funnel counts on /metrics at ${new Date().toISOString()}`);
  const final = await settledBy('the ended sessions', Object.keys(EXPECTED), EXPECTED, boundary + 75000);
  context.diagnostic(`session counts on /metrics at ${new Date().toISOString()}`);
  assert.deepEqual(pick(funnels.counts, FUNNEL_KEYS), pick(EXPECTED, FUNNEL_KEYS));
  assert.deepEqual(final.counts, EXPECTED);
  assert.deepEqual(final.targets, STEPS, 'one series per step, labelled with its target');
  assert.deepEqual(final.health, { evicted: 0, dropped: 0, folded: 0 });

  // Times: each beacon's receive time at rum lies between the front's receipt and rum's answer, so
  // the sums lie between the bounds the beacons give (1 ms per session for rounding to the ms).
  const within = (what, value, [lo, hi], sessions) => {
    const slack = 0.001 * sessions + 1e-9;
    assert.ok(value >= lo - slack && value <= hi + slack, `${what}: /metrics ${value} s, the beacons give ${lo}..${hi} s`);
  };
  const bounds = ([lo, hi]) => `${lo.toFixed(3)}..${hi.toFixed(3)}`;
  context.diagnostic(`step seconds: /metrics ${final.stepSums.join(', ')}; beacons ${expectation.stepSums.map(bounds).join(', ')}`);
  context.diagnostic(`session seconds: /metrics ${final.durationSum}; beacons ${bounds(expectation.durationSum)}`);
  assert.equal(final.stepSums[0], 0, 'step 1 is the start');
  STEPS.forEach((_, step) => within(`step ${step + 1} seconds`, final.stepSums[step], expectation.stepSums[step], EXPECTED.stepCounts[step]));
  within('session seconds', final.durationSum, expectation.durationSum, EXPECTED.sessions);
  // Counters stay: a later reading is the same.
  await sleep(1500);
  assert.deepEqual((await exported()).counts, EXPECTED);
});
