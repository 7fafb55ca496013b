//! Alert rules evaluated in-process on the windowed data, with Prometheus' semantics: a rule's
//! condition must hold for `for` before the alert fires, `keep_firing_for` keeps it firing through
//! short recoveries, firing alerts are re-sent every resend interval with an `endsAt` a few
//! intervals ahead (so a receiver that stops hearing about an alert lets it expire), and a resolved
//! alert is sent with `endsAt` = the resolution time, repeatedly for a while so it is not missed.

mod notify;
mod rule;
mod time;

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

pub use notify::{Notifier, Receiver, ReceiverKind, SIGNATURE_HEADER, hmac_signature};
pub use rule::{AlertRule, Comparison, Statistic};
pub use time::rfc3339;

use crate::pipeline::AggregatorHandle;
use crate::stage2::Stage2;
use crate::view::SegmentKey;

/// How long a resolved alert is still re-sent (Prometheus keeps 15 minutes).
const RESOLVED_RETENTION: Duration = Duration::from_secs(15 * 60);

/// The settings of the evaluator, from `[alerts]`.
#[derive(Debug, Clone)]
pub struct AlertSettings {
    pub rules: Vec<AlertRule>,
    pub evaluation_interval: Duration,
    pub resend_interval: Duration,
    pub external_url: String,
}

