//! `[aggregator]` (windows, segments, cardinality bounds) and `[alerts]` (rules and receivers).

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::{ConfigError, HumanDuration};

/// Stage 1 hands its pre-aggregates to stage 2 this often: the delay between a beacon's arrival and
/// its effect on `/metrics`.
pub const DEFAULT_FLUSH_INTERVAL_MS: u64 = 1_000;
/// A beacon whose 1-minute window closed longer ago than this is counted as late and not mixed in.
pub const DEFAULT_ALLOWED_LATENESS_SECS: u64 = 120;
/// HDR precision: 2 significant digits = at most 1% relative error on every quantile.
pub const DEFAULT_HISTOGRAM_DIGITS: u8 = 2;
/// Distinct values kept per site and dimension (routes, countries, ...); the rest fold into
/// `__other__`.
pub const DEFAULT_TOP_N: usize = 100;
/// Live segments per site across all views; new segments beyond it fold into the view's
/// `__other__` segment.
pub const DEFAULT_SITE_SEGMENT_BUDGET: usize = 2_000;
/// Distinct sites the aggregator keeps; more fold into `__other__`.
pub const DEFAULT_MAX_SITES: usize = 100;
/// Page views remembered to count a page view and a re-sent metric once (~170 bytes each).
pub const DEFAULT_DEDUPE_CAPACITY: usize = 200_000;
/// A request event at least this slow counts as slow.
pub const DEFAULT_SLOW_REQUEST_MS: u64 = 1_000;

pub const DEFAULT_EVALUATION_INTERVAL_SECS: u64 = 15;
pub const DEFAULT_RESEND_INTERVAL_SECS: u64 = 60;
pub const DEFAULT_NOTIFY_TIMEOUT_SECS: u64 = 10;

/// Dimensions a view may group by.
pub const DIMENSIONS: [&str; 7] = [
    "site",
    "route",
    "device",
    "country",
    "browser",
    "connection",
    "navigation",
];
/// Rolling windows the aggregator keeps and exports.
pub const WINDOWS: [&str; 4] = ["1m", "5m", "15m", "1h"];
/// Metrics rules may watch.
pub const ALERT_METRICS: [&str; 5] = ["lcp", "inp", "cls", "fcp", "ttfb"];

/// `[aggregator]`.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct AggregatorConfig {
    pub flush_interval: HumanDuration,
    pub allowed_lateness: HumanDuration,
    /// HDR significant digits, 1-3 (2 = 1% relative error).
    pub histogram_digits: u8,
    pub top_n: usize,
    pub site_segment_budget: usize,
    pub max_sites: usize,
    pub dedupe_capacity: usize,
    pub slow_request: HumanDuration,
    /// Group-bys; each yields one segment per distinct combination of its dimensions' values.
    pub views: Vec<ViewConfig>,
}

/// `[[aggregator.views]]`.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ViewConfig {
    /// Exported as the `view` label.
    pub name: String,
    pub dimensions: Vec<String>,
    /// Also keep the navigation-phase histograms (dns, connect, tls, download, dom, load).
    #[serde(default)]
    pub navigation: bool,
}

impl ViewConfig {
    fn new(name: &str, dimensions: &[&str], navigation: bool) -> Self {
        Self {
            name: name.to_owned(),
            dimensions: dimensions.iter().map(|d| (*d).to_owned()).collect(),
            navigation,
        }
    }

    /// The views used when none are configured.
    pub fn defaults() -> Vec<ViewConfig> {
        vec![
            ViewConfig::new("site", &["site"], true),
            ViewConfig::new("site_route", &["site", "route"], true),
            ViewConfig::new("site_route_device", &["site", "route", "device"], false),
            ViewConfig::new("site_device", &["site", "device"], false),
            ViewConfig::new("site_country", &["site", "country"], false),
            ViewConfig::new("site_browser", &["site", "browser"], false),
        ]
    }
}

