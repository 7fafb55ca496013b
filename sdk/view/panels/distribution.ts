// The good / needs-improvement / poor bar of a distribution, with its shares as text too (colour
// is never the only carrier: the legend says the same in words).

import type { Distribution } from '../api';
import { h, setText } from '../dom';
import { formatShare, shares } from '../format';

export class DistributionBar {
  readonly root: HTMLDivElement;
  private readonly parts: HTMLSpanElement[];
  private readonly legend: HTMLElement;

  /** `compact`: a table cell (the legend as a tooltip and small text). */
  constructor(private readonly compact = false) {
    this.parts = ['good', 'ni', 'poor'].map((rating) => h('span', { class: `bar-${rating}` }));
    this.legend = h('span', { class: 'dist-legend' });
    this.root = h(
      'div',
      { class: compact ? 'dist dist-compact' : 'dist' },
      h('div', { class: 'bar', role: 'img' }, ...this.parts),
      this.legend,
    );
  }

  update(distribution: Distribution): void {
    const share = shares(distribution);
    const values = [share.good, share.needsImprovement, share.poor];
    // Widths through the CSS object model: allowed under the page's policy, style attributes are not.
    values.forEach((value, index) => (this.parts[index].style.width = `${value}%`));
    const text = `Good ${formatShare(share.good)} · Needs improvement ${formatShare(share.needsImprovement)} · Poor ${formatShare(share.poor)}`;
    const bar = this.root.firstElementChild as HTMLElement;
    bar.setAttribute('aria-label', text);
    bar.setAttribute('title', text);
    this.root.dataset.good = String(distribution.good);
    this.root.dataset.needsImprovement = String(distribution.needs_improvement);
    this.root.dataset.poor = String(distribution.poor);
    // In a table the column header names the three shares; a card spells them out.
    setText(this.legend, this.compact ? values.map(formatShare).join(' · ') : text);
  }
}
