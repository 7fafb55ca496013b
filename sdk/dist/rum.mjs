/*! web-vitals 5.3.0 (c) Google LLC, Apache-2.0 */
var __defProp = Object.defineProperty;
var __defNormalProp = (obj, key, value) => key in obj ? __defProp(obj, key, { enumerable: true, configurable: true, writable: true, value }) : obj[key] = value;
var __publicField = (obj, key, value) => __defNormalProp(obj, typeof key !== "symbol" ? key + "" : key, value);

// src/attribution.js
var selector = (node) => {
  if (!node) return;
  let text3 = "";
  try {
    while (node.nodeType != 9) {
      const name = node.nodeName;
      const part = node.id ? "#" + node.id : [node.nodeType == 1 ? name.toLowerCase() : name.toUpperCase().replace("#", ""), ...[...node.classList].sort()].join(".");
      if (text3.length + part.length > 99) return text3 || part;
      text3 = text3 ? part + ">" + text3 : part;
      if (node.id) break;
      node = node.parentNode;
    }
  } catch {
  }
  return text3;
};
var frames = [];
var MAX_FRAMES = 100;
var frameOf = (renderTime) => {
  for (let i2 = frames.length; i2--; ) if (Math.abs(renderTime - frames[i2].R) <= 8) return frames[i2];
};
var observeFrames = () => new PerformanceObserver((list) => {
  for (
    const entry of
    /** @type {PerformanceEventTiming[]} */
    list.getEntries()
  ) {
    const renderTime = entry.startTime + entry.duration;
    const frame = frameOf(renderTime);
    if (frame) frame.w = Math.max(frame.w, entry.processingEnd);
    else if (frames.push({ R: renderTime, w: entry.processingEnd }) > MAX_FRAMES) frames.shift();
  }
}).observe(
  /** @type {any} */
  { type: "event", buffered: true, durationThreshold: 40 }
);
var longFrames = [];
var noteLongFrame = (frame) => longFrames.push(frame) > MAX_FRAMES && longFrames.shift();
var navigationEntry = () => performance.getEntriesByType("navigation")[0];
var attribute = ({ name, value, entries }, scrub) => {
  const first = entries[0];
  if (name == "LCP") {
    const lcp = entries.at(-1);
    const navigation = navigationEntry();
    let ttfb = 0;
    let requestStart = 0;
    let responseEnd = 0;
    if (lcp && navigation && navigation.responseStart > 0 && navigation.responseStart < performance.now()) {
      const activation = navigation.activationStart || 0;
      const resource = lcp.url && performance.getEntriesByType("resource").find((entry) => entry.name == lcp.url);
      ttfb = Math.max(0, navigation.responseStart - activation);
      requestStart = Math.max(ttfb, resource ? (resource.requestStart || resource.startTime) - activation : 0);
      responseEnd = Math.min(value, Math.max(requestStart, resource ? resource.responseEnd - activation : 0));
    }
    return {
      target: lcp?.element ? selector(lcp.element) : lcp?.id ? "#" + lcp.id : void 0,
      url: lcp?.url ? scrub(lcp.url, "resource") : void 0,
      ttfb,
      loadDelay: requestStart - ttfb,
      loadDuration: responseEnd - requestStart,
      renderDelay: value - responseEnd
    };
  }
  if (name == "CLS" && first) {
    const sources = entries.reduce((a2, b2) => a2.value > b2.value ? a2 : b2).sources;
    const source = sources.find((s2) => s2.node?.nodeType == 1) || sources[0];
    return source && { target: selector(source.node) };
  }
  if (name == "INP" && first) {
    const paint = Math.max(first.startTime + first.duration, first.processingStart);
    const frame = frameOf(first.startTime + first.duration);
    const processingEnd = Math.min(frame ? frame.w : Math.max(...entries.map((e2) => e2.processingEnd)), paint);
    const withTarget = entries.find((e2) => e2.target);
    let script;
    let longest = 0;
    for (const frame2 of longFrames)
      if (frame2.startTime < paint && frame2.startTime + frame2.duration > first.startTime)
        for (const candidate of frame2.scripts) {
          const overlap = candidate.startTime + candidate.duration - Math.max(first.startTime, candidate.startTime);
          if (overlap > longest) {
            longest = overlap;
            script = candidate;
          }
        }
    return {
      target: withTarget ? selector(withTarget.target) : entries.find((e2) => e2.targetSelector)?.targetSelector,
      interactionType: first.name.startsWith("key") ? "keyboard" : "pointer",
      inputDelay: first.processingStart - first.startTime,
      processing: processingEnd - first.processingStart,
      presentation: paint - processingEnd,
      script: script?.sourceURL ? scrub(script.sourceURL, "resource") : void 0,
      scriptDuration: script && longest
    };
  }
};

