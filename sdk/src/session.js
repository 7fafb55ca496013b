// Ids, the per-session sampling decision and the session id kept in sessionStorage. Pure functions
// of their inputs (storage and clock are passed in), unit-tested in Node.

/** sessionStorage key holding `<sid>.<last activity, ms since the epoch>`. */
export const SESSION_KEY = '_rum_s';
/** sessionStorage key holding the features the collector switched off (`a,b`), for the next page. */
export const CONFIG_KEY = '_rum_c';

/**
 * A random id: 16 base-32 digits (`[0-9a-v]`, 80 bits from crypto.getRandomValues), within the
 * `[A-Za-z0-9_-]{1,64}` BEACON.md allows for `sid` and `pid`. Each digit is 5 uniform bits, which
 * makes the session id's leading digits a uniform sampling key (inSample).
 */
export const newId = () => randomDigits(16, 32);

/** `count` random digits of base `base` (a power of two up to 32), one from each byte of crypto.getRandomValues. */
export const randomDigits = (count, base) =>
  crypto.getRandomValues(new Uint8Array(count)).reduce((digits, byte) => digits + (byte & (base - 1)).toString(base), '');

/**
 * Whether a session is sampled in: a function of its id only, so every page of the session makes
 * the same decision. `rate` is the kept fraction, 0..1; the key is the id's first 6 digits (30
 * uniform bits) as a fraction of 2^30.
 * @param {string} sessionId
 * @param {number} rate
 */
export const inSample = (sessionId, rate) => parseInt(sessionId.slice(0, 6), 32) / 2 ** 30 < rate;

/**
 * The session id for a page view starting at `now`: the stored one while it was active within
 * `timeoutMs`, otherwise a new one. Records `now` as the latest activity. Works (with a per-page
 * id) when storage is missing or throws (disabled storage, sandboxed frames).
 * @param {Pick<Storage, 'getItem' | 'setItem'> | null | undefined} storage
 * @param {number} now ms since the epoch
 * @param {number} timeoutMs idle time after which a new session starts
 */
export const resolveSession = (storage, now, timeoutMs) => {
  let id;
  try {
    const [, stored, last] = /^([0-9a-v]{16})\.(\d+)$/.exec(storage.getItem(SESSION_KEY)) || [];
    if (now - +last < timeoutMs) id = stored;
  } catch {}
  id = id || newId();
  touchSession(storage, id, now);
  return id;
};

/**
 * Records activity of session `id` at `now` (each beacon sent counts as activity).
 * @param {Pick<Storage, 'setItem'> | null | undefined} storage
 * @param {string} id
 * @param {number} now
 */
export const touchSession = (storage, id, now) => {
  try {
    storage.setItem(SESSION_KEY, id + '.' + now);
  } catch {}
};
