// The built-in view of the admin listener (`/`): a site's Core Web Vitals, breakdowns, traffic,
// errors and alerts, live, read from the JSON of docs/api.md on the same origin.
//
// Refreshes every 10 s (`?refresh=N` seconds, 1..300), never while the tab is hidden; each refresh
// updates the page in place (same elements, new text, charts redrawn on their canvas). A failed
// request leaves its panel as it was and says so in a small notice; the next refresh tries again.
// The chosen site, window and breakdown vital live in the URL hash.

import { fetchErrors, fetchSites, fetchSummary, type SitesAnswer, type SummaryAnswer } from './api';
import { fetchAlerts } from './alerts';
import { h, setText } from './dom';
import { formatClock, formatCount } from './format';
import { readChoice, writeChoice, type Choice } from './hash';
import { Segmented } from './picker';
import { ActivityPanel } from './panels/activity';
import { AlertsPanel } from './panels/alerts';
import { ActionsPanel, FunnelsPanel, SessionsPanel } from './panels/behaviour';
import { BreakdownsPanel } from './panels/breakdowns';
import { emptyState } from './panels/empty';
import { ErrorsPanel, TOP_ERRORS } from './panels/errors';
import { VitalsPanel } from './panels/vitals';

const search = new URLSearchParams(location.search);
const REFRESH_MS = Math.min(300, Math.max(1, Number(search.get('refresh')) || 10)) * 1000;
const DEFAULT_WINDOW = '5m';
const DEFAULT_METRIC = 'lcp';

const messageOf = (error: unknown) => (error instanceof Error ? error.message : String(error));

class App {
  private choice: Choice = readChoice();
  private generation = 0;
  private timer: number | undefined;
  private runs = 0;
  private refreshes = 0;
  private drawn = false;

  private readonly sitePicker = h('select', { id: 'site', 'aria-label': 'Site' });
  private readonly windowPicker = new Segmented('Window', (window) => this.choose({ window }));
  private readonly metricPicker = new Segmented('Breakdown vital', (metric) => this.choose({ metric }), (metric) => metric.toUpperCase());
  private readonly status = h('p', { class: 'status', 'aria-live': 'polite' });
  private readonly notice = h('div', { id: 'notice', class: 'notice', role: 'status', hidden: true });
  private readonly controls = h('div', { class: 'controls', hidden: true });
  private readonly empty = emptyState();
  private readonly dashboard = h('main', { id: 'dashboard', hidden: true });

  private readonly alerts = new AlertsPanel();
  private readonly vitals = new VitalsPanel();
  private readonly activity = new ActivityPanel();
  private readonly breakdowns = new BreakdownsPanel(this.metricPicker.root, (error) => this.showFailures([messageOf(error)]));
  private readonly errors = new ErrorsPanel();
  private readonly actions = new ActionsPanel();
  private readonly funnels = new FunnelsPanel();
  private readonly sessions = new SessionsPanel();

  constructor() {
    this.sitePicker.addEventListener('change', () => this.choose({ site: this.sitePicker.value }));
    this.controls.append(
      h('label', { class: 'control' }, h('span', null, 'Site'), this.sitePicker),
      h('div', { class: 'control' }, h('span', null, 'Window'), this.windowPicker.root),
    );
    // The dashboard's sections, top to bottom; later ones (third parties, releases) slot in here.
    this.dashboard.append(
      ...[this.alerts, this.vitals, this.activity, this.breakdowns, this.errors, this.actions, this.funnels, this.sessions].map(
        (panel) => panel.section.root,
      ),
    );
    this.empty.hidden = true;
    document.body.append(
      h('header', { class: 'top' }, h('h1', null, 'Real User Monitoring'), this.controls, this.status),
      this.empty,
      this.dashboard,
      this.notice,
    );
    document.addEventListener('visibilitychange', () => (document.hidden ? this.pause() : this.run()));
    addEventListener('hashchange', () => {
      this.choice = readChoice();
      this.run();
    });
  }

  /** Refreshes now, then every REFRESH_MS while the tab is visible. */
  run(): void {
    this.pause();
    // Only the latest run schedules the next one: a click during a refresh must not start a
    // second loop when the older refresh ends.
    const run = ++this.runs;
    void this.refresh().finally(() => {
      if (run == this.runs && !document.hidden) this.timer = setTimeout(() => this.run(), REFRESH_MS);
    });
  }

