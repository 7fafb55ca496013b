// The browser side: reads the options, builds the agent (agent.js) and feeds it from the page:
// web-vitals, navigation timing, errors, fetch/XHR, history, user actions (action.js). Every
// callback runs inside `safe`, and each part starts on its own, so a missing API only skips that
// part and nothing ever throws into the host page.

// The imports' order is the modules' order in rum.js: this one gzips 54 B smaller than
// web-vitals first and the rest alphabetical (deflate codes nearer repeats in fewer bits). Their
// top levels only declare, so the order changes nothing else.
import { attribute, navigationEntry, noteLongFrame, observeFrames } from './attribution.js';
import { onCLS, onFCP, onINP, onLCP, onTTFB } from 'web-vitals';
import { add, noteCall, serverTrace, slot, traced, traceparent } from './calls.js';
import { CONFIG_KEY } from './session.js';
import { createAgent } from './agent.js';
import { clip, stripUrl, stripUrlsIn } from './beacon.js';
import { businessEvent, createActions } from './action.js';

/** @type {ReturnType<typeof createAgent> | undefined} */
let agent;
/** consent() called before init(). */
let earlyConsent;
/** @type {ReturnType<typeof createActions> | undefined} the user actions, unless disabled */
let actions;

const noop = () => {};

/**
 * `fn` with every exception swallowed: our code must never throw into the page.
 * @template {Function} F
 * @param {F} fn
 * @returns {F}
 */
const safe = (fn) =>
  /** @type {any} */ (
    function () {
      try {
        return fn.apply(this, arguments);
      } catch {}
    }
  );

/** String(value), or '' for values without one (Object.create(null) as a rejection reason). */
const text = (value) => {
  try {
    return String(value);
  } catch {
    return '';
  }
};

const listen = (type, fn, capture) => addEventListener(type, safe(fn), capture);

