// User actions (clicks, taps, key activations, form submissions): their names, their loading time
// (the quiet-page detector) and their frustration signals (rage, dead and error clicks). The
// browser side (index.js) turns DOM events into calls here; this module reads only the elements it
// is given, and takes its clock and timers from `env`, so the unit tests drive it in Node with a
// fake clock and stand-in elements.

/**
 * The page is quiet again once this long passed with no DOM mutation, no fetch/XHR in flight and
 * no new resource; an action has a loading time only if some activity started this soon after it.
 */
export const QUIET_MS = 100;
/** Loading times are capped here: an action still busy this long after it gets exactly this. */
export const MAX_ACTION_MS = 10000;
/**
 * How long after an action should have settled its timer checks: PerformanceObserver delivers
 * resource entries a little after they happen. Decisions go by the activity's own times, so the
 * wait only delays the report.
 */
const LATE_ENTRY_MS = 100;
/** Rage: this many clicks or more on the same element... */
export const RAGE_CLICKS = 3;
/** ...each at most this long after the previous one... */
export const RAGE_GAP_MS = 1000;
/** ...and at most this far (CSS px) from the first. */
export const RAGE_RADIUS_PX = 100;
/** BEACON.md: action and event names are 1..100 characters. */
const MAX_NAME_CHARS = 100;
/** BEACON.md: errors, requests and clicks of one action are at most this. */
const MAX_COUNT = 10000;
/** BEACON.md: a business event's value is 0..1e9. */
const MAX_EVENT_VALUE = 1e9;

/** What a click acts on: the closest of these around its target, else the target itself. */
const INTERACTIVE = 'a,button,input,select,textarea,label,summary,[role=button],[data-rum-action]';
/** A click inside one of these is never dead: the browser itself responds (focus, caret, toggle, follow). */
const RESPONSIVE = 'a,button,input,select,textarea,label,summary,[contenteditable]';

/** Whitespace collapsed, trimmed, cut to 100 characters (code points); '' for no text. */
export const label = (value) =>
  value ? [...(value + '').slice(0, 1000).replace(/\s+/g, ' ').trim()].slice(0, MAX_NAME_CHARS).join('') : '';

/** Rendered text (innerText), or textContent where there is none (SVG). */
const text = (node) => node && (node.innerText ?? node.textContent);

/** The element a click on `target` acts on. */
export const actionElement = (target) => target.closest(INTERACTIVE) || target;

/**
 * The name of an action on `element`: `data-rum-action` of it or its closest ancestor, then (unless
 * `attributeOnly`) its label, its text (never a form field's value or an editable element's
 * content; a button-like input's value), aria-label, aria-labelledby, alt, name, title,
 * placeholder; the first non-empty one, else `<tag>`.
 * @param {Element & {labels?: NodeListOf<HTMLLabelElement>, type?: string, value?: string, isContentEditable?: boolean}} element
 * @param {boolean} [attributeOnly]
 */
export const actionName = (element, attributeOnly) => {
  const tag = element.tagName.toLowerCase();
  let name = label(element.closest('[data-rum-action]')?.getAttribute('data-rum-action'));
  const field = /^(input|select|textarea)$/.test(tag);
  for (const source of attributeOnly
    ? []
    : [
        () => text(element.labels?.[0]),
        () => (field ? /^(submit|button|reset)$/.test(element.type) && element.value : !element.isContentEditable && text(element)),
        'aria-label',
        () => element.getAttribute('aria-labelledby')?.split(' ').map((id) => text(element.ownerDocument.getElementById(id))).join(' '),
        'alt',
        'name',
        'title',
        'placeholder',
      ])
    name ||= label(typeof source == 'string' ? element.getAttribute(source) : source());
  return name || '<' + tag + '>';
};

/**
 * A `rum.event(name, {value})` call as its beacon event, or undefined when the name is empty or
 * the value is not a number in 0..1e9.
 */
export const businessEvent = (name, options) => {
  const raw = options?.value;
  const value = raw == null ? undefined : +raw;
  name = label(name);
  if (name && !(value < 0 || value > MAX_EVENT_VALUE || value != value)) return { type: 'event', name, value };
};

/**
 * The actions of a page and their quiet-page detector.
 *
 * An action starts at its event's time stamp. Activity (a DOM mutation, a fetch/XHR call, a new
 * resource) starting within QUIET_MS of it makes it "started"; a started action loads until QUIET_MS
 * pass with no mutation, no call in flight and no new resource, and its `dur` runs to the end of
 * its last activity (capped at MAX_ACTION_MS). Errors and calls starting while it loads are counted.
 * Activity is given with its own time stamps, so a late timer changes only when an action is
 * reported, never its numbers: activity starting after an action was already quiet settles it first.
 *
 * @param {object} env
 * @param {() => number} env._clock page clock, ms (performance.now())
 * @param {(callback: () => void, ms: number) => unknown} env._timer
 * @param {(event: object, view: any) => void} env._report a finished action, with the page view it started in
 * @param {() => any} env._view the current page view
 * @param {(on: boolean) => void} env._watch whether DOM mutations are needed (some action loads)
 * @param {boolean} [attributeOnly] the actionNames: 'attribute' privacy switch
 */
