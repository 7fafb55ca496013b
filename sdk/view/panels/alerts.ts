// Alerts pending and firing per rule (GET /api/v1/alerts), as a strip at the top.

import type { RuleAlerts } from '../alerts';
import { h, replaceChildren, Section } from '../dom';

export class AlertsPanel {
  readonly section = new Section('alerts', 'Alerts');

  /** `rules`: null when the process evaluates no alerts (the section stays hidden). */
  update(rules: RuleAlerts[] | null): void {
    this.section.show(rules !== null);
    if (!rules) return;
    const active = rules.filter((rule) => rule.firing > 0 || rule.pending > 0);
    const firing = active.filter((rule) => rule.firing > 0);
    const pending = active.filter((rule) => rule.pending > 0);
    const chip = (rule: RuleAlerts, state: 'firing' | 'pending') =>
      h('li', { class: `alert alert-${state}`, 'data-rule': rule.rule, 'data-state': state }, h('strong', null, state), ` ${rule.rule}`, rule[state] > 1 ? ` ×${rule[state]}` : '');
    replaceChildren(this.section.body, [
      active.length == 0
        ? h('p', { class: 'card-note all-clear' }, `No alert pending or firing (${rules.length} rule${rules.length == 1 ? '' : 's'} evaluated, over every site).`)
        : h('ul', { class: 'alerts' }, ...firing.map((rule) => chip(rule, 'firing')), ...pending.map((rule) => chip(rule, 'pending'))),
    ]);
  }
}
