//! The evaluator: every evaluation interval, each rule is checked on every segment of its view,
//! with Prometheus' semantics: a rule's condition must hold for `for` before the alert fires,
//! `keep_firing_for` keeps it firing through short recoveries, firing alerts are re-sent every
//! resend interval with an `endsAt` a few intervals ahead (so a receiver that stops hearing about
//! an alert lets it expire), and a resolved alert is sent with `endsAt` = the resolution time,
//! repeatedly for a while so it is not missed.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use rum_aggregator::pipeline::AggregatorHandle;
use rum_aggregator::stage2::{SegmentState, Stage2};
use rum_aggregator::view::{OTHER, SegmentKey};

use rum_schema::proto::{AlertSnapshot, AlertsSnapshot};

use crate::AlertSettings;
use crate::notify::Notifier;
use crate::rule::{AlertRule, RuleKind, Statistic};

/// How long a resolved alert is still re-sent (Prometheus keeps 15 minutes).
const RESOLVED_RETENTION: Duration = Duration::from_secs(15 * 60);

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
    /// What this evaluator has added to each rule's (firing, pending) gauges. A worker runs one
    /// evaluator per partials partition it owns, all on the same `rum_alerts` series, so each adds
    /// and takes back its own share instead of setting the value (which the last one would win).
    contributed: Vec<(f64, f64)>,
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
            contributed: vec![(0.0, 0.0); settings.rules.len()],
            settings,
            alerts: HashMap::new(),
        }
    }

    pub fn settings(&self) -> &AlertSettings {
        &self.settings
    }

    /// Takes this evaluator's share out of the `rum_alerts` gauges (its partition moved away, or
    /// its rules are being replaced: the next evaluator adds its own).
    fn clear_gauges(&mut self) {
        for (index, (firing, pending)) in self.contributed.iter_mut().enumerate() {
            self.firing_gauges[index].decrement(*firing);
            self.pending_gauges[index].decrement(*pending);
            (*firing, *pending) = (0.0, 0.0);
        }
    }

    /// Current alert instances (pending, firing, recently resolved).
    pub fn alerts(&self) -> impl Iterator<Item = &ActiveAlert> {
        self.alerts.values()
    }

    /// The instances, for the snapshot of the partition whose segments they are about.
    pub fn snapshot(&self) -> AlertsSnapshot {
        let mut alerts: Vec<AlertSnapshot> = self
            .alerts
            .iter()
            .map(|((rule, key), alert)| AlertSnapshot {
                rule: self.settings.rules[*rule].name.clone(),
                view: key.view.to_string(),
                values: key.values.iter().map(|value| value.to_string()).collect(),
                status: match alert.status {
                    AlertStatus::Pending => 0,
                    AlertStatus::Firing => 1,
                    AlertStatus::Resolved => 2,
                },
                value: alert.value,
                active_since_ms: alert.active_since_ms,
                fired_at_ms: alert.fired_at_ms,
                resolved_at_ms: alert.resolved_at_ms,
                last_true_ms: alert.last_true_ms,
                last_sent_ms: alert.last_sent_ms,
                labels: alert.labels.clone().into_iter().collect(),
                annotations: alert.annotations.clone().into_iter().collect(),
            })
            .collect();
        alerts.sort_by(|a, b| (&a.rule, &a.view, &a.values).cmp(&(&b.rule, &b.view, &b.values)));
        AlertsSnapshot { alerts }
    }

    /// Takes over the instances of a snapshot (a partition moved here): a firing alert goes on
    /// firing with its start time, so receivers see neither a second alert nor a resolution.
    /// Instances of rules this process does not have are dropped.
    pub fn restore(&mut self, snapshot: &AlertsSnapshot) {
        for saved in &snapshot.alerts {
            let Some(rule) = self
                .settings
                .rules
                .iter()
                .position(|rule| rule.name == saved.rule && rule.view == saved.view)
            else {
                continue;
            };
            let key = SegmentKey {
                view: saved.view.as_str().into(),
                values: saved
                    .values
                    .iter()
                    .map(|value| value.as_str().into())
                    .collect(),
            };
            let status = match saved.status {
                0 => AlertStatus::Pending,
                1 => AlertStatus::Firing,
                _ => AlertStatus::Resolved,
            };
            self.alerts.insert(
                (rule, key),
                ActiveAlert {
                    status,
                    labels: saved.labels.clone().into_iter().collect(),
                    annotations: saved.annotations.clone().into_iter().collect(),
                    value: saved.value,
                    active_since_ms: saved.active_since_ms,
                    fired_at_ms: saved.fired_at_ms,
                    resolved_at_ms: saved.resolved_at_ms,
                    last_true_ms: saved.last_true_ms,
                    last_sent_ms: saved.last_sent_ms,
                },
            );
        }
    }

    /// Evaluates every rule at `now_ms` and returns the alerts due for delivery.
    pub fn evaluate(&mut self, stage2: &Stage2, now_ms: i64) -> Vec<OutgoingAlert> {
        let mut seen = std::collections::HashSet::new();
        for (rule_index, rule) in self.settings.rules.iter().enumerate() {
            let Some(view) = stage2.views().find(|view| *view.name == rule.view) else {
                continue;
            };
            let breaches = match rule.kind {
                RuleKind::Threshold => threshold_breaches(stage2, rule),
                RuleKind::ReleaseRegression { release, min_delta } => {
                    release_regressions(stage2, rule, release, min_delta)
                }
            };
            for Breach {
                key,
                value,
                previous_release,
            } in breaches
            {
                seen.insert((rule_index, key.clone()));
                let mut labels = BTreeMap::new();
                labels.insert("alertname".to_owned(), rule.name.clone());
                labels.insert("view".to_owned(), key.view.to_string());
                for (dimension, value) in view.dimensions.iter().zip(key.values.iter()) {
                    labels.insert(dimension.label().to_owned(), value.to_string());
                }
                if let Some(previous) = previous_release {
                    labels.insert("previous_release".to_owned(), previous.to_string());
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
                if alert.status == AlertStatus::Resolved || alert.labels != labels {
                    // It came back (like Prometheus, a new instance), or the release it is
                    // compared with changed: a different alert.
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
            let now = (count(AlertStatus::Firing), count(AlertStatus::Pending));
            let before = self.contributed[index];
            self.firing_gauges[index].increment(now.0 - before.0);
            self.pending_gauges[index].increment(now.1 - before.1);
            self.contributed[index] = now;
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

/// A segment whose rule condition holds now.
struct Breach<'a> {
    key: &'a SegmentKey,
    value: f64,
    /// Release regressions: the release the segment's release is compared with.
    previous_release: Option<Arc<str>>,
}

/// A rule's statistic over its window for one segment, with the window's sample count; `None`
/// without samples (or, for `good_share`, without ratings).
fn statistic(stage2: &Stage2, segment: &SegmentState, rule: &AlertRule) -> Option<(f64, u64)> {
    let summary = stage2.window(segment, rule.metric, &rule.window)?;
    let value = match rule.statistic {
        Statistic::Quantile(quantile) => summary.quantile(rule.metric, quantile),
        Statistic::GoodShare => summary
            .exact
            .ratings(rule.metric)
            .and_then(|ratings| ratings.good_share())?,
    };
    Some((value, summary.exact.count()))
}

/// Segments of the rule's view whose statistic compares true against the threshold.
fn threshold_breaches<'a>(stage2: &'a Stage2, rule: &AlertRule) -> Vec<Breach<'a>> {
    stage2
        .segments()
        .filter(|(key, _)| *key.view == rule.view)
        .filter_map(|(key, segment)| {
            let (value, samples) = statistic(stage2, segment, rule)?;
            (samples >= rule.min_samples && rule.comparison.holds(value, rule.threshold)).then_some(
                Breach {
                    key,
                    value,
                    previous_release: None,
                },
            )
        })
        .collect()
}

/// Per group of the view's other dimensions, the newest release's segment when its statistic
/// over the previous release's compares true against the threshold. Newest: the segment that
/// appeared last (ties broken by the label, so the choice is stable). The folded release
/// (`__other__`: old tabs of releases that left) is never a side of a comparison.
fn release_regressions<'a>(
    stage2: &'a Stage2,
    rule: &AlertRule,
    release: usize,
    min_delta: f64,
) -> Vec<Breach<'a>> {
    let mut groups: HashMap<Vec<&Arc<str>>, Vec<(&SegmentKey, &SegmentState)>> = HashMap::new();
    for (key, segment) in stage2.segments() {
        if *key.view != rule.view
            || key
                .values
                .get(release)
                .is_none_or(|value| &**value == OTHER)
        {
            continue;
        }
        let others = key
            .values
            .iter()
            .enumerate()
            .filter(|(index, _)| *index != release)
            .map(|(_, value)| value)
            .collect();
        groups.entry(others).or_default().push((key, segment));
    }
    let mut breaches = Vec::new();
    for mut releases in groups.into_values() {
        releases.sort_by(|(a_key, a), (b_key, b)| {
            (b.first_minute(), &b_key.values[release])
                .cmp(&(a.first_minute(), &a_key.values[release]))
        });
        let [(current_key, current), (previous_key, previous), ..] = releases[..] else {
            continue;
        };
        let (Some((now, now_samples)), Some((before, before_samples))) = (
            statistic(stage2, current, rule),
            statistic(stage2, previous, rule),
        ) else {
            continue;
        };
        if now_samples < rule.min_samples
            || before_samples < rule.min_samples
            || (now - before).abs() < min_delta
        {
            continue;
        }
        let ratio = match (now, before) {
            (_, before) if before > 0.0 => now / before,
            (now, _) if now > 0.0 => f64::INFINITY,
            _ => 1.0,
        };
        if rule.comparison.holds(ratio, rule.threshold) {
            breaches.push(Breach {
                key: current_key,
                value: ratio,
                previous_release: Some(previous_key.values[release].clone()),
            });
        }
    }
    breaches
}

