// The admin listener's JSON, as docs/api.md ("The view's endpoints") defines it, and the requests
// the view makes. Same origin: the page is served by the admin listener it reads.

export type Rating = 'good' | 'needs-improvement' | 'poor';

export interface Distribution {
  good: number;
  needs_improvement: number;
  poor: number;
}

/** A vital and its thresholds, in its unit ("s", or "" for CLS). */
export interface VitalInfo {
  metric: string;
  unit: string;
  good: number;
  poor: number;
}

export interface ViewInfo {
  name: string;
  dimensions: string[];
}

export interface SiteInfo {
  site: string;
  page_views: number;
  errors: number;
  requests_failed: number;
}

/** `GET /api/v1/sites`. */
export interface SitesAnswer {
  windows: string[];
  views: ViewInfo[];
  vitals: VitalInfo[];
  sites: SiteInfo[];
}

export interface VitalSummary {
  metric: string;
  unit: string;
  p75: number | null;
  rating: Rating | null;
  samples: number;
  distribution: Distribution;
}

export interface TrendPoint {
  start_ms: number;
  /** 1 for the last 15 minutes, 5 for the blocks before. */
  minutes: number;
  vitals: Record<string, { p75: number; samples: number } | null>;
}

export interface ActivityMinute {
  start_ms: number;
  page_views: number;
  errors: number;
  requests_failed: number;
}

export interface Totals {
  page_views: number;
  errors: number;
  requests_failed: number;
  requests_slow: number;
}

export interface ActionTally {
  action: string;
  count: number;
  rage: number;
  dead: number;
  error_clicks: number;
}

export interface Funnel {
  funnel: string;
  conversions: number;
  steps: { step: number; target: string; sessions: number }[];
}

export interface Sessions {
  active: number;
  ended: number;
  bounces: number;
  page_views: number;
}

/** `GET /api/v1/summary?site=&window=`. */
export interface SummaryAnswer {
  site: string;
  window: string;
  now_ms: number;
  vitals: VitalSummary[];
  trend: TrendPoint[];
  activity: ActivityMinute[];
  totals: Totals;
  actions: ActionTally[];
  funnels: Funnel[];
  sessions: Sessions | null;
}

export interface BreakdownRow {
  labels: Record<string, string>;
  p75: number | null;
  rating: Rating | null;
  samples: number;
  distribution: Distribution;
}

/** `GET /api/v1/breakdown?site=&view=&metric=&window=&sort=&limit=`. */
export interface BreakdownAnswer {
  site: string;
  view: string;
  dimensions: string[];
  metric: string;
  unit: string;
  window: string;
  /** Rows before `limit`. */
  segments: number;
  rows: BreakdownRow[];
}

export interface ErrorGroup {
  fingerprint: string;
  label: string;
  kind: string;
  message: string;
  frame?: string;
  occurrences: number;
  occurrences_at_least?: number;
  sessions: number;
  routes?: { route: string; count: number }[];
  first_seen_ms: number;
  last_seen_ms: number;
}

/** `GET /api/v1/errors?site=&limit=`. */
export interface ErrorsAnswer {
  sites: { site: string; occurrences: number; capacity: number; error_bound: number; groups: ErrorGroup[] }[];
}

export type BreakdownSort = 'p75' | 'samples';

/** A request that failed: what was asked and why, for the notice. */
export class RequestError extends Error {}

/** Answers slower than this count as failed (the next refresh tries again). */
const REQUEST_TIMEOUT_MS = 8000;

/** GETs `path?params` on this origin; resolves the response, or throws a RequestError with the reason. */
export async function get(path: string, params: Record<string, string | number> = {}): Promise<Response> {
  const query = new URLSearchParams(Object.entries(params).map(([name, value]) => [name, String(value)]));
  const search = query.toString();
  const url = search ? `${path}?${search}` : path;
  let response: Response;
  try {
    response = await fetch(url, { cache: 'no-store', signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) });
  } catch (error) {
    const reason = error instanceof DOMException && error.name == 'TimeoutError' ? 'timed out' : 'unreachable';
    throw new RequestError(`${path}: ${reason}`);
  }
  if (!response.ok) {
    // Errors of /api/ are {"error": reason}; anything else (a proxy's page) is summarised by status.
    const body = await response.text().catch(() => '');
    let reason = body.slice(0, 200);
    try {
      reason = JSON.parse(body).error ?? reason;
    } catch {
      // not JSON: keep the text
    }
    throw new RequestError(`${path}: ${response.status}${reason ? ` ${reason}` : ''}`);
  }
  return response;
}

export async function getJson<T>(path: string, params?: Record<string, string | number>): Promise<T> {
  const response = await get(path, params);
  try {
    return (await response.json()) as T;
  } catch {
    throw new RequestError(`${path}: the answer is not JSON`);
  }
}

export const fetchSites = () => getJson<SitesAnswer>('/api/v1/sites');

export const fetchSummary = (site: string, window: string) =>
  getJson<SummaryAnswer>('/api/v1/summary', { site, window });

export const fetchBreakdown = (query: {
  site: string;
  view: string;
  metric: string;
  window: string;
  sort: BreakdownSort;
  limit: number;
}) => getJson<BreakdownAnswer>('/api/v1/breakdown', query);

export const fetchErrors = (site: string, limit: number) => getJson<ErrorsAnswer>('/api/v1/errors', { site, limit });
