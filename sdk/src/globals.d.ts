// Browser APIs the sources use that TypeScript's lib.dom does not declare (yet), and the globals
// the script itself sets. For `tsc` only (tsconfig.json); never bundled.

interface Window {
  /** The script-tag API (src/iife.js); before the script loads, the async loader's queue. */
  rum?: { q?: [string, unknown[]][] } & Partial<typeof import('./index.js')>;
  /** Set once an agent runs on the page, so a second copy of the script stays idle. */
  __rum?: number;
}

interface Navigator {
  /** Network Information API (Chromium). */
  connection?: { effectiveType?: string; rtt?: number; downlink?: number; saveData?: boolean };
  /** Device Memory API (Chromium). */
  deviceMemory?: number;
}

interface XMLHttpRequest {
  /** [method, url, aborted] of the request, recorded by the patched open(). */
  _xhr?: [string, string | URL, number?];
  /** The `_xhr` of the open() after which the page set its own traceparent. */
  _own?: XMLHttpRequest['_xhr'];
}
