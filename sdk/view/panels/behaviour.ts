// What users did: their most frequent actions with frustration signals, funnels step by step, and
// sessions. Each section stays hidden while it has nothing to show (actions off in the site view,
// sessions off, no funnel for the site).

import type { SummaryAnswer } from '../api';
import { h, replaceChildren, Section } from '../dom';
import { formatCount, formatRatio } from '../format';

const table = (head: string[], numeric: Set<number>, body: HTMLTableSectionElement) =>
  h(
    'div',
    { class: 'scroll' },
    h(
      'table',
      null,
      h('thead', null, h('tr', null, ...head.map((label, index) => h('th', { scope: 'col', class: numeric.has(index) ? 'num' : null }, label)))),
      body,
    ),
  );

/** A count cell, highlighted when a frustration signal is not zero. */
const signal = (count: number) => h('td', { class: count > 0 ? 'num signal' : 'num' }, formatCount(count));

export class ActionsPanel {
  readonly section = new Section('actions', 'Top actions');
  private readonly rows = h('tbody');

  constructor() {
    this.section.body.append(h('div', { class: 'card' }, table(['Action', 'Count', 'Rage clicks', 'Dead clicks', 'Error clicks'], new Set([1, 2, 3, 4]), this.rows)));
  }

  update(summary: SummaryAnswer): void {
    const actions = summary.actions ?? [];
    this.section.show(actions.length > 0);
    replaceChildren(
      this.rows,
      actions.map((action) =>
        h('tr', null, h('td', { class: 'label' }, action.action), h('td', { class: 'num' }, formatCount(action.count)), signal(action.rage), signal(action.dead), signal(action.error_clicks)),
      ),
    );
  }
}

export class FunnelsPanel {
  readonly section = new Section('funnels', 'Funnels');

  update(summary: SummaryAnswer): void {
    const funnels = (summary.funnels ?? []).filter((funnel) => funnel.steps.length > 0);
    this.section.show(funnels.length > 0);
    replaceChildren(
      this.section.body,
      funnels.map((funnel) => {
        const first = funnel.steps[0]?.sessions ?? 0;
        const rows = h('tbody');
        for (const step of funnel.steps) {
          // The share of the sessions that reached step 1, as text and as a bar.
          const bar = h('span', { class: 'bar-fill' });
          bar.style.width = first > 0 ? `${(100 * step.sessions) / first}%` : '0%';
          rows.append(
            h(
              'tr',
              null,
              h('td', { class: 'num' }, String(step.step)),
              h('td', { class: 'label' }, step.target),
              h('td', { class: 'num' }, formatCount(step.sessions)),
              h('td', { class: 'share' }, h('span', { class: 'share-bar' }, bar), formatRatio(step.sessions, first)),
            ),
          );
        }
        return h(
          'div',
          { class: 'card funnel', 'data-funnel': funnel.funnel },
          h('h3', null, funnel.funnel, h('span', { class: 'card-note' }, ` · ${formatCount(funnel.conversions)} conversions`)),
          table(['Step', 'Target', 'Sessions', 'Of step 1'], new Set([0, 2]), rows),
          h('p', { class: 'card-note' }, 'Sessions that reached each step in order; counted once a minute is past the allowed lateness.'),
        );
      }),
    );
  }
}

export class SessionsPanel {
  readonly section = new Section('sessions', 'Sessions');

  update(summary: SummaryAnswer): void {
    const sessions = summary.sessions;
    const any = !!sessions && (sessions.active > 0 || sessions.ended > 0);
    this.section.show(any);
    if (!sessions || !any) return;
    const stat = (label: string, value: string, note?: string) =>
      h('div', { class: 'stat' }, h('dt', null, label), h('dd', null, value), note ? h('p', { class: 'card-note' }, note) : null);
    replaceChildren(this.section.body, [
      h(
        'div',
        { class: 'card' },
        h(
          'dl',
          { class: 'stats' },
          stat('Active now', formatCount(sessions.active)),
          stat('Ended', formatCount(sessions.ended)),
          stat('Bounce rate', formatRatio(sessions.bounces, sessions.ended), 'ended sessions with one page view'),
          stat('Page views per session', sessions.ended > 0 ? (sessions.page_views / sessions.ended).toFixed(1) : '—', 'of ended sessions'),
        ),
      ),
    ]);
  }
}
