// The agent's state machine: page views, what each still has to send, and when sending is allowed
// (consent, sampling). It touches no browser API itself: everything it needs comes in through `env`,
// so the unit tests drive it in Node with a fake clock, storage and transport.
//
// Names starting with `_` (the agent's methods, the page-view fields, the env callbacks) are internal:
// the build shortens them (esbuild mangleProps), worth tens of bytes gzip of the 8 KB budget.

import { packBeacons } from './beacon.js';
import { CONFIG_KEY, inSample, newId, resolveSession, touchSession } from './session.js';

/**
 * Non-vital events (errors, requests, marks, navigation timing, actions, business events) kept per
 * page view until sent. Was 50: a page view now holds one action per click, key activation and
 * form submission, and a long-lived page (an SPA route, a form) sends only when hidden, so 50 would
 * lose actions of ordinary sessions. 200 actions (~100 bytes each) still fit one beacon.
 */
export const MAX_PENDING_EVENTS = 200;
/** Page views held while sending is not allowed yet (consent pending): the first and the latest. */
const MAX_VIEWS = 8;
/** An error is sent this long after it happened even if the page stays visible. */
const ERROR_FLUSH_MS = 5000;

/**
 * The options of init() the agent reads (rum.d.ts documents them).
 * @typedef {object} AgentOptions
 * @property {number} [sampleRate] kept fraction of sessions, 0..1 (default 1)
 * @property {boolean} [requireConsent] nothing is sent (or stored) before consent(true)
 * @property {number} [sessionTimeoutMin] idle minutes after which a new session starts (default 30)
 * @property {number} [maxErrors] distinct errors per page view (default 10)
 * @property {unknown} [release] sent as `rel` when valid (see `label`)
 * @property {unknown} [environment] sent as `env` when valid
 *
 * @typedef {object} AgentEnv
 * @property {(body: string) => void} _send posts one beacon body
 * @property {() => number} _now wall clock, ms since the epoch
 * @property {() => number} _clock page clock (performance.now())
 * @property {Storage | null | undefined} _storage sessionStorage, where the page may use it
 * @property {() => object | false} _hints `conn` and `dev` of BEACON.md (false: none)
 * @property {(callback: () => void, ms: number) => unknown} _timer
 * @property {boolean} [_held] the collector's configuration was asked for: until `_configure`,
 *   only a final flush (page hidden, `rum.flush()`) sends, with the tag's sample rate
 *
 * @typedef {object} PageView
 * @property {{pid: string, url: string, ref?: string, nav: string, trace?: string}} _head its
 *   fields in every beacon: `trace`, the backend trace of the document's response, only in the
 *   document's first page view
 * @property {number} _t0 page clock at its start
 * @property {number} _seq the next flush's `seq`; 0 until a beacon for it went out (so it counts as a page view)
 * @property {Record<string, object>} _vitals latest value of each vital not yet sent, by name
 * @property {object[]} _events other events not yet sent
 * @property {Record<string, 1>} _seenErrors errors sent or pending (their JSON)
 */

/**
 * `value` if it is a valid BEACON.md `rel`/`env` (1..64 characters of `[A-Za-z0-9._+:@/-]`), else
 * undefined: not sent at all, since the collector would drop it.
 * @param {unknown} value
 */
const label = (value) => (typeof value == 'string' && /^[\w.+:@/-]{1,64}$/.test(value) ? value : undefined);

/**
 * @param {AgentOptions} options
 * @param {AgentEnv} env
 * @param {{url: string, ref?: string, nav: string, trace?: string}} first the page view of the
 *   document; `trace`: the backend trace of its response (Server-Timing), sent as `trace`
 */
