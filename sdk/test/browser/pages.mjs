// The test pages, rendered per request. `collector` is the origin serving rum.js (and, by default,
// receiving its beacons).
import { readFileSync } from 'node:fs';

/** The async loader snippet exactly as docs/sdk.md gives it (sdk/snippet/loader.html). */
const LOADER = readFileSync(new URL('../../snippet/loader.html', import.meta.url), 'utf8');

/** The loader snippet for `scriptUrl` and site `key`: only the two arguments are replaced. */
const loader = (scriptUrl, key) =>
  LOADER.replace("'https://collector.example/rum.js'", `'${scriptUrl}'`).replace("'SITE_KEY'", `'${key}'`);

/** The loader snippet before it buffered interactions (the control of the late-script test). */
const plainLoader = (scriptUrl, key) => `<script>
  (function (w, d, u, k) {
    var r = (w.rum = w.rum || { q: [] });
    ['init', 'mark', 'consent', 'flush'].forEach(function (m) {
      r[m] = r[m] || function () { r.q.push([m, arguments]); };
    });
    var s = d.createElement('script');
    s.async = true; s.src = u; s.dataset.key = k;
    d.head.appendChild(s);
  })(window, document, '${scriptUrl}', '${key}');
</script>`;

/** Runs web-vitals (started at once) and posts its final values to /reference as `page`. */
const reference = (page) => `<script src="/web-vitals.attribution.iife.js"></script>
<script>
  window.__reference = {};
  for (const on of ['onLCP', 'onCLS', 'onINP', 'onFCP', 'onTTFB']) {
    webVitals[on]((m) => (__reference[m.name] = { value: m.value }), { reportAllChanges: true });
  }
  addEventListener('visibilitychange', () => {
    if (document.visibilityState == 'hidden') navigator.sendBeacon('/reference', JSON.stringify({ page: '${page}', values: __reference }));
  });
</script>`;

/** A layout shift: a banner inserted at the top (`#top`) after 1.3 s, pushing the page down. */
const lateBanner = `<script>
  setTimeout(() => {
    const banner = document.createElement('div');
    banner.id = 'banner';
    banner.textContent = 'Sale!';
    document.getElementById('top').appendChild(banner);
  }, 1300);
</script>`;

/** A button whose click handler blocks the main thread for `ms`. */
const slowButton = (id, ms) =>
  `<button id="${id}" onclick="var end = performance.now() + ${ms}; while (performance.now() < end); this.textContent = 'done'">${id}</button>`;

const head = (title) => `<!doctype html><html><head><meta charset="utf-8"><title>${title}</title>
<style>body{margin:0;font:16px/1.4 sans-serif} main{padding:8px} button{margin:4px;font-size:18px}
#hero{display:block;width:1000px;height:500px} #banner{height:120px;background:#fc3}</style>`;

/**
 * Counts what reaches the page's own handlers: error events, unhandled rejections and CSP
 * violations. Registered before rum.js, so it sees everything the page would see.
 */
const counters = `<script>
  window.__counts = { error: 0, rejection: 0, csp: 0, messages: [] };
  addEventListener('error', (e) => { if (e instanceof ErrorEvent) { __counts.error++; __counts.messages.push(e.message); } }, true);
  addEventListener('unhandledrejection', (e) => { __counts.rejection++; __counts.messages.push(String(e.reason)); });
  document.addEventListener('securitypolicyviolation', () => __counts.csp++);
</script>`;

/** Buttons that make the page do what the SDK must report. */
const actions = `
<button id="throw" onclick="throw new TypeError('boom from the page')">throw</button>
<button id="reject" onclick="Promise.reject(new Error('rejected by the page'))">reject</button>
<button id="fetch" onclick="fetch('/api/500?token=secret').then((r) => (window.__fetched = r.status))">fetch</button>
<button id="xhr" onclick="var x = new XMLHttpRequest(); x.open('GET', '/api/404?token=secret'); x.onloadend = () => (window.__xhr = x.status); x.send()">xhr</button>
<button id="route" onclick="history.pushState({}, '', '/spa/next?step=2#top')">route</button>`;

/** data-* attributes from the query: ?key=K&sample-rate=0 -> data-key="K" data-sample-rate="0". */
const dataAttributes = (url) =>
  [...url.searchParams]
    .filter(([name]) => !['nobeacon', 'csp', 'hero', 'tp', 'tao', 'api', 'other', 'server-timing'].includes(name))
    .map(([name, value]) => ` data-${name}="${value.replace(/"/g, '&quot;')}"`)
    .join('');