impl AlertSettings {
    pub fn from_config(
        config: &rum_config::AlertsConfig,
        aggregator: &rum_config::AggregatorConfig,
    ) -> Result<Self, String> {
        let mut rules = config
            .rules
            .iter()
            .map(AlertRule::from_config)
            .collect::<Result<Vec<_>, _>>()?;
        if config.default_rules {
            // The defaults watch the per-site view: the view whose only dimension is the site.
            if let Some(site_view) = aggregator
                .views
                .iter()
                .find(|view| view.dimensions == ["site"])
            {
                rules.extend(AlertRule::defaults(&site_view.name));
            }
        }
        Ok(Self {
            rules,
            evaluation_interval: config.evaluation_interval.0,
            resend_interval: config.resend_interval.0,
            external_url: config.external_url.clone(),
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AlertStatus {
    Pending,
    Firing,
    Resolved,
}

/// One alert instance: a rule on one segment.
#[derive(Debug, Clone)]
pub struct ActiveAlert {
    pub status: AlertStatus,
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
    pub value: f64,
    pub active_since_ms: i64,
    pub fired_at_ms: Option<i64>,
    pub resolved_at_ms: Option<i64>,
    last_true_ms: i64,
    last_sent_ms: Option<i64>,
}

impl ActiveAlert {
    /// A new instance whose condition just started to hold.
    fn pending(labels: BTreeMap<String, String>, value: f64, now_ms: i64) -> Self {
        Self {
            status: AlertStatus::Pending,
            labels,
            annotations: BTreeMap::new(),
            value,
            active_since_ms: now_ms,
            fired_at_ms: None,
            resolved_at_ms: None,
            last_true_ms: now_ms,
            last_sent_ms: None,
        }
    }
}

/// What the evaluator wants delivered: every alert due for (re)sending, with its `endsAt`.
#[derive(Debug, Clone, PartialEq)]
pub struct OutgoingAlert {
    pub rule: String,
    pub firing: bool,
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
    pub starts_at_ms: i64,
    pub ends_at_ms: i64,
    pub generator_url: String,
}

pub struct Evaluator {
    settings: AlertSettings,
    alerts: HashMap<(usize, SegmentKey), ActiveAlert>,
    firing_gauges: Vec<metrics::Gauge>,
    pending_gauges: Vec<metrics::Gauge>,
}

impl Evaluator {
    pub fn new(settings: AlertSettings) -> Self {
        metrics::describe_gauge!(
            "rum_alerts",
            "Alert instances by rule and state (pending, firing)."
        );
        let gauge = |rule: &AlertRule, state: &'static str| metrics::gauge!("rum_alerts", "alertname" => rule.name.clone(), "alertstate" => state);
        Self {
            firing_gauges: settings
                .rules
                .iter()
                .map(|rule| gauge(rule, "firing"))
                .collect(),
            pending_gauges: settings
                .rules
                .iter()
                .map(|rule| gauge(rule, "pending"))
                .collect(),
            settings,
            alerts: HashMap::new(),
        }
    }

    pub fn settings(&self) -> &AlertSettings {
        &self.settings
    }

    /// Current alert instances (pending, firing, recently resolved).
    pub fn alerts(&self) -> impl Iterator<Item = &ActiveAlert> {
        self.alerts.values()
    }

    /// Evaluates every rule at `now_ms` and returns the alerts due for delivery.
    pub fn evaluate(&mut self, stage2: &Stage2, now_ms: i64) -> Vec<OutgoingAlert> {
        let mut seen = std::collections::HashSet::new();
        for (rule_index, rule) in self.settings.rules.iter().enumerate() {
            let Some(view) = stage2.views().find(|view| *view.name == rule.view) else {
                continue;
            };
            for (key, segment) in stage2.segments() {
                if *key.view != rule.view {
                    continue;
                }
                let Some(summary) = stage2.window(segment, rule.metric, &rule.window) else {
                    continue;
                };
                let value = match rule.statistic {
                    Statistic::Quantile(quantile) => summary.quantile(rule.metric, quantile),
                    Statistic::GoodShare => match summary
                        .exact
                        .ratings(rule.metric)
                        .and_then(|ratings| ratings.good_share())
                    {
                        Some(share) => share,
                        None => continue,
                    },
                };
                let samples = summary.exact.count();
                if samples < rule.min_samples || !rule.comparison.holds(value, rule.threshold) {
                    continue;
                }
                seen.insert((rule_index, key.clone()));
                let mut labels = BTreeMap::new();
                labels.insert("alertname".to_owned(), rule.name.clone());
                labels.insert("view".to_owned(), key.view.to_string());
                for (dimension, value) in view.dimensions.iter().zip(key.values.iter()) {
                    labels.insert(dimension.label().to_owned(), value.to_string());
                }
                for (name, value) in &rule.labels {
                    labels.insert(name.clone(), value.clone());
                }
                let annotations = rule
                    .annotations
                    .iter()
                    .map(|(name, template)| (name.clone(), expand(template, value, &labels)))
                    .collect();
                let alert = self
                    .alerts
                    .entry((rule_index, key.clone()))
                    .or_insert_with(|| ActiveAlert::pending(labels.clone(), value, now_ms));
                if alert.status == AlertStatus::Resolved {
                    // It came back: a new alert instance, like Prometheus.
                    *alert = ActiveAlert::pending(labels.clone(), value, now_ms);
                }
                alert.value = value;
                alert.annotations = annotations;
                alert.last_true_ms = now_ms;
                if alert.status == AlertStatus::Pending
                    && now_ms - alert.active_since_ms >= rule.for_duration.as_millis() as i64
                {
                    alert.status = AlertStatus::Firing;
                    alert.fired_at_ms = Some(now_ms);
                }
            }
        }

        // Instances whose condition no longer holds: pending ones vanish, firing ones resolve
        // after keep_firing_for, resolved ones are forgotten after the retention.
        let rules = &self.settings.rules;
        self.alerts.retain(|(rule_index, key), alert| {
            if seen.contains(&(*rule_index, key.clone())) {
                return true;
            }
            match alert.status {
                AlertStatus::Pending => false,
                AlertStatus::Firing => {
                    let keep = rules[*rule_index].keep_firing_for.as_millis() as i64;
                    if now_ms - alert.last_true_ms >= keep {
                        alert.status = AlertStatus::Resolved;
                        alert.resolved_at_ms = Some(now_ms);
                        alert.last_sent_ms = None;
                    }
                    true
                }
                AlertStatus::Resolved => alert
                    .resolved_at_ms
                    .is_some_and(|at| now_ms - at < RESOLVED_RETENTION.as_millis() as i64),
            }
        });

        for (index, _) in self.settings.rules.iter().enumerate() {
            let count = |status| {
                self.alerts
                    .iter()
                    .filter(|((rule, _), alert)| *rule == index && alert.status == status)
                    .count() as f64
            };
            self.firing_gauges[index].set(count(AlertStatus::Firing));
            self.pending_gauges[index].set(count(AlertStatus::Pending));
        }
        self.due(now_ms)
    }

    /// Alerts to send now: newly firing or resolved ones, and the rest every resend interval.
    fn due(&mut self, now_ms: i64) -> Vec<OutgoingAlert> {
        let resend = self.settings.resend_interval.as_millis() as i64;
        // Like Prometheus: a firing alert is valid for 4 resend (or evaluation) intervals, so a
        // receiver drops it on its own if rum stops sending.
        let validity = 4 * resend.max(self.settings.evaluation_interval.as_millis() as i64);
        let mut due = Vec::new();
        for ((rule_index, _), alert) in &mut self.alerts {
            if alert.status == AlertStatus::Pending {
                continue;
            }
            if alert
                .last_sent_ms
                .is_some_and(|sent| now_ms - sent < resend)
            {
                continue;
            }
            alert.last_sent_ms = Some(now_ms);
            let firing = alert.status == AlertStatus::Firing;
            due.push(OutgoingAlert {
                rule: self.settings.rules[*rule_index].name.clone(),
                firing,
                labels: alert.labels.clone(),
                annotations: alert.annotations.clone(),
                starts_at_ms: alert.fired_at_ms.unwrap_or(alert.active_since_ms),
                ends_at_ms: if firing {
                    now_ms + validity
                } else {
                    alert.resolved_at_ms.unwrap_or(now_ms)
                },
                generator_url: self.settings.external_url.clone(),
            });
        }
        due.sort_by(|a, b| a.labels.cmp(&b.labels));
        due
    }
}

/// Expands `{{ $value }}` and `{{ $labels.NAME }}` in an annotation.
fn expand(template: &str, value: f64, labels: &BTreeMap<String, String>) -> String {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let Some(end) = rest[start..].find("}}") else {
            out.push_str(&rest[start..]);
            return out;
        };
        let expression = rest[start + 2..start + end].trim();
        if expression == "$value" {
            out.push_str(&format!("{}", (value * 1000.0).round() / 1000.0));
        } else if let Some(name) = expression.strip_prefix("$labels.") {
            out.push_str(labels.get(name).map_or("", String::as_str));
        } else {
            out.push_str(&rest[start..start + end + 2]);
        }
        rest = &rest[start + end + 2..];
    }
    out.push_str(rest);
    out
}

/// Evaluates the rules every evaluation interval and hands due alerts to the notifier, until the
/// task is aborted.
pub async fn run(mut evaluator: Evaluator, aggregator: AggregatorHandle, notifier: Notifier) {
    let mut tick = tokio::time::interval(evaluator.settings().evaluation_interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let now_ms = aggregator.clock().now_ms();
        let due = aggregator.read(|stage2| evaluator.evaluate(stage2, now_ms));
        if !due.is_empty() {
            notifier.send(due);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn annotation_templates() {
        let labels = BTreeMap::from([("site".to_owned(), "shop".to_owned())]);
        assert_eq!(
            expand(
                "p75 of {{ $labels.site }} is {{ $value }}s {{ $other }}",
                4.12345,
                &labels
            ),
            "p75 of shop is 4.123s {{ $other }}"
        );
        assert_eq!(
            expand("unclosed {{ $value", 1.0, &labels),
            "unclosed {{ $value"
        );
    }
}