impl Drop for Evaluator {
    fn drop(&mut self) {
        self.clear_gauges();
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
/// task is aborted or the aggregator stops. The evaluation itself runs on the aggregator's stage-2
/// thread ([`AggregatorHandle::query`]): it reads the windows where they live, without a lock that
/// a collector worker could wait on.
pub async fn run(evaluator: Evaluator, aggregator: AggregatorHandle, notifier: Notifier) {
    let (_no_updates, updates) = tokio::sync::mpsc::channel(1);
    run_reloadable(evaluator, aggregator, notifier, updates).await;
}

/// [`run`], taking new rules from `updates` (a config reload). The instances of rules that stay
/// (same name and view) carry over with their state, so a reload neither re-fires a firing alert
/// nor resolves it; instances of removed rules are dropped.
pub async fn run_reloadable(
    evaluator: Evaluator,
    aggregator: AggregatorHandle,
    notifier: Notifier,
    mut updates: tokio::sync::mpsc::Receiver<AlertSettings>,
) {
    let mut tick = interval(evaluator.settings().evaluation_interval);
    let mut evaluator = Some(evaluator);
    let mut updates_open = true;
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            update = updates.recv(), if updates_open => {
                match (update, evaluator.take()) {
                    (Some(settings), Some(old)) => {
                        // Dropping `old` (at the end of this arm) takes its share out of the gauges.
                        let snapshot = old.snapshot();
                        if settings.evaluation_interval != old.settings().evaluation_interval {
                            tick = interval(settings.evaluation_interval);
                        }
                        let mut next = Evaluator::new(settings);
                        next.restore(&snapshot);
                        tracing::info!(rules = next.settings().rules.len(), "alert rules reloaded");
                        evaluator = Some(next);
                    }
                    (None, old) => {
                        updates_open = false;
                        evaluator = old;
                    }
                    (Some(_), None) => return,
                }
                continue;
            }
        }
        let now_ms = aggregator.clock().now_ms();
        let Some(mut current) = evaluator.take() else {
            return;
        };
        let answer = aggregator
            .query(move |stage2| {
                let due = current.evaluate(stage2, now_ms);
                (current, due)
            })
            .await;
        let Some((current, due)) = answer else {
            tracing::info!("aggregator stopped; alert evaluation ends");
            return;
        };
        evaluator = Some(current);
        if !due.is_empty() {
            notifier.send(due);
        }
    }
}

