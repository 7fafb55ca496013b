// User actions (src/action.js) with stand-in elements and a fake clock and timers: naming order and
// masking, the quiet-page detector (busy/quiet, the 100 ms windows, the 10 s cap, the "started
// within 100 ms" rule), frustration signals at their boundaries, and rum.event's validation.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  MAX_ACTION_MS,
  QUIET_MS,
  RAGE_CLICKS,
  RAGE_GAP_MS,
  RAGE_RADIUS_PX,
  actionElement,
  actionName,
  businessEvent,
  createActions,
} from '../../src/action.js';

/** Elements by id, for aria-labelledby. */
const byId = new Map();
const ownerDocument = { getElementById: (id) => byId.get(id) ?? null };

/** Does `node` match a selector list of `tag` and `[attribute]` / `[attribute=value]` parts? */
const matches = (node, selectors) =>
  selectors.split(',').some((selector) => {
    const attribute = /^\[([\w-]+)(?:=([\w-]+))?\]$/.exec(selector);
    if (!attribute) return node.tagName.toLowerCase() == selector;
    const value = node.getAttribute(attribute[1]);
    return value != null && (attribute[2] == null || value == attribute[2]);
  });

/**
 * A stand-in for a DOM element: what action.js reads of one. `text` is its innerText (`textContent`
 * instead with `svg`), `children` get it as their parent.
 */
const element = (tag, { attributes = {}, text = '', children = [], labels, type, value, editable, svg } = {}) => {
  const node = {
    tagName: svg ? tag : tag.toUpperCase(),
    parent: null,
    labels,
    type,
    value,
    isContentEditable: editable,
    ownerDocument,
    getAttribute: (name) => (name in attributes ? attributes[name] : null),
    closest: (selectors) => {
      for (let at = node; at; at = at.parent) if (matches(at, selectors)) return at;
      return null;
    },
  };
  if (svg) node.textContent = text;
  else node.innerText = text;
  if (attributes.id) byId.set(attributes.id, node);
  for (const child of children) child.parent = node;
  return node;
};

test('names: data-rum-action (closest), label, text, aria-label, aria-labelledby, alt, name, title, placeholder, <tag>', () => {
  const sources = {
    'aria-label': 'Aria label',
    'aria-labelledby': 'heading-a heading-b',
    alt: 'Alt text',
    name: 'field-name',
    title: 'Title text',
    placeholder: 'Placeholder',
  };
  element('h2', { attributes: { id: 'heading-a' }, text: 'Your' });
  element('h2', { attributes: { id: 'heading-b' }, text: '  basket ' });
  const expected = ['Label text', 'Button text', 'Aria label', 'Your basket', 'Alt text', 'field-name', 'Title text', 'Placeholder', '<button>'];
  // Take the sources away one at a time, best first: each time the next one names the action.
  const attributes = { ...sources };
  let label = [element('label', { text: 'Label text' })];
  let text = 'Button text';
  for (const name of expected) {
    const button = element('button', { attributes: { ...attributes }, text, labels: label });
    assert.equal(actionName(button), name);
    if (label) label = undefined;
    else if (text) text = '';
    else delete attributes[Object.keys(attributes)[0]];
  }
  // data-rum-action beats everything, on the element itself or the closest ancestor.
  const own = element('button', { attributes: { 'data-rum-action': 'Add to cart', ...sources }, text: 'Add' });
  assert.equal(actionName(own), 'Add to cart');
  const inner = element('button', { text: 'Add' });
  element('section', { attributes: { 'data-rum-action': 'outer' }, children: [element('div', { attributes: { 'data-rum-action': 'Product card' }, children: [inner] })] });
  assert.equal(actionName(inner), 'Product card');
});