export const createAgent = (options, env, first) => {
  let sampleRate = options.sampleRate ?? 1;
  let held = env._held;
  const maxErrors = options.maxErrors ?? 10;
  let consented = !options.requireConsent;
  /** @type {string} */
  let sessionId = '';
  let sampled = false;
  /** @type {PageView[]} */
  let views = [];
  /** @type {PageView} the page view of the document (or of its last bfcache restore): owns the vitals */
  let hard;
  /** @type {PageView} the page view events belong to (a soft navigation's, after a route change) */
  let current;
  let flushTimer = false;

  const resolve = () => {
    if (consented) {
      sessionId = resolveSession(env._storage, env._now(), (options.sessionTimeoutMin ?? 30) * 60000);
      sampled = inSample(sessionId, sampleRate);
    }
  };

  /**
   * @param {{url: string, ref?: string, nav: string, trace?: string}} fields its beacon fields, besides `pid`
   * @param {number} t0
   * @returns {PageView}
   */
  const startView = (fields, t0) => {
    current = { _head: { pid: newId(), ...fields }, _t0: t0, _seq: 0, _vitals: {}, _events: [], _seenErrors: {} };
    views.push(current);
    // Only while sending is blocked do views pile up: keep the first (usually the document's) and the latest.
    if (views.length > MAX_VIEWS) views.splice(1, 1);
    return current;
  };

  const push = (event, view = current) => {
    if (view._events.length < MAX_PENDING_EVENTS) view._events.push(event);
    // An action that settles after its page view was sent and let go (an SPA route change in
    // between) still goes out under that page view, with its next beacon.
    if (!views.includes(view)) views.push(view);
  };

  /**
   * Sends what every page view has not sent yet; vitals first, each beacon under 64 KiB. Only a
   * `final` flush sends while the collector's configuration is awaited.
   * @param {unknown} [final]
   */
  const flush = (final) => {
    flushTimer = false;
    if (!consented || !sampled || (held && !final)) return;
    const now = env._now();
    const hints = env._hints();
    for (const view of views) {
      const events = [...Object.values(view._vitals), ...view._events];
      if (events.length || !view._seq) {
        // `seq` orders this page view's flushes: the collector keeps a re-sent vital from the highest
        // one, so two exit beacons (pagehide, then visibilitychange) swapped in flight cannot
        // leave the older value. The bodies of one flush share it (each event is in one body).
        // `rel` and `env` (the page's release and environment, what the collector compares vitals
        // by) are in every beacon when valid; they are checked here rather than once in init:
        // 22 B gzip less.
        const head = {
          v: 1,
          sid: sessionId,
          ...view._head,
          rel: label(options.release),
          env: label(options.environment),
          // The rate this session was kept at (absent: 1), so counts can be scaled back up.
          sr: sampleRate < 1 ? sampleRate : undefined,
          sent: now,
          seq: view._seq++,
          ...hints,
        };
        for (const body of packBeacons(head, events)) env._send(body);
        view._vitals = {};
        view._events = [];
      }
    }
    views = views.filter((view) => view == hard || view == current);
    touchSession(env._storage, sessionId, now);
  };

  resolve();
  hard = startView(first, 0);

  return {
    /**
     * False when this session is sampled out (and neither the consent gate nor the collector's
     * configuration can change that): do nothing.
     */
    _active: !consented || sampled || held,
    _flush: flush,

    /** Whether this session's beacons are sent now (consented, in the sample): traceparent's sampled flag. */
    _sampled: () => consented && sampled,

    /**
     * The collector's configuration for the site (GET /rum/v1/config): its sample rate replaces
     * the tag's, decided again on the same session id; its switches are kept for the session's
     * next page loads (this one's observers already run; before consent they are not kept).
     * `{}` when it could not be read.
     * @param {{sampleRate?: number, disable?: string[]}} config
     */
    _configure: (config) => {
      held = false;
      sampleRate = +(config.sampleRate ?? sampleRate);
      // Without consent (yet) nothing is stored, these switches neither.
      if (sessionId) {
        sampled = inSample(sessionId, sampleRate);
        try {
          env._storage.setItem(CONFIG_KEY, (config.disable || '') + '');
        } catch {}
      }
    },

    /** The latest value of a vital of the document's page view; a re-sent value keeps its id. */
    _vital: (event) => {
      hard._vitals[event.name] = event;
    },

    /** Navigation timing, which belongs to the document's page view. */
    _navigation: (event) => push(event, hard),

    /** An error, once per page view however often it repeats, at most maxErrors distinct ones. */
    _error: (event) => {
      const key = JSON.stringify(event);
      const seen = current._seenErrors;
      if (seen[key] || Object.keys(seen).length >= maxErrors) return;
      seen[key] = 1;
      push(event);
      flushTimer ||= !!env._timer(flush, ERROR_FLUSH_MS);
    },

    /** A user action or business event of `view` (default: the current page view). */
    _push: push,

    /** The page view events belong to now (an action is reported with the one it started in). */
    _view: () => current,

    /**
     * A custom timing; without a value, the time since the current page view started.
     * @param {string} name
     * @param {number} [value] ms
     */
    _mark: (name, value) => {
      value = value == null ? env._clock() - current._t0 : +value;
      if (value >= 0 && value <= 3600000) push({ type: 'custom', name, value });
    },

    /** An SPA route change: the current page view is sent and a soft one starts. */
    _route: (url) => {
      const ref = current._head.url;
      if (url == ref) return;
      flush();
      startView({ url, ref, nav: 'soft' }, env._clock());
    },

    /** A back-forward-cache restore: a new page view of the document, with its own vitals. */
    _restore: (url, t0) => {
      flush();
      resolve();
      hard = startView({ url, nav: 'back-forward-cache' }, t0);
    },

    /** @param {boolean} granted */
    _consent: (granted) => {
      const wasConsented = consented;
      consented = granted;
      if (granted && !wasConsented && !sessionId) resolve();
    },
  };
};