fn interval(period: std::time::Duration) -> tokio::time::Interval {
    let mut tick = tokio::time::interval(period);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick
}

#[cfg(test)]
mod tests {
    use super::*;

    use rum_aggregator::metric::MetricKind;
    use rum_aggregator::settings::AggregatorSettings;
    use rum_aggregator::stage1::Stage1;
    use rum_schema::proto::{Beacon, Enrichment, Event, Vital, VitalName, event};

    const MINUTE_MS: i64 = 60_000;
    /// A fixed instant (minute-aligned) for deterministic tests.
    const T0: i64 = 1_763_760_000_000;

    fn vital(name: VitalName, value: f64, id: &str) -> Event {
        Event {
            kind: Some(event::Kind::Vital(Vital {
                name: name as i32,
                value,
                id: id.to_owned(),
                ..Vital::default()
            })),
        }
    }

    fn beacon(page_view: &str, received_at_ms: i64, events: Vec<Event>) -> Beacon {
        Beacon {
            version: 1,
            site: "shop".into(),
            session_id: "s1".into(),
            page_view_id: page_view.into(),
            url: "https://shop.example/".into(),
            received_at_ms,
            enrichment: Some(Enrichment {
                route: "/".into(),
                country: "DE".into(),
                device_class: "desktop".into(),
                browser: "Chrome".into(),
                ..Enrichment::default()
            }),
            events,
            ..Beacon::default()
        }
    }