test('names: whitespace collapsed, trimmed, cut to 100 characters; fields never give their value', () => {
  assert.equal(actionName(element('a', { text: '\n  Add\tto \n\n cart  ' })), 'Add to cart');
  const long = 'é'.repeat(60) + '😀'.repeat(60);
  const name = actionName(element('button', { text: long }));
  assert.equal([...name].length, 100, 'cut at 100 characters, an emoji being one');
  assert.equal(name, 'é'.repeat(60) + '😀'.repeat(40));
  assert.equal(actionName(element('button', { text: 'x'.repeat(300) })).length, 100);
  // A text field: its value and content are the user's; its label, name or placeholder name it.
  assert.equal(actionName(element('input', { type: 'text', value: 'secret@example.com', text: 'secret', attributes: { name: 'email' } })), 'email');
  assert.equal(actionName(element('textarea', { value: 'my message', text: 'my message', attributes: { placeholder: 'Message' } })), 'Message');
  assert.equal(actionName(element('select', { text: 'Red Green Blue' })), '<select>');
  // Button-like inputs show their value.
  assert.equal(actionName(element('input', { type: 'submit', value: 'Subscribe' })), 'Subscribe');
  assert.equal(actionName(element('input', { type: 'image', attributes: { alt: 'Search' } })), 'Search');
  // Editable content is the user's text too.
  assert.equal(actionName(element('div', { editable: true, text: 'Dear Sir', attributes: { title: 'Editor' } })), 'Editor');
  // SVG elements have no innerText: textContent; the tag keeps its case.
  assert.equal(actionName(element('svg', { svg: true, text: ' Close ' })), 'Close');
  assert.equal(actionName(element('path', { svg: true })), '<path>');
  assert.equal(actionName(element('div', { text: '   ' })), '<div>');
});

test("names: actionNames 'attribute' sends data-rum-action only, everything else as <tag>", () => {
  const named = element('button', { attributes: { 'data-rum-action': 'Checkout' }, text: 'Pay 59.90 EUR' });
  assert.equal(actionName(named, true), 'Checkout');
  const inner = element('span', { text: 'Jane Doe' });
  element('li', { attributes: { 'data-rum-action': 'Contact' }, children: [inner] });
  assert.equal(actionName(inner, true), 'Contact');
  const button = element('button', { text: 'Jane Doe', labels: [element('label', { text: 'Name' })], attributes: { 'aria-label': 'x', title: 'y' } });
  assert.equal(actionName(button, true), '<button>');
  assert.equal(actionName(element('a', { text: 'Profile of Jane' }), true), '<a>');
  assert.equal(actionName(element('button', { attributes: { 'data-rum-action': '  ' }, text: 'Buy' }), true), '<button>');
});

test('the element acted on: the closest interactive ancestor, else the target', () => {
  const icon = element('span', { text: '+' });
  const button = element('button', { text: 'Add', children: [icon] });
  element('div', { children: [button] });
  assert.equal(actionElement(icon), button);
  const cell = element('span', { text: 'cell' });
  const row = element('div', { attributes: { role: 'button' }, children: [cell] });
  assert.equal(actionElement(cell), row);
  const plain = element('p', { text: 'text' });
  element('div', { children: [plain] });
  assert.equal(actionElement(plain), plain);
  const summary = element('summary', { children: [element('b')] });
  assert.equal(actionElement(summary), summary);
});

/**
 * createActions with a fake clock and timers: `at(t)` runs every timer due by `t` (each at its own
 * time), then sets the clock to `t`. Reported actions land in `reported` (as JSON would carry them).
 */
