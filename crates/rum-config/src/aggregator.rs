//! `[aggregator]` (windows, segments, cardinality bounds) and `[alerts]` (rules and receivers): the
//! serde shapes and the checks that need nothing but the file. What a dimension, window, metric or
//! operator may be is decided where those live (`rum_aggregator::settings::AggregatorSettings`,
//! `rum_alerts::AlertSettings`), with errors that name the key all the same.

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
/// Page views remembered to count a page view and a re-sent metric once (120 bytes each: size it
/// as page views per second x (allowed lateness + 1 minute), docs/aggregation.md).
pub const DEFAULT_DEDUPE_CAPACITY: usize = 200_000;
/// Distinct action names and business-event names kept per site (each); the rest fold into
/// `__other__`.
pub const DEFAULT_TOP_NAMES: usize = 50;
/// Releases kept per site as `release` label values, the most recent ones; older ones fold into
/// `__other__`.
pub const DEFAULT_RELEASES: usize = 5;
/// Error groups (fingerprints) a site's Space-Saving table holds; its counts are within
/// occurrences / capacity.
pub const DEFAULT_ERROR_GROUPS: usize = 100;
/// Error groups exported per site (the most frequent).
pub const DEFAULT_TOP_ERRORS: usize = 20;
/// A request event at least this slow counts as slow.
pub const DEFAULT_SLOW_REQUEST_MS: u64 = 1_000;

/// Behind Kafka, stage 1 cuts a chunk of a beacon partition at a tick record or after this many
/// records, whichever comes first.
pub const DEFAULT_CHUNK_RECORDS: usize = 5_000;
/// How often stage 1 writes a tick record into each beacon partition it owns.
pub const DEFAULT_TICK_INTERVAL_MS: u64 = 1_000;
/// How often each stage writes a snapshot of a partition's state (the most a restart replays).
pub const DEFAULT_SNAPSHOT_INTERVAL_SECS: u64 = 30;
/// The consumer groups are `<group>.stage1` and `<group>.stage2`.
pub const DEFAULT_CONSUMER_GROUP: &str = "rum-aggregator";
/// A worker silent this long loses its partitions to the others.
pub const DEFAULT_SESSION_TIMEOUT_SECS: u64 = 10;

pub const DEFAULT_EVALUATION_INTERVAL_SECS: u64 = 15;
pub const DEFAULT_RESEND_INTERVAL_SECS: u64 = 60;
pub const DEFAULT_NOTIFY_TIMEOUT_SECS: u64 = 10;

/// `[aggregator]`.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct AggregatorConfig {
    pub flush_interval: HumanDuration,
    pub allowed_lateness: HumanDuration,
    /// HDR significant digits, 1-3 (2 = 1% relative error).
    pub histogram_digits: u8,
    pub top_n: usize,
    /// Action names and business-event names kept per site.
    pub top_names: usize,
    /// Releases kept per site (the most recent).
    pub releases: usize,
    /// Error groups tracked per site (Space-Saving capacity), and how many of them are exported.
    pub error_groups: usize,
    pub top_errors: usize,
    pub site_segment_budget: usize,
    pub max_sites: usize,
    pub dedupe_capacity: usize,
    pub slow_request: HumanDuration,
    /// Group-bys; each yields one segment per distinct combination of its dimensions' values.
    pub views: Vec<ViewConfig>,
    /// `rum aggregator` (Kafka): records per chunk at most.
    pub chunk_records: usize,
    /// `rum aggregator`: tick records per owned beacon partition.
    pub tick_interval: HumanDuration,
    /// `rum aggregator`: snapshot cadence of stage 1 (per beacon partition) and stage 2 (per
    /// partials partition).
    pub stage1_snapshot_interval: HumanDuration,
    pub stage2_snapshot_interval: HumanDuration,
    /// `rum aggregator`: consumer group prefix.
    pub consumer_group: String,
    /// `rum aggregator`: consumer group session timeout.
    pub session_timeout: HumanDuration,
    /// `rum aggregator`: where a partition that was never read starts.
    pub start_from: StartFrom,
    /// `rum aggregator`: its admin listener (`/metrics`, `/healthz`, `/readyz`).
    pub admin_listen: std::net::SocketAddr,
    pub sessions: SessionsConfig,
    pub funnels: Vec<FunnelConfig>,
    /// `rum standalone`: where stage 2's state is saved (every `state_interval` and at shutdown)
    /// and read back at start; empty: not saved. Without a config file it is `rum-state`.
    pub state_dir: String,
    pub state_interval: HumanDuration,
}