    fn ingest(stage1: &mut Stage1, beacon: &Beacon) {
        rum_aggregator::wire::BeaconView::of(beacon, |view| stage1.ingest(view));
    }

    /// One rule, "p75 LCP of the site over 1m above 4 s, at least 3 samples", evaluated every 15 s
    /// and re-sent every minute.
    fn lcp_rule(
        for_duration: std::time::Duration,
        keep_firing_for: std::time::Duration,
        labels: BTreeMap<String, String>,
        annotations: BTreeMap<String, String>,
    ) -> crate::AlertSettings {
        use crate::{AlertRule, Comparison, Statistic};
        use std::time::Duration;
        crate::AlertSettings {
            rules: vec![AlertRule {
                name: "LcpSlow".into(),
                kind: crate::RuleKind::Threshold,
                metric: MetricKind::Lcp,
                statistic: Statistic::Quantile(0.75),
                comparison: Comparison::Above,
                threshold: 4.0,
                view: "site".into(),
                window: "1m".into(),
                min_samples: 3,
                for_duration,
                keep_firing_for,
                labels,
                annotations,
            }],
            evaluation_interval: Duration::from_secs(15),
            resend_interval: Duration::from_secs(60),
            external_url: String::new(),
            notices: Vec::new(),
        }
    }

    /// Beacons into a stage 2 the way the pipeline hands them over: through a stage 1 and its flush.
    struct Feed(Stage1);

    impl Feed {
        fn new() -> Feed {
            Feed(Stage1::new(AggregatorSettings::default()))
        }

        /// `count` page views with one LCP of `lcp` ms each, received at `at`.
        fn lcp(&mut self, stage2: &mut Stage2, at: i64, lcp: f64, count: usize) {
            stage2.advance(at);
            for index in 0..count {
                let events = vec![vital(VitalName::Lcp, lcp, "l")];
                ingest(
                    &mut self.0,
                    &beacon(&format!("pv-{at}-{index}"), at, events),
                );
            }
            for partial in self.0.flush() {
                stage2.apply(partial);
            }
        }
    }

