// Attribution for LCP, CLS and INP, computed from the metric's entries exactly as the attribution
// build of the pinned web-vitals (5.3.0: src/attribution/*.ts, src/lib/getSelector.ts) computes the
// fields BEACON.md carries; of the LoAF details only INP's longest script, the rest (load state,
// entry objects) is left out. The
// attribution build costs 4.8 KB gzip on its own, most of our budget; this is ~0.6 KB.
// test/browser/vitals.test.mjs runs the attribution build on the same page and checks equality.

/** web-vitals' getSelector: `tag.classA.classB>...` up to the nearest id, at most 100 characters. */
const selector = (node) => {
  if (!node) return;
  let text = '';
  try {
    while (node.nodeType != 9) {
      const name = node.nodeName;
      const part = node.id
        ? '#' + node.id
        : [node.nodeType == 1 ? name.toLowerCase() : name.toUpperCase().replace('#', ''), ...[...node.classList].sort()].join('.');
      if (text.length + part.length > 99) return text || part;
      text = text ? part + '>' + text : part;
      if (node.id) break;
      node = node.parentNode;
    }
  } catch {}
  return text;
};

/**
 * Event-timing entries grouped by the frame that painted them (render times within 8 ms), as the
 * attribution build groups them: an interaction's processing ends with the last handler of its
 * frame, which may belong to another entry (a click painted with its pointerdown).
 * @type {{_renderTime: number, _processingEnd: number}[]}
 */
const frames = [];
/** Frames remembered; an older INP interaction falls back to its own entries. */
const MAX_FRAMES = 100;

const frameOf = (renderTime) => {
  for (let i = frames.length; i--; ) if (Math.abs(renderTime - frames[i]._renderTime) <= 8) return frames[i];
};

/** Starts grouping event-timing entries (what web-vitals' INP observes: 40 ms and longer). */
export const observeFrames = () =>
  new PerformanceObserver((list) => {
    for (const entry of /** @type {PerformanceEventTiming[]} */ (list.getEntries())) {
      const renderTime = entry.startTime + entry.duration;
      const frame = frameOf(renderTime);
      if (frame) frame._processingEnd = Math.max(frame._processingEnd, entry.processingEnd);
      else if (frames.push({ _renderTime: renderTime, _processingEnd: entry.processingEnd }) > MAX_FRAMES) frames.shift();
    }
  }).observe(/** @type {any} */ ({ type: 'event', buffered: true, durationThreshold: 40 }));

/**
 * The latest long animation frames (the script's 'frames' part adds them), for INP's longest
 * script. At most MAX_FRAMES.
 * @type {any[]}
 */
export const longFrames = [];

/** Remembers a long animation frame. */
export const noteLongFrame = (frame) => longFrames.push(frame) > MAX_FRAMES && longFrames.shift();

/** The navigation entry of the document, if the browser has one. */
export const navigationEntry = () => performance.getEntriesByType('navigation')[0];

/**
 * The `attr` object of BEACON.md for a web-vitals metric (undefined for FCP and TTFB).
 * @param {{name: string, value: number, entries: any[]}} metric
 * @param {(url: string, kind: string) => string} scrub applied to the LCP resource URL
 */
export const attribute = ({ name, value, entries }, scrub) => {
  const first = entries[0];
  if (name == 'LCP') {
    // LCP = ttfb + loadDelay + loadDuration + renderDelay, split at the LCP resource's request
    // start and response end (all but renderDelay 0 without an entry or a navigation entry).
    const lcp = entries.at(-1);
    const navigation = navigationEntry();
    let ttfb = 0;
    let requestStart = 0;
    let responseEnd = 0;
    if (lcp && navigation && navigation.responseStart > 0 && navigation.responseStart < performance.now()) {
      const activation = navigation.activationStart || 0;
      const resource = lcp.url && performance.getEntriesByType('resource').find((entry) => entry.name == lcp.url);
      ttfb = Math.max(0, navigation.responseStart - activation);
      requestStart = Math.max(ttfb, resource ? (resource.requestStart || resource.startTime) - activation : 0);
      responseEnd = Math.min(value, Math.max(requestStart, resource ? resource.responseEnd - activation : 0));
    }
    return {
      target: lcp?.element ? selector(lcp.element) : lcp?.id ? '#' + lcp.id : undefined,
      url: lcp?.url ? scrub(lcp.url, 'resource') : undefined,
      ttfb,
      loadDelay: requestStart - ttfb,
      loadDuration: responseEnd - requestStart,
      renderDelay: value - responseEnd,
    };
  }
  if (name == 'CLS' && first) {
    const sources = entries.reduce((a, b) => (a.value > b.value ? a : b)).sources;
    const source = sources.find((s) => s.node?.nodeType == 1) || sources[0];
    return source && { target: selector(source.node) };
  }
  if (name == 'INP' && first) {
    const paint = Math.max(first.startTime + first.duration, first.processingStart);
    const frame = frameOf(first.startTime + first.duration);
    const processingEnd = Math.min(frame ? frame._processingEnd : Math.max(...entries.map((e) => e.processingEnd)), paint);
    const withTarget = entries.find((e) => e.target);
    // The longest script of a long animation frame overlapping the interaction, as web-vitals'
    // attribution build picks it (where the browser has LoAF and the frame is already reported).
    // Its time is the part after the interaction started (web-vitals' intersectingDuration).
    let script;
    let longest = 0;
    for (const frame of longFrames)
      if (frame.startTime < paint && frame.startTime + frame.duration > first.startTime)
        for (const candidate of frame.scripts) {
          const overlap = candidate.startTime + candidate.duration - Math.max(first.startTime, candidate.startTime);
          if (overlap > longest) {
            longest = overlap;
            script = candidate;
          }
        }
    return {
      target: withTarget ? selector(withTarget.target) : entries.find((e) => e.targetSelector)?.targetSelector,
      interactionType: first.name.startsWith('key') ? 'keyboard' : 'pointer',
      inputDelay: first.processingStart - first.startTime,
      processing: processingEnd - first.processingStart,
      presentation: paint - processingEnd,
      script: script?.sourceURL ? scrub(script.sourceURL, 'resource') : undefined,
      scriptDuration: script && longest,
    };
  }
};
