// How numbers read in the view. One place, so the browser test can hold the page to the same
// rounding it computes from the values it sent.

import type { Distribution, Rating } from './api';

/** Vitals in seconds below this are shown in milliseconds (INP, TTFB: "180 ms", not "0.18 s"). */
const MILLISECONDS_BELOW_S = 1;

/**
 * A vital's value for display: durations (`unit` "s") under a second as whole milliseconds, else
 * seconds with two decimals; CLS with three decimals, so a p75 just over 0.1 never reads "0.10"
 * beside "Needs improvement". `null` (no samples) is a dash.
 */
export function formatVital(unit: string, value: number | null | undefined): string {
  if (value === null || value === undefined || !Number.isFinite(value)) return '—';
  if (unit != 's') return value.toFixed(3);
  if (value < MILLISECONDS_BELOW_S) return `${Math.round(value * 1000)} ms`;
  return `${value.toFixed(2)} s`;
}

/** The text of a rating, always shown beside its colour. */
export function ratingLabel(rating: Rating | null | undefined): string {
  switch (rating) {
    case 'good':
      return 'Good';
    case 'needs-improvement':
      return 'Needs improvement';
    case 'poor':
      return 'Poor';
    default:
      return 'No data';
  }
}

/** The CSS class of a rating (`rating-good`, ...; `rating-none` without data). */
export function ratingClass(rating: Rating | null | undefined): string {
  return `rating-${rating ?? 'none'}`;
}

/** The good / needs-improvement / poor shares of a distribution, in percent (0 when empty). */
export function shares(distribution: Distribution): { good: number; needsImprovement: number; poor: number } {
  const total = distribution.good + distribution.needs_improvement + distribution.poor;
  if (total == 0) return { good: 0, needsImprovement: 0, poor: 0 };
  return {
    good: (100 * distribution.good) / total,
    needsImprovement: (100 * distribution.needs_improvement) / total,
    poor: (100 * distribution.poor) / total,
  };
}

/** A share in percent as shown: whole percent ("67%"). */
export function formatShare(percent: number): string {
  return `${Math.round(percent)}%`;
}

const counts = new Intl.NumberFormat('en-US');

/** A count with thousands separators ("1,234"). */
export function formatCount(value: number): string {
  return counts.format(value);
}

/** A ratio (0..1) as a whole percent, or a dash when undefined (0 / 0). */
export function formatRatio(part: number, whole: number): string {
  return whole > 0 ? `${Math.round((100 * part) / whole)}%` : '—';
}

/** How long ago `thenMs` was at `nowMs` ("just now", "4 min ago", "2 h ago", "3 d ago"). */
export function formatAgo(thenMs: number, nowMs: number): string {
  const seconds = Math.max(0, (nowMs - thenMs) / 1000);
  if (seconds < 60) return 'just now';
  if (seconds < 3600) return `${Math.floor(seconds / 60)} min ago`;
  if (seconds < 86400) return `${Math.floor(seconds / 3600)} h ago`;
  return `${Math.floor(seconds / 86400)} d ago`;
}

/** A wall-clock time, HH:MM:SS in the viewer's time zone. */
export function formatClock(ms: number): string {
  return new Date(ms).toLocaleTimeString('en-GB', { hour12: false });
}
