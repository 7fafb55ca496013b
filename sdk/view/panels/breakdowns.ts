// One table per configured view other than the site view (by route, device, country, ...): one
// vital's p75 per segment over the chosen window, slowest first, or most samples first (click the
// column header). Each table asks for its own rows, so re-sorting one refetches only that one.

import { type BreakdownAnswer, type BreakdownSort, fetchBreakdown, type ViewInfo } from '../api';
import { h, replaceChildren, Section, setText } from '../dom';
import { formatCount, formatVital, ratingClass, ratingLabel } from '../format';
import { DistributionBar } from './distribution';

/** Rows with fewer samples than this are dimmed and say so: a p75 of 3 samples is not news. */
export const FEW_SAMPLES = 10;
/** Rows a table asks for, and after "Show up to 1,000" (the API's most). */
const ROWS = 50;
const ALL_ROWS = 1000;

/** What every table of one refresh shows: the site, window and vital, and whether it is still current. */
export interface BreakdownContext {
  site: string;
  window: string;
  metric: string;
  current: () => boolean;
}

/** How a label value reads: the fold of rare values and empty values get words. */
function labelText(value: string | undefined): string {
  if (value === undefined || value === '') return '(none)';
  if (value == '__other__') return '(other)';
  return value;
}

/** "By route", "By route and device". */
function viewTitle(view: ViewInfo): string {
  const dimensions = view.dimensions.slice(1);
  if (dimensions.length == 0) return view.name;
  return `By ${dimensions.length == 1 ? dimensions[0] : `${dimensions.slice(0, -1).join(', ')} and ${dimensions.at(-1)}`}`;
}

class BreakdownTable {
  readonly root: HTMLElement;
  private sort: BreakdownSort = 'p75';
  private limit = ROWS;
  private context: BreakdownContext | null = null;
  private readonly caption = h('p', { class: 'table-caption' });
  private readonly more = h('button', { type: 'button', class: 'link', hidden: true });
  private readonly head = h('thead');
  private readonly rows = h('tbody');
  /** What the header was drawn for: it is rebuilt only when that changes (keeps focus on a click). */
  private headKey = '';
  /** Answers older than the latest request are dropped (a slow one must not overwrite a newer one). */
  private requests = 0;

  constructor(
    readonly view: ViewInfo,
    private readonly onError: (error: unknown) => void,
  ) {
    this.more.addEventListener('click', () => {
      this.limit = this.limit == ROWS ? ALL_ROWS : ROWS;
      void this.reload();
    });
    this.root = h(
      'div',
      { class: 'card breakdown', 'data-view': view.name },
      h('h3', null, viewTitle(view)),
      h('div', { class: 'scroll' }, h('table', null, this.head, this.rows)),
      h('div', { class: 'table-foot' }, this.caption, this.more),
    );
  }

  /** Fetches and draws this table's rows for `context`; throws what the request threw. */
  async refresh(context: BreakdownContext): Promise<void> {
    this.context = context;
    const request = ++this.requests;
    const answer = await fetchBreakdown({
      site: context.site,
      view: this.view.name,
      metric: context.metric,
      window: context.window,
      sort: this.sort,
      limit: this.limit,
    });
    if (request == this.requests && context.current()) this.draw(answer);
  }

  private async reload(): Promise<void> {
    if (this.context) await this.refresh(this.context).catch(this.onError);
  }

  private sortBy(sort: BreakdownSort): void {
    if (sort == this.sort) return;
    this.sort = sort;
    void this.reload();
  }

  private sortHeader(label: string, sort: BreakdownSort, title: string): HTMLTableCellElement {
    const active = this.sort == sort;
    return h(
      'th',
      { class: 'num', scope: 'col', 'aria-sort': active ? 'descending' : 'none' },
      h('button', { type: 'button', class: active ? 'sort active' : 'sort', title, onclick: () => this.sortBy(sort) }, label, active ? ' ▼' : ''),
    );
  }