impl Default for AggregatorConfig {
    fn default() -> Self {
        Self {
            flush_interval: HumanDuration::from_millis(DEFAULT_FLUSH_INTERVAL_MS),
            allowed_lateness: HumanDuration::from_secs(DEFAULT_ALLOWED_LATENESS_SECS),
            histogram_digits: DEFAULT_HISTOGRAM_DIGITS,
            top_n: DEFAULT_TOP_N,
            site_segment_budget: DEFAULT_SITE_SEGMENT_BUDGET,
            max_sites: DEFAULT_MAX_SITES,
            dedupe_capacity: DEFAULT_DEDUPE_CAPACITY,
            slow_request: HumanDuration::from_millis(DEFAULT_SLOW_REQUEST_MS),
            views: ViewConfig::defaults(),
        }
    }
}

/// `[alerts]`.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct AlertsConfig {
    pub evaluation_interval: HumanDuration,
    /// A firing alert is re-sent this often (Alertmanager forgets alerts that are not re-sent).
    pub resend_interval: HumanDuration,
    /// Add the built-in Core Web Vitals rules (p75 poor per site) to `rules`.
    pub default_rules: bool,
    /// Base of the `generatorURL` of each alert (where an operator can look), e.g. the admin URL.
    pub external_url: String,
    pub alertmanagers: Vec<ReceiverConfig>,
    pub webhooks: Vec<ReceiverConfig>,
    pub rules: Vec<AlertRuleConfig>,
}

impl Default for AlertsConfig {
    fn default() -> Self {
        Self {
            evaluation_interval: HumanDuration::from_secs(DEFAULT_EVALUATION_INTERVAL_SECS),
            resend_interval: HumanDuration::from_secs(DEFAULT_RESEND_INTERVAL_SECS),
            default_rules: true,
            external_url: String::new(),
            alertmanagers: Vec::new(),
            webhooks: Vec::new(),
            rules: Vec::new(),
        }
    }
}

/// `[[alerts.alertmanagers]]` (base URL; alerts go to `POST {url}/api/v2/alerts`) or
/// `[[alerts.webhooks]]` (the Alertmanager webhook payload is POSTed to `url`).
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ReceiverConfig {
    /// `http://host:port[/path]` (plain HTTP; put a TLS-terminating proxy in front for https).
    pub url: String,
    /// Webhooks only: signs each body with HMAC-SHA256, sent as `X-Rum-Signature: sha256=<hex>`.
    #[serde(default)]
    pub hmac_secret: Option<String>,
    #[serde(default = "default_notify_timeout")]
    pub timeout: HumanDuration,
}

fn default_notify_timeout() -> HumanDuration {
    HumanDuration::from_secs(DEFAULT_NOTIFY_TIMEOUT_SECS)
}

/// `[[alerts.rules]]`: fire when `statistic(metric)` over `window` of every segment of `view`
/// compares true against `threshold` for at least `for`, with at least `min_samples` samples.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct AlertRuleConfig {
    /// The `alertname` label.
    pub name: String,
    /// `lcp`, `inp`, `cls`, `fcp` or `ttfb`.
    pub metric: String,
    /// `p50`..`p99` (any `pNN` or `pNN.N`), or `good_share` (0..1, exact at the thresholds).
    pub statistic: String,
    /// `>`, `>=`, `<` or `<=`.
    pub op: String,
    /// Seconds for durations, the score for CLS, a ratio for `good_share`.
    pub threshold: f64,
    pub view: String,
    #[serde(default = "default_rule_window")]
    pub window: String,
    #[serde(default)]
    pub min_samples: u64,
    #[serde(default, rename = "for")]
    pub for_duration: Option<HumanDuration>,
    #[serde(default)]
    pub keep_firing_for: Option<HumanDuration>,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// May use `{{ $value }}` and `{{ $labels.NAME }}`.
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
}

fn default_rule_window() -> String {
    "5m".to_owned()
}

fn invalid(key: String, message: impl Into<String>) -> Result<(), ConfigError> {
    Err(ConfigError::Invalid {
        key,
        message: message.into(),
    })
}

fn is_label_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|first| first.is_ascii_alphabetic() || first == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !name.starts_with("__")
}