    #[test]
    fn alert_rules_follow_prometheus_for_keep_firing_for_and_ends_at() {
        use std::time::Duration;

        let mut evaluator = Evaluator::new(lcp_rule(
            Duration::from_secs(120),
            Duration::from_secs(60),
            [("severity".to_owned(), "page".to_owned())].into(),
            [("summary".to_owned(), "p75 {{ $value }}s".to_owned())].into(),
        ));
        let mut stage2 = Stage2::new(AggregatorSettings::default());
        let mut feeder = Feed::new();
        let mut feed = |stage2: &mut Stage2, at: i64, lcp: f64, count: usize| {
            feeder.lcp(stage2, at, lcp, count)
        };

        // Two slow samples: below min_samples, nothing happens.
        feed(&mut stage2, T0, 6000.0, 2);
        assert!(evaluator.evaluate(&stage2, T0).is_empty());
        assert_eq!(evaluator.alerts().count(), 0);
        // Enough samples: pending, not sent.
        feed(&mut stage2, T0 + 1_000, 6000.0, 3);
        assert!(evaluator.evaluate(&stage2, T0 + 1_000).is_empty());
        assert_eq!(evaluator.alerts().count(), 1);
        // Still true after `for` (2 min): firing and sent, endsAt = now + 4 x resend interval.
        for minute in 1..=2 {
            feed(&mut stage2, T0 + minute * MINUTE_MS, 6000.0, 5);
        }
        let fired_at = T0 + 2 * MINUTE_MS + 1_000;
        let sent = evaluator.evaluate(&stage2, fired_at);
        assert_eq!(sent.len(), 1);
        assert!(sent[0].firing);
        assert_eq!(sent[0].labels["alertname"], "LcpSlow");
        assert_eq!(sent[0].labels["site"], "shop");
        assert_eq!(sent[0].labels["severity"], "page");
        assert_eq!(sent[0].starts_at_ms, fired_at);
        assert_eq!(sent[0].ends_at_ms, fired_at + 4 * 60_000);
        assert!(sent[0].annotations["summary"].starts_with("p75 6."));
        // Not re-sent before the resend interval, re-sent after it.
        assert!(evaluator.evaluate(&stage2, fired_at + 15_000).is_empty());
        feed(&mut stage2, T0 + 3 * MINUTE_MS, 6000.0, 5);
        assert_eq!(evaluator.evaluate(&stage2, fired_at + 60_000).len(), 1);
        // Recovery: fast samples outnumber the slow ones in the 1m window (minutes 2 and 3).
        let first_false = T0 + 3 * MINUTE_MS + 31_000;
        feed(&mut stage2, first_false, 500.0, 30);
        // keep_firing_for (1 min) holds it firing at first (and it is not due for a resend yet)...
        assert!(evaluator.evaluate(&stage2, first_false).is_empty());
        assert!(
            evaluator
                .alerts()
                .all(|alert| alert.status == AlertStatus::Firing)
        );
        // ...then, a minute after it last held, it resolves and is sent with endsAt = that time.
        let resolved_at = T0 + 4 * MINUTE_MS + 10_000;
        feed(&mut stage2, resolved_at, 500.0, 30);
        let sent = evaluator.evaluate(&stage2, resolved_at);
        assert_eq!(sent.len(), 1);
        assert!(!sent[0].firing);
        assert_eq!(sent[0].ends_at_ms, resolved_at);
        assert_eq!(sent[0].starts_at_ms, fired_at);
    }

    /// An alert moves with its segment: the partition's next owner restores stage 2 and the alert
    /// instances from the snapshot and goes on evaluating. A firing alert keeps its start time and
    /// is not sent again before the resend interval (no second alert), stays firing while the
    /// condition holds (no false resolution), and resolves once when it stops holding.
    #[test]
    fn an_alert_taken_over_from_a_snapshot_neither_fires_twice_nor_resolves_falsely() {
        use std::time::Duration;

        let settings = AggregatorSettings::default();
        let alert_settings = lcp_rule(
            Duration::from_secs(60),
            Duration::ZERO,
            BTreeMap::new(),
            BTreeMap::new(),
        );
        let mut feeder = Feed::new();
        let mut feed = |stage2: &mut Stage2, at: i64, lcp: f64, count: usize| {
            feeder.lcp(stage2, at, lcp, count)
        };

        // The first owner: slow for two minutes, firing after `for`.
        let mut first = Evaluator::new(alert_settings.clone());
        let mut stage2 = Stage2::new(settings.clone());
        feed(&mut stage2, T0, 6000.0, 5);
        assert!(first.evaluate(&stage2, T0).is_empty());
        feed(&mut stage2, T0 + MINUTE_MS, 6000.0, 5);
        let fired_at = T0 + MINUTE_MS + 1_000;
        let sent = first.evaluate(&stage2, fired_at);
        assert_eq!(sent.len(), 1);
        assert!(sent[0].firing);

        // The partition moves: the next owner starts from the snapshot of both.
        let (mut moved, _) = Stage2::import(settings, &stage2.export());
        let mut next = Evaluator::new(alert_settings);
        next.restore(&first.snapshot());
        assert_eq!(next.alerts().count(), 1);
        assert!(
            next.alerts()
                .all(|alert| alert.status == AlertStatus::Firing)
        );
        // Still slow: nothing is sent before the resend interval; then the same alert, same start.
        feed(&mut moved, fired_at + 15_000, 6000.0, 5);
        assert!(next.evaluate(&moved, fired_at + 15_000).is_empty());
        feed(&mut moved, fired_at + 60_000, 6000.0, 5);
        let resent = next.evaluate(&moved, fired_at + 60_000);
        assert_eq!(resent.len(), 1);
        assert!(resent[0].firing);
        assert_eq!(resent[0].starts_at_ms, fired_at);
        // Fast again (the fast samples outnumber the slow ones in the 1m window): resolved once.
        let recovered = T0 + 3 * MINUTE_MS + 30_000;
        feed(&mut moved, recovered, 500.0, 60);
        let resolved = next.evaluate(&moved, recovered);
        assert_eq!(resolved.len(), 1);
        assert!(!resolved[0].firing);
        assert_eq!(resolved[0].starts_at_ms, fired_at);
        assert!(next.evaluate(&moved, recovered + 15_000).is_empty());
    }