const setup = (attributeOnly) => {
  let now = 1000;
  let timers = [];
  const reported = [];
  const watching = [];
  const actions = createActions(
    {
      _clock: () => now,
      _timer: (callback, ms) => timers.push({ due: now + ms, callback }),
      _report: (event, view) => reported.push({ ...JSON.parse(JSON.stringify(event)), view }),
      _view: () => 'page-view',
      _watch: (on) => watching.push(on),
    },
    attributeOnly,
  );
  const at = (time) => {
    for (;;) {
      timers.sort((a, b) => a.due - b.due);
      if (!timers.length || timers[0].due > time) break;
      const [next] = timers.splice(0, 1);
      now = Math.max(now, next.due);
      next.callback();
    }
    now = time;
  };
  /** A click at the current time on `target` (default: a fresh button "Buy"). */
  const click = (target = element('button', { text: 'Buy' }), { x = 10, y = 10, kind = 'click', selected = false } = {}) => {
    actions._click(target, kind, x, y, now, selected);
    return target;
  };
  /** Runs every timer (long after everything settled). */
  const settle = () => at(now + 60000);
  return { actions, reported, watching, at, click, settle, now: () => now, timers: () => timers.length };
};

const scroll = { type: 'scroll' };
const input = { type: 'input' };

const action = (fields) => ({ type: 'action', name: 'Buy', kind: 'click', errors: 0, requests: 0, clicks: 1, view: 'page-view', ...fields });

test('quiet page: dur runs to the last activity; 100 ms with nothing ends the action', () => {
  const { actions, reported, at, click, watching } = setup();
  click();
  assert.deepEqual(watching, [true], 'mutations are watched while an action loads');
  at(1050);
  actions._activity(1050);
  at(1140);
  actions._activity(1140);
  at(1239);
  actions._activity(1239);
  // 1339: 100 ms without activity, the page is quiet; the mutation at 1340 is too late.
  at(1340);
  actions._activity(1340);
  assert.deepEqual(watching, [true, false], 'and no longer once none does');
  assert.deepEqual(reported, [], 'reported only once no further click can fold into it');
  at(2000);
  assert.deepEqual(reported, [], 'a next click within 1000 ms may still fold into it');
  at(2001);
  assert.deepEqual(reported, [action({ dur: 239 })]);
});

test('started within 100 ms or no dur: activity at 100 ms counts, at 101 ms it does not', () => {
  const started = setup();
  started.click();
  started.at(1100);
  started.actions._activity(1100);
  started.settle();
  assert.deepEqual(started.reported, [action({ dur: 100 })]);

  const late = setup();
  late.click();
  late.at(1101);
  late.actions._activity(1101);
  late.settle();
  assert.deepEqual(late.reported, [action({})], 'no dur');

  const nothing = setup();
  nothing.click();
  nothing.settle();
  assert.deepEqual(nothing.reported, [action({})]);
});

test('a timer that fires late changes nothing: activity after a quiet gap settles the action first', () => {
  const { actions, reported, at, click, settle } = setup();
  click();
  actions._activity(1020);
  // The main thread is blocked: no timer runs until 1500, but activity arrives with its time.
  actions._activity(1121); // 101 ms after the last: the action was quiet at 1120
  at(1500);
  settle();
  assert.deepEqual(reported, [action({ dur: 20 })]);
  // And one that never started is settled by the first activity after its window.
  const other = setup();
  other.click();
  other.actions._activity(1101);
  other.actions._activity(1102);
  other.settle();
  assert.deepEqual(other.reported, [action({})]);
});

test('a fetch/XHR keeps the page busy until it settles; the DOM change after it ends the action', () => {
  const { actions, reported, at, click, settle } = setup();
  click();
  at(1010);
  const done = actions._request();
  // In flight: nothing else happens for 300 ms, the page is still busy.
  at(1310);
  done();
  at(1312);
  actions._activity(1312);
  settle();
  assert.deepEqual(reported, [action({ dur: 312, requests: 1 })]);
});

test('requests started while loading are counted; those started before the action or after it are not', () => {
  const { actions, reported, at, click, settle } = setup();
  at(990);
  const before = actions._request();
  at(1000);
  click();
  at(1050);
  const first = actions._request();
  at(1080);
  const second = actions._request();
  at(1200);
  first();
  before();
  at(1400);
  second();
  at(1600);
  // Quiet since 1400: a call now is after the action.
  const after = actions._request();
  settle();
  after();
  assert.deepEqual(reported, [action({ dur: 400, requests: 2 })]);
});