export const createActions = (env, attributeOnly) => {
  /** @type {any[]} actions not reported yet (loading, or waiting for the click that may fold in) */
  let pending = [];
  /** @type {any} the last click's action, which the next click may fold into (a rage click) */
  let chain;
  /** The control a label click activates: the browser's second click, on it, is the same action. */
  let skip;

  /** When the action settles if nothing else happens. */
  const settleAt = (action) =>
    Math.min(
      action._t0 + MAX_ACTION_MS,
      action._started ? (action._busy ? Infinity : Math.max(action._arm, action._end + QUIET_MS)) : action._arm,
    );

  /** Calls check(action) in `ms`; a later wake replaces an earlier one. */
  const wake = (action, ms) => {
    const tick = (action._tick = {});
    env._timer(() => action._tick == tick && check(action), ms);
  };

  const check = (action) => {
    if (action._done) return close(action);
    const at = settleAt(action);
    const wait = at + LATE_ENTRY_MS - env._clock();
    wait > 0 ? wake(action, wait) : settle(action, at);
  };

  /** Loading ends at `at`: `dur` if started (busy then: up to `at`, else to its last activity). */
  const settle = (action, at) => {
    action._done = 1;
    pending.some((other) => !other._done) || env._watch(false);
    if (action._started)
      action._dur = Math.min((action._busy || at - action._end < QUIET_MS ? at : action._end) - action._t0, MAX_ACTION_MS);
    close(action);
  };

  /** Reports a settled action, unless the next click may still fold into it. */
  const close = (action) => {
    const since = env._clock() - action._last;
    action == chain && since <= RAGE_GAP_MS ? wake(action, RAGE_GAP_MS + 1 - since) : report(action);
  };

  const report = (action) => {
    if (action._sent) return;
    action._sent = 1;
    pending = pending.filter((other) => other != action);
    if (chain == action) chain = 0;
    const frustration = [];
    if (action._clicks >= RAGE_CLICKS) frustration.push('rage');
    if (action._deadable && !(action._started || action._moved || action._errors)) frustration.push('dead');
    if (action._errors) frustration.push('error');
    const count = (n) => Math.min(n, MAX_COUNT);
    env._report(
      {
        type: 'action',
        name: action._name,
        kind: action._kind,
        dur: action._dur,
        errors: count(action._errors),
        requests: count(action._requests),
        clicks: count(action._clicks),
        frustration: frustration.length ? frustration : undefined,
      },
      action._view,
    );
  };

  /** The actions still loading at `time` (started at or before it); those quiet by then settle. */
  const live = (time) =>
    pending.filter((action) => !action._done && time >= action._t0 && (time <= settleAt(action) || settle(action, settleAt(action))));

  /** (Re)starts the loading of an action at a click or submission at `time`. */
  const open = (action, time) => {
    action._last = time;
    action._arm = time + QUIET_MS;
    action._done = 0;
    env._watch(true);
    check(action);
    return action;
  };

  /** No click folds into the last click's action any more: reported as soon as it settled. */
  const unchain = () => {
    const last = chain;
    chain = 0;
    if (last) check(last);
  };

  const start = (element, kind, time, extra) => {
    const action = { _name: actionName(element, attributeOnly), _kind: kind, _element: element, _t0: time, _end: time, _busy: 0, _errors: 0, _requests: 0, _clicks: 1, _view: env._view(), ...extra };
    pending.push(action);
    return open(action, time);
  };

  return {
    /**
     * A trusted click on `target` at `time`, `x`/`y` in CSS px; `selected`: it selected text.
     * @param {Element} target
     * @param {string} kind click | tap | key
     * @param {number} x
     * @param {number} y
     * @param {number} time
     * @param {boolean} [selected]
     */
    _click: (target, kind, x, y, time, selected) => {
      const element = actionElement(target);
      const skipped = element == skip;
      skip = /** @type {any} */ (element).control;
      if (skipped) return;
      if (chain?._element == element && !selected && time - chain._last <= RAGE_GAP_MS && Math.hypot(x - chain._x, y - chain._y) <= RAGE_RADIUS_PX) {
        chain._clicks++;
        open(chain, time);
      } else {
        unchain();
        chain = start(element, kind, time, { _x: x, _y: y, _deadable: !selected && !target.closest(RESPONSIVE) });
      }
    },

    /**
     * A form submission. The click or key press that submitted it is this action (kind `submit`,
     * named after the button); else it is a new action named after the form.
     * @param {HTMLFormElement} form
     * @param {HTMLElement | null} submitter
     * @param {number} time
     */
    _submit: (form, submitter, time) => {
      if (submitter && chain?._element == submitter) chain._kind = 'submit';
      else start(form, 'submit', time);
    },

    /** Activity from `startTime` to `endTime` (a DOM mutation: both now; a resource entry). */
    _activity: (startTime, endTime = startTime) => {
      for (const action of live(startTime)) {
        action._started = 1;
        action._end = Math.max(action._end, endTime);
      }
    },

    /** A fetch/XHR call starting now; returns what to call when it has settled. */
    _request: () => {
      const counted = live(env._clock());
      for (const action of counted) {
        action._started = 1;
        action._busy++;
        action._requests++;
      }
      return () => {
        const end = env._clock();
        for (const action of counted) {
          action._busy--;
          action._end = Math.max(action._end, end);
          check(action);
        }
      };
    },

    _error: () => {
      for (const action of live(env._clock())) action._errors++;
    },

    /** An input or scroll event: the page answered the user; a scroll also ends a rage series. */
    _moved: (event) => {
      for (const action of live(env._clock())) action._moved = 1;
      if (event.type == 'scroll') unchain();
    },

    /**
     * The page is hidden or left: every action is settled and reported now. None counts as dead:
     * a click that navigates away (location.href in a div's handler) looks just like that.
     */
    _flush: () => {
      chain = 0;
      for (const action of pending) {
        action._moved = 1;
        action._done ? report(action) : settle(action, env._clock());
      }
    },
  };
};
