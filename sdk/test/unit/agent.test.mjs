// The agent's state machine (src/agent.js) with a fake clock, storage, timer and transport:
// consent gate, sampling, page views, dedupe of errors, re-sent vitals, early error beacons.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MAX_PENDING_EVENTS, createAgent } from '../../src/agent.js';
import { SESSION_KEY, inSample } from '../../src/session.js';

/** An agent whose beacons land in `sent` (parsed) and whose storage is a Map. */
const setup = (options = {}, first = { url: 'https://shop.example/', nav: 'navigate' }, items = new Map(), held = false) => {
  const sent = [];
  const timers = [];
  let now = 1_763_760_000_000;
  let clock = 100;
  const env = {
    _send: (body) => sent.push(JSON.parse(body)),
    _now: () => now,
    _clock: () => clock,
    _storage: {
      getItem: (key) => (items.has(key) ? items.get(key) : null),
      setItem: (key, value) => items.set(key, value),
    },
    _hints: () => ({ conn: { type: '4g' }, dev: { cores: 8 } }),
    _timer: (callback, ms) => timers.push({ callback, ms }),
    _held: held,
  };
  const agent = createAgent(options, env, first);
  return {
    agent,
    sent,
    items,
    timers,
    advance: (ms) => {
      now += ms;
      clock += ms;
    },
  };
};

const vital = (name, value, id = `v5-${name}`) => ({ type: 'vital', name, value, id, rating: 'good' });
const error = (message, line = 1) => ({ type: 'error', kind: 'error', message, source: 'https://shop.example/app.js', line, col: 2 });

test('one beacon per page view on flush, BEACON.md head, vitals first', () => {
  const { agent, sent } = setup();
  assert.equal(agent._active, true);
  agent._error(error('boom'));
  agent._vital(vital('LCP', 1200));
  agent._vital(vital('FCP', 800));
  agent._flush();
  assert.equal(sent.length, 1);
  const [beacon] = sent;
  assert.equal(beacon.v, 1);
  assert.match(beacon.sid, /^[0-9a-v]{16}$/);
  assert.match(beacon.pid, /^[0-9a-v]{16}$/);
  assert.notEqual(beacon.sid, beacon.pid);
  assert.equal(beacon.url, 'https://shop.example/');
  assert.equal(beacon.nav, 'navigate');
  assert.equal(beacon.sent, 1_763_760_000_000);
  assert.equal(beacon.seq, 0);
  assert.deepEqual(beacon.conn, { type: '4g' });
  assert.deepEqual(beacon.dev, { cores: 8 });
  assert.deepEqual(beacon.events.map((event) => event.name || event.type), ['LCP', 'FCP', 'error']);
});

test('nothing new: no beacon; a changed vital is re-sent with the same id, only the change', () => {
  const { agent, sent } = setup();
  agent._vital(vital('CLS', 0.01));
  agent._vital(vital('LCP', 900));
  agent._flush();
  agent._flush();
  assert.equal(sent.length, 1);
  agent._vital(vital('CLS', 0.05));
  agent._flush();
  assert.equal(sent.length, 2);
  assert.equal(sent[1].pid, sent[0].pid);
  assert.deepEqual(sent[1].events, [vital('CLS', 0.05)]);
  // The page view's flushes are numbered, so the collector keeps the later value whatever order
  // the beacons arrive in.
  assert.deepEqual(sent.map((beacon) => beacon.seq), [0, 1]);
});

test('a page view with nothing measured still sends one beacon, so it counts', () => {
  const { agent, sent } = setup();
  agent._flush();
  assert.equal(sent.length, 1);
  assert.deepEqual(sent[0].events, []);
});

test('consent withheld: nothing sent, nothing stored; granted: the measured data goes out', () => {
  const { agent, sent, items } = setup({ requireConsent: true });
  assert.equal(agent._active, true);
  agent._vital(vital('LCP', 1500));
  agent._error(error('before consent'));
  agent._route('https://shop.example/cart');
  agent._flush();
  agent._flush();
  assert.equal(sent.length, 0);
  assert.equal(items.size, 0, 'no session id is stored before consent');
  agent._consent(true);
  agent._flush();
  assert.equal(items.has(SESSION_KEY), true);
  assert.deepEqual(sent.map((beacon) => beacon.nav), ['navigate', 'soft']);
  assert.deepEqual(sent[0].events.map((event) => event.name || event.message), ['LCP', 'before consent']);
  // Withdrawn again: the gate closes.
  agent._consent(false);
  agent._error(error('after withdrawal'));
  agent._flush();
  assert.equal(sent.length, 2);
});

