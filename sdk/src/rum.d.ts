// Types of the npm module (dist/rum.mjs). The script-tag build (dist/rum.js) exposes the same five
// functions as `window.rum` and reads the options from its data-* attributes (docs/sdk.md).

/** Parts of the collection that can be switched off one by one. */
export type RumFeature = 'vitals' | 'navigation' | 'errors' | 'requests' | 'spa' | 'hints' | 'actions' | 'frames' | 'resources';

/** Where a URL being scrubbed comes from. */
export type RumUrlKind = 'page' | 'referrer' | 'request' | 'resource' | 'error';

export interface RumOptions {
  /** The site key of the collector's `[[sites]]` entry (required). */
  key: string;
  /**
   * Beacon URL, without the key. Default: `/rum/v1/beacon` on the script's own origin (script
   * tag) or on the page's origin (npm module).
   */
  endpoint?: string;
  /**
   * Fraction of sessions measured, 0..1 (default 1). Decided from the session id, so a session is
   * in or out for all its pages.
   */
  sampleRate?: number;
  /**
   * When true, nothing is sent and nothing is stored (no session id in sessionStorage) until
   * `consent()` is called; what was measured before is sent then. Default false.
   */
  requireConsent?: boolean;
  /**
   * Rewrites every URL before it is sent (page, referrer, request, LCP resource and error source
   * URLs; URLs inside error messages and stacks lose their query strings regardless). Gets
   * the absolute URL; returns the URL to send. Returning anything but a string (or throwing) falls
   * back to the default: the URL without query string, fragment and credentials.
   */
  scrubUrl?: (url: string, kind: RumUrlKind) => string | null | undefined;
  /** Features not to collect, as a list or a comma/space separated string. */
  disable?: RumFeature[] | string;
  /**
   * Whether to read the site's sample rate and switches from the collector at start
   * (`GET /rum/v1/config` beside the beacon endpoint; default true). Its sample rate replaces
   * `sampleRate`; its switches apply from the session's next page load. Until it answers, only
   * the beacon of a page being hidden (or `flush()`) is sent, with `sampleRate`.
   */
  remoteConfig?: boolean;
  /** Successful fetch/XHR calls at least this long (ms) are reported as slow. Default 1000. */
  slowRequestMs?: number;
  /**
   * Origins whose fetch/XHR calls get a W3C `traceparent` header, so the backend's traces link to
   * the calls (docs/sdk.md, "Traces"). A string is an exact origin (`'https://api.example.com'`:
   * scheme, host and port, no path or trailing slash; `https://api.example.com.evil.test` does
   * not match it); a RegExp is tested against the call's absolute URL. The script tag takes
   * `data-trace-origins="https://a.example https://b.example"` (space or comma separated).
   * Default: none, no header is ever added. A cross-origin call with the header is preflighted:
   * the backend must answer `Access-Control-Allow-Headers: traceparent, tracestate`.
   */
  traceOrigins?: (string | RegExp)[] | string;
  /** Sent as `tracestate` with every `traceparent` the script adds (see `traceOrigins`). */
  traceState?: string;
  /** Idle minutes after which the next page view starts a new session. Default 30. */
  sessionTimeoutMin?: number;
  /** Distinct errors reported per page view. Default 10. */
  maxErrors?: number;
  /**
   * How user actions are named. `'text'` (default): `data-rum-action`, else the element's label,
   * text, aria-label, aria-labelledby, alt, name, title or placeholder. `'attribute'`: only
   * `data-rum-action` names are sent; every other action is named by its tag (`<button>`).
   */
  actionNames?: 'text' | 'attribute';
  /**
   * The page's release (a version, a commit hash: `'1.4.2'`), sent as `rel` in every beacon so the
   * collector can compare the vitals of releases. 1..64 characters of `A-Z a-z 0-9 . _ + : @ / -`;
   * any other value is ignored (not sent).
   */
  release?: string;
  /**
   * The page's environment (`'production'`, `'staging'`), sent as `env` in every beacon. Same rule
   * as `release`: 1..64 characters of `A-Z a-z 0-9 . _ + : @ / -`, anything else is not sent.
   */
  environment?: string;
}

/** Options of `event()`. */
export interface RumEventOptions {
  /** An amount to sum per event name (revenue, items), 0..1e9. */
  value?: number;
}

/**
 * Starts measuring. Does nothing without `key`, when called again, or when the session is
 * sampled out. Never throws.
 */
export declare function init(options: RumOptions): void;

/**
 * Records a custom timing of the current page view, in ms (0..3 600 000). Without `value`: the
 * time since the page view started (navigation start, bfcache restore or SPA route change).
 */
export declare function mark(name: string, value?: number): void;

/**
 * Records a business event of the current page view (`purchase`, `signup`), name 1..100
 * characters (longer names are cut), optionally with a value (0..1e9) that is summed per name.
 * Ignored when the name is empty or the value is out of range.
 */
export declare function event(name: string, options?: RumEventOptions): void;

/** Grants (default) or withdraws consent for `requireConsent`. May be called before `init`. */
export declare function consent(granted?: boolean): void;

/** Sends what is pending now; it is also sent when the page is hidden or left. */
export declare function flush(): void;