    /// Two partitions' evaluators in one worker share the `rum_alerts` series: the gauge is their
    /// sum, whichever evaluates last, and an evaluator that goes (its partition moved) takes its
    /// share with it.
    #[test]
    fn the_evaluators_of_a_workers_partitions_add_up_on_the_gauges() {
        use metrics_util::debugging::{DebugValue, DebuggingRecorder};
        use std::time::Duration;

        let recorder = DebuggingRecorder::new();
        let snapshotter = recorder.snapshotter();
        // A snapshot reads a gauge and resets it to 0 (later increments then land on 0), so the
        // gauge's value is the sum of what the snapshots read.
        let total = std::cell::Cell::new(0.0);
        let firing = || {
            let read = snapshotter
                .snapshot()
                .into_vec()
                .into_iter()
                .find(|(key, ..)| {
                    key.key().name() == "rum_alerts"
                        && key
                            .key()
                            .labels()
                            .any(|label| label.key() == "alertstate" && label.value() == "firing")
                })
                .map_or(0.0, |(.., value)| match value {
                    DebugValue::Gauge(value) => value.into_inner(),
                    _ => f64::NAN,
                });
            total.set(total.get() + read);
            total.get()
        };
        let settings = || {
            lcp_rule(
                Duration::ZERO,
                Duration::ZERO,
                BTreeMap::new(),
                BTreeMap::new(),
            )
        };
        let (mut slow_partition, mut fast_partition) =
            metrics::with_local_recorder(&recorder, || {
                (Evaluator::new(settings()), Evaluator::new(settings()))
            });
        let mut slow = Stage2::new(AggregatorSettings::default());
        let mut fast = Stage2::new(AggregatorSettings::default());
        Feed::new().lcp(&mut slow, T0, 6000.0, 5);
        Feed::new().lcp(&mut fast, T0, 500.0, 5);
        slow_partition.evaluate(&slow, T0);
        fast_partition.evaluate(&fast, T0);
        assert_eq!(
            firing(),
            1.0,
            "the fast partition's evaluation must not hide the slow one's"
        );
        slow_partition.evaluate(&slow, T0 + 1_000);
        fast_partition.evaluate(&fast, T0 + 1_000);
        assert_eq!(firing(), 1.0, "re-evaluating does not add again");
        drop(slow_partition);
        assert_eq!(firing(), 0.0, "the partition moved away with its alert");
        drop(fast_partition);
    }

    /// Settings with a `site_release` view and one release_regression rule on p75 LCP over 5m:
    /// at least 5 samples on each side, 250 ms apart, ratio above 1.2, firing at once.
    fn release_settings() -> (AggregatorSettings, crate::AlertSettings) {
        let config = rum_config::load_str(
            r#"
[[aggregator.views]]
name = "site_release"
dimensions = ["site", "release"]

[alerts]
default_rules = false

[[alerts.rules]]
name = "LcpRegressed"
kind = "release_regression"
metric = "lcp"
statistic = "p75"
op = ">"
threshold = 1.2
min_delta = 0.25
view = "site_release"
window = "5m"
min_samples = 5
annotations = { summary = "{{ $labels.release }} is {{ $value }}x {{ $labels.previous_release }}" }
"#,
            "test.toml",
            Vec::new(),
        )
        .expect("valid config");
        let aggregator =
            AggregatorSettings::from_config(&config.aggregator).expect("valid aggregator");
        let alerts =
            crate::AlertSettings::from_config(&config.alerts, &aggregator).expect("valid alerts");
        (aggregator, alerts)
    }