// node_modules/web-vitals/dist/web-vitals.js
var e = -1;
var t = (t2) => {
  addEventListener("pageshow", (n2) => {
    n2.persisted && (e = n2.timeStamp, t2(n2));
  }, true);
};
var n = (e2, t2, n2, i2) => {
  let s2, o2;
  return (r2) => {
    t2.value >= 0 && (r2 || i2) && (o2 = t2.value - (s2 ?? 0), (o2 || void 0 === s2) && (s2 = t2.value, t2.delta = o2, t2.rating = ((e3, t3) => e3 > t3[1] ? "poor" : e3 > t3[0] ? "needs-improvement" : "good")(t2.value, n2), e2(t2)));
  };
};
var i = (e2) => {
  requestAnimationFrame(() => requestAnimationFrame(e2));
};
var s = () => {
  const e2 = performance.getEntriesByType("navigation")[0];
  if (e2 && e2.responseStart > 0 && e2.responseStart < performance.now()) return e2;
};
var o = () => s()?.activationStart ?? 0;
var r = (t2, n2 = -1) => {
  const i2 = s();
  let r2 = "navigate";
  e >= 0 ? r2 = "back-forward-cache" : i2 && (document.prerendering || o() > 0 ? r2 = "prerender" : document.wasDiscarded ? r2 = "restore" : i2.type && (r2 = i2.type.replace(/_/g, "-")));
  return { name: t2, value: n2, rating: "good", delta: 0, entries: [], id: `v5-${Date.now()}-${Math.floor(8999999999999 * Math.random()) + 1e12}`, navigationType: r2 };
};
var c = /* @__PURE__ */ new WeakMap();
function a(e2, t2) {
  let n2 = c.get(t2);
  return n2 || (n2 = /* @__PURE__ */ new WeakMap(), c.set(t2, n2)), n2.get(e2) || n2.set(e2, new t2()), n2.get(e2);
}
var d = class {
  constructor() {
    __publicField(this, /* @__KEY__ */ "t");
    __publicField(this, /* @__KEY__ */ "i", 0);
    __publicField(this, /* @__KEY__ */ "o", []);
  }
  h(e2) {
    if (e2.hadRecentInput) return;
    const t2 = this.o[0], n2 = this.o.at(-1);
    this.i && t2 && n2 && e2.startTime - n2.startTime < 1e3 && e2.startTime - t2.startTime < 5e3 ? (this.i += e2.value, this.o.push(e2)) : (this.i = e2.value, this.o = [e2]), this.t?.(e2);
  }
};
var h = (e2, t2, n2 = {}) => {
  try {
    if (PerformanceObserver.supportedEntryTypes.includes(e2)) {
      const i2 = new PerformanceObserver((e3) => {
        queueMicrotask(() => {
          t2(e3.getEntries());
        });
      });
      return i2.observe({ type: e2, buffered: true, ...n2 }), i2;
    }
  } catch {
  }
};
var f = (e2) => {
  let t2 = false;
  return () => {
    t2 || (e2(), t2 = true);
  };
};
var l = -1;
var u = /* @__PURE__ */ new Set();
var m = () => "hidden" !== document.visibilityState || document.prerendering ? 1 / 0 : 0;
var p = (e2) => {
  if ("hidden" === document.visibilityState) {
    if ("visibilitychange" === e2.type) for (const e3 of u) e3();
    isFinite(l) || (l = "visibilitychange" === e2.type ? e2.timeStamp : 0, removeEventListener("prerenderingchange", p, true));
  }
};
var g = () => {
  if (l < 0) {
    const e2 = o(), n2 = document.prerendering ? void 0 : globalThis.performance.getEntriesByType("visibility-state").find((t2) => "hidden" === t2.name && t2.startTime >= e2)?.startTime;
    l = n2 ?? m(), addEventListener("visibilitychange", p, true), addEventListener("prerenderingchange", p, true), t(() => {
      setTimeout(() => {
        l = m();
      });
    });
  }
  return { get C() {
    return l;
  }, D(e2) {
    u.add(e2);
  } };
};
var v = (e2) => {
  document.prerendering ? addEventListener("prerenderingchange", e2, true) : e2();
};
var y = [1800, 3e3];
var T = (e2, s2 = {}) => {
  v(() => {
    const c2 = g();
    let a2, d2 = r("FCP");
    const f2 = h("paint", (e3) => {
      for (const t2 of e3) "first-contentful-paint" === t2.name && (f2.disconnect(), t2.startTime < c2.C && (d2.value = Math.max(t2.startTime - o(), 0), d2.entries.push(t2), a2(true)));
    });
    f2 && (a2 = n(e2, d2, y, s2.a), t((t2) => {
      d2 = r("FCP"), a2 = n(e2, d2, y, s2.a), i(() => {
        d2.value = performance.now() - t2.timeStamp, a2(true);
      });
    }));
  });
};
var E = [0.1, 0.25];
var b = (e2, s2 = {}) => {
  const o2 = g();
  T(f(() => {
    let c2, f2 = r("CLS", 0);
    const l2 = a(s2, d), u2 = (e3) => {
      for (const t2 of e3) l2.h(t2);
      l2.i > f2.value && (f2.value = l2.i, f2.entries = l2.o, c2());
    }, m2 = h("layout-shift", u2);
    m2 && (c2 = n(e2, f2, E, s2.a), o2.D(() => {
      u2(m2.takeRecords()), c2(true);
    }), t(() => {
      l2.i = 0, f2 = r("CLS", 0), c2 = n(e2, f2, E, s2.a), i(c2);
    }), setTimeout(c2));
  }));
};
var L = 0;
var P = 1 / 0;
var _ = 0;
var M = (e2) => {
  for (const t2 of e2) t2.interactionId && (P = Math.min(P, t2.interactionId), _ = Math.max(_, t2.interactionId), L = _ ? (_ - P) / 7 + 1 : 0);
};
var w;
var C = () => w ? L : performance.interactionCount ?? 0;
var I = () => {
  "interactionCount" in performance || w || (w = h("event", M, { durationThreshold: 0 }));
};
var F = 0;
var k = class {
  constructor() {
    __publicField(this, /* @__KEY__ */ "l", []);
    __publicField(this, /* @__KEY__ */ "u", /* @__PURE__ */ new Map());
    __publicField(this, /* @__KEY__ */ "m");
    __publicField(this, /* @__KEY__ */ "p");
  }
  v() {
    F = C(), this.l.length = 0, this.u.clear();
  }
  T() {
    const e2 = Math.min(this.l.length - 1, Math.floor((C() - F) / 50));
    return this.l[e2];
  }
  h(e2) {
    if (this.m?.(e2), !e2.interactionId && "first-input" !== e2.entryType) return;
    const t2 = this.l.at(-1);
    let n2 = this.u.get(e2.interactionId);
    if (n2 || this.l.length < 10 || e2.duration > t2.L) {
      if (n2 ? e2.duration > n2.L ? (n2.entries = [e2], n2.L = e2.duration) : e2.duration === n2.L && e2.startTime === n2.entries[0].startTime && n2.entries.push(e2) : (n2 = { id: e2.interactionId, entries: [e2], L: e2.duration }, this.u.set(n2.id, n2), this.l.push(n2)), this.l.sort((e3, t3) => t3.L - e3.L), this.l.length > 10) {
        const e3 = this.l.splice(10);
        for (const t3 of e3) this.u.delete(t3.id);
      }
      this.p?.(n2);
    }
  }
};
var A = (e2) => {
  const t2 = globalThis.requestIdleCallback || setTimeout, n2 = globalThis.cancelIdleCallback || clearTimeout;
  if ("hidden" === document.visibilityState) e2();
  else {
    const i2 = f(e2);
    let s2 = -1;
    const o2 = () => {
      n2(s2), i2();
    };
    addEventListener("visibilitychange", o2, { once: true, capture: true }), s2 = t2(() => {
      removeEventListener("visibilitychange", o2, { capture: true }), i2();
    });
  }
};
var B = [200, 500];
var S = (e2, i2 = {}) => {
  if (!globalThis.PerformanceEventTiming || !("interactionId" in PerformanceEventTiming.prototype)) return;
  const s2 = g();
  v(() => {
    I();
    let o2, c2 = r("INP");
    const d2 = a(i2, k), f2 = (e3) => {
      A(() => {
        for (const t3 of e3) d2.h(t3);
        const t2 = d2.T();
        t2 && t2.L !== c2.value && (c2.value = t2.L, c2.entries = t2.entries, o2());
      });
    }, l2 = h("event", f2, { durationThreshold: i2.durationThreshold ?? 40 });
    o2 = n(e2, c2, B, i2.a), l2 && (l2.observe({ type: "first-input", buffered: true }), s2.D(() => {
      f2(l2.takeRecords()), o2(true);
    }), t(() => {
      d2.v(), c2 = r("INP"), o2 = n(e2, c2, B, i2.a);
    }));
  });
};
var q = class {
  constructor() {
    __publicField(this, /* @__KEY__ */ "m");
  }
  h(e2) {
    this.m?.(e2);
  }
};
var N = [2500, 4e3];
var x = (e2, s2 = {}) => {
  v(() => {
    const c2 = g();
    let d2, l2 = r("LCP");
    const u2 = a(s2, q), m2 = (e3) => {
      s2.a || (e3 = e3.slice(-1));
      for (const t2 of e3) u2.h(t2), t2.startTime < c2.C && (l2.value = Math.max(t2.startTime - o(), 0), l2.entries = [t2], d2());
    }, p2 = h("largest-contentful-paint", m2);
    if (p2) {
      d2 = n(e2, l2, N, s2.a);
      const o2 = f(() => {
        m2(p2.takeRecords()), p2.disconnect(), d2(true);
      }), c3 = (e3) => {
        e3.isTrusted && (A(o2), removeEventListener(e3.type, c3, { capture: true }));
      };
      for (const e3 of ["keydown", "click", "visibilitychange"]) addEventListener(e3, c3, { capture: true });
      t((t2) => {
        l2 = r("LCP"), d2 = n(e2, l2, N, s2.a), i(() => {
          l2.value = performance.now() - t2.timeStamp, d2(true);
        });
      });
    }
  });
};
var H = [800, 1800];
var O = (e2) => {
  document.prerendering ? v(() => O(e2)) : "complete" !== document.readyState ? addEventListener("load", () => O(e2), true) : setTimeout(e2);
};
var W = (e2, i2 = {}) => {
  let c2 = r("TTFB"), a2 = n(e2, c2, H, i2.a);
  O(() => {
    const d2 = s();
    d2 && (c2.value = Math.max(d2.responseStart - o(), 0), c2.entries = [d2], a2(true), t(() => {
      c2 = r("TTFB", 0), a2 = n(e2, c2, H, i2.a), a2(true);
    }));
  });
};