export const init = safe((/** @type {import('./rum').RumOptions} */ options) => {
  // One agent per page, even with both the script tag and the npm module on it.
  if (agent || !options.key || self.__rum) return;
  self.__rum = 1;
  // The tag's switches, and those the collector sent to an earlier page of the session.
  /** @type {Storage | undefined} */
  let storage;
  try {
    storage = sessionStorage;
  } catch {}
  let disabled = (options.disable || '') + ',';
  try {
    disabled += storage.getItem(CONFIG_KEY);
  } catch {}
  const enabled = (part) => !disabled.split(/[\s,]+/).includes(part);
  const absolute = (url) => {
    try {
      return new URL(url, location.href).href;
    } catch {
      return url;
    }
  };
  /** The URL as sent: the scrubUrl hook's answer, else without query, fragment and credentials. */
  const scrub = (url, kind) => {
    url = absolute(url);
    let scrubbed;
    try {
      scrubbed = options.scrubUrl?.(url, kind);
    } catch {}
    return clip(typeof scrubbed == 'string' ? scrubbed : stripUrl(url), 2048);
  };
  const pageUrl = () => scrub(location.href, 'page');
  const hints = enabled('hints');
  const endpoint = options.endpoint || absolute('/rum/v1/beacon');
  const beaconFetch = self.fetch;
  /** @type {any} */
  const entry = navigationEntry() || {};
  const beaconUrl = endpoint + (endpoint.includes('?') ? '&' : '?') + 'key=' + encodeURIComponent(options.key);
  // The site's sample rate and switches from the collector, beside the beacon path (none for an
  // endpoint that is not one).
  const configUrl = beaconUrl.replace('/beacon?', '/config?');
  const remote = options.remoteConfig != false && configUrl != beaconUrl;
  agent = createAgent(
    options,
    {
      _send: (body) => {
        try {
          if (navigator.sendBeacon(beaconUrl, body)) return;
        } catch {}
        try {
          beaconFetch(beaconUrl, { method: 'POST', body, keepalive: true, credentials: 'omit' }).catch(noop);
        } catch {}
      },
      _now: Date.now,
      _clock: () => performance.now(),
      _storage: storage,
      _hints: () => {
        const nav = navigator;
        const connection = nav.connection;
        return hints && {
          conn: connection && { type: connection.effectiveType, rtt: connection.rtt, down: connection.downlink, save: connection.saveData },
          // The screen (CSS px) tells a tablet from a phone when the user agent does not (Android tablets that say `Mobile`).
          dev: { mem: nav.deviceMemory, cores: nav.hardwareConcurrency, touch: nav.maxTouchPoints, sw: screen.width, sh: screen.height, vw: innerWidth, vh: innerHeight },
        };
      },
      // A prerendering page sends nothing until the user sees it.
      _timer: (callback, ms) => setTimeout(() => document.prerendering || callback(), ms),
      _held: remote,
    },
    {
      url: pageUrl(),
      ref: document.referrer ? scrub(document.referrer, 'referrer') : undefined,
      // As web-vitals' initMetric decides it.
      nav:
        document.prerendering || entry.activationStart > 0
          ? 'prerender'
          : document.wasDiscarded
            ? 'restore'
            : (entry.type || 'navigate').replace('_', '-'),
      trace: serverTrace(entry),
    },
  );
  if (earlyConsent != null) agent._consent(earlyConsent);
  const current = agent;
  const active = agent._active;
  const part = (name, setup) => enabled(name) && safe(setup)();
  /**
   * What the page's last beacons add: the calls, long animation frames and resources seen since
   * the previous ones (parts 'requests', 'frames' and 'resources'), pushed as one event each at
   * hide and before an SPA route change's flush.
   * @type {(() => void)[]}
   */
  const summaries = [];
  const summarise = () => summaries.map((summary) => summary());
  /** The beacon endpoint: our own requests to it are no activity or resource of the page. */
  const beacons = absolute(endpoint);
  /** Calls `handle` with each entry of `type`, those buffered before included. */
  const observe = (type, handle) => new PerformanceObserver(safe((list) => list.getEntries().map(handle))).observe({ type, buffered: true });

  // Before the sampling gate: a session sampled out still propagates trace context (flags 00), so
  // the backend's sampling follows the session's; it records nothing.
  part('requests', () => {
    const slowMs = options.slowRequestMs ?? 1000;
    /** Every call by `METHOD url` since the page view's previous beacon (a delta like the frames). */
    let endpoints = {};
    summaries.push(() => {
      if (Object.keys(endpoints).length) current._push({ type: 'calls', endpoints });
      endpoints = {};
    });
    /**
     * A fetch/XHR starting now. When it goes to a traced origin, our traceparent (and
     * tracestate) through `set` (which throws to leave a header the page set itself; false: the
     * page set its own traceparent). Returns what to call when it settled, with the Response or
     * the XMLHttpRequest (none: a network error) and whether it was aborted: unless aborted, the
     * call is counted in `calls`, and sent as a `request` when it failed (status >= 400, 0 =
     * network error) or took at least slowMs. An opaque (no-cors) response has status 0 without
     * having failed, so it counts only as slow.
     */
    const call = (method, url, /** @type {any} */ set) => {
      const start = performance.now();
      // The call keeps the page busy for the actions loading now (their loading time).
      const done = safe(actions?._request() || noop);
      let trace;
      try {
        if (set && traced(options.traceOrigins, new URL(url, location.href))) {
          const header = traceparent(current._sampled());
          set('traceparent', header);
          trace = header.slice(3, 35);
          if (options.traceState) set('tracestate', options.traceState);
        }
      } catch {}
      return safe((result, aborted) => {
        done();
        const duration = performance.now() - start;
        const status = result ? result.status : 0;
        if (!active || aborted) return;
        url = scrub(url, 'request');
        method = clip((method + '').toUpperCase(), 32);
        if (!result || (result.type != 'opaque' && (!status || status >= 400)) || duration >= slowMs)
          current._push({ type: 'request', url, method, status, duration });
        noteCall(endpoints, method + ' ' + url, Math.round(duration), status, trace);
      });
    };
    if (!active && !options.traceOrigins) return;
    const nativeFetch = self.fetch;
    if (nativeFetch)
      self.fetch = function (/** @type {any} */ input, init) {
        /** @type {any} */
        let args = arguments;
        /** @type {(result?: any, aborted?: boolean) => void} */
        let finish = noop;
        let request;
        try {
          finish = call(init?.method || input?.method || 'GET', input?.url || input, (name, value) => {
            // The Request fetch(input, init) makes, with the page's headers and ours (none in
            // no-cors mode, which drops them).
            const headers = (request ||= new Request(input, init)).headers;
            if (headers.has(name) || request.mode == 'no-cors') throw 0;
            headers.set(name, value);
            args = [request];
          });
        } catch {}
        // The page gets a promise that settles exactly like the native one.
        return nativeFetch.apply(this, args).then(
          (response) => {
            finish(response);
            return response;
          },
          (error) => {
            finish(0, error?.name == 'AbortError');
            throw error;
          },
        );
      };
    const prototype = XMLHttpRequest.prototype;
    const open = prototype.open;
    const sendXhr = prototype.send;
    const setHeader = prototype.setRequestHeader;
    prototype.open = function (/** @type {string} */ method, /** @type {string | URL} */ url) {
      try {
        this._xhr = [method, url];
      } catch {}
      return open.apply(this, arguments);
    };
    // A traceparent the page sets is left alone (ours would be appended to it): noted with the
    // open() it belongs to. No try: the test throws only for a name setRequestHeader throws the
    // same error for, and the assignment only on a frozen XMLHttpRequest in strict code.
    prototype.setRequestHeader = function (/** @type {string} */ name) {
      // @ts-ignore: `this` is the XMLHttpRequest
      if (/^traceparent$/i.test(name)) this._own = this._xhr;
      return setHeader.apply(this, arguments);
    };
    prototype.send = function () {
      try {
        const request = this._xhr;
        if (request) {
          const finish = call(request[0], request[1], this._own != request && setHeader.bind(this));
          this.addEventListener('abort', () => (request[2] = 1));
          // once: a reused XMLHttpRequest gets its own listener per send().
          this.addEventListener('loadend', () => finish(this, request[2]), { once: true });
        }
      } catch {}
      return sendXhr.apply(this, arguments);
    };
  });

  if (!active) return;
  if (remote) {
    const configured = (config) => current._configure(config || {});
    beaconFetch(configUrl, { credentials: 'omit' })
      .then((response) => response.ok && response.json())
      .then(configured, () => configured());
  }
  // Registered before web-vitals' own pageshow listener, so the restored page view exists when
  // web-vitals reports its first metrics for it.
  listen('pageshow', (event) => event.persisted && current._restore(pageUrl(), event.timeStamp), true);
  // On window, bubbling: runs after web-vitals' capturing listener has reported the final CLS/INP.
  const hide = () => {
    if (document.prerendering) return;
    // Actions still loading or able to grow into a rage click end now, and go with this beacon.
    actions?._flush();
    summarise();
    current._flush(1);
  };
  listen('visibilitychange', () => document.visibilityState == 'hidden' && hide());
  listen('pagehide', hide);

  part('vitals', () => {
    // web-vitals needs Array.prototype.at; older browsers measure nothing rather than throw.
    if (![].at) return;
    // Where [].at exists, so does PerformanceObserver (an unknown entry type only warns).
    observeFrames();
    // Runs while the beacon is built: whatever it meets, it must not cost the beacon.
    const attributed = safe(attribute);
    for (const on of [onLCP, onCLS, onINP, onFCP, onTTFB]) {
      safe(on)(
        safe((metric) =>
          current._vital({
            type: 'vital',
            name: metric.name,
            value: metric.value,
            id: metric.id,
            rating: metric.rating,
            // Computed when the beacon is built: the long animation frame of an interaction is
            // reported after web-vitals reports the interaction.
            get attr() {
              return attributed(metric, scrub);
            },
          }),
        ),
        { reportAllChanges: true },
      );
    }
  });

  part('navigation', () => {
    const send = () => {
      const timing = navigationEntry();
      current._navigation({
        type: 'nav',
        dns: timing.domainLookupEnd - timing.domainLookupStart,
        connect: timing.connectEnd - timing.connectStart,
        tls: timing.secureConnectionStart && timing.connectEnd - timing.secureConnectionStart,
        ttfb: Math.max(0, timing.responseStart - (timing.activationStart || 0)),
        download: timing.responseEnd - timing.responseStart,
        domInteractive: timing.domInteractive,
        domComplete: timing.domComplete,
        load: timing.loadEventEnd,
        transferSize: timing.transferSize,
        protocol: timing.nextHopProtocol,
      });
    };
    // After the load event has ended, so loadEventEnd is set.
    const later = () => setTimeout(safe(send));
    document.readyState == 'complete' ? later() : listen('load', later);
  });

  part('errors', () => {
    const report = (kind, error, message, source, line, col) =>
      current._error({
        type: 'error',
        kind,
        message: clip(stripUrlsIn(error instanceof Error ? error + '' : message), 1024),
        source: source ? scrub(source, 'error') : undefined,
        line,
        col,
        stack: error?.stack ? clip(stripUrlsIn(error.stack + ''), 8192) : undefined,
      });
    listen('error', (event) => report('error', event.error, event.message, event.filename, event.lineno, event.colno));
    listen('unhandledrejection', (event) => report('unhandledrejection', event.reason, text(event.reason)));
  });

  part('actions', () => {
    const clock = () => performance.now();
    const observer = new MutationObserver(safe(() => active._activity(clock())));
    const active = (actions = createActions(
      {
        _clock: clock,
        _timer: (callback, ms) => setTimeout(safe(callback), ms),
        _report: current._push,
        _view: current._view,
        _watch: (on) =>
          on ? observer.observe(document, { subtree: true, childList: true, attributes: true, characterData: true }) : observer.disconnect(),
      },
      options.actionNames == 'attribute',
    ));
    /** Text is selected now. */
    const selection = () => !!getSelection()?.toString();
    /** The last pointerdown's pointer type, and whether text was selected before it. */
    let pointer, selectedBefore;
    // Capturing on window: runs before the page's handlers (the name is read before they change
    // the element) and sees clicks whose propagation the page stops. Not passive: none of these
    // events waits for its listeners to scroll (only touch and wheel ones do), and the handlers
    // are short (the click's reads the element's name once).
    listen(
      'pointerdown',
      (event) => {
        pointer = event.pointerType;
        selectedBefore = selection();
      },
      true,
    );
    listen(
      'click',
      (event) =>
        // Trusted only: element.click() from the page's own code is not a user action. detail 0:
        // activated by the keyboard (Enter/Space) or assistive technology.
        event.isTrusted &&
        active._click(
          event.target,
          event.detail ? (/touch|pen/.test(pointer) ? 'tap' : 'click') : 'key',
          event.clientX,
          event.clientY,
          event.timeStamp,
          !selectedBefore && selection(),
        ),
      true,
    );
    listen('submit', (event) => active._submit(event.target, event.submitter, event.timeStamp), true);
    for (const type of ['input', 'scroll']) listen(type, active._moved, true);
    for (const type of ['error', 'unhandledrejection']) listen(type, active._error);
    // A new resource is page activity; our own beacons (sendBeacon and the keepalive fetch) are
    // not. (Entries from before the observer are older than any action: no activity of one.)
    observe('resource', (entry) => entry.name.startsWith(beacons) || active._activity(entry.startTime, entry.responseEnd));
  });

  part('frames', () => {
    // Deltas: each beacon carries the frames its page view's earlier ones did not, so the
    // collector adds them up without remembering anything.
    let count = 0;
    let blocking = 0;
    /** Script time by the origin of the script's source ('' without one), at most 50 origins. */
    let scripts = {};
    observe('long-animation-frame', (frame) => {
      noteLongFrame(frame);
      count++;
      blocking += frame.blockingDuration;
      for (const script of frame.scripts) {
        let origin = '';
        try {
          origin = new URL(script.sourceURL).origin;
        } catch {}
        add(scripts, origin, script.duration);
      }
    });
    summaries.push(() => {
      if (count) current._push({ type: 'loaf', count, blocking, scripts });
      count = blocking = 0;
      scripts = {};
    });
  });

  part('resources', () => {
    // Deltas, like the frames.
    /** By origin: transfer bytes, entries without Timing-Allow-Origin, durations (ms). */
    let origins = {};
    /** Entries by initiator type: one at least for any entry (the first 50 types). */
    let types = {};
    observe('resource', (entry) => {
      // Not our own beacons.
      if (entry.name.startsWith(beacons)) return;
      const summary = slot(origins, new URL(entry.name).origin, () => ({ bytes: 0, untimed: 0, durations: [] }));
      add(types, entry.initiatorType, 1);
      if (summary) {
        summary.bytes += entry.transferSize || 0;
        // Cross-origin without Timing-Allow-Origin: every phase reads 0, the duration is real.
        summary.untimed += /** @type {any} */ (!entry.responseStart);
        summary.durations.push(Math.round(entry.duration));
      }
    });
    summaries.push(() => {
      if (Object.keys(types).length) current._push({ type: 'resources', origins, types });
      origins = {};
      types = {};
    });
  });

  part('spa', () => {
    // What the page view loaded and ran until the route change goes with it, not with the next.
    const route = safe(() => (summarise(), current._route(pageUrl())));
    for (const name of ['pushState', 'replaceState']) {
      const original = history[name];
      history[name] = function () {
        const result = original.apply(this, arguments);
        route();
        return result;
      };
    }
    listen('popstate', route);
  });
});

/**
 * A custom timing in ms (0..1 h), sent as a `custom` event of the current page view; without a
 * value, the time since the page view started (navigation start, or the SPA route change).
 */
export const mark = safe((/** @type {string} */ name, /** @type {number=} */ value) => agent?._mark(clip(name, 256), value));

/** Opens (true, the default) or closes the consent gate of `requireConsent`. */
export const consent = safe((/** @type {boolean=} */ granted) => {
  earlyConsent = granted !== false;
  agent?._consent(earlyConsent);
});

/**
 * A business event of the current page view ("purchase", "signup"), with an optional value
 * (0..1e9, e.g. revenue), sent as an `event`. Ignored without a name or with a value out of range.
 */
export const event = safe((/** @type {string} */ name, /** @type {{value?: number}=} */ options) => {
  const business = businessEvent(name, options);
  if (business) agent?._push(business);
});

/** Sends what is pending now (it is also sent when the page is hidden or left). */
export const flush = safe(() => agent?._flush(1));