test('resource entries: their own start and end times; resources started before the action are not its activity', () => {
  const { actions, reported, at, click, settle } = setup();
  click();
  at(1190);
  // Observed late, as PerformanceObserver delivers them: started at 1060, ended at 1180.
  actions._activity(1060, 1180);
  actions._activity(900, 1250);
  settle();
  assert.deepEqual(reported, [action({ dur: 180 })]);
});

test('the 10 s cap: still busy at 10 s gives exactly 10000', () => {
  const mutating = setup();
  mutating.click();
  for (let time = 1050; time < 1000 + 12000; time += 50) {
    mutating.at(time);
    mutating.actions._activity(time);
  }
  mutating.settle();
  assert.deepEqual(mutating.reported, [action({ dur: MAX_ACTION_MS })]);

  const hanging = setup();
  hanging.click();
  hanging.at(1001);
  hanging.actions._request();
  hanging.settle();
  assert.deepEqual(hanging.reported, [action({ dur: 10000, requests: 1 })]);

  // Quiet just before the cap: its own dur.
  const quiet = setup();
  quiet.click();
  for (let time = 1050; time <= 1000 + 9800; time += 50) {
    quiet.at(time);
    quiet.actions._activity(time);
  }
  quiet.settle();
  assert.deepEqual(quiet.reported, [action({ dur: 9800 })]);
});

test('errors while loading count and make an error click; errors after it do not', () => {
  const { actions, reported, at, click, settle } = setup();
  click();
  actions._error();
  at(1050);
  actions._error();
  at(1200);
  actions._error();
  settle();
  assert.deepEqual(reported, [action({ errors: 2, frustration: ['error'] })]);
});

test(`rage: ${RAGE_CLICKS} clicks or more, each at most ${RAGE_GAP_MS} ms after the previous, within ${RAGE_RADIUS_PX} px of the first`, () => {
  const button = element('button', { text: 'Buy' });
  const run = (points) => {
    const { reported, at, click, settle } = setup();
    for (const [time, x, y] of points) {
      at(time);
      click(button, { x, y });
    }
    settle();
    return reported.map((event) => [event.clicks, event.frustration]);
  };
  assert.deepEqual(run([[1000, 10, 10], [1500, 10, 10]]), [[2, undefined]], '2 clicks: one action, no rage');
  assert.deepEqual(run([[1000, 10, 10], [1500, 10, 10], [2000, 10, 10]]), [[3, ['rage']]], '3 clicks: rage');
  assert.deepEqual(run([[1000, 10, 10], [1100, 10, 10], [1200, 10, 10], [1300, 10, 10]]), [[4, ['rage']]]);
  // Gaps: 1000 ms folds, 1001 ms starts a new action.
  assert.deepEqual(run([[1000, 10, 10], [2000, 10, 10], [3000, 10, 10]]), [[3, ['rage']]]);
  assert.deepEqual(run([[1000, 10, 10], [2000, 10, 10], [3001, 10, 10]]), [[2, undefined], [1, undefined]]);
  // Distance from the first click: 100 px folds (60, 80), 101 px does not.
  assert.deepEqual(run([[1000, 10, 10], [1100, 70, 90], [1200, 110, 10]]), [[3, ['rage']]]);
  assert.deepEqual(run([[1000, 10, 10], [1100, 70, 90], [1200, 111, 10]]), [[2, undefined], [1, undefined]]);
});

