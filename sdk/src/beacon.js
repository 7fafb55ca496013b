// Beacon bodies: strings clipped to the collector's byte limits, events packed into bodies under the
// browser's 64 KiB beacon cap. Pure functions, unit-tested in Node.

/** Largest body we build: under the 64 KiB (65536 B) cap of sendBeacon/keepalive and the collector. */
export const MAX_BEACON_BYTES = 64000;
/** BEACON.md: at most 256 events per beacon. */
export const MAX_BEACON_EVENTS = 256;

// Created per call, not at load: a browser without TextEncoder must not fail while loading the script.
const encode = (text) => new TextEncoder().encode(text);

/** UTF-8 length in bytes. */
export const byteLength = (text) => encode(text).length;

/**
 * `value` as a well-formed string of at most `maxBytes` UTF-8 bytes: lone surrogates become U+FFFD
 * (the collector's JSON parser rejects them, which would cost the whole beacon) and a longer text
 * is cut. The collector rejects an event whose string is over its limit, so clipping keeps it.
 * @param {unknown} value
 * @param {number} maxBytes
 */
export const clip = (value, maxBytes) => {
  const bytes = encode(value);
  // A cut may split a character, which decodes as one U+FFFD (3 bytes): cut 3 bytes earlier.
  return new TextDecoder().decode(bytes.length > maxBytes ? bytes.subarray(0, maxBytes - 3) : bytes);
};

/**
 * The JSON bodies carrying `events` for one page view: the fewest bodies in which each stays under
 * `maxBytes` and MAX_BEACON_EVENTS, events kept in order (callers put vitals first, so they go
 * in the first body). Every body repeats `head` (v, sid, pid, url, ...), so each is a valid beacon
 * on its own. An event that cannot fit even alone is dropped (strings are clipped, so none is
 * that large). With no events, one body without events (the page view still counts).
 * @param {object} head beacon fields except `events`
 * @param {object[]} events
 * @param {number} [maxBytes]
 * @returns {string[]}
 */
export const packBeacons = (head, events, maxBytes = MAX_BEACON_BYTES) => {
  const prefix = JSON.stringify({ ...head, events: [] }).slice(0, -2);
  const base = byteLength(prefix) + 2;
  const bodies = [];
  let parts = [];
  let size = base;
  const close = () => {
    bodies.push(prefix + parts.join() + ']}');
    parts = [];
    size = base;
  };
  for (const event of events) {
    const json = JSON.stringify(event);
    const bytes = byteLength(json) + 1;
    if (base + bytes > maxBytes) continue;
    if (size + bytes > maxBytes || parts.length == MAX_BEACON_EVENTS) close();
    parts.push(json);
    size += bytes;
  }
  if (parts.length || !bodies.length) close();
  return bodies;
};

/**
 * The default URL scrubbing: no query string, no fragment, no user:password@.
 * @param {string} url
 */
export const stripUrl = (url) => url.replace(/[?#][^]*/, '').replace(/\/\/[^/]*@/, '//');

/**
 * Strips query strings and fragments from the URLs inside a text (error messages, stacks), keeping
 * the `:line:col` that follows them.
 * @param {string} text
 */
export const stripUrlsIn = (text) => text.replace(/(\/\/[^\s?#()]*)[?#][^\s():]*/g, '$1');