// src/session.js
var SESSION_KEY = "_rum_s";
var CONFIG_KEY = "_rum_c";
var newId = () => randomDigits(16, 32);
var randomDigits = (count, base) => crypto.getRandomValues(new Uint8Array(count)).reduce((digits, byte) => digits + (byte & base - 1).toString(base), "");
var inSample = (sessionId, rate) => parseInt(sessionId.slice(0, 6), 32) / 2 ** 30 < rate;
var resolveSession = (storage, now, timeoutMs) => {
  let id;
  try {
    const [, stored, last] = /^([0-9a-v]{16})\.(\d+)$/.exec(storage.getItem(SESSION_KEY)) || [];
    if (now - +last < timeoutMs) id = stored;
  } catch {
  }
  id = id || newId();
  touchSession(storage, id, now);
  return id;
};
var touchSession = (storage, id, now) => {
  try {
    storage.setItem(SESSION_KEY, id + "." + now);
  } catch {
  }
};

// src/calls.js
var slot = (map, key, make) => map[key] ?? (Object.keys(map).length < 50 ? map[key] = make() : void 0);
var add = (map, key, value) => slot(map, key, () => 0) != null && (map[key] += value);
var MAX_CALLS = 5e3;
var noteCall = (endpoints, key, duration, status, trace) => {
  const calls = slot(endpoints, key, () => (
    /** @type {{durations: number[], status: number[], trace?: string, traced?: number}} */
    { durations: [], status: [] }
  ));
  if (calls?.durations.length < MAX_CALLS) {
    calls.durations.push(duration);
    calls.status.push(status);
    if (trace && !(calls.traced >= duration)) {
      calls.trace = trace;
      calls.traced = duration;
    }
  }
};
var traced = (origins, url) => (
  /** @type {any} */
  (origins?.split?.(/[\s,]+/) || origins)?.some?.((origin) => origin.test ? origin.test(
    /** @type {any} */
    url
  ) : origin == url.origin)
);
var traceparent = (sampled) => {
  let header;
  do
    header = randomDigits(48, 16).replace(/.{32}/, "00-$&-") + "-0" + +sampled;
  while (/-0{16}/.test(header));
  return header;
};
var serverTrace = (entry) => entry.serverTiming?.find((timing) => timing.name == "traceparent")?.description.match(/^00-(?!0{32})([\da-f]{32})-[\da-f]{16}-[\da-f]{2}$/)?.[1];

