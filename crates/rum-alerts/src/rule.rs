//! Alert rules, typed from `[[alerts.rules]]` (every check whose error names its key lives here:
//! the metric, statistic, operator and window are facts of the aggregator and of this crate, not of
//! the config file), and the built-in Core Web Vitals rules.

use std::collections::BTreeMap;
use std::time::Duration;

use rum_aggregator::metric::MetricKind;
use rum_aggregator::settings::WINDOWS;
use rum_aggregator::view::{Dimension, View};
use rum_config::{AlertRuleConfig, ConfigError, is_label_name};

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Statistic {
    /// HDR quantile (0..1), in the metric's exported unit (seconds, or the CLS score).
    Quantile(f64),
    /// Exact share of good samples (0..1).
    GoodShare,
}

impl Statistic {
    /// `p75` / `p99.9` (a quantile in (0, 1)) or `good_share`.
    pub fn parse(statistic: &str) -> Option<Statistic> {
        if statistic == "good_share" {
            return Some(Statistic::GoodShare);
        }
        let percent: f64 = statistic.strip_prefix('p')?.parse().ok()?;
        (percent > 0.0 && percent < 100.0).then_some(Statistic::Quantile(percent / 100.0))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Comparison {
    Above,
    AtLeast,
    Below,
    AtMost,
}

impl Comparison {
    /// `>`, `>=`, `<` or `<=`: the one place operators are parsed.
    pub fn parse(op: &str) -> Option<Self> {
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

/// What a rule compares.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum RuleKind {
    /// Each segment's statistic against the threshold.
    Threshold,
    /// Per group of the view's other dimensions, the newest release's statistic divided by the
    /// previous release's against the threshold (a ratio), both releases with `min_samples` in
    /// the window and their statistics at least `min_delta` apart. "Newest" is the release whose
    /// segment appeared last, which is the order deploys reach visitors in.
    ReleaseRegression {
        /// Where the release is in the view's dimensions.
        release: usize,
        min_delta: f64,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub struct AlertRule {
    pub name: String,
    pub kind: RuleKind,
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
    /// Types `[[alerts.rules]]` entry `index` against the aggregator's `views`; errors name the key
    /// (`alerts.rules[2].metric`).
    pub fn from_config(
        config: &AlertRuleConfig,
        index: usize,
        views: &[View],
    ) -> Result<Self, ConfigError> {
        let at = |field: &str| format!("alerts.rules[{index}].{field}");
        if !is_label_name(&config.name) {
            return Err(ConfigError::invalid(
                at("name"),
                format!("{:?} must be like [A-Za-z_][A-Za-z0-9_]*", config.name),
            ));
        }
        let vitals = || {
            MetricKind::VITALS
                .iter()
                .map(|kind| kind.name())
                .collect::<Vec<_>>()
                .join(", ")
        };
        let metric = MetricKind::from_name(&config.metric)
            .filter(|kind| kind.is_vital())
            .ok_or_else(|| {
                ConfigError::invalid(
                    at("metric"),
                    format!("{:?}: use {}", config.metric, vitals()),
                )
            })?;
        let statistic = Statistic::parse(&config.statistic).ok_or_else(|| {
            ConfigError::invalid(
                at("statistic"),
                format!("{:?}: use p50..p99 or good_share", config.statistic),
            )
        })?;
        let comparison = Comparison::parse(&config.op).ok_or_else(|| {
            ConfigError::invalid(at("op"), format!("{:?}: use >, >=, < or <=", config.op))
        })?;
        if !config.threshold.is_finite() {
            return Err(ConfigError::invalid(
                at("threshold"),
                "must be a finite number",
            ));
        }
        let Some(view) = views.iter().find(|view| *view.name == config.view) else {
            return Err(ConfigError::invalid(
                at("view"),
                format!("{:?} is not a configured view", config.view),
            ));
        };
        let kind = match config.kind.as_str() {
            "threshold" => RuleKind::Threshold,
            "release_regression" => {
                let release = view
                    .dimensions
                    .iter()
                    .position(|dimension| *dimension == Dimension::Release)
                    .ok_or_else(|| {
                        ConfigError::invalid(
                            at("view"),
                            format!(
                                "{:?} does not group by release, which a release_regression rule compares",
                                config.view
                            ),
                        )
                    })?;
                if !(config.min_delta.is_finite() && config.min_delta >= 0.0) {
                    return Err(ConfigError::invalid(
                        at("min_delta"),
                        "must be a finite number, 0 or more",
                    ));
                }
                RuleKind::ReleaseRegression {
                    release,
                    min_delta: config.min_delta,
                }
            }
            other => {
                return Err(ConfigError::invalid(
                    at("kind"),
                    format!("{other:?}: use threshold or release_regression"),
                ));
            }
        };
        if kind == RuleKind::Threshold && config.min_delta != 0.0 {
            return Err(ConfigError::invalid(
                at("min_delta"),
                "only release_regression rules take min_delta",
            ));
        }
        if !WINDOWS.iter().any(|(label, _)| *label == config.window) {
            let windows: Vec<&str> = WINDOWS.iter().map(|(label, _)| *label).collect();
            return Err(ConfigError::invalid(
                at("window"),
                format!("{:?}: use {}", config.window, windows.join(", ")),
            ));
        }
        if let Some(label) = config.labels.keys().find(|label| !is_label_name(label)) {
            return Err(ConfigError::invalid(
                at("labels"),
                format!("{label:?} is not a label name"),
            ));
        }
        Ok(Self {
            name: config.name.clone(),
            kind,
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
                AlertRule::built_in(
                    format!("Rum{}P75Poor", capitalise(metric.name())),
                    RuleKind::Threshold,
                    metric,
                    (threshold, site_view, "15m"),
                    format!("p75 {upper} of {{{{ $labels.site }}}} is poor"),
                    format!(
                        "p75 {upper} over 15m is {{{{ $value }}}}{unit} (poor above {threshold}{unit})."
                    ),
                )
            })
            .collect()
    }

    /// The built-in release rules, on a view grouping by site and release: per site, the newest
    /// release's p75 of each Core Web Vital more than 20% above the previous release's over the
    /// last hour, both with at least 100 samples and a tenth of the "good" threshold apart (LCP
    /// 250 ms, INP 20 ms, CLS 0.01, FCP 180 ms, TTFB 80 ms), for 10 minutes. An hour holds both
    /// releases for a while after a deploy (old tabs and caches keep the previous one alive).
    pub fn release_defaults(view: &View) -> Vec<AlertRule> {
        let Some(release) = view
            .dimensions
            .iter()
            .position(|dimension| *dimension == Dimension::Release)
        else {
            return Vec::new();
        };
        MetricKind::VITALS
            .into_iter()
            .map(|metric| {
                let (good, _) = metric.thresholds().expect("vitals have thresholds");
                let upper = metric.name().to_uppercase();
                AlertRule::built_in(
                    format!("Rum{}ReleaseRegression", capitalise(metric.name())),
                    RuleKind::ReleaseRegression {
                        release,
                        min_delta: metric.raw_to_exported(good) / 10.0,
                    },
                    metric,
                    (1.2, &view.name, "1h"),
                    format!(
                        "p75 {upper} of {{{{ $labels.site }}}} got worse with release {{{{ $labels.release }}}}"
                    ),
                    format!(
                        "p75 {upper} over 1h of release {{{{ $labels.release }}}} is {{{{ $value }}}} times that of {{{{ $labels.previous_release }}}}."
                    ),
                )
            })
            .collect()
    }
}

impl AlertRule {
    /// A built-in rule: p75 above `threshold` on `view` over `window`, at least 100 samples, for
    /// 10 minutes, kept firing 5 minutes, `severity="warning"`.
    fn built_in(
        name: String,
        kind: RuleKind,
        metric: MetricKind,
        (threshold, view, window): (f64, &str, &str),
        summary: String,
        description: String,
    ) -> Self {
        AlertRule {
            name,
            kind,
            metric,
            statistic: Statistic::Quantile(0.75),
            comparison: Comparison::Above,
            threshold,
            view: view.to_owned(),
            window: window.to_owned(),
            min_samples: 100,
            for_duration: Duration::from_secs(600),
            keep_firing_for: Duration::from_secs(300),
            labels: BTreeMap::from([("severity".to_owned(), "warning".to_owned())]),
            annotations: BTreeMap::from([
                ("summary".to_owned(), summary),
                ("description".to_owned(), description),
            ]),
        }
    }
}

fn capitalise(name: &str) -> String {
    let mut characters = name.chars();
    characters
        .next()
        .map(|first| first.to_uppercase().chain(characters).collect())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statistics_parse() {
        assert_eq!(Statistic::parse("p75"), Some(Statistic::Quantile(0.75)));
        assert!(matches!(
            Statistic::parse("p99.9"),
            Some(Statistic::Quantile(q)) if (q - 0.999).abs() < 1e-12
        ));
        assert_eq!(Statistic::parse("good_share"), Some(Statistic::GoodShare));
        assert_eq!(Statistic::parse("p100"), None);
        assert_eq!(Statistic::parse("75"), None);
        assert_eq!(Statistic::parse("median"), None);
    }

    #[test]
    fn comparisons_parse_and_hold() {
        for (op, value, holds) in [
            (">", 2.0, true),
            (">", 1.0, false),
            (">=", 1.0, true),
            ("<", 1.0, false),
            ("<", 0.5, true),
            ("<=", 1.0, true),
        ] {
            let comparison = Comparison::parse(op).expect("known operator");
            assert_eq!(comparison.holds(value, 1.0), holds, "{value} {op} 1.0");
        }
        assert_eq!(Comparison::parse("=>"), None);
        assert_eq!(Comparison::parse("=="), None);
    }
}