test('sampling at 0 makes the agent inactive and it never sends', () => {
  const { agent, sent, items } = setup({ sampleRate: 0 });
  assert.equal(agent._active, false);
  agent._vital(vital('LCP', 1500));
  agent._error(error('x'));
  agent._flush();
  assert.equal(sent.length, 0);
  assert.equal(items.has(SESSION_KEY), true, 'the decision is per session, so the session is kept');
});

test('sampling is per session: every page view of a session decides the same way', () => {
  for (let session = 0; session < 50; session++) {
    const tab = new Map();
    const first = setup({ sampleRate: 0.5 }, undefined, tab);
    const sid = tab.get(SESSION_KEY).split('.')[0];
    assert.equal(first.agent._active, inSample(sid, 0.5));
    // Later page views in the same tab (sessionStorage carries over) reuse the session and its decision.
    for (let page = 0; page < 5; page++) {
      const next = setup({ sampleRate: 0.5 }, undefined, tab);
      assert.equal(next.agent._active, first.agent._active);
      next.agent._flush();
      assert.equal(next.sent.length, first.agent._active ? 1 : 0);
      if (next.sent.length) assert.equal(next.sent[0].sid, sid);
    }
  }
});

test('an SPA route change sends the page view and starts a soft one with its own pid', () => {
  const { agent, sent, advance } = setup();
  agent._vital(vital('LCP', 1000));
  advance(2000);
  agent._route('https://shop.example/');
  assert.equal(sent.length, 0, 'same URL: not a route change');
  agent._route('https://shop.example/cart');
  assert.equal(sent.length, 1, 'the page view that ended is sent at once');
  advance(300);
  agent._mark('cart_render');
  agent._mark('explicit', 42);
  agent._mark('negative', -1);
  agent._error(error('in cart'));
  agent._vital(vital('CLS', 0.2));
  agent._flush();
  const [hard, hardAgain, soft] = sent;
  assert.equal(soft.nav, 'soft');
  assert.equal(soft.url, 'https://shop.example/cart');
  assert.equal(soft.ref, 'https://shop.example/');
  assert.equal(soft.sid, hard.sid);
  assert.notEqual(soft.pid, hard.pid);
  assert.deepEqual(soft.events, [
    { type: 'custom', name: 'cart_render', value: 300 },
    { type: 'custom', name: 'explicit', value: 42 },
    { type: 'error', kind: 'error', message: 'in cart', source: 'https://shop.example/app.js', line: 1, col: 2 },
  ]);
  // Vitals belong to the document's page view (as in CrUX): CLS growing after the route change
  // updates the first page view, under its pid.
  assert.equal(hardAgain.pid, hard.pid);
  assert.deepEqual(hardAgain.events, [vital('CLS', 0.2)]);
});

test('a back-forward-cache restore is a new page view that owns the new vitals', () => {
  const { agent, sent } = setup();
  agent._vital(vital('LCP', 1000, 'v5-a'));
  agent._flush();
  agent._restore('https://shop.example/', 5000);
  agent._vital(vital('LCP', 20, 'v5-b'));
  agent._flush();
  assert.deepEqual(sent.map((beacon) => beacon.nav), ['navigate', 'back-forward-cache']);
  assert.notEqual(sent[1].pid, sent[0].pid);
  assert.deepEqual(sent[1].events, [vital('LCP', 20, 'v5-b')]);
});

test('errors: once per page view however often they repeat, at most maxErrors distinct', () => {
  const { agent, sent } = setup({ maxErrors: 3 });
  for (let i = 0; i < 50; i++) agent._error(error('same'));
  for (let line = 2; line < 10; line++) agent._error(error('other', line));
  agent._flush();
  assert.deepEqual(sent[0].events.map((event) => `${event.message}:${event.line}`), ['same:1', 'other:2', 'other:3']);
  // A new page view has its own budget.
  agent._route('https://shop.example/next');
  agent._error(error('same'));
  agent._flush();
  assert.equal(sent.at(-1).events.length, 1);
});

test('pending events are capped between two beacons', () => {
  const { agent, sent } = setup();
  assert.equal(MAX_PENDING_EVENTS, 200);
  for (let i = 0; i < 250; i++) agent._push({ type: 'request', url: 'https://api.example/x', method: 'GET', status: 500, duration: i });
  agent._flush();
  assert.equal(sent[0].events.length, 200);
  agent._push({ type: 'request', url: 'https://api.example/y', method: 'GET', status: 0, duration: 1 });
  agent._flush();
  assert.equal(sent[1].events.length, 1);
});

test('an error schedules an early beacon, so a long-lived page reports it without being hidden', () => {
  const { agent, sent, timers } = setup();
  agent._vital(vital('FCP', 500));
  agent._error(error('first'));
  agent._error(error('second'));
  assert.equal(timers.length, 1, 'one timer for a burst of errors');
  assert.equal(timers[0].ms, 5000);
  timers[0].callback();
  assert.equal(sent.length, 1);
  assert.deepEqual(sent[0].events.map((event) => event.name || event.message), ['FCP', 'first', 'second']);
  agent._error(error('third'));
  assert.equal(timers.length, 2, 'a later error schedules another');
});