test('rage: not on different elements, not when text got selected or the page scrolled in between', () => {
  const button = element('button', { text: 'Buy' });
  const different = setup();
  for (const time of [1000, 1100, 1200]) {
    different.at(time);
    different.click(element('button', { text: 'Buy' }));
  }
  different.settle();
  assert.deepEqual(different.reported.map((event) => event.clicks), [1, 1, 1]);

  const selecting = setup();
  selecting.click(button);
  selecting.at(1100);
  selecting.click(button, { selected: true });
  selecting.at(1200);
  selecting.click(button, { selected: true });
  selecting.settle();
  assert.deepEqual(selecting.reported.map((event) => event.clicks), [1, 1, 1]);

  const scrolling = setup();
  scrolling.click(button);
  scrolling.at(1100);
  scrolling.click(button);
  scrolling.actions._moved(scroll);
  scrolling.at(1200);
  scrolling.click(button);
  scrolling.settle();
  assert.deepEqual(scrolling.reported.map((event) => event.clicks), [2, 1]);
});

test('dead: a click on a plain element with no activity, input or scroll within 100 ms', () => {
  const run = (target, after = () => {}) => {
    const { actions, reported, at, click, settle } = setup();
    click(target);
    after(actions, at);
    settle();
    return reported[0].frustration;
  };
  const div = () => element('div', { text: 'Details' });
  assert.deepEqual(run(div()), ['dead']);
  assert.equal(run(div(), (actions, at) => (at(1100), actions._activity(1100))), undefined, 'a mutation at 100 ms: not dead');
  assert.deepEqual(run(div(), (actions, at) => (at(1101), actions._activity(1101))), ['dead'], 'a mutation at 101 ms: dead');
  assert.equal(run(div(), (actions, at) => (at(1050), actions._request())), undefined, 'a request: not dead');
  assert.equal(run(div(), (actions, at) => (at(1050), actions._activity(1040, 1045))), undefined, 'a new resource: not dead');
  assert.equal(run(div(), (actions, at) => (at(1090), actions._moved(input))), undefined, 'input: not dead');
  assert.equal(run(div(), (actions, at) => (at(1090), actions._moved(scroll))), undefined, 'a scroll: not dead');
  assert.deepEqual(run(div(), (actions, at) => (at(1101), actions._moved(scroll))), ['dead'], 'a scroll after the window');
  // Elements the browser itself answers are never dead.
  for (const tag of ['a', 'button', 'input', 'select', 'textarea', 'label', 'summary']) assert.equal(run(element(tag)), undefined, tag);
  const inLink = element('span', { text: 'x' });
  element('a', { children: [inLink] });
  assert.equal(run(inLink), undefined, 'inside a link');
  const inEditor = element('p', { text: 'x' });
  element('div', { attributes: { contenteditable: '' }, children: [inEditor] });
  assert.equal(run(inEditor), undefined, 'inside contenteditable');
  // [role=button] and [data-rum-action] elements can be dead: nothing answers them but the page.
  assert.deepEqual(run(element('div', { attributes: { role: 'button' } })), ['dead']);
  // A throwing handler is an error click, not a dead one; a click selecting text is not dead.
  assert.deepEqual(run(div(), (actions) => actions._error()), ['error']);
  const { reported, click, settle } = setup();
  click(div(), { selected: true });
  settle();
  assert.equal(reported[0].frustration, undefined);
  // A rage click on a dead element is both.
  const rage = setup();
  const target = div();
  for (const time of [1000, 1200, 1400]) {
    rage.at(time);
    rage.click(target);
  }
  rage.settle();
  assert.deepEqual(rage.reported.map((event) => event.frustration), [['rage', 'dead']]);
});