// src/beacon.js
var MAX_BEACON_BYTES = 64e3;
var MAX_BEACON_EVENTS = 256;
var encode = (text3) => new TextEncoder().encode(text3);
var byteLength = (text3) => encode(text3).length;
var clip = (value, maxBytes) => {
  const bytes = encode(value);
  return new TextDecoder().decode(bytes.length > maxBytes ? bytes.subarray(0, maxBytes - 3) : bytes);
};
var packBeacons = (head, events, maxBytes = MAX_BEACON_BYTES) => {
  const prefix = JSON.stringify({ ...head, events: [] }).slice(0, -2);
  const base = byteLength(prefix) + 2;
  const bodies = [];
  let parts = [];
  let size = base;
  const close = () => {
    bodies.push(prefix + parts.join() + "]}");
    parts = [];
    size = base;
  };
  for (const event2 of events) {
    const json = JSON.stringify(event2);
    const bytes = byteLength(json) + 1;
    if (base + bytes > maxBytes) continue;
    if (size + bytes > maxBytes || parts.length == MAX_BEACON_EVENTS) close();
    parts.push(json);
    size += bytes;
  }
  if (parts.length || !bodies.length) close();
  return bodies;
};
var stripUrl = (url) => url.replace(/[?#][^]*/, "").replace(/\/\/[^/]*@/, "//");
var stripUrlsIn = (text3) => text3.replace(/(\/\/[^\s?#()]*)[?#][^\s():]*/g, "$1");

// src/agent.js
var MAX_PENDING_EVENTS = 200;
var MAX_VIEWS = 8;
var ERROR_FLUSH_MS = 5e3;
var label = (value) => typeof value == "string" && /^[\w.+:@/-]{1,64}$/.test(value) ? value : void 0;
var createAgent = (options, env, first) => {
  let sampleRate = options.sampleRate ?? 1;
  let held = env.S;
  const maxErrors = options.maxErrors ?? 10;
  let consented = !options.requireConsent;
  let sessionId = "";
  let sampled = false;
  let views = [];
  let hard;
  let current;
  let flushTimer = false;
  const resolve = () => {
    if (consented) {
      sessionId = resolveSession(env.x, env.E(), (options.sessionTimeoutMin ?? 30) * 6e4);
      sampled = inSample(sessionId, sampleRate);
    }
  };
  const startView = (fields, t0) => {
    current = { F: { pid: newId(), ...fields }, e: t0, G: 0, y: {}, j: [], U: {} };
    views.push(current);
    if (views.length > MAX_VIEWS) views.splice(1, 1);
    return current;
  };
  const push = (event2, view = current) => {
    if (view.j.length < MAX_PENDING_EVENTS) view.j.push(event2);
    if (!views.includes(view)) views.push(view);
  };
  const flush2 = (final) => {
    flushTimer = false;
    if (!consented || !sampled || held && !final) return;
    const now = env.E();
    const hints = env.V();
    for (const view of views) {
      const events = [...Object.values(view.y), ...view.j];
      if (events.length || !view.G) {
        const head = {
          v: 1,
          sid: sessionId,
          ...view.F,
          rel: label(options.release),
          env: label(options.environment),
          // The rate this session was kept at (absent: 1), so counts can be scaled back up.
          sr: sampleRate < 1 ? sampleRate : void 0,
          sent: now,
          seq: view.G++,
          ...hints
        };
        for (const body of packBeacons(head, events)) env.W(body);
        view.y = {};
        view.j = [];
      }
    }
    views = views.filter((view) => view == hard || view == current);
    touchSession(env.x, sessionId, now);
  };
  resolve();
  hard = startView(first, 0);
  return {
    /**
     * False when this session is sampled out (and neither the consent gate nor the collector's
     * configuration can change that): do nothing.
     */
    X: !consented || sampled || held,
    k: flush2,
    /** Whether this session's beacons are sent now (consented, in the sample): traceparent's sampled flag. */
    Y: () => consented && sampled,
    /**
     * The collector's configuration for the site (GET /rum/v1/config): its sample rate replaces
     * the tag's, decided again on the same session id; its switches are kept for the session's
     * next page loads (this one's observers already run; before consent they are not kept).
     * `{}` when it could not be read.
     * @param {{sampleRate?: number, disable?: string[]}} config
     */
    Z: (config) => {
      held = false;
      sampleRate = +(config.sampleRate ?? sampleRate);
      if (sessionId) {
        sampled = inSample(sessionId, sampleRate);
        try {
          env.x.setItem(CONFIG_KEY, (config.disable || "") + "");
        } catch {
        }
      }
    },
    /** The latest value of a vital of the document's page view; a re-sent value keeps its id. */
    _: (event2) => {
      hard.y[event2.name] = event2;
    },
    /** Navigation timing, which belongs to the document's page view. */
    $: (event2) => push(event2, hard),
    /** An error, once per page view however often it repeats, at most maxErrors distinct ones. */
    z: (event2) => {
      const key = JSON.stringify(event2);
      const seen = current.U;
      if (seen[key] || Object.keys(seen).length >= maxErrors) return;
      seen[key] = 1;
      push(event2);
      flushTimer || (flushTimer = !!env.A(flush2, ERROR_FLUSH_MS));
    },
    /** A user action or business event of `view` (default: the current page view). */
    d: push,
    /** The page view events belong to now (an action is reported with the one it started in). */
    f: () => current,
    /**
     * A custom timing; without a value, the time since the current page view started.
     * @param {string} name
     * @param {number} [value] ms
     */
    aa: (name, value) => {
      value = value == null ? env.b() - current.e : +value;
      if (value >= 0 && value <= 36e5) push({ type: "custom", name, value });
    },
    /** An SPA route change: the current page view is sent and a soft one starts. */
    ba: (url) => {
      const ref = current.F.url;
      if (url == ref) return;
      flush2();
      startView({ url, ref, nav: "soft" }, env.b());
    },
    /** A back-forward-cache restore: a new page view of the document, with its own vitals. */
    ca: (url, t0) => {
      flush2();
      resolve();
      hard = startView({ url, nav: "back-forward-cache" }, t0);
    },
    /** @param {boolean} granted */
    H: (granted) => {
      const wasConsented = consented;
      consented = granted;
      if (granted && !wasConsented && !sessionId) resolve();
    }
  };
};

// src/action.js
var QUIET_MS = 100;
var MAX_ACTION_MS = 1e4;
var LATE_ENTRY_MS = 100;
var RAGE_CLICKS = 3;
var RAGE_GAP_MS = 1e3;
var RAGE_RADIUS_PX = 100;
var MAX_NAME_CHARS = 100;
var MAX_COUNT = 1e4;
var MAX_EVENT_VALUE = 1e9;
var INTERACTIVE = "a,button,input,select,textarea,label,summary,[role=button],[data-rum-action]";
var RESPONSIVE = "a,button,input,select,textarea,label,summary,[contenteditable]";
var label2 = (value) => value ? [...(value + "").slice(0, 1e3).replace(/\s+/g, " ").trim()].slice(0, MAX_NAME_CHARS).join("") : "";
var text = (node) => node && (node.innerText ?? node.textContent);
var actionElement = (target) => target.closest(INTERACTIVE) || target;
var actionName = (element, attributeOnly) => {
  const tag = element.tagName.toLowerCase();
  let name = label2(element.closest("[data-rum-action]")?.getAttribute("data-rum-action"));
  const field = /^(input|select|textarea)$/.test(tag);
  for (const source of attributeOnly ? [] : [
    () => text(element.labels?.[0]),
    () => field ? /^(submit|button|reset)$/.test(element.type) && element.value : !element.isContentEditable && text(element),
    "aria-label",
    () => element.getAttribute("aria-labelledby")?.split(" ").map((id) => text(element.ownerDocument.getElementById(id))).join(" "),
    "alt",
    "name",
    "title",
    "placeholder"
  ])
    name || (name = label2(typeof source == "string" ? element.getAttribute(source) : source()));
  return name || "<" + tag + ">";
};
var businessEvent = (name, options) => {
  const raw = options?.value;
  const value = raw == null ? void 0 : +raw;
  name = label2(name);
  if (name && !(value < 0 || value > MAX_EVENT_VALUE || value != value)) return { type: "event", name, value };
};
var createActions = (env, attributeOnly) => {
  let pending = [];
  let chain;
  let skip;
  const settleAt = (action) => Math.min(
    action.e + MAX_ACTION_MS,
    action.n ? action.q ? Infinity : Math.max(action.I, action.c + QUIET_MS) : action.I
  );
  const wake = (action, ms) => {
    const tick = action.da = {};
    env.A(() => action.da == tick && check(action), ms);
  };
  const check = (action) => {
    if (action.g) return close(action);
    const at = settleAt(action);
    const wait = at + LATE_ENTRY_MS - env.b();
    wait > 0 ? wake(action, wait) : settle(action, at);
  };
  const settle = (action, at) => {
    action.g = 1;
    pending.some((other) => !other.g) || env.J(false);
    if (action.n)
      action.ea = Math.min((action.q || at - action.c < QUIET_MS ? at : action.c) - action.e, MAX_ACTION_MS);
    close(action);
  };
  const close = (action) => {
    const since = env.b() - action.K;
    action == chain && since <= RAGE_GAP_MS ? wake(action, RAGE_GAP_MS + 1 - since) : report(action);
  };
  const report = (action) => {
    if (action.fa) return;
    action.fa = 1;
    pending = pending.filter((other) => other != action);
    if (chain == action) chain = 0;
    const frustration = [];
    if (action.B >= RAGE_CLICKS) frustration.push("rage");
    if (action.ga && !(action.n || action.r || action.s)) frustration.push("dead");
    if (action.s) frustration.push("error");
    const count = (n2) => Math.min(n2, MAX_COUNT);
    env.ha(
      {
        type: "action",
        name: action.ia,
        kind: action.M,
        dur: action.ea,
        errors: count(action.s),
        requests: count(action.N),
        clicks: count(action.B),
        frustration: frustration.length ? frustration : void 0
      },
      action.f
    );
  };
  const live = (time) => pending.filter((action) => !action.g && time >= action.e && (time <= settleAt(action) || settle(action, settleAt(action))));
  const open = (action, time) => {
    action.K = time;
    action.I = time + QUIET_MS;
    action.g = 0;
    env.J(true);
    check(action);
    return action;
  };
  const unchain = () => {
    const last = chain;
    chain = 0;
    if (last) check(last);
  };
  const start = (element, kind, time, extra) => {
    const action = { ia: actionName(element, attributeOnly), M: kind, O: element, e: time, c: time, q: 0, s: 0, N: 0, B: 1, f: env.f(), ...extra };
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
    ja: (target, kind, x2, y2, time, selected) => {
      const element = actionElement(target);
      const skipped = element == skip;
      skip = /** @type {any} */
      element.control;
      if (skipped) return;
      if (chain?.O == element && !selected && time - chain.K <= RAGE_GAP_MS && Math.hypot(x2 - chain.ka, y2 - chain.la) <= RAGE_RADIUS_PX) {
        chain.B++;
        open(chain, time);
      } else {
        unchain();
        chain = start(element, kind, time, { ka: x2, la: y2, ga: !selected && !target.closest(RESPONSIVE) });
      }
    },
    /**
     * A form submission. The click or key press that submitted it is this action (kind `submit`,
     * named after the button); else it is a new action named after the form.
     * @param {HTMLFormElement} form
     * @param {HTMLElement | null} submitter
     * @param {number} time
     */
    ma: (form, submitter, time) => {
      if (submitter && chain?.O == submitter) chain.M = "submit";
      else start(form, "submit", time);
    },
    /** Activity from `startTime` to `endTime` (a DOM mutation: both now; a resource entry). */
    P: (startTime, endTime = startTime) => {
      for (const action of live(startTime)) {
        action.n = 1;
        action.c = Math.max(action.c, endTime);
      }
    },
    /** A fetch/XHR call starting now; returns what to call when it has settled. */
    na: () => {
      const counted = live(env.b());
      for (const action of counted) {
        action.n = 1;
        action.q++;
        action.N++;
      }
      return () => {
        const end = env.b();
        for (const action of counted) {
          action.q--;
          action.c = Math.max(action.c, end);
          check(action);
        }
      };
    },
    z: () => {
      for (const action of live(env.b())) action.s++;
    },
    /** An input or scroll event: the page answered the user; a scroll also ends a rage series. */
    r: (event2) => {
      for (const action of live(env.b())) action.r = 1;
      if (event2.type == "scroll") unchain();
    },
    /**
     * The page is hidden or left: every action is settled and reported now. None counts as dead:
     * a click that navigates away (location.href in a div's handler) looks just like that.
     */
    k: () => {
      chain = 0;
      for (const action of pending) {
        action.r = 1;
        action.g ? report(action) : settle(action, env.b());
      }
    }
  };
};

// src/index.js
var agent;
var earlyConsent;
var actions;
var noop = () => {
};
var safe = (fn) => (
  /** @type {any} */
  (function() {
    try {
      return fn.apply(this, arguments);
    } catch {
    }
  })
);
var text2 = (value) => {
  try {
    return String(value);
  } catch {
    return "";
  }
};
var listen = (type, fn, capture) => addEventListener(type, safe(fn), capture);
var init = safe((options) => {
  if (agent || !options.key || self.__rum) return;
  self.__rum = 1;
  let storage;
  try {
    storage = sessionStorage;
  } catch {
  }
  let disabled = (options.disable || "") + ",";
  try {
    disabled += storage.getItem(CONFIG_KEY);
  } catch {
  }
  const enabled = (part2) => !disabled.split(/[\s,]+/).includes(part2);
  const absolute = (url) => {
    try {
      return new URL(url, location.href).href;
    } catch {
      return url;
    }
  };
  const scrub = (url, kind) => {
    url = absolute(url);
    let scrubbed;
    try {
      scrubbed = options.scrubUrl?.(url, kind);
    } catch {
    }
    return clip(typeof scrubbed == "string" ? scrubbed : stripUrl(url), 2048);
  };
  const pageUrl = () => scrub(location.href, "page");
  const hints = enabled("hints");
  const endpoint = options.endpoint || absolute("/rum/v1/beacon");
  const beaconFetch = self.fetch;
  const entry = navigationEntry() || {};
  const beaconUrl = endpoint + (endpoint.includes("?") ? "&" : "?") + "key=" + encodeURIComponent(options.key);
  const configUrl = beaconUrl.replace("/beacon?", "/config?");
  const remote = options.remoteConfig != false && configUrl != beaconUrl;
  agent = createAgent(
    options,
    {
      W: (body) => {
        try {
          if (navigator.sendBeacon(beaconUrl, body)) return;
        } catch {
        }
        try {
          beaconFetch(beaconUrl, { method: "POST", body, keepalive: true, credentials: "omit" }).catch(noop);
        } catch {
        }
      },
      E: Date.now,
      b: () => performance.now(),
      x: storage,
      V: () => {
        const nav = navigator;
        const connection = nav.connection;
        return hints && {
          conn: connection && { type: connection.effectiveType, rtt: connection.rtt, down: connection.downlink, save: connection.saveData },
          // The screen (CSS px) tells a tablet from a phone when the user agent does not (Android tablets that say `Mobile`).
          dev: { mem: nav.deviceMemory, cores: nav.hardwareConcurrency, touch: nav.maxTouchPoints, sw: screen.width, sh: screen.height, vw: innerWidth, vh: innerHeight }
        };
      },
      // A prerendering page sends nothing until the user sees it.
      A: (callback, ms) => setTimeout(() => document.prerendering || callback(), ms),
      S: remote
    },
    {
      url: pageUrl(),
      ref: document.referrer ? scrub(document.referrer, "referrer") : void 0,
      // As web-vitals' initMetric decides it.
      nav: document.prerendering || entry.activationStart > 0 ? "prerender" : document.wasDiscarded ? "restore" : (entry.type || "navigate").replace("_", "-"),
      trace: serverTrace(entry)
    }
  );
  if (earlyConsent != null) agent.H(earlyConsent);
  const current = agent;
  const active = agent.X;
  const part = (name, setup) => enabled(name) && safe(setup)();
  const summaries = [];
  const summarise = () => summaries.map((summary) => summary());
  const beacons = absolute(endpoint);
  const observe = (type, handle) => new PerformanceObserver(safe((list) => list.getEntries().map(handle))).observe({ type, buffered: true });
  part("requests", () => {
    const slowMs = options.slowRequestMs ?? 1e3;
    let endpoints = {};
    summaries.push(() => {
      if (Object.keys(endpoints).length) current.d({ type: "calls", endpoints });
      endpoints = {};
    });
    const call = (method, url, set) => {
      const start = performance.now();
      const done = safe(actions?.na() || noop);
      let trace;
      try {
        if (set && traced(options.traceOrigins, new URL(url, location.href))) {
          const header = traceparent(current.Y());
          set("traceparent", header);
          trace = header.slice(3, 35);
          if (options.traceState) set("tracestate", options.traceState);
        }
      } catch {
      }
      return safe((result, aborted) => {
        done();
        const duration = performance.now() - start;
        const status = result ? result.status : 0;
        if (!active || aborted) return;
        url = scrub(url, "request");
        method = clip((method + "").toUpperCase(), 32);
        if (!result || result.type != "opaque" && (!status || status >= 400) || duration >= slowMs)
          current.d({ type: "request", url, method, status, duration });
        noteCall(endpoints, method + " " + url, Math.round(duration), status, trace);
      });
    };
    if (!active && !options.traceOrigins) return;
    const nativeFetch = self.fetch;
    if (nativeFetch)
      self.fetch = function(input, init2) {
        let args = arguments;
        let finish = noop;
        let request;
        try {
          finish = call(init2?.method || input?.method || "GET", input?.url || input, (name, value) => {
            const headers = (request || (request = new Request(input, init2))).headers;
            if (headers.has(name) || request.mode == "no-cors") throw 0;
            headers.set(name, value);
            args = [request];
          });
        } catch {
        }
        return nativeFetch.apply(this, args).then(
          (response) => {
            finish(response);
            return response;
          },
          (error) => {
            finish(0, error?.name == "AbortError");
            throw error;
          }
        );
      };
    const prototype = XMLHttpRequest.prototype;
    const open = prototype.open;
    const sendXhr = prototype.send;
    const setHeader = prototype.setRequestHeader;
    prototype.open = function(method, url) {
      try {
        this.Q = [method, url];
      } catch {
      }
      return open.apply(this, arguments);
    };
    prototype.setRequestHeader = function(name) {
      if (/^traceparent$/i.test(name)) this.oa = this.Q;
      return setHeader.apply(this, arguments);
    };
    prototype.send = function() {
      try {
        const request = this.Q;
        if (request) {
          const finish = call(request[0], request[1], this.oa != request && setHeader.bind(this));
          this.addEventListener("abort", () => request[2] = 1);
          this.addEventListener("loadend", () => finish(this, request[2]), { once: true });
        }
      } catch {
      }
      return sendXhr.apply(this, arguments);
    };
  });
  if (!active) return;
  if (remote) {
    const configured = (config) => current.Z(config || {});
    beaconFetch(configUrl, { credentials: "omit" }).then((response) => response.ok && response.json()).then(configured, () => configured());
  }
  listen("pageshow", (event2) => event2.persisted && current.ca(pageUrl(), event2.timeStamp), true);
  const hide = () => {
    if (document.prerendering) return;
    actions?.k();
    summarise();
    current.k(1);
  };
  listen("visibilitychange", () => document.visibilityState == "hidden" && hide());
  listen("pagehide", hide);
  part("vitals", () => {
    if (![].at) return;
    observeFrames();
    const attributed = safe(attribute);
    for (const on of [x, b, S, T, W]) {
      safe(on)(
        safe(
          (metric) => current._({
            type: "vital",
            name: metric.name,
            value: metric.value,
            id: metric.id,
            rating: metric.rating,
            // Computed when the beacon is built: the long animation frame of an interaction is
            // reported after web-vitals reports the interaction.
            get attr() {
              return attributed(metric, scrub);
            }
          })
        ),
        { a: true }
      );
    }
  });
  part("navigation", () => {
    const send = () => {
      const timing = navigationEntry();
      current.$({
        type: "nav",
        dns: timing.domainLookupEnd - timing.domainLookupStart,
        connect: timing.connectEnd - timing.connectStart,
        tls: timing.secureConnectionStart && timing.connectEnd - timing.secureConnectionStart,
        ttfb: Math.max(0, timing.responseStart - (timing.activationStart || 0)),
        download: timing.responseEnd - timing.responseStart,
        domInteractive: timing.domInteractive,
        domComplete: timing.domComplete,
        load: timing.loadEventEnd,
        transferSize: timing.transferSize,
        protocol: timing.nextHopProtocol
      });
    };
    const later = () => setTimeout(safe(send));
    document.readyState == "complete" ? later() : listen("load", later);
  });
  part("errors", () => {
    const report = (kind, error, message, source, line, col) => current.z({
      type: "error",
      kind,
      message: clip(stripUrlsIn(error instanceof Error ? error + "" : message), 1024),
      source: source ? scrub(source, "error") : void 0,
      line,
      col,
      stack: error?.stack ? clip(stripUrlsIn(error.stack + ""), 8192) : void 0
    });
    listen("error", (event2) => report("error", event2.error, event2.message, event2.filename, event2.lineno, event2.colno));
    listen("unhandledrejection", (event2) => report("unhandledrejection", event2.reason, text2(event2.reason)));
  });
  part("actions", () => {
    const clock = () => performance.now();
    const observer = new MutationObserver(safe(() => active2.P(clock())));
    const active2 = actions = createActions(
      {
        b: clock,
        A: (callback, ms) => setTimeout(safe(callback), ms),
        ha: current.d,
        f: current.f,
        J: (on) => on ? observer.observe(document, { subtree: true, childList: true, attributes: true, characterData: true }) : observer.disconnect()
      },
      options.actionNames == "attribute"
    );
    const selection = () => !!getSelection()?.toString();
    let pointer, selectedBefore;
    listen(
      "pointerdown",
      (event2) => {
        pointer = event2.pointerType;
        selectedBefore = selection();
      },
      true
    );
    listen(
      "click",
      (event2) => (
        // Trusted only: element.click() from the page's own code is not a user action. detail 0:
        // activated by the keyboard (Enter/Space) or assistive technology.
        event2.isTrusted && active2.ja(
          event2.target,
          event2.detail ? /touch|pen/.test(pointer) ? "tap" : "click" : "key",
          event2.clientX,
          event2.clientY,
          event2.timeStamp,
          !selectedBefore && selection()
        )
      ),
      true
    );
    listen("submit", (event2) => active2.ma(event2.target, event2.submitter, event2.timeStamp), true);
    for (const type of ["input", "scroll"]) listen(type, active2.r, true);
    for (const type of ["error", "unhandledrejection"]) listen(type, active2.z);
    observe("resource", (entry2) => entry2.name.startsWith(beacons) || active2.P(entry2.startTime, entry2.responseEnd));
  });
  part("frames", () => {
    let count = 0;
    let blocking = 0;
    let scripts = {};
    observe("long-animation-frame", (frame) => {
      noteLongFrame(frame);
      count++;
      blocking += frame.blockingDuration;
      for (const script of frame.scripts) {
        let origin = "";
        try {
          origin = new URL(script.sourceURL).origin;
        } catch {
        }
        add(scripts, origin, script.duration);
      }
    });
    summaries.push(() => {
      if (count) current.d({ type: "loaf", count, blocking, scripts });
      count = blocking = 0;
      scripts = {};
    });
  });
  part("resources", () => {
    let origins = {};
    let types = {};
    observe("resource", (entry2) => {
      if (entry2.name.startsWith(beacons)) return;
      const summary = slot(origins, new URL(entry2.name).origin, () => ({ bytes: 0, untimed: 0, durations: [] }));
      add(types, entry2.initiatorType, 1);
      if (summary) {
        summary.bytes += entry2.transferSize || 0;
        summary.untimed += /** @type {any} */
        !entry2.responseStart;
        summary.durations.push(Math.round(entry2.duration));
      }
    });
    summaries.push(() => {
      if (Object.keys(types).length) current.d({ type: "resources", origins, types });
      origins = {};
      types = {};
    });
  });
  part("spa", () => {
    const route = safe(() => (summarise(), current.ba(pageUrl())));
    for (const name of ["pushState", "replaceState"]) {
      const original = history[name];
      history[name] = function() {
        const result = original.apply(this, arguments);
        route();
        return result;
      };
    }
    listen("popstate", route);
  });
});
var mark = safe((name, value) => agent?.aa(clip(name, 256), value));
var consent = safe((granted) => {
  earlyConsent = granted !== false;
  agent?.H(earlyConsent);
});
var event = safe((name, options) => {
  const business = businessEvent(name, options);
  if (business) agent?.d(business);
});
var flush = safe(() => agent?.k(1));
export {
  consent,
  event,
  flush,
  init,
  mark
};