test('navigation timing belongs to the document page view even after a route change', () => {
  const { agent, sent } = setup();
  agent._route('https://shop.example/b');
  agent._navigation({ type: 'nav', dns: 1, load: 900 });
  agent._flush();
  const hard = sent.find((beacon) => beacon.nav == 'navigate');
  assert.deepEqual(sent.at(-1).events, []);
  assert.deepEqual(
    sent.filter((beacon) => beacon.pid == hard.pid).flatMap((beacon) => beacon.events),
    [{ type: 'nav', dns: 1, load: 900 }],
  );
});

test('an action goes out with the page view it started in, even after a route change sent that one', () => {
  const { agent, sent } = setup();
  agent._route('https://shop.example/list');
  const list = agent._view();
  const click = { type: 'action', name: 'Next', kind: 'click', dur: 250, errors: 0, requests: 1, clicks: 1 };
  // The click on the list routes on; its action settles after the route change sent the list's page view.
  agent._route('https://shop.example/item');
  assert.notEqual(agent._view(), list);
  // Another flush before it settles (an error's early beacon) lets the list's page view go.
  agent._flush();
  agent._push(click, list);
  agent._push({ type: 'event', name: 'purchase', value: 59.9 });
  agent._flush();
  const listBeacons = sent.filter((beacon) => beacon.url == 'https://shop.example/list');
  assert.deepEqual(listBeacons.map((beacon) => [beacon.seq, beacon.events]), [[0, []], [1, [click]]]);
  const item = sent.filter((beacon) => beacon.url == 'https://shop.example/item');
  assert.deepEqual(item.flatMap((beacon) => beacon.events), [{ type: 'event', name: 'purchase', value: 59.9 }]);
  // Sent and let go again: nothing more for it.
  const count = sent.length;
  agent._flush();
  assert.equal(sent.length, count);
});

test('release and environment: rel and env in every beacon of the page, after nav', () => {
  const { agent, sent } = setup({ release: '1.4.2', environment: 'production' });
  agent._vital(vital('LCP', 1000));
  agent._flush();
  agent._route('https://shop.example/cart');
  agent._error(error('in cart'));
  agent._flush();
  agent._restore('https://shop.example/', 5000);
  agent._flush();
  assert.deepEqual(sent.map((beacon) => beacon.nav), ['navigate', 'soft', 'back-forward-cache']);
  for (const beacon of sent) {
    assert.equal(beacon.rel, '1.4.2');
    assert.equal(beacon.env, 'production');
    const keys = Object.keys(beacon);
    assert.deepEqual(keys.slice(keys.indexOf('nav'), keys.indexOf('nav') + 3), ['nav', 'rel', 'env']);
  }
  // Every character BEACON.md allows, and the longest value.
  const full = setup({ release: 'Az09._+:@/-', environment: 'e'.repeat(64) });
  full.agent._flush();
  assert.equal(full.sent[0].rel, 'Az09._+:@/-');
  assert.equal(full.sent[0].env, 'e'.repeat(64));
  // A beacon too large for one body is split; each body carries them.
  const split = setup({ release: 'abc1234', environment: 'staging' });
  for (let i = 0; i < 150; i++) split.agent._push({ type: 'request', url: `https://api.example/${'x'.repeat(900)}`, method: 'GET', status: 500, duration: i });
  split.agent._flush();
  assert.ok(split.sent.length > 1);
  for (const beacon of split.sent) assert.deepEqual([beacon.rel, beacon.env], ['abc1234', 'staging']);
});

test('an invalid release or environment is not sent (the collector would drop it)', () => {
  const invalid = ['r'.repeat(65), '1.4 beta', '', 'é', 'a\n', 'a"b', 142, 1.5, true, false, null, {}, ['1.4.2'], { toString: () => '1.4.2' }];
  for (const value of invalid) {
    const { agent, sent } = setup({ release: value, environment: value });
    agent._flush();
    assert.equal('rel' in sent[0], false, `release ${JSON.stringify(value)}`);
    assert.equal('env' in sent[0], false, `environment ${JSON.stringify(value)}`);
  }
  // Each is checked on its own.
  const { agent, sent } = setup({ release: '2.0.0', environment: 'prod uction' });
  agent._flush();
  assert.equal(sent[0].rel, '2.0.0');
  assert.equal('env' in sent[0], false);
});