/// Parses `p75` / `p99.9` into a quantile in (0, 1).
pub fn parse_quantile_statistic(statistic: &str) -> Option<f64> {
    let percent: f64 = statistic.strip_prefix('p')?.parse().ok()?;
    (percent > 0.0 && percent < 100.0).then_some(percent / 100.0)
}

impl AggregatorConfig {
    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        let key = |name: &str| format!("aggregator.{name}");
        if self.flush_interval.0.is_zero() {
            return invalid(key("flush_interval"), "must be greater than 0");
        }
        // Minutes older than the 15m window are merged into 5-minute blocks; a late beacon must
        // never need one of them.
        if self.allowed_lateness.0 > std::time::Duration::from_secs(600) {
            return invalid(key("allowed_lateness"), "must be at most 10m");
        }
        if !(1..=3).contains(&self.histogram_digits) {
            return invalid(key("histogram_digits"), "must be 1, 2 or 3");
        }
        for (name, value) in [
            ("top_n", self.top_n),
            ("site_segment_budget", self.site_segment_budget),
            ("max_sites", self.max_sites),
            ("dedupe_capacity", self.dedupe_capacity),
        ] {
            if value == 0 {
                return invalid(key(name), "must be greater than 0");
            }
        }
        if self.views.is_empty() {
            return invalid(key("views"), "needs at least one view");
        }
        let mut names = std::collections::HashSet::new();
        let mut dimension_sets = std::collections::HashSet::new();
        for (index, view) in self.views.iter().enumerate() {
            let at = |field: &str| format!("aggregator.views[{index}].{field}");
            if !is_label_name(&view.name) || !names.insert(view.name.as_str()) {
                return invalid(
                    at("name"),
                    format!("{:?} must be unique and like [a-z_][a-z0-9_]*", view.name),
                );
            }
            if view.dimensions.first().map(String::as_str) != Some("site") {
                return invalid(
                    at("dimensions"),
                    "must start with \"site\" (segments never mix sites)",
                );
            }
            let mut seen = std::collections::HashSet::new();
            for dimension in &view.dimensions {
                if !DIMENSIONS.contains(&dimension.as_str()) || !seen.insert(dimension) {
                    return invalid(
                        at("dimensions"),
                        format!(
                            "{dimension:?} is unknown or repeated; use {}",
                            DIMENSIONS.join(", ")
                        ),
                    );
                }
            }
            let mut sorted = view.dimensions.clone();
            sorted.sort();
            if !dimension_sets.insert(sorted) {
                return invalid(at("dimensions"), "another view has the same dimensions");
            }
        }
        Ok(())
    }
}