/// How often `rum standalone` saves stage 2's state into `state_dir`.
pub const DEFAULT_STATE_INTERVAL_SECS: u64 = 60;
/// `state_dir` when `rum standalone` runs without a config file (relative to its working
/// directory), so the laptop default keeps its windows across a restart.
pub const ZERO_CONFIG_STATE_DIR: &str = "rum-state";

/// Sessions tracked at once (per stage-2 state: standalone's whole, a worker's per partials
/// partition); past it the least recently active ends early, counted.
pub const DEFAULT_SESSION_CAPACITY: usize = 100_000;
/// A session ends after this much inactivity (the browser script's `sessionTimeoutMin`).
pub const DEFAULT_SESSION_IDLE_SECS: u64 = 30 * 60;
/// A funnel's steps must be reached within this much of its first step.
pub const DEFAULT_FUNNEL_WINDOW_SECS: u64 = 30 * 60;
/// Funnels, and steps per funnel, at most (each step is a few series per site).
pub const MAX_FUNNELS: usize = 20;
pub const MAX_FUNNEL_STEPS: usize = 10;

/// `[aggregator.sessions]`.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct SessionsConfig {
    /// Off: no session metrics and no funnels.
    pub enabled: bool,
    pub capacity: usize,
    pub idle: HumanDuration,
}

impl Default for SessionsConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            capacity: DEFAULT_SESSION_CAPACITY,
            idle: HumanDuration::from_secs(DEFAULT_SESSION_IDLE_SECS),
        }
    }
}

/// `[[aggregator.funnels]]`: ordered steps a session goes through.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct FunnelConfig {
    /// Exported as the `funnel` label.
    pub name: String,
    /// Only this site's sessions; every site's when absent.
    #[serde(default)]
    pub site: Option<String>,
    #[serde(default = "default_funnel_window")]
    pub window: HumanDuration,
    pub steps: Vec<FunnelStepConfig>,
}

fn default_funnel_window() -> HumanDuration {
    HumanDuration::from_secs(DEFAULT_FUNNEL_WINDOW_SECS)
}

/// One step: exactly one of a route template, an action name or a business-event name.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct FunnelStepConfig {
    pub route: Option<String>,
    pub action: Option<String>,
    pub event: Option<String>,
}

/// `rum aggregator`'s admin listener when nothing is configured (beside a collector's 9100).
pub const DEFAULT_AGGREGATOR_ADMIN_LISTEN: &str = "127.0.0.1:9101";

/// Where a partition no worker has read before starts.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum StartFrom {
    /// The oldest record still on the topic.
    Earliest,
    /// Only what is written from now on.
    #[default]
    Latest,
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
    /// Also keep, by name: user actions (counts, frustration signals, loading time), business
    /// events, failed calls by endpoint, and long-frame script time and resources by origin.
    #[serde(default)]
    pub actions: bool,
    /// Also export estimated totals: page views and errors each weighed by 1 / the sample rate
    /// its session was kept at (`rum_page_views_estimated_total`, `rum_errors_estimated_total`).
    #[serde(default)]
    pub estimated: bool,
}