test('without release and environment the beacon has no rel or env, byte for byte as before', () => {
  const bodies = [];
  const env = {
    _send: (body) => bodies.push(body),
    _now: () => 1_763_760_000_000,
    _clock: () => 100,
    _storage: undefined,
    _hints: () => ({ dev: { cores: 8 } }),
    _timer: () => {},
  };
  const agent = createAgent({}, env, { url: 'https://shop.example/', nav: 'navigate' });
  agent._flush();
  const [body] = bodies;
  const { sid, pid } = JSON.parse(body);
  assert.equal(body, `{"v":1,"sid":"${sid}","pid":"${pid}","url":"https://shop.example/","nav":"navigate","sent":1763760000000,"seq":0,"dev":{"cores":8},"events":[]}`);
  for (const options of [{ release: undefined, environment: undefined }, { release: '' }]) {
    const { agent, sent } = setup(options);
    agent._flush();
    assert.deepEqual(Object.keys(sent[0]), ['v', 'sid', 'pid', 'url', 'nav', 'sent', 'seq', 'conn', 'dev', 'events']);
  }
});

/** A tab (sessionStorage) whose session id is `sid`, last active just now. */
const tabOf = (sid) => new Map([[SESSION_KEY, `${sid}.1763760000000`]]);

test("the collector's sample rate replaces the tag's, decided on the same session id", () => {
  // 7vvvvv... is inside 25%, 8000... outside (the table the collector shares, sampling.test.mjs).
  const inside = setup({ sampleRate: 0 }, undefined, tabOf('7vvvvvvvvvvvvvvv'), true);
  assert.equal(inside.agent._active, true, 'measures while the configuration is awaited');
  inside.agent._vital(vital('LCP', 1500));
  inside.agent._flush();
  assert.equal(inside.sent.length, 0, 'a timer flush waits for the configuration');
  inside.agent._configure({ sampleRate: 0.25, disable: ['actions'] });
  inside.agent._flush();
  assert.equal(inside.sent.length, 1);
  assert.equal(inside.sent[0].sr, 0.25, 'the beacon carries the rate it was kept at');
  assert.equal(inside.items.get('_rum_c'), 'actions', 'switches kept for the next page load');

  const outside = setup({ sampleRate: 1 }, undefined, tabOf('8000000000000000'), true);
  outside.agent._vital(vital('LCP', 1500));
  outside.agent._configure({ sampleRate: 0.25 });
  outside.agent._flush(1);
  assert.equal(outside.sent.length, 0, 'sampled out by the collector');
});

test('without an answer the tag decides, and a final flush never waits', () => {
  const hidden = setup({ sampleRate: 0.5 }, undefined, tabOf('0000000000000000'), true);
  hidden.agent._vital(vital('LCP', 1500));
  hidden.agent._flush(1);
  assert.equal(hidden.sent.length, 1, 'the page was hidden before the configuration came');
  assert.equal(hidden.sent[0].sr, 0.5);
  const unread = setup({}, undefined, tabOf('0000000000000000'), true);
  unread.agent._configure({});
  unread.agent._flush();
  assert.equal(unread.sent.length, 1);
  assert.equal(unread.sent[0].sr, undefined, 'rate 1 is not sent');
});

test("the backend trace of the document's response goes with its page view only", () => {
  const trace = '4bf92f3577b34da6a3ce929d0e0e4736';
  const { agent, sent } = setup({}, { url: 'https://shop.example/', nav: 'navigate', trace });
  agent._flush();
  agent._route('https://shop.example/next');
  agent._flush();
  agent._restore('https://shop.example/', 5000);
  agent._flush();
  assert.deepEqual(
    sent.map((beacon) => [beacon.nav, beacon.trace]),
    [
      ['navigate', trace],
      ['soft', undefined],
      ['back-forward-cache', undefined],
    ],
  );
  assert.deepEqual(Object.keys(sent[0]), ['v', 'sid', 'pid', 'url', 'nav', 'trace', 'sent', 'seq', 'conn', 'dev', 'events']);
});

test('sampled (traceparent flag 01): consented and in the sample, whatever the configuration says later', () => {
  assert.equal(setup().agent._sampled(), true);
  const consent = setup({ requireConsent: true });
  assert.equal(consent.agent._sampled(), false, 'no consent yet');
  consent.agent._consent(true);
  assert.equal(consent.agent._sampled(), true);
  consent.agent._consent(false);
  assert.equal(consent.agent._sampled(), false, 'consent withdrawn');
  const out = setup({ sampleRate: 0 });
  assert.equal(out.agent._sampled(), false);
  const configured = setup({ sampleRate: 1 }, undefined, tabOf('8000000000000000'), true);
  assert.equal(configured.agent._sampled(), true);
  configured.agent._configure({ sampleRate: 0.25 });
  assert.equal(configured.agent._sampled(), false, 'sampled out by the collector');
});