const pages = {
  /**
   * The page of the vitals test: a large late image (LCP), a banner inserted late at the top
   * (CLS), a slow click handler (INP), plus errors, requests and an SPA route change. It also
   * runs web-vitals' attribution build directly and posts its final values to /reference.
   */
  '/main.html': (url, { collector }) => `${head('main')}
<script src="/web-vitals.attribution.iife.js"></script>
<script>
  window.__reference = {};
  const pick = (m) => {
    const a = m.attribution || {};
    if (m.name == 'LCP') return { target: a.target, url: a.url, ttfb: a.timeToFirstByte, loadDelay: a.resourceLoadDelay, loadDuration: a.resourceLoadDuration, renderDelay: a.elementRenderDelay };
    if (m.name == 'CLS') return { target: a.largestShiftTarget };
    if (m.name == 'INP') return { target: a.interactionTarget, interactionType: a.interactionType, inputDelay: a.inputDelay, processing: a.processingDuration, presentation: a.presentationDelay, script: a.longestScript?.entry.sourceURL, scriptDuration: a.longestScript?.intersectingDuration };
  };
  for (const on of ['onLCP', 'onCLS', 'onINP', 'onFCP', 'onTTFB']) {
    webVitals[on]((m) => (__reference[m.name] = { value: m.value, attr: pick(m) }), { reportAllChanges: true });
  }
  addEventListener('visibilitychange', () => {
    if (document.visibilityState == 'hidden') navigator.sendBeacon('/reference', JSON.stringify({ page: 'main', values: __reference }));
  });
</script>
<script async src="${collector}/rum.js"${dataAttributes(url)}></script>
</head><body>
<div id="top"></div>
<main class="shop">
  <h1>Shop</h1>
  <p>Some text that paints first.</p>
  <img id="hero" class="hero wide" src="/hero.bmp?delay=700" alt="">
  <button id="buy" class="cta primary">Buy</button>
  ${actions}
</main>
<script>
  // CLS: a banner inserted at the top after the image, pushing everything down.
  setTimeout(() => {
    const banner = document.createElement('div');
    banner.id = 'banner';
    banner.className = 'promo';
    banner.textContent = 'Sale!';
    document.getElementById('top').appendChild(banner);
  }, 1300);
  // INP: a click handler that blocks the main thread for 180 ms.
  document.getElementById('buy').addEventListener('click', () => {
    const end = performance.now() + 180;
    while (performance.now() < end);
    document.getElementById('buy').textContent = 'Bought';
  });
</script>
</body></html>`,

  /**
   * rum.js configured from the query's data-* attributes (data-release among them) and a large
   * image answered after ?hero= ms: the page's LCP, so two "releases" can differ in speed.
   */
  '/release.html': (url, { collector }) => `${head('release')}
<script async src="${collector}/rum.js"${dataAttributes(url)}></script>
</head><body><main><h1>Release</h1><p>Text that paints first.</p>
<img id="hero" src="/hero.bmp?delay=${Number(url.searchParams.get('hero') || 0)}" alt=""></main></body></html>`,

  /**
   * The third-parties test: resources of two other origins, `tao` (sends Timing-Allow-Origin) and
   * `tp` (does not), and two long tasks once loaded: an inline (first-party) one of 120 ms, then
   * one of 200 ms by `tp`'s script (its block.js). Each task is one long animation frame.
   */
  '/third-party.html': (url, { collector }) => `${head('third-party')}
<script async src="${collector}/rum.js"${dataAttributes(url)}></script>
<script>
  addEventListener('load', () => setTimeout(() => {
    const end = performance.now() + 120;
    while (performance.now() < end);
    window.__firstParty = 1;
  }, 100));
</script>
<script defer src="${url.searchParams.get('tp')}/block.js?ms=200"></script>
</head><body><main><h1>Third parties</h1><p>Text that paints first.</p>
<img src="${url.searchParams.get('tao')}/pixel.bmp?n=1" alt=""><img src="${url.searchParams.get('tao')}/pixel.bmp?n=2" alt="">
<img src="${url.searchParams.get('tp')}/pixel.bmp" alt=""></main></body></html>`,

  /**
   * The traces test (answered with the query's `server-timing` as its Server-Timing header):
   * rum.js configured from the query's data-* attributes (data-trace-origins among them), and
   * window.__calls(), which fetches from `api` (with a header of the page's own) and from
   * `other`, then makes an XHR to `api`; it resolves with the three statuses.
   */
  '/traces.html': (url, { collector }) => `${head('traces')}
<script async src="${collector}/rum.js"${dataAttributes(url)}></script>
<script>
  window.__calls = async () => [
    await fetch('${url.searchParams.get('api')}/items/42', { headers: { 'x-page': 'kept' } }).then((response) => response.status),
    await fetch('${url.searchParams.get('other')}/items/7').then((response) => response.status),
    await new Promise((done) => {
      const xhr = new XMLHttpRequest();
      xhr.open('GET', '${url.searchParams.get('api')}/xhr/9');
      xhr.onloadend = () => done(xhr.status);
      xhr.send();
    }),
  ];
</script>
</head><body><main><h1>Traces</h1><p>Text that paints first.</p></main></body></html>`,

  /** rum.js configured from the query's data-* attributes, with the action buttons. */
  '/plain.html': (url, { collector }) => `${head('plain')}${counters}
${url.searchParams.has('nobeacon') ? '<script>navigator.sendBeacon = undefined;</script>' : ''}
<script async src="${collector}/rum.js"${dataAttributes(url)}></script>
</head><body><main><h1>Plain</h1>${actions}</main></body></html>`,

  /** The async loader snippet of docs/sdk.md, with init/mark calls queued before rum.js loads. */
  '/loader.html': (url, { collector }) => `${head('loader')}${counters}
${loader(`${collector}/rum.js`, url.searchParams.get('key'))}
<script>
  rum.init({ requireConsent: true });
  rum.mark('queued_mark', 5);
</script>
</head><body><main><h1>Loader</h1>${actions}
<button id="consent" onclick="rum.consent()">accept</button></main></body></html>`,

  /** A page for navigation types: rum.js and nothing that blocks the back-forward cache. */
  '/nav.html': (url, { collector }) => `${head('nav')}
<script async src="${collector}/rum.js"${dataAttributes(url)}></script>
</head><body><main><h1>Navigation ${url.searchParams.get('n') || ''}</h1><p>text</p></main></body></html>`,

  /**
   * rum.js arriving ?delay= ms late through the loader snippet (?buffer=0: the snippet before it
   * buffered interactions), two slow buttons to press before it arrives, and web-vitals started at
   * once as the reference.
   */
  '/late.html': (url, { collector }) => {
    const script = `${collector}/rum.js?delay=${url.searchParams.get('delay') || 2500}`;
    const key = url.searchParams.get('key');
    const snippet = url.searchParams.get('buffer') == '0' ? plainLoader(script, key) : loader(script, key);
    return `${head('late')}
${reference(url.searchParams.get('page') || 'late')}
${snippet}
</head><body><main><h1>Late</h1><p>Text that paints first.</p>
${slowButton('short', 10)} ${slowButton('long', 70)}</main></body></html>`;
  },

  /**
   * Google's web-vitals (standard build) with its README's `sendToAnalytics`, pointed at rum's
   * web-vitals path: a large late image (LCP), a late banner (CLS) and a slow button (INP). What
   * web-vitals reported is kept in `__reported` for the test to compare.
   */
  '/webvitals.html': (url, { collector }) => `${head('webvitals')}
<script src="/web-vitals.iife.js"></script>
<script>
  window.__reported = {};
  const endpoint = '${collector}/rum/v1/web-vitals?key=${url.searchParams.get('key')}';
  function sendToAnalytics(metric) {
    __reported[metric.name] = metric.value;
    const body = JSON.stringify(metric);
    (navigator.sendBeacon && navigator.sendBeacon(endpoint, body)) || fetch(endpoint, { body, method: 'POST', keepalive: true });
  }
  webVitals.onCLS(sendToAnalytics);
  webVitals.onINP(sendToAnalytics);
  webVitals.onLCP(sendToAnalytics);
  webVitals.onFCP(sendToAnalytics);
  webVitals.onTTFB(sendToAnalytics);
</script>
</head><body><div id="top"></div><main><h1>web-vitals</h1><p>Text that paints first.</p>
<img id="hero" src="/hero.bmp?delay=700" alt="">
${slowButton('buy', 120)}</main>
${lateBanner}
</body></html>`,

  /**
   * The Grafana Faro Web SDK (its IIFE bundle, as a site would load it) with the collector's
   * `/collect` as its receiver URL and the site key as its API key: a large late image (LCP), a
   * late banner (CLS), a slow button that throws (INP and an error).
   */
  '/faro.html': (url, { collector }) => `${head('faro')}
<script src="/faro-web-sdk.iife.js"></script>
<script>
  GrafanaFaroWebSdk.initializeFaro({
    url: '${collector}/collect',
    apiKey: '${url.searchParams.get('key')}',
    app: { name: 'shop', version: '1.2.3', environment: 'test' },
  });
</script>
</head><body><div id="top"></div><main><h1>Faro</h1><p>Text that paints first.</p>
<img id="hero" src="/hero.bmp?delay=700" alt="">
<button id="buy" onclick="var end = performance.now() + 120; while (performance.now() < end); throw new TypeError('boom from the page')">buy</button></main>
${lateBanner}
</body></html>`,

  /**
   * User actions: named (data-rum-action) and unnamed buttons, a link, a form, a button whose
   * fetch (300 ms) is followed by a DOM change (times kept in __clickAt / __changedAt), a button to
   * rage-click, a plain div (a dead click) and a button whose handler throws.
   */
  '/actions.html': (url, { collector }) => `${head('actions')}
<script async src="${collector}/rum.js"${dataAttributes(url)}></script>
</head><body><main><h1>Actions</h1>
<button id="named" data-rum-action="Add to cart">+</button>
<button id="unnamed">  Checkout
  now </button>
<button id="menu" aria-label="Open menu"><svg width="16" height="16"><rect width="16" height="16"></rect></svg></button>
<a id="link" href="#faq">Read the FAQ</a>
<form id="newsletter" aria-label="Newsletter"><input id="email" name="email"> <button id="subscribe">Subscribe</button></form>
<p id="subscribed"></p>
<button id="load" data-rum-action="Load reviews">Reviews</button>
<div id="reviews"></div>
<button id="rage" data-rum-action="Apply coupon">Apply</button>
<div id="dead">Shipping details</div>
<button id="throw">Pay</button>
<p id="faq">FAQ</p>
</main>
<script>
  document.getElementById('newsletter').addEventListener('submit', (event) => {
    event.preventDefault();
    document.getElementById('subscribed').textContent = 'Thanks!';
  });
  document.getElementById('load').addEventListener('click', () => {
    window.__clickAt = performance.now();
    fetch('/api/200?delay=300').then(() => {
      const review = document.createElement('p');
      review.textContent = 'Great shop';
      document.getElementById('reviews').appendChild(review);
      window.__changedAt = performance.now();
    });
  });
  document.getElementById('throw').addEventListener('click', () => {
    throw new TypeError('payment failed');
  });
</script>
</body></html>`,

  /** The shop of the funnel test: a home page, a cart with a named Checkout button, a payment page. */
  '/shop/home.html': (url, { collector }) => `${head('home')}
<script async src="${collector}/rum.js"${dataAttributes(url)}></script>
</head><body><main><h1>Shop</h1><a href="/shop/cart.html">Cart</a></main></body></html>`,
  '/shop/cart.html': (url, { collector }) => `${head('cart')}
<script async src="${collector}/rum.js"${dataAttributes(url)}></script>
</head><body><main><h1>Cart</h1>
<button data-rum-action="Checkout" id="checkout">Checkout</button></main></body></html>`,
  '/shop/pay.html': (url, { collector }) => `${head('pay')}
<script async src="${collector}/rum.js"${dataAttributes(url)}></script>
</head><body><main><h1>Payment</h1><p>Pay here.</p></main></body></html>`,

  '/other.html': () => `${head('other')}</head><body><main><h1>Another page</h1></main></body></html>`,
  '/blank.html': () => `${head('blank')}</head><body></body></html>`,
};

/** @returns {{html: string, headers: Record<string, string>} | undefined} */
export function renderPage(url, context) {
  const page = pages[url.pathname];
  if (!page) return;
  const headers = url.searchParams.has('csp') ? { 'content-security-policy': "connect-src 'self'" } : {};
  if (url.searchParams.has('server-timing')) headers['server-timing'] = url.searchParams.get('server-timing');
  return { html: page(url, context), headers };
}