    /// `count` page views of `release`, one LCP of `lcp` ms each, received at `at`.
    fn release_views(
        stage1: &mut Stage1,
        stage2: &mut Stage2,
        at: i64,
        release: &str,
        lcp: f64,
        count: usize,
    ) {
        stage2.advance(at);
        for index in 0..count {
            let mut beacon = beacon(
                &format!("pv-{release}-{at}-{lcp}-{count}-{index}"),
                at,
                vec![vital(VitalName::Lcp, lcp, "l")],
            );
            beacon.release = release.to_owned();
            ingest(stage1, &beacon);
        }
        for partial in stage1.flush() {
            stage2.apply(partial);
        }
    }

    #[test]
    fn a_release_slower_than_the_one_before_it_fires_and_names_both() {
        let (aggregator, alerts) = release_settings();
        let mut evaluator = Evaluator::new(alerts);
        let mut stage1 = Stage1::new(aggregator.clone());
        let mut stage2 = Stage2::new(aggregator.clone());
        // "b-1" is deployed first; "a-2" (sorting before it by name) a minute later, 1.5x slower.
        release_views(&mut stage1, &mut stage2, T0, "b-1", 2000.0, 10);
        assert!(
            evaluator.evaluate(&stage2, T0).is_empty(),
            "one release only"
        );
        let at = T0 + MINUTE_MS;
        release_views(&mut stage1, &mut stage2, at, "b-1", 2000.0, 10);
        release_views(&mut stage1, &mut stage2, at, "a-2", 3000.0, 4);
        assert!(
            evaluator.evaluate(&stage2, at).is_empty(),
            "4 samples of the new release are below min_samples"
        );
        release_views(&mut stage1, &mut stage2, at, "a-2", 3000.0, 1);
        let sent = evaluator.evaluate(&stage2, at);
        assert_eq!(sent.len(), 1, "{sent:?}");
        assert!(sent[0].firing);
        assert_eq!(sent[0].labels["release"], "a-2");
        assert_eq!(sent[0].labels["previous_release"], "b-1");
        // HDR p75s: 3.007 s over 2.007 s.
        assert_eq!(
            sent[0].annotations["summary"], "a-2 is 1.498x b-1",
            "{sent:?}"
        );

        // The same state restored elsewhere (the newest release survives the snapshot) still
        // compares a-2 with b-1.
        let (restored, _) = Stage2::import(aggregator.clone(), &stage2.export());
        let mut next = Evaluator::new(release_settings().1);
        let again = next.evaluate(&restored, at);
        assert_eq!(again.len(), 1);
        assert_eq!(again[0].labels["release"], "a-2");

        // A third release, as fast as the first: nothing fires, and a-2's alert resolves.
        let later = T0 + 2 * MINUTE_MS;
        release_views(&mut stage1, &mut stage2, later, "c-3", 2000.0, 40);
        let sent = evaluator.evaluate(&stage2, later);
        assert_eq!(sent.len(), 1, "{sent:?}");
        assert!(!sent[0].firing);
        assert_eq!(sent[0].labels["release"], "a-2");
    }

    #[test]
    fn a_release_regression_needs_both_sides_and_a_real_difference() {
        let (aggregator, alerts) = release_settings();
        let mut evaluator = Evaluator::new(alerts);
        let mut stage1 = Stage1::new(aggregator.clone());
        let mut stage2 = Stage2::new(aggregator);
        // The previous release has too few samples in the window.
        release_views(&mut stage1, &mut stage2, T0, "1.0", 2000.0, 4);
        let at = T0 + MINUTE_MS;
        release_views(&mut stage1, &mut stage2, at, "1.1", 6000.0, 20);
        assert!(evaluator.evaluate(&stage2, at).is_empty());
        // Enough on both sides, 3x slower: fires.
        release_views(&mut stage1, &mut stage2, at, "1.0", 2000.0, 1);
        assert_eq!(evaluator.evaluate(&stage2, at).len(), 1);

        // Tiny values: 100 ms vs 150 ms is 1.5x but under min_delta (250 ms), so nothing fires.
        let (aggregator, alerts) = release_settings();
        let mut evaluator = Evaluator::new(alerts);
        let mut stage1 = Stage1::new(aggregator.clone());
        let mut stage2 = Stage2::new(aggregator);
        release_views(&mut stage1, &mut stage2, T0, "1.0", 100.0, 10);
        release_views(&mut stage1, &mut stage2, at, "1.1", 150.0, 10);
        assert!(evaluator.evaluate(&stage2, at).is_empty());
        assert_eq!(evaluator.alerts().count(), 0);
    }

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