test('hiding the page reports every pending action at once; none of them counts as dead', () => {
  const { actions, reported, at, click, timers } = setup();
  click(element('div', { text: 'Menu' }));
  at(1050);
  actions._request();
  at(1300);
  click(element('div', { text: 'Other' }));
  at(1320);
  actions._flush();
  assert.deepEqual(reported, [
    action({ name: 'Menu', dur: 320, requests: 1 }),
    action({ name: 'Other', requests: 0 }),
  ]);
  at(70000);
  assert.equal(reported.length, 2, 'each once');
  assert.ok(timers() == 0);

  // One waiting for a next click to fold in goes as soon as another element is clicked (or the
  // page scrolls), and at the latest when the page is hidden.
  const waiting = setup();
  waiting.click(element('div', { text: 'First' }));
  waiting.at(1500);
  waiting.click(element('div', { text: 'Second' }));
  assert.deepEqual(waiting.reported, [action({ name: 'First', frustration: ['dead'] })]);
  waiting.at(1800);
  waiting.actions._moved(scroll);
  assert.deepEqual(waiting.reported.map((event) => event.name), ['First', 'Second']);
  waiting.click(element('div', { text: 'Third' }));
  waiting.at(2000);
  waiting.actions._flush();
  assert.deepEqual(waiting.reported.map((event) => [event.name, event.frustration]), [
    ['First', ['dead']],
    ['Second', ['dead']],
    ['Third', undefined],
  ]);
});

test('kinds, labels and form submissions: one action each', () => {
  const { actions, reported, at, click, settle } = setup();
  click(element('button', { text: 'Menu' }), { kind: 'tap' });
  at(3000);
  // A label's click and the browser's click on its control are one action.
  const input = element('input', { type: 'checkbox', attributes: { name: 'remember' } });
  const label = element('label', { text: 'Remember me' });
  label.control = input;
  click(label);
  click(input);
  at(6000);
  click(input);
  at(9000);
  // The button that submitted the form is the submit action; a submission without one is the form's.
  const submit = element('button', { text: 'Subscribe' });
  const form = element('form', { attributes: { 'aria-label': 'Newsletter' }, children: [submit] });
  click(submit, { kind: 'key' });
  actions._submit(form, submit, 9001);
  at(12000);
  actions._submit(form, null, 12000);
  settle();
  assert.deepEqual(
    reported.map((event) => [event.name, event.kind]),
    [
      ['Menu', 'tap'],
      ['Remember me', 'click'],
      ['remember', 'click'],
      ['Subscribe', 'submit'],
      ['Newsletter', 'submit'],
    ],
  );
});

test('the page view an action started in is the one it is reported with; masked names', () => {
  let view = 'first';
  const reported = [];
  let now = 0;
  const actions = createActions(
    { _clock: () => now, _timer: () => {}, _report: (event, at) => reported.push([event.name, at]), _view: () => view, _watch: () => {} },
    true,
  );
  actions._click(element('button', { text: 'Next page' }), 'click', 0, 0, 0);
  view = 'second';
  now = 50;
  actions._flush();
  assert.deepEqual(reported, [['<button>', 'first']]);
});

test('rum.event: name 1..100 characters, value a number in 0..1e9', () => {
  assert.deepEqual(businessEvent('purchase', { value: 59.9 }), { type: 'event', name: 'purchase', value: 59.9 });
  assert.deepEqual(JSON.parse(JSON.stringify(businessEvent('  sign  up '))), { type: 'event', name: 'sign up' });
  assert.deepEqual(JSON.parse(JSON.stringify(businessEvent('x', { value: null }))), { type: 'event', name: 'x' });
  assert.equal(businessEvent('x'.repeat(150)).name.length, 100);
  assert.equal(businessEvent('x', { value: 0 }).value, 0);
  assert.equal(businessEvent('x', { value: 1e9 }).value, 1e9);
  assert.equal(businessEvent('x', { value: '12.5' }).value, 12.5, 'a numeric string, like mark()');
  for (const value of [-0.01, 1e9 + 1, NaN, Infinity, 'abc', {}]) assert.equal(businessEvent('x', { value }), undefined, String(value));
  for (const name of ['', '   ', undefined, null]) assert.equal(businessEvent(name, { value: 1 }), undefined, String(name));
});

test('the constants docs/sdk.md states', () => {
  assert.deepEqual([QUIET_MS, MAX_ACTION_MS, RAGE_CLICKS, RAGE_GAP_MS, RAGE_RADIUS_PX], [100, 10000, 3, 1000, 100]);
});
