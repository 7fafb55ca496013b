// fetch/XHR calls: the per-endpoint summary of the `calls` event, W3C trace context for the
// origins of `traceOrigins`, and the backend's trace of the page load (Server-Timing). Pure
// functions (crypto.getRandomValues aside), unit-tested in Node.

import { randomDigits } from './session.js';

/**
 * `map[key]`, made by `make` while `map` has fewer than 50 keys, else undefined (BEACON.md: the
 * origins of `loaf` and `resources`, the types of `resources`, the endpoints of `calls`: at most
 * 50 each, the first 50 seen).
 * @template T
 * @param {Record<string, any>} map
 * @param {string} key
 * @param {() => T} make
 * @returns {T | undefined}
 */
export const slot = (map, key, make) => map[key] ?? (Object.keys(map).length < 50 ? (map[key] = make()) : undefined);

/** `value` added to the number `map[key]` (0 when new), within slot's 50 keys. */
export const add = (map, key, value) => slot(map, key, () => 0) != null && (map[key] += value);

/** BEACON.md: at most 5,000 calls per endpoint in one `calls` event; later ones are dropped. */
export const MAX_CALLS = 5000;

/**
 * Adds one call to the `endpoints` of a `calls` event: its duration (ms) and HTTP status (0 =
 * network error or opaque response) under `key` (`METHOD url`), in call order. `trace`: the trace
 * id of our traceparent on it; the slowest traced call of the key is kept (`trace`, `traced`).
 * @param {Record<string, any>} endpoints
 * @param {string} key
 * @param {number} duration
 * @param {number} status
 * @param {string} [trace]
 */
export const noteCall = (endpoints, key, duration, status, trace) => {
  const calls = slot(endpoints, key, () => /** @type {{durations: number[], status: number[], trace?: string, traced?: number}} */ ({ durations: [], status: [] }));
  if (calls?.durations.length < MAX_CALLS) {
    calls.durations.push(duration);
    calls.status.push(status);
    if (trace && !(calls.traced >= duration)) {
      calls.trace = trace;
      calls.traced = duration;
    }
  }
};

/**
 * Whether a call to `url` gets our traceparent, by the `traceOrigins` option: an origin string
 * equal to the URL's origin (exactly: `https://api.example` does not match
 * `https://api.example.evil`), or a RegExp matching the absolute URL. The script tag gives a
 * string of origins separated by spaces or commas. Without the option (or with a malformed one),
 * never.
 * @param {(string | RegExp)[] | string | undefined} origins
 * @param {URL} url
 */
export const traced = (origins, url) =>
  (/** @type {any} */ (origins)?.split?.(/[\s,]+/) || origins)?.some?.((origin) => (origin.test ? origin.test(/** @type {any} */ (url)) : origin == url.origin));

/**
 * A W3C `traceparent` value for a new call: version 00, a fresh trace id (its characters 3..35),
 * a fresh parent id, and the sampled flag: 01 when `sampled` (this session's beacons are sent),
 * else 00. The ids are never all zeros (invalid in W3C trace context): ids whose trace id starts
 * with 16 zeros or whose parent id is all zeros are drawn again.
 * @param {boolean} sampled
 */
export const traceparent = (sampled) => {
  let header;
  do header = randomDigits(48, 16).replace(/.{32}/, '00-$&-') + '-0' + +sampled;
  while (/-0{16}/.test(header));
  return header;
};

/**
 * The trace id the document's response named in `Server-Timing: traceparent;desc="00-<trace
 * id>-<parent id>-<flags>"` (a navigation entry's `serverTiming`), else undefined. An all-zero
 * trace id is invalid, and none.
 * @param {{serverTiming?: readonly {name: string, description: string}[]}} entry
 */
export const serverTrace = (entry) =>
  entry.serverTiming?.find((timing) => timing.name == 'traceparent')?.description.match(/^00-(?!0{32})([\da-f]{32})-[\da-f]{16}-[\da-f]{2}$/)?.[1];
