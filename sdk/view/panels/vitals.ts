// One card per Core Web Vital: the p75 over the chosen window with its rating (colour and words),
// the sample count, the good / needs-improvement / poor bar, the thresholds, and the p75 per stored
// point over the last hour.

import type { SummaryAnswer, VitalInfo } from '../api';
import { TrendChart } from '../charts';
import { h, replaceChildren, Section, setText } from '../dom';
import { formatCount, formatVital, ratingClass, ratingLabel } from '../format';
import { DistributionBar } from './distribution';

const NAMES: Record<string, string> = {
  lcp: 'Largest Contentful Paint',
  inp: 'Interaction to Next Paint',
  cls: 'Cumulative Layout Shift',
  fcp: 'First Contentful Paint',
  ttfb: 'Time to First Byte',
};

class VitalCard {
  readonly root: HTMLElement;
  private readonly rating = h('span', { class: 'rating' });
  private readonly value = h('p', { class: 'vital-value' });
  private readonly samples = h('p', { class: 'vital-samples' });
  private readonly distribution = new DistributionBar();
  private readonly chart: TrendChart;

  constructor(private readonly vital: VitalInfo) {
    const trend = h('div', { class: 'trend', role: 'img', 'aria-label': `${vital.metric.toUpperCase()} p75 over the last hour` });
    this.root = h(
      'article',
      { class: 'card vital', 'data-metric': vital.metric },
      h(
        'header',
        { class: 'vital-head' },
        h('h3', { title: NAMES[vital.metric] ?? vital.metric }, vital.metric.toUpperCase()),
        this.rating,
      ),
      this.value,
      this.samples,
      this.distribution.root,
      h(
        'p',
        { class: 'thresholds' },
        `good ≤ ${formatVital(vital.unit, vital.good)} · poor > ${formatVital(vital.unit, vital.poor)}`,
      ),
      h('p', { class: 'trend-title' }, 'p75, last hour'),
      trend,
    );
    this.chart = new TrendChart(trend, vital);
  }

  update(summary: SummaryAnswer): void {
    const vital = summary.vitals.find((candidate) => candidate.metric == this.vital.metric);
    const p75 = vital?.p75 ?? null;
    const rating = vital?.rating ?? null;
    this.root.dataset.p75 = p75 === null ? '' : String(p75);
    this.root.dataset.rating = rating ?? '';
    this.root.dataset.samples = String(vital?.samples ?? 0);
    this.root.className = `card vital ${ratingClass(rating)}`;
    setText(this.rating, ratingLabel(rating));
    setText(this.value, formatVital(this.vital.unit, p75));
    const samples = vital?.samples ?? 0;
    setText(this.samples, `p75 of ${formatCount(samples)} sample${samples == 1 ? '' : 's'} over ${summary.window}`);
    if (vital) this.distribution.update(vital.distribution);
    this.distribution.root.hidden = samples == 0;
    this.chart.update(summary.trend, summary.now_ms);
  }
}

export class VitalsPanel {
  readonly section = new Section('vitals', 'Core Web Vitals');
  private cards: VitalCard[] = [];
  private metrics = '';

  /** Builds the cards for the vitals /api/v1/sites lists (once, or when that list changes). */
  setVitals(vitals: VitalInfo[]): void {
    const metrics = vitals.map((vital) => vital.metric).join();
    if (metrics == this.metrics) return;
    this.metrics = metrics;
    this.cards = vitals.map((vital) => new VitalCard(vital));
    replaceChildren(this.section.body, [h('div', { class: 'cards' }, ...this.cards.map((card) => card.root))]);
  }

  update(summary: SummaryAnswer): void {
    this.section.show(true);
    for (const card of this.cards) card.update(summary);
  }
}