  private pause(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  private choose(change: Choice): void {
    this.choice = { ...this.choice, ...change };
    writeChoice(this.choice);
    // Until the new answers arrive, dim what is shown: it belongs to the previous choice.
    this.dashboard.setAttribute('aria-busy', 'true');
    this.run();
  }

  private async refresh(): Promise<void> {
    const generation = ++this.generation;
    const current = () => generation == this.generation;
    let sites: SitesAnswer;
    try {
      sites = await fetchSites();
    } catch (error) {
      if (current()) {
        this.dashboard.removeAttribute('aria-busy');
        this.showFailures([messageOf(error)]);
      }
      return;
    }
    if (!current()) return;
    if (sites.sites.length == 0) {
      this.showState('empty');
      this.finish([]);
      return;
    }
    const site = sites.sites.some((known) => known.site == this.choice.site) ? this.choice.site! : sites.sites[0].site;
    const window = [this.choice.window, DEFAULT_WINDOW, sites.windows[0]].find((candidate) => candidate && sites.windows.includes(candidate))!;
    const metrics = sites.vitals.map((vital) => vital.metric);
    const metric = [this.choice.metric, DEFAULT_METRIC, metrics[0]].find((candidate) => candidate && metrics.includes(candidate))!;
    this.choice = { site, window, metric };
    writeChoice(this.choice);
    this.setSites(sites, site);
    this.windowPicker.set(sites.windows, window);
    this.metricPicker.set(metrics, metric);
    this.vitals.setVitals(sites.vitals);
    this.breakdowns.setViews(sites.views);
    this.showState('data');

    const summary = fetchSummary(site, window);
    const drawn = Promise.all([
      summary.then((answer) => current() && this.drawSummary(answer)),
      this.breakdowns.refresh({ site, window, metric, current }),
    ]);
    const errors = Promise.all([fetchErrors(site, TOP_ERRORS), summary]).then(
      ([answer, { now_ms }]) => current() && this.errors.update(answer, now_ms),
    );
    // The alerts are the process's, whatever the site: an answer is shown even if the choice
    // changed meanwhile.
    const alerts = fetchAlerts().then((rules) => this.alerts.update(rules));
    const results = await Promise.allSettled([drawn, errors, alerts]);
    if (!current()) return;
    if (!this.drawn && results[0].status == 'fulfilled') this.markDrawn();
    const failures = results.filter((result): result is PromiseRejectedResult => result.status == 'rejected').map((result) => messageOf(result.reason));
    // A failed summary fails the errors task too: say it once.
    this.finish([...new Set(failures)]);
  }

  private drawSummary(summary: SummaryAnswer): void {
    this.vitals.update(summary);
    this.activity.update(summary);
    this.actions.update(summary);
    this.funnels.update(summary);
    this.sessions.update(summary);
  }

  /** The site picker's options, rebuilt only when the list of sites changes (an open list stays open). */
  private setSites(sites: SitesAnswer, chosen: string): void {
    const names = sites.sites.map((site) => site.site);
    const options = [...this.sitePicker.options];
    if (options.map((option) => option.value).join('\n') != names.join('\n')) {
      this.sitePicker.replaceChildren(...names.map((name) => h('option', { value: name }, name)));
    }
    for (const [index, site] of sites.sites.entries()) {
      this.sitePicker.options[index].title = `${formatCount(site.page_views)} page views since the start`;
    }
    this.sitePicker.value = chosen;
  }

  private showState(state: 'empty' | 'data'): void {
    document.body.dataset.state = state;
    this.empty.hidden = state != 'empty';
    this.dashboard.hidden = state != 'data';
    this.controls.hidden = state != 'data';
  }

  private finish(failures: string[]): void {
    this.refreshes++;
    document.body.dataset.refreshes = String(this.refreshes);
    this.dashboard.removeAttribute('aria-busy');
    setText(this.status, `Updated ${formatClock(Date.now())} · every ${REFRESH_MS / 1000} s`);
    this.showFailures(failures);
  }

  /** The notice of failed requests (hidden when none); what was shown before stays. */
  private showFailures(failures: string[]): void {
    this.notice.hidden = failures.length == 0;
    if (failures.length > 0) {
      setText(this.notice, `Could not refresh at ${formatClock(Date.now())} (${failures.join('; ')}). Showing the last data; retrying.`);
    }
  }

  /**
   * Marks when the first complete dashboard (vitals and every breakdown table) was in the DOM
   * (`view:tables`) and after the next frame (`view:drawn`), for the render-time measurement.
   */
  private markDrawn(): void {
    this.drawn = true;
    performance.mark('view:tables');
    requestAnimationFrame(() => setTimeout(() => performance.mark('view:drawn')));
  }
}

new App().run();