  private draw(answer: BreakdownAnswer): void {
    const dimensions = answer.dimensions;
    const headKey = [answer.metric, this.sort, ...dimensions].join();
    if (headKey != this.headKey) {
      this.headKey = headKey;
      this.drawHead(answer);
    }
    const rows = answer.rows.map((row) => {
      const few = row.samples < FEW_SAMPLES;
      const distribution = new DistributionBar(true);
      distribution.update(row.distribution);
      return h(
        'tr',
        { class: few ? 'few' : null, 'data-p75': row.p75 ?? '', 'data-samples': row.samples, 'data-rating': row.rating ?? '' },
        ...dimensions.map((dimension) =>
          h('td', { class: 'label', title: row.labels[dimension] ?? '' }, labelText(row.labels[dimension])),
        ),
        h('td', { class: 'num p75' }, formatVital(answer.unit, row.p75)),
        h('td', { class: 'num samples' }, formatCount(row.samples), few ? h('span', { class: 'note' }, 'few samples') : null),
        h('td', null, h('span', { class: `rating ${ratingClass(row.rating)}` }, ratingLabel(row.rating))),
        h('td', { class: 'dist-col' }, distribution.root),
      );
    });
    if (rows.length == 0) {
      const text = `No ${answer.metric.toUpperCase()} samples in the last ${answer.window}.`;
      rows.push(h('tr', null, h('td', { colspan: dimensions.length + 4, class: 'empty' }, text)));
    }
    replaceChildren(this.rows, rows);
    const shown = answer.rows.length;
    setText(
      this.caption,
      shown < answer.segments
        ? `Showing ${formatCount(shown)} of ${formatCount(answer.segments)} segments`
        : `${formatCount(answer.segments)} segment${answer.segments == 1 ? '' : 's'}`,
    );
    this.more.hidden = answer.segments <= ROWS;
    setText(this.more, this.limit == ROWS ? `Show up to ${formatCount(ALL_ROWS)}` : `Show the first ${ROWS}`);
  }

  private drawHead(answer: BreakdownAnswer): void {
    // Label, p75 and samples first: what a phone shows before the table scrolls.
    replaceChildren(this.head, [
      h(
        'tr',
        null,
        ...answer.dimensions.map((dimension) => h('th', { scope: 'col' }, dimension)),
        this.sortHeader(`p75 ${answer.metric.toUpperCase()}`, 'p75', 'Sort by p75, slowest first'),
        this.sortHeader('Samples', 'samples', 'Sort by samples, most first'),
        h('th', { scope: 'col' }, 'Rating'),
        h('th', { scope: 'col', class: 'dist-col' }, 'Good · NI · Poor'),
      ),
    ]);
  }
}

export class BreakdownsPanel {
  readonly section: Section;
  private tables: BreakdownTable[] = [];
  private viewNames = '';
  private readonly list = h('div', { class: 'breakdowns' });

  constructor(
    metricPicker: HTMLElement,
    private readonly onError: (error: unknown) => void,
  ) {
    this.section = new Section('breakdowns', 'Breakdowns', metricPicker);
    this.section.body.appendChild(this.list);
  }

  /** One table per view except the site view (the one grouping by site alone). */
  setViews(views: ViewInfo[]): void {
    const shown = views.filter((view) => view.dimensions.length > 1);
    const names = shown.map((view) => view.name).join();
    if (names == this.viewNames) return;
    this.viewNames = names;
    this.tables = shown.map((view) => new BreakdownTable(view, this.onError));
    replaceChildren(this.list, this.tables.map((table) => table.root));
    this.section.show(this.tables.length > 0);
  }

  /** Refreshes every table; rejects with the first failure after all have settled. */
  async refresh(context: BreakdownContext): Promise<void> {
    const results = await Promise.allSettled(this.tables.map((table) => table.refresh(context)));
    const failed = results.find((result): result is PromiseRejectedResult => result.status == 'rejected');
    if (failed) throw failed.reason;
  }
}