impl AlertsConfig {
    pub(crate) fn validate(&self, aggregator: &AggregatorConfig) -> Result<(), ConfigError> {
        if self.evaluation_interval.0.is_zero() {
            return invalid(
                "alerts.evaluation_interval".into(),
                "must be greater than 0",
            );
        }
        if self.resend_interval.0.is_zero() {
            return invalid("alerts.resend_interval".into(), "must be greater than 0");
        }
        for (section, receivers) in [
            ("alertmanagers", &self.alertmanagers),
            ("webhooks", &self.webhooks),
        ] {
            for (index, receiver) in receivers.iter().enumerate() {
                if !receiver.url.starts_with("http://") {
                    return invalid(
                        format!("alerts.{section}[{index}].url"),
                        format!(
                            "{:?} must be an http:// URL (terminate TLS in a proxy)",
                            receiver.url
                        ),
                    );
                }
                if section == "alertmanagers" && receiver.hmac_secret.is_some() {
                    return invalid(
                        format!("alerts.{section}[{index}].hmac_secret"),
                        "is for webhooks only",
                    );
                }
            }
        }
        let mut names = std::collections::HashSet::new();
        for (index, rule) in self.rules.iter().enumerate() {
            let at = |field: &str| format!("alerts.rules[{index}].{field}");
            if !is_label_name(&rule.name) {
                return invalid(
                    at("name"),
                    format!("{:?} must be like [A-Za-z_][A-Za-z0-9_]*", rule.name),
                );
            }
            if !ALERT_METRICS.contains(&rule.metric.as_str()) {
                return invalid(
                    at("metric"),
                    format!("{:?}: use {}", rule.metric, ALERT_METRICS.join(", ")),
                );
            }
            if rule.statistic != "good_share" && parse_quantile_statistic(&rule.statistic).is_none()
            {
                return invalid(
                    at("statistic"),
                    format!("{:?}: use p50..p99 or good_share", rule.statistic),
                );
            }
            if ![">", ">=", "<", "<="].contains(&rule.op.as_str()) {
                return invalid(at("op"), format!("{:?}: use >, >=, < or <=", rule.op));
            }
            if !rule.threshold.is_finite() {
                return invalid(at("threshold"), "must be a finite number");
            }
            if !aggregator.views.iter().any(|view| view.name == rule.view) {
                return invalid(
                    at("view"),
                    format!("{:?} is not a configured view", rule.view),
                );
            }
            if !WINDOWS.contains(&rule.window.as_str()) {
                return invalid(
                    at("window"),
                    format!("{:?}: use {}", rule.window, WINDOWS.join(", ")),
                );
            }
            for label in rule.labels.keys() {
                if !is_label_name(label) {
                    return invalid(at("labels"), format!("{label:?} is not a label name"));
                }
            }
            if !names.insert((rule.name.as_str(), rule.view.as_str(), rule.labels.clone())) {
                return invalid(
                    at("name"),
                    "another rule has the same name, view and labels",
                );
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use crate::load_str;

    fn error_of(toml: &str) -> String {
        let no_env: Vec<(String, String)> = Vec::new();
        match load_str(toml, "test.toml", no_env) {
            Ok(_) => panic!("expected an error for:\n{toml}"),
            Err(error) => error.to_string(),
        }
    }

    #[test]
    fn view_and_rule_errors_name_the_key() {
        let cases = [
            (
                "[[aggregator.views]]\nname = \"v\"\ndimensions = [\"route\"]\n",
                "aggregator.views[0].dimensions",
            ),
            (
                "[[aggregator.views]]\nname = \"v\"\ndimensions = [\"site\", \"planet\"]\n",
                "aggregator.views[0].dimensions",
            ),
            (
                "[aggregator]\nhistogram_digits = 4\n",
                "aggregator.histogram_digits",
            ),
            ("[aggregator]\ntop_n = 0\n", "aggregator.top_n"),
            (
                "[[alerts.rules]]\nname = \"r\"\nmetric = \"lcp\"\nstatistic = \"p75\"\nop = \">\"\nthreshold = 4.0\nview = \"nope\"\n",
                "alerts.rules[0].view",
            ),
            (
                "[[alerts.rules]]\nname = \"r\"\nmetric = \"lcp\"\nstatistic = \"median\"\nop = \">\"\nthreshold = 4.0\nview = \"site\"\n",
                "alerts.rules[0].statistic",
            ),
            (
                "[[alerts.rules]]\nname = \"r\"\nmetric = \"lcp\"\nstatistic = \"p75\"\nop = \"=>\"\nthreshold = 4.0\nview = \"site\"\n",
                "alerts.rules[0].op",
            ),
            (
                "[[alerts.webhooks]]\nurl = \"https://hooks.example\"\n",
                "alerts.webhooks[0].url",
            ),
        ];
        for (toml, key) in cases {
            let error = error_of(toml);
            assert!(error.contains(key), "{error} should name {key}");
        }
    }

    #[test]
    fn quantile_statistics_parse() {
        assert_eq!(super::parse_quantile_statistic("p75"), Some(0.75));
        assert!(
            super::parse_quantile_statistic("p99.9").is_some_and(|q| (q - 0.999).abs() < 1e-12)
        );
        assert_eq!(super::parse_quantile_statistic("p100"), None);
        assert_eq!(super::parse_quantile_statistic("75"), None);
    }
}
