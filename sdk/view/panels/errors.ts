// The site's most frequent JavaScript error groups (GET /api/v1/errors): message, where it was
// thrown, occurrences, distinct sessions, routes and when it was last seen.

import type { ErrorsAnswer } from '../api';
import { h, replaceChildren, Section } from '../dom';
import { formatAgo, formatCount } from '../format';

/** Groups listed. */
export const TOP_ERRORS = 10;

export class ErrorsPanel {
  readonly section = new Section('errors', 'Top errors');
  private readonly rows = h('tbody');

  constructor() {
    this.section.body.append(
      h(
        'div',
        { class: 'card' },
        h(
          'div',
          { class: 'scroll' },
          h(
            'table',
            null,
            h(
              'thead',
              null,
              h(
                'tr',
                null,
                h('th', { scope: 'col' }, 'Error'),
                h('th', { scope: 'col', class: 'num' }, 'Occurrences'),
                h('th', { scope: 'col', class: 'num' }, 'Sessions'),
                h('th', { scope: 'col' }, 'Routes'),
                h('th', { scope: 'col' }, 'Last seen'),
              ),
            ),
            this.rows,
          ),
        ),
      ),
    );
  }

  /** `nowMs`: the server's clock (the summary's), so "ago" does not depend on the viewer's. */
  update(answer: ErrorsAnswer, nowMs: number): void {
    const groups = answer.sites[0]?.groups ?? [];
    this.section.show(groups.length > 0);
    replaceChildren(
      this.rows,
      groups.map((group) => {
        const routes = [...(group.routes ?? [])].sort((a, b) => b.count - a.count);
        return h(
          'tr',
          { 'data-fingerprint': group.fingerprint },
          h(
            'td',
            { class: 'error-message' },
            h('span', { class: 'kind' }, group.kind),
            ' ',
            h('span', { title: group.label }, group.message),
            group.frame ? h('span', { class: 'frame' }, group.frame) : null,
          ),
          h('td', { class: 'num' }, formatCount(group.occurrences)),
          h('td', { class: 'num' }, formatCount(group.sessions)),
          h('td', { class: 'routes' }, routes.slice(0, 3).map((route) => `${route.route} (${formatCount(route.count)})`).join(', ')),
          h('td', { title: new Date(group.last_seen_ms).toISOString() }, formatAgo(group.last_seen_ms, Math.max(nowMs, group.last_seen_ms))),
        );
      }),
    );
  }
}
