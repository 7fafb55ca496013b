// Alerts pending and firing per rule, from GET /api/v1/alerts (docs/api.md): the process's own
// `rum_alerts{alertname, alertstate}` gauges as JSON, cheap to ask for every refresh (a whole
// /metrics would merge every segment's families on the thread that answers the JSON).

import { getJson } from './api';

/** Alert instances of one rule. */
export interface RuleAlerts {
  rule: string;
  pending: number;
  firing: number;
}

interface AlertsAnswer {
  alerts: { alertname: string; pending: number; firing: number }[];
}

/** The answer as the panel shows it: every rule, by name; null when no rule is evaluated. */
export function toRules(answer: AlertsAnswer): RuleAlerts[] | null {
  if (answer.alerts.length == 0) return null;
  return answer.alerts
    .map((rule) => ({ rule: rule.alertname, pending: rule.pending, firing: rule.firing }))
    .sort((a, b) => a.rule.localeCompare(b.rule));
}

/** The alerts of this process. */
export async function fetchAlerts(): Promise<RuleAlerts[] | null> {
  return toRules(await getJson<AlertsAnswer>('/api/v1/alerts'));
}
