// Page views, JavaScript errors and failed requests per minute over the last hour, and the site's
// totals since the process started.

import type { SummaryAnswer } from '../api';
import { ActivityChart } from '../charts';
import { h, Section, setText } from '../dom';
import { formatCount } from '../format';

const TOTALS: [key: keyof SummaryAnswer['totals'], label: string][] = [
  ['page_views', 'Page views'],
  ['errors', 'JavaScript errors'],
  ['requests_failed', 'Failed requests'],
  ['requests_slow', 'Slow requests'],
];

export class ActivityPanel {
  readonly section = new Section('activity', 'Traffic and errors');
  private readonly chart: ActivityChart;
  private readonly totals = new Map<string, HTMLElement>();

  constructor() {
    const chart = h('div', { class: 'activity-chart', role: 'img', 'aria-label': 'Page views, errors and failed requests per minute' });
    const stats = h('dl', { class: 'stats' });
    for (const [key, label] of TOTALS) {
      const value = h('dd', { 'data-total': key });
      this.totals.set(key, value);
      stats.append(h('div', { class: 'stat' }, h('dt', null, label), value));
    }
    this.section.body.append(
      h('div', { class: 'card' }, h('p', { class: 'card-note' }, 'Totals since the collector started'), stats, h('p', { class: 'trend-title' }, 'Per minute, last hour'), chart),
    );
    this.chart = new ActivityChart(chart);
  }

  update(summary: SummaryAnswer): void {
    this.section.show(true);
    for (const [key] of TOTALS) setText(this.totals.get(key)!, formatCount(summary.totals[key]));
    this.chart.update(summary.activity, summary.now_ms);
  }
}