impl ViewConfig {
    /// A view; `detailed` keeps navigation phases and actions too.
    fn new(name: &str, dimensions: &[&str], detailed: bool) -> Self {
        Self {
            name: name.to_owned(),
            dimensions: dimensions.iter().map(|d| (*d).to_owned()).collect(),
            navigation: detailed,
            actions: detailed,
            estimated: false,
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
            top_names: DEFAULT_TOP_NAMES,
            releases: DEFAULT_RELEASES,
            error_groups: DEFAULT_ERROR_GROUPS,
            top_errors: DEFAULT_TOP_ERRORS,
            site_segment_budget: DEFAULT_SITE_SEGMENT_BUDGET,
            max_sites: DEFAULT_MAX_SITES,
            dedupe_capacity: DEFAULT_DEDUPE_CAPACITY,
            slow_request: HumanDuration::from_millis(DEFAULT_SLOW_REQUEST_MS),
            views: ViewConfig::defaults(),
            chunk_records: DEFAULT_CHUNK_RECORDS,
            tick_interval: HumanDuration::from_millis(DEFAULT_TICK_INTERVAL_MS),
            stage1_snapshot_interval: HumanDuration::from_secs(DEFAULT_SNAPSHOT_INTERVAL_SECS),
            stage2_snapshot_interval: HumanDuration::from_secs(DEFAULT_SNAPSHOT_INTERVAL_SECS),
            consumer_group: DEFAULT_CONSUMER_GROUP.to_owned(),
            session_timeout: HumanDuration::from_secs(DEFAULT_SESSION_TIMEOUT_SECS),
            start_from: StartFrom::Latest,
            admin_listen: DEFAULT_AGGREGATOR_ADMIN_LISTEN
                .parse()
                .expect("constant address"),
            sessions: SessionsConfig::default(),
            funnels: Vec::new(),
            state_dir: String::new(),
            state_interval: HumanDuration::from_secs(DEFAULT_STATE_INTERVAL_SECS),
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
/// With `kind = "release_regression"` the value compared is the ratio of the newest release's
/// statistic to the previous release's, per group of the view's other dimensions.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct AlertRuleConfig {
    /// The `alertname` label.
    pub name: String,
    /// `threshold` (the statistic against `threshold`) or `release_regression` (the newest
    /// release's statistic over the previous release's, against `threshold` as a ratio; the view
    /// must group by `release`).
    #[serde(default = "default_rule_kind")]
    pub kind: String,
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
    /// Samples the window must hold (release_regression: on both releases).
    #[serde(default)]
    pub min_samples: u64,
    /// release_regression only: the two releases' statistics must also differ by at least this
    /// (seconds, the CLS score or a share), so a ratio of two tiny values does not fire.
    #[serde(default)]
    pub min_delta: f64,
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

fn default_rule_kind() -> String {
    "threshold".to_owned()
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

/// Whether `name` may be a Prometheus label name (and so a view or alert rule name):
/// `[A-Za-z_][A-Za-z0-9_]*`, not starting with the reserved `__`.
pub fn is_label_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|first| first.is_ascii_alphabetic() || first == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !name.starts_with("__")
}

impl AggregatorConfig {
    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        let key = |name: &str| format!("aggregator.{name}");
        if self.flush_interval.0.is_zero() {
            return invalid(key("flush_interval"), "must be greater than 0");
        }
        if !(1..=3).contains(&self.histogram_digits) {
            return invalid(key("histogram_digits"), "must be 1, 2 or 3");
        }
        for (name, value) in [
            ("top_n", self.top_n),
            ("top_names", self.top_names),
            ("releases", self.releases),
            ("error_groups", self.error_groups),
            ("top_errors", self.top_errors),
            ("site_segment_budget", self.site_segment_budget),
            ("max_sites", self.max_sites),
            ("dedupe_capacity", self.dedupe_capacity),
            ("chunk_records", self.chunk_records),
        ] {
            if value == 0 {
                return invalid(key(name), "must be greater than 0");
            }
        }
        for (name, value) in [
            ("tick_interval", self.tick_interval),
            ("stage1_snapshot_interval", self.stage1_snapshot_interval),
            ("stage2_snapshot_interval", self.stage2_snapshot_interval),
            ("session_timeout", self.session_timeout),
            ("state_interval", self.state_interval),
        ] {
            if value.0.is_zero() {
                return invalid(key(name), "must be greater than 0");
            }
        }
        if self.consumer_group.trim().is_empty() {
            return invalid(key("consumer_group"), "must not be empty");
        }
        if self.views.is_empty() {
            return invalid(key("views"), "needs at least one view");
        }
        let mut names = std::collections::HashSet::new();
        for (index, view) in self.views.iter().enumerate() {
            if !is_label_name(&view.name) || !names.insert(view.name.as_str()) {
                return invalid(
                    format!("aggregator.views[{index}].name"),
                    format!("{:?} must be unique and like [a-z_][a-z0-9_]*", view.name),
                );
            }
            if view.dimensions.is_empty() {
                return invalid(
                    format!("aggregator.views[{index}].dimensions"),
                    "needs at least one dimension",
                );
            }
        }
        self.validate_sessions()
    }

    fn validate_sessions(&self) -> Result<(), ConfigError> {
        if self.sessions.capacity == 0 {
            return invalid(
                "aggregator.sessions.capacity".into(),
                "must be greater than 0",
            );
        }
        if self.sessions.idle.0.as_secs() < 1 {
            return invalid("aggregator.sessions.idle".into(), "must be at least 1s");
        }
        if self.funnels.len() > MAX_FUNNELS {
            return invalid(
                "aggregator.funnels".into(),
                format!("at most {MAX_FUNNELS} funnels"),
            );
        }
        if !self.funnels.is_empty() && !self.sessions.enabled {
            return invalid(
                "aggregator.funnels".into(),
                "funnels follow sessions: aggregator.sessions.enabled must be true",
            );
        }
        let mut names = std::collections::HashSet::new();
        for (index, funnel) in self.funnels.iter().enumerate() {
            let key = |name: &str| format!("aggregator.funnels[{index}].{name}");
            if !is_label_name(&funnel.name) || !names.insert(funnel.name.as_str()) {
                return invalid(
                    key("name"),
                    format!("{:?} must be unique and like [a-z_][a-z0-9_]*", funnel.name),
                );
            }
            if funnel.window.0.as_secs() < 1 {
                return invalid(key("window"), "must be at least 1s");
            }
            if !(2..=MAX_FUNNEL_STEPS).contains(&funnel.steps.len()) {
                return invalid(key("steps"), format!("needs 2 to {MAX_FUNNEL_STEPS} steps"));
            }
            for (position, step) in funnel.steps.iter().enumerate() {
                let given = [&step.route, &step.action, &step.event];
                let named: Vec<&String> = given.iter().filter_map(|value| value.as_ref()).collect();
                if named.len() != 1 || named[0].trim().is_empty() || named[0].len() > 200 {
                    return invalid(
                        format!("aggregator.funnels[{index}].steps[{position}]"),
                        "needs exactly one of route, action or event, 1..200 characters",
                    );
                }
            }
        }
        Ok(())
    }
}

impl AlertsConfig {
    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
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
    fn funnel_errors_name_the_key() {
        let step = "[[aggregator.funnels.steps]]";
        let cases = [
            (
                format!("[[aggregator.funnels]]\nname = \"f\"\n{step}\nroute = \"/a\"\n"),
                "aggregator.funnels[0].steps",
            ),
            (
                format!(
                    "[[aggregator.funnels]]\nname = \"f\"\n{step}\nroute = \"/a\"\n{step}\nroute = \"/b\"\naction = \"x\"\n"
                ),
                "aggregator.funnels[0].steps[1]",
            ),
            (
                format!(
                    "[[aggregator.funnels]]\nname = \"no spaces\"\n{step}\nroute = \"/a\"\n{step}\nevent = \"e\"\n"
                ),
                "aggregator.funnels[0].name",
            ),
            (
                format!(
                    "[aggregator.sessions]\nenabled = false\n[[aggregator.funnels]]\nname = \"f\"\n{step}\nroute = \"/a\"\n{step}\nevent = \"e\"\n"
                ),
                "aggregator.funnels",
            ),
            (
                "[aggregator.sessions]\ncapacity = 0\n".to_owned(),
                "aggregator.sessions.capacity",
            ),
        ];
        for (toml, key) in cases {
            let error = error_of(&toml);
            assert!(error.contains(key), "{error} should name {key}");
        }
        let valid = format!(
            "[[aggregator.funnels]]\nname = \"checkout\"\nsite = \"shop\"\nwindow = \"10m\"\n{step}\nroute = \"/cart\"\n{step}\naction = \"Checkout\"\n{step}\nevent = \"purchase\"\n"
        );
        let config = load_str(&valid, "test.toml", Vec::<(String, String)>::new()).unwrap();
        assert_eq!(config.aggregator.funnels[0].steps.len(), 3);
        assert_eq!(config.aggregator.funnels[0].window.0.as_secs(), 600);
    }

    #[test]
    fn file_level_errors_name_the_key() {
        let cases = [
            (
                "[aggregator]\nhistogram_digits = 4\n",
                "aggregator.histogram_digits",
            ),
            ("[aggregator]\ntop_n = 0\n", "aggregator.top_n"),
            (
                "[[aggregator.views]]\nname = \"v\"\ndimensions = [\"site\"]\n[[aggregator.views]]\nname = \"v\"\ndimensions = [\"site\", \"route\"]\n",
                "aggregator.views[1].name",
            ),
            (
                "[[alerts.webhooks]]\nurl = \"https://hooks.example\"\n",
                "alerts.webhooks[0].url",
            ),
            (
                "[[alerts.alertmanagers]]\nurl = \"http://am\"\nhmac_secret = \"s\"\n",
                "alerts.alertmanagers[0].hmac_secret",
            ),
            (
                "[alerts]\nevaluation_interval = \"0s\"\n",
                "alerts.evaluation_interval",
            ),
        ];
        for (toml, key) in cases {
            let error = error_of(toml);
            assert!(error.contains(key), "{error} should name {key}");
        }
    }

    #[test]
    fn label_names() {
        assert!(super::is_label_name("site_route"));
        assert!(super::is_label_name("_x1"));
        assert!(!super::is_label_name("1x"));
        assert!(!super::is_label_name("a-b"));
        assert!(!super::is_label_name("__reserved"));
        assert!(!super::is_label_name(""));
    }
}
