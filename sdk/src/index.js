// The browser side: reads the options, builds the agent (agent.js) and feeds it from the page:
// web-vitals, navigation timing, errors, fetch/XHR, history, user actions (action.js). Every
// callback runs inside `safe`, and each part starts on its own, so a missing API only skips that
// part and nothing ever throws into the host page.

import { onCLS, onFCP, onINP, onLCP, onTTFB } from 'web-vitals';
import { businessEvent, createActions } from './action.js';
import { createAgent } from './agent.js';
import { attribute, navigationEntry, noteLongFrame, observeFrames } from './attribution.js';
import { clip, stripUrl, stripUrlsIn } from './beacon.js';
import { CONFIG_KEY } from './session.js';

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
  let disabled = (options.disable || '') + ',';
  try {
    disabled += sessionStorage.getItem(CONFIG_KEY);
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
      _storage: () => {
        try {
          return sessionStorage;
        } catch {}
      },
      _hints: () => {
        if (!hints) return {};
        const nav = navigator;
        const connection = nav.connection;
        return {
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
    },
  );
  if (earlyConsent != null) agent._consent(earlyConsent);
  if (!agent._active) return;
  const current = agent;
  if (remote) {
    const configured = (config) => current._configure(config || {});
    beaconFetch(configUrl, { credentials: 'omit' })
      .then((response) => response.ok && response.json())
      .then(configured, () => configured());
  }
  const part = (name, setup) => enabled(name) && safe(setup)();
  /**
   * What the page's last beacons add: the long animation frames and resources seen since the
   * previous ones (parts 'frames' and 'resources'), pushed as one event each.
   * @type {(() => void)[]}
   */
  const summaries = [];
  const summarise = () => summaries.map((summary) => summary());
  /** The beacon endpoint: our own requests to it are no activity or resource of the page. */
  const beacons = absolute(endpoint);
  /** `map[key]`, made by `make` while `map` has fewer than 50 keys (BEACON: at most 50 origins). */
  const slot = (map, key, make) => map[key] ?? (Object.keys(map).length < 50 ? (map[key] = make()) : undefined);

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
    safe(observeFrames)();
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

  part('requests', () => {
    const slowMs = options.slowRequestMs ?? 1000;
    /**
     * A fetch/XHR that failed (status >= 400, 0 = network error) or took at least slowMs. `result`
     * is the Response or the XMLHttpRequest; an opaque (no-cors) response has status 0 without
     * having failed, so it counts only as slow.
     */
    const record = safe((method, url, result, start, error) => {
      const duration = performance.now() - start;
      const status = result ? result.status : 0;
      const failed = !result || (result.type != 'opaque' && (!status || status >= 400));
      if (error?.name == 'AbortError' || (!failed && duration < slowMs)) return;
      current._request({ type: 'request', url: scrub(url, 'request'), method: clip((method + '').toUpperCase(), 32), status, duration });
    });
    const nativeFetch = self.fetch;
    if (nativeFetch)
      self.fetch = function (/** @type {any} */ input, init) {
        const start = performance.now();
        let method, url;
        let done = noop;
        try {
          method = init?.method || input?.method || 'GET';
          url = input?.url || input;
          // The call keeps the page busy for the actions loading now (their loading time).
          done = safe(actions?._request() || noop);
        } catch {}
        // The page gets a promise that settles exactly like the native one.
        return nativeFetch.apply(this, arguments).then(
          (response) => {
            done();
            record(method, url, response, start);
            return response;
          },
          (error) => {
            done();
            record(method, url, 0, start, error);
            throw error;
          },
        );
      };
    const prototype = XMLHttpRequest.prototype;
    const open = prototype.open;
    const sendXhr = prototype.send;
    prototype.open = function (/** @type {string} */ method, /** @type {string | URL} */ url) {
      try {
        this._xhr = [method, url];
      } catch {}
      return open.apply(this, arguments);
    };
    prototype.send = function () {
      try {
        const request = this._xhr;
        const start = performance.now();
        if (request) {
          const done = safe(actions?._request() || noop);
          this.addEventListener('abort', () => (request[2] = 1));
          // once: a reused XMLHttpRequest gets its own listener per send().
          this.addEventListener(
            'loadend',
            () => {
              done();
              request[2] || record(request[0], request[1], this, start);
            },
            { once: true },
          );
        }
      } catch {}
      return sendXhr.apply(this, arguments);
    };
  });

  part('actions', () => {
    const clock = () => performance.now();
    const observer = new MutationObserver(safe(() => active._activity(clock())));
    const active = (actions = createActions(
      {
        _clock: clock,
        _timer: (callback, ms) => setTimeout(safe(callback), ms),
        _report: (event, view) => current._push(event, view),
        _view: () => current._view(),
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
    new PerformanceObserver(
      safe((list) => {
        // Not our own beacons (sendBeacon and the keepalive fetch): they are no page activity.
        for (const entry of /** @type {PerformanceResourceTiming[]} */ (list.getEntries()))
          entry.name.startsWith(beacons) || active._activity(entry.startTime, entry.responseEnd);
      }),
    ).observe({ type: 'resource' });
  });

  part('frames', () => {
    // Deltas: each beacon carries the frames its page view's earlier ones did not, so the
    // collector adds them up without remembering anything.
    let count = 0;
    let blocking = 0;
    /** Script time by the origin of the script's source ('' without one), at most 50 origins. */
    let scripts = {};
    new PerformanceObserver(
      safe((list) => {
        for (const frame of /** @type {any[]} */ (list.getEntries())) {
          noteLongFrame(frame);
          count++;
          blocking += frame.blockingDuration;
          for (const script of frame.scripts) {
            let origin = '';
            try {
              origin = new URL(script.sourceURL).origin;
            } catch {}
            if (slot(scripts, origin, () => 0) != null) scripts[origin] += script.duration;
          }
        }
      }),
    ).observe({ type: 'long-animation-frame', buffered: true });
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
    /** Entries by initiator type. */
    let types = {};
    let any = 0;
    new PerformanceObserver(
      safe((list) => {
        for (const entry of /** @type {PerformanceResourceTiming[]} */ (list.getEntries())) {
          if (entry.name.startsWith(beacons)) continue;
          const type = entry.initiatorType;
          const summary = slot(origins, new URL(entry.name).origin, () => ({ bytes: 0, untimed: 0, durations: [] }));
          if (slot(types, type, () => 0) != null) types[type]++;
          any = 1;
          if (summary) {
            summary.bytes += entry.transferSize || 0;
            // Cross-origin without Timing-Allow-Origin: every phase reads 0, the duration is real.
            summary.untimed += !entry.responseStart;
            summary.durations.push(Math.round(entry.duration));
          }
        }
      }),
    ).observe({ type: 'resource', buffered: true });
    summaries.push(() => {
      if (any) current._push({ type: 'resources', origins, types });
      origins = {};
      types = {};
      any = 0;
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
