//! Alert rules, typed from `[[alerts.rules]]`, and the built-in Core Web Vitals rules.

use std::collections::BTreeMap;
use std::time::Duration;

use rum_config::{AlertRuleConfig, parse_quantile_statistic};

use crate::metric::MetricKind;

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Statistic {
    /// HDR quantile (0..1), in the metric's exported unit (seconds, or the CLS score).
    Quantile(f64),
    /// Exact share of good samples (0..1).
    GoodShare,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Comparison {
    Above,
    AtLeast,
    Below,
    AtMost,
}

impl Comparison {
    fn parse(op: &str) -> Option<Self> {
        match op {
            ">" => Some(Comparison::Above),
            ">=" => Some(Comparison::AtLeast),
            "<" => Some(Comparison::Below),
            "<=" => Some(Comparison::AtMost),
            _ => None,
        }
    }

    pub fn holds(self, value: f64, threshold: f64) -> bool {
        match self {
            Comparison::Above => value > threshold,
            Comparison::AtLeast => value >= threshold,
            Comparison::Below => value < threshold,
            Comparison::AtMost => value <= threshold,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct AlertRule {
    pub name: String,
    pub metric: MetricKind,
    pub statistic: Statistic,
    pub comparison: Comparison,
    pub threshold: f64,
    pub view: String,
    pub window: String,
    pub min_samples: u64,
    pub for_duration: Duration,
    pub keep_firing_for: Duration,
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
}

impl AlertRule {
    pub fn from_config(config: &AlertRuleConfig) -> Result<Self, String> {
        let metric = MetricKind::from_name(&config.metric)
            .filter(|kind| kind.is_vital())
            .ok_or_else(|| format!("rule {}: unknown metric {:?}", config.name, config.metric))?;
        let statistic = if config.statistic == "good_share" {
            Statistic::GoodShare
        } else {
            Statistic::Quantile(parse_quantile_statistic(&config.statistic).ok_or_else(|| {
                format!(
                    "rule {}: unknown statistic {:?}",
                    config.name, config.statistic
                )
            })?)
        };
        let comparison = Comparison::parse(&config.op)
            .ok_or_else(|| format!("rule {}: unknown op {:?}", config.name, config.op))?;
        Ok(Self {
            name: config.name.clone(),
            metric,
            statistic,
            comparison,
            threshold: config.threshold,
            view: config.view.clone(),
            window: config.window.clone(),
            min_samples: config.min_samples,
            for_duration: config.for_duration.map_or(Duration::ZERO, |d| d.0),
            keep_firing_for: config.keep_firing_for.map_or(Duration::ZERO, |d| d.0),
            labels: config.labels.clone(),
            annotations: config.annotations.clone(),
        })
    }

    /// The built-in rules: per site, p75 of each Core Web Vital in the "poor" range over 15 minutes,
    /// for 10 minutes, with at least 100 samples (a handful of slow visits must not page anyone).
    /// p75 is what Google's CWV assessment uses; "poor" (above T2) is a clear breach, not noise.
    pub fn defaults(site_view: &str) -> Vec<AlertRule> {
        MetricKind::VITALS
            .into_iter()
            .map(|metric| {
                let (_, poor) = metric.thresholds().expect("vitals have thresholds");
                let threshold = metric.raw_to_exported(poor);
                let upper = metric.name().to_uppercase();
                let unit = if metric.is_unitless() { "" } else { " s" };
                AlertRule {
                    name: format!("Rum{}P75Poor", capitalise(metric.name())),
                    metric,
                    statistic: Statistic::Quantile(0.75),
                    comparison: Comparison::Above,
                    threshold,
                    view: site_view.to_owned(),
                    window: "15m".to_owned(),
                    min_samples: 100,
                    for_duration: Duration::from_secs(600),
                    keep_firing_for: Duration::from_secs(300),
                    labels: BTreeMap::from([("severity".to_owned(), "warning".to_owned())]),
                    annotations: BTreeMap::from([
                        (
                            "summary".to_owned(),
                            format!("p75 {upper} of {{{{ $labels.site }}}} is poor"),
                        ),
                        (
                            "description".to_owned(),
                            format!(
                                "p75 {upper} over 15m is {{{{ $value }}}}{unit} (poor above {threshold}{unit})."
                            ),
                        ),
                    ]),
                }
            })
            .collect()
    }
}

fn capitalise(name: &str) -> String {
    let mut characters = name.chars();
    characters
        .next()
        .map(|first| first.to_uppercase().chain(characters).collect())
        .unwrap_or_default()
}
