//! The one configuration file of `rum` (TOML), its defaults, `RUM_` environment overrides and
//! validation whose errors name the offending key.
//!
//! Every section has `deny_unknown_fields` so a typo is an error, not a silently ignored setting, and
//! every limit is a named constant. This crate holds the serde shapes, units and key-naming helpers
//! only: each consuming crate turns its section into its own settings (`rum_enrich::EnrichSettings::
//! from_config`, ...) with errors that still name the key, and `rum check-config` runs them all.
//!
//! This crate must stay a leaf: free of I/O beyond reading the file it is given, of any runtime
//! dependency, and of the crates that consume it (enrichment, transport, aggregation), which all
//! read from it.

#![forbid(unsafe_code)]

mod aggregator;
mod edge;
mod enrich;
mod load;
mod units;

use std::collections::BTreeMap;
use std::net::SocketAddr;

use serde::Deserialize;

pub use aggregator::*;
pub use edge::*;
pub use enrich::*;
pub use load::{ConfigError, ENV_PREFIX, load, load_str};
pub use units::{ByteSize, HumanDuration};

/// Beacons listener when nothing is configured (`rum standalone` on a laptop).
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
/// Admin listener (`/metrics`, `/healthz`, `/readyz`) when nothing is configured.
pub const DEFAULT_ADMIN_LISTEN: &str = "127.0.0.1:9100";
/// The browser caps a beacon at 64 KiB (BEACON.md); a little headroom for proxies re-encoding.
pub const DEFAULT_MAX_BODY_BYTES: u64 = 64 * 1024;
/// A gzip body may inflate to at most this; beyond it the body is a bomb and is rejected.
pub const DEFAULT_MAX_DECOMPRESSED_BYTES: u64 = 256 * 1024;
/// A client that takes longer than this to send its request headers is cut off (slowloris).
pub const DEFAULT_HEADER_TIMEOUT_SECS: u64 = 10;
/// A client that takes longer than this to send one beacon body is cut off.
pub const DEFAULT_BODY_TIMEOUT_SECS: u64 = 10;
/// How long browsers may cache a CORS preflight answer.
pub const DEFAULT_CORS_MAX_AGE_SECS: u64 = 86_400;
/// On SIGTERM, how long in-flight requests get to finish and the sink to flush.
pub const DEFAULT_SHUTDOWN_GRACE_SECS: u64 = 15;
/// Where web-vitals' metric objects are posted (`collector.web_vitals_path`).
pub const DEFAULT_WEB_VITALS_PATH: &str = "/rum/v1/web-vitals";
/// Where the Grafana Faro Web SDK posts (`collector.faro_path`; `{path}/{app_key}` too).
pub const DEFAULT_FARO_PATH: &str = "/collect";
/// The native beacon path, which no agent path may take.
pub const BEACON_PATH: &str = "/rum/v1/beacon";
/// `Retry-After` sent with 503 when the sink queue is full.
pub const DEFAULT_RETRY_AFTER_SECS: u64 = 5;
/// In-process channel capacity, in beacons.
pub const DEFAULT_CHANNEL_CAPACITY: usize = 100_000;
/// Kafka producer queue capacity, in beacons (librdkafka `queue.buffering.max.messages`).
pub const DEFAULT_KAFKA_QUEUE_MESSAGES: usize = 100_000;
pub const DEFAULT_KAFKA_TOPIC: &str = "rum.beacons";
/// Stage 1's partial batches (one per chunk and partials partition), partitioned by site.
pub const DEFAULT_PARTIALS_TOPIC: &str = "rum.partials";
/// Stage 1's state snapshots, one partition per beacon partition.
pub const DEFAULT_STAGE1_STATE_TOPIC: &str = "rum.state.stage1";
/// Stage 2's state snapshots, one partition per partials partition.
pub const DEFAULT_STAGE2_STATE_TOPIC: &str = "rum.state.stage2";
/// Small linger: batches form under load without adding visible latency.
pub const DEFAULT_KAFKA_LINGER_MS: u64 = 5;
/// How long librdkafka keeps retrying a message (e.g. while the broker is down) before it is
/// counted as a delivery failure.
pub const DEFAULT_KAFKA_MESSAGE_TIMEOUT_SECS: u64 = 300;
/// BEACON.md: at most 256 events per beacon (the decoder's own default, `rum_schema::limits`; a
/// test in rum-collector keeps the two equal).
pub const DEFAULT_MAX_EVENTS_PER_BEACON: usize = 256;
/// BEACON.md: `url` is at most 2048 bytes; the same cap applies to every URL-like field.
pub const DEFAULT_MAX_URL_BYTES: u64 = 2048;
/// Names, targets, messages and other short strings.
pub const DEFAULT_MAX_STRING_BYTES: u64 = 1024;
/// Error stacks are the one long string a beacon carries.
pub const DEFAULT_MAX_STACK_BYTES: u64 = 16 * 1024;
/// The site key accepted when no configuration is given at all.
pub const DEMO_SITE: &str = "demo";

/// The whole configuration file.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    pub collector: CollectorConfig,
    pub sink: SinkConfig,
    pub kafka: KafkaConfig,
    pub topics: TopicsConfig,
    pub aggregator: AggregatorConfig,
    pub alerts: AlertsConfig,
    pub enrich: EnrichConfig,
    pub spool: SpoolConfig,
    pub limits: LimitsConfig,
    /// Sites allowed to send beacons, each with its keys and allowed origins.
    pub sites: Vec<SiteConfig>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            collector: CollectorConfig::default(),
            sink: SinkConfig::default(),
            kafka: KafkaConfig::default(),
            topics: TopicsConfig::default(),
            aggregator: AggregatorConfig::default(),
            alerts: AlertsConfig::default(),
            enrich: EnrichConfig::default(),
            spool: SpoolConfig::default(),
            limits: LimitsConfig::default(),
            sites: vec![SiteConfig::demo()],
        }
    }
}

/// `[collector]`: the HTTP edge.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct CollectorConfig {
    pub listen: SocketAddr,
    pub admin_listen: SocketAddr,
    /// Tokio worker threads; 0 means one per core.
    pub worker_threads: usize,
    pub max_body_bytes: ByteSize,
    pub max_decompressed_bytes: ByteSize,
    pub max_events_per_beacon: usize,
    pub max_url_bytes: ByteSize,
    pub max_string_bytes: ByteSize,
    pub max_stack_bytes: ByteSize,
    pub header_timeout: HumanDuration,
    pub body_timeout: HumanDuration,
    pub cors_max_age: HumanDuration,
    pub retry_after: HumanDuration,
    pub shutdown_grace: HumanDuration,
    /// Path that takes web-vitals' metric objects (`?key=` as for beacons); docs/agents.md.
    pub web_vitals_path: String,
    /// Path that takes Faro Web SDK payloads, and `{faro_path}/{key}`; docs/agents.md.
    pub faro_path: String,
    /// How long browsers and CDNs may cache a site's `GET /rum/v1/config` (0: revalidate on every
    /// page load, so a changed sample rate applies from the next one).
    pub site_config_max_age: HumanDuration,
}

impl Default for CollectorConfig {
    fn default() -> Self {
        Self {
            listen: DEFAULT_LISTEN.parse().expect("constant address"),
            admin_listen: DEFAULT_ADMIN_LISTEN.parse().expect("constant address"),
            worker_threads: 0,
            max_body_bytes: ByteSize(DEFAULT_MAX_BODY_BYTES),
            max_decompressed_bytes: ByteSize(DEFAULT_MAX_DECOMPRESSED_BYTES),
            max_events_per_beacon: DEFAULT_MAX_EVENTS_PER_BEACON,
            max_url_bytes: ByteSize(DEFAULT_MAX_URL_BYTES),
            max_string_bytes: ByteSize(DEFAULT_MAX_STRING_BYTES),
            max_stack_bytes: ByteSize(DEFAULT_MAX_STACK_BYTES),
            header_timeout: HumanDuration::from_secs(DEFAULT_HEADER_TIMEOUT_SECS),
            body_timeout: HumanDuration::from_secs(DEFAULT_BODY_TIMEOUT_SECS),
            cors_max_age: HumanDuration::from_secs(DEFAULT_CORS_MAX_AGE_SECS),
            retry_after: HumanDuration::from_secs(DEFAULT_RETRY_AFTER_SECS),
            shutdown_grace: HumanDuration::from_secs(DEFAULT_SHUTDOWN_GRACE_SECS),
            web_vitals_path: DEFAULT_WEB_VITALS_PATH.into(),
            faro_path: DEFAULT_FARO_PATH.into(),
            site_config_max_age: HumanDuration::from_secs(0),
        }
    }
}

/// Where accepted beacons go.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum SinkKind {
    /// The in-process channel (`rum standalone`, the embedded default).
    #[default]
    Channel,
    /// A Kafka topic (`[kafka]`).
    Kafka,
}

/// `[sink]`.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct SinkConfig {
    pub kind: SinkKind,
    /// Capacity of the in-process channel, in beacons.
    pub channel_capacity: usize,
}

impl Default for SinkConfig {
    fn default() -> Self {
        Self {
            kind: SinkKind::Channel,
            channel_capacity: DEFAULT_CHANNEL_CAPACITY,
        }
    }
}

/// `[kafka]`: the producer (collector) and consumers (`rum tail`, aggregators).
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct KafkaConfig {
    /// Bootstrap servers, `host:port[,host:port...]`.
    pub brokers: String,
    /// The beacon topic.
    pub topic: String,
    pub partials_topic: String,
    pub stage1_state_topic: String,
    pub stage2_state_topic: String,
    pub linger: HumanDuration,
    pub message_timeout: HumanDuration,
    /// Beacons the producer may hold before the collector answers 503.
    pub queue_messages: usize,
    /// Extra librdkafka properties passed through verbatim (TLS, SASL, tuning), e.g.
    /// `"security.protocol" = "SASL_SSL"`. A property rum sets itself (`acks`, `linger.ms`, ...) is
    /// refused with the `[kafka]` key to use instead, so the delivery guarantees always hold.
    pub librdkafka: BTreeMap<String, String>,
}

impl Default for KafkaConfig {
    fn default() -> Self {
        Self {
            brokers: "127.0.0.1:9092".to_owned(),
            topic: DEFAULT_KAFKA_TOPIC.to_owned(),
            partials_topic: DEFAULT_PARTIALS_TOPIC.to_owned(),
            stage1_state_topic: DEFAULT_STAGE1_STATE_TOPIC.to_owned(),
            stage2_state_topic: DEFAULT_STAGE2_STATE_TOPIC.to_owned(),
            linger: HumanDuration::from_millis(DEFAULT_KAFKA_LINGER_MS),
            message_timeout: HumanDuration::from_secs(DEFAULT_KAFKA_MESSAGE_TIMEOUT_SECS),
            queue_messages: DEFAULT_KAFKA_QUEUE_MESSAGES,
            librdkafka: BTreeMap::new(),
        }
    }
}

/// Partitions of the beacon and partials topics when `[topics]` does not say.
pub const DEFAULT_TOPIC_PARTITIONS: u32 = 12;
/// Replicas per partition when `[topics]` does not say (a production cluster wants 3).
pub const DEFAULT_TOPIC_REPLICATION: u32 = 1;
pub const DEFAULT_BEACON_RETENTION_SECS: u64 = 24 * 3600;
/// State topics roll segments this often, so compaction can drop old snapshots.
pub const DEFAULT_STATE_SEGMENT_SECS: u64 = 3600;

/// `[topics]`: what `rum topics create` makes and `rum topics check` compares.
#[derive(Debug, Clone, Deserialize, PartialEq, Default)]
#[serde(default, deny_unknown_fields)]
pub struct TopicsConfig {
    pub beacons: TopicConfig,
    pub partials: TopicConfig,
    /// Both state topics; their partition counts follow the beacon and partials topics.
    pub state: StateTopicConfig,
}

/// `[topics.beacons]`, `[topics.partials]`.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct TopicConfig {
    pub partitions: u32,
    pub replication: u32,
    pub retention: HumanDuration,
}

impl Default for TopicConfig {
    fn default() -> Self {
        Self {
            partitions: DEFAULT_TOPIC_PARTITIONS,
            replication: DEFAULT_TOPIC_REPLICATION,
            retention: HumanDuration::from_secs(DEFAULT_BEACON_RETENTION_SECS),
        }
    }
}

/// `[topics.state]`.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct StateTopicConfig {
    pub replication: u32,
    pub segment: HumanDuration,
}

impl Default for StateTopicConfig {
    fn default() -> Self {
        Self {
            replication: DEFAULT_TOPIC_REPLICATION,
            segment: HumanDuration::from_secs(DEFAULT_STATE_SEGMENT_SECS),
        }
    }
}

/// `[[sites]]`: one site that may send beacons.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SiteConfig {
    /// Stable site name; travels with every beacon (the key never does).
    pub id: String,
    /// Keys the site's pages send as `?key=`; several allow rotation.
    pub keys: Vec<String>,
    /// Origins (`https://shop.example.com`) whose pages may send; `"*"` allows any origin and
    /// requests without an `Origin` header.
    #[serde(default)]
    pub allowed_origins: Vec<String>,
    /// Keep beacons from bots (tagged `is_bot`, device class `bot`) instead of dropping them.
    #[serde(default)]
    pub keep_bots: bool,
    /// Query parameters kept in the page URL; every other one is stripped (default: all are).
    #[serde(default)]
    pub allowed_query_params: Vec<String>,
    /// Route rules tried before the id heuristics, first match wins (syntax in docs/enrichment.md).
    #[serde(default)]
    pub route_rules: Vec<String>,
    /// Path segments kept in a route before the rest collapses into `/:rest`.
    #[serde(default = "enrich::default_max_route_segments")]
    pub max_route_segments: usize,
    /// Overrides `enrich.ip_privacy` for this site.
    #[serde(default)]
    pub ip_privacy: Option<IpPrivacyMode>,
    /// Beacons per second this site may send (overrides `limits.site_rate`; 0 = unlimited).
    #[serde(default)]
    pub rate: Option<f64>,
    /// Burst above `rate` (default twice the rate).
    #[serde(default)]
    pub burst: Option<f64>,
    /// Fraction of sessions kept, 0..1, decided from the session id: served to the script
    /// (`GET /rum/v1/config`) and enforced here on every beacon. Unset: the script's own
    /// `data-sample-rate` decides and the collector keeps whatever it sends.
    #[serde(default)]
    pub sample_rate: Option<f64>,
    /// Script features switched off for this site (served to the script, which stops collecting
    /// them from the next page load): names of the script's `disable` option.
    #[serde(default)]
    pub disable: Vec<String>,
}

/// What the script's `disable` option (and `sites[].disable`) can switch off.
pub const SCRIPT_FEATURES: [&str; 9] = [
    "vitals",
    "navigation",
    "errors",
    "requests",
    "spa",
    "hints",
    "actions",
    "frames",
    "resources",
];

impl SiteConfig {
    /// The site that `rum standalone` accepts when run without configuration.
    pub fn demo() -> Self {
        Self {
            id: DEMO_SITE.to_owned(),
            keys: vec![DEMO_SITE.to_owned()],
            allowed_origins: vec!["*".to_owned()],
            keep_bots: false,
            allowed_query_params: Vec::new(),
            route_rules: Vec::new(),
            max_route_segments: DEFAULT_MAX_ROUTE_SEGMENTS,
            ip_privacy: None,
            rate: None,
            burst: None,
            sample_rate: None,
            disable: Vec::new(),
        }
    }
}

impl Config {
    /// Checks what serde cannot: cross-field rules and value ranges. Errors name the key.
    ///
    /// The enrichment values (CIDRs, header names, route rules, cache and clock bounds) are checked
    /// where they are compiled, by `rum_enrich::EnrichSettings::from_config` and
    /// `rum_enrich::SiteEnrichment::from_config`.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |key: &str, message: String| {
            Err(ConfigError::Invalid {
                key: key.to_owned(),
                message,
            })
        };
        let collector = &self.collector;
        // Port 0 asks the OS for a free port, so two of them never collide.
        if collector.listen == collector.admin_listen && collector.listen.port() != 0 {
            return invalid(
                "collector.admin_listen",
                "must differ from collector.listen: admin endpoints never share the public port"
                    .into(),
            );
        }
        if collector.max_body_bytes.0 == 0 {
            return invalid("collector.max_body_bytes", "must be greater than 0".into());
        }
        for (key, path) in [
            ("collector.web_vitals_path", &collector.web_vitals_path),
            ("collector.faro_path", &collector.faro_path),
        ] {
            if !path.starts_with('/') || path.contains(['?', '#']) || path == BEACON_PATH {
                return invalid(
                    key,
                    format!(
                        "must be a path starting with `/`, without `?` or `#`, other than {BEACON_PATH}"
                    ),
                );
            }
        }
        if collector.faro_path == collector.web_vitals_path {
            return invalid(
                "collector.faro_path",
                "must differ from collector.web_vitals_path".into(),
            );
        }
        if collector.max_decompressed_bytes.0 < collector.max_body_bytes.0 {
            return invalid(
                "collector.max_decompressed_bytes",
                "must be at least collector.max_body_bytes".into(),
            );
        }
        for (key, timeout) in [
            ("collector.header_timeout", collector.header_timeout),
            ("collector.body_timeout", collector.body_timeout),
        ] {
            if timeout.0.is_zero() {
                return invalid(key, "must be greater than 0".into());
            }
        }
        if collector.max_events_per_beacon == 0 {
            return invalid(
                "collector.max_events_per_beacon",
                "must be greater than 0".into(),
            );
        }
        if self.sink.channel_capacity == 0 {
            return invalid("sink.channel_capacity", "must be greater than 0".into());
        }
        for (name, topic) in [
            ("beacons", &self.topics.beacons),
            ("partials", &self.topics.partials),
        ] {
            if topic.partitions == 0 {
                return invalid(
                    &format!("topics.{name}.partitions"),
                    "must be greater than 0".into(),
                );
            }
            if topic.replication == 0 {
                return invalid(
                    &format!("topics.{name}.replication"),
                    "must be greater than 0".into(),
                );
            }
            if topic.retention.0.is_zero() {
                return invalid(
                    &format!("topics.{name}.retention"),
                    "must be greater than 0".into(),
                );
            }
        }
        if self.topics.state.replication == 0 {
            return invalid("topics.state.replication", "must be greater than 0".into());
        }
        let names = [
            ("kafka.topic", &self.kafka.topic),
            ("kafka.partials_topic", &self.kafka.partials_topic),
            ("kafka.stage1_state_topic", &self.kafka.stage1_state_topic),
            ("kafka.stage2_state_topic", &self.kafka.stage2_state_topic),
        ];
        for (index, (key, name)) in names.iter().enumerate() {
            if name.trim().is_empty() {
                return invalid(key, "must not be empty".into());
            }
            if names[..index].iter().any(|(_, earlier)| earlier == name) {
                return invalid(key, format!("{name:?} is already another rum topic"));
            }
        }
        if self.sink.kind == SinkKind::Kafka {
            if self.kafka.brokers.trim().is_empty() {
                return invalid("kafka.brokers", "must name at least one broker".into());
            }
            if self.kafka.topic.trim().is_empty() {
                return invalid("kafka.topic", "must not be empty".into());
            }
            if self.kafka.queue_messages == 0 {
                return invalid("kafka.queue_messages", "must be greater than 0".into());
            }
        }
        self.aggregator.validate()?;
        self.alerts.validate()?;
        self.spool.validate()?;
        self.limits.validate()?;
        if self.sites.is_empty() {
            return invalid(
                "sites",
                "at least one [[sites]] entry is needed to accept beacons".into(),
            );
        }
        let mut seen_keys = std::collections::HashSet::new();
        for (index, site) in self.sites.iter().enumerate() {
            if site.id.is_empty()
                || !site
                    .id
                    .bytes()
                    .all(|byte| byte.is_ascii_alphanumeric() || b"_-.".contains(&byte))
            {
                return invalid(
                    &format!("sites[{index}].id"),
                    "must be non-empty and use only [A-Za-z0-9_.-]".into(),
                );
            }
            if site.keys.is_empty() {
                return invalid(
                    &format!("sites[{index}].keys"),
                    "needs at least one key".into(),
                );
            }
            for (name, value) in [("rate", site.rate), ("burst", site.burst)] {
                if value.is_some_and(|value| !value.is_finite() || value < 0.0) {
                    return invalid(
                        &format!("sites[{index}].{name}"),
                        "must be 0 (unlimited) or a positive number of beacons per second".into(),
                    );
                }
            }
            if site
                .sample_rate
                .is_some_and(|rate| !(0.0..=1.0).contains(&rate))
            {
                return invalid(
                    &format!("sites[{index}].sample_rate"),
                    "must be a fraction of sessions from 0 to 1".into(),
                );
            }
            if let Some(feature) = site
                .disable
                .iter()
                .find(|feature| !SCRIPT_FEATURES.contains(&feature.as_str()))
            {
                return invalid(
                    &format!("sites[{index}].disable"),
                    format!("{feature:?}: use {}", SCRIPT_FEATURES.join(", ")),
                );
            }
            for key in &site.keys {
                if key.is_empty() || !seen_keys.insert(key.as_str()) {
                    return invalid(
                        &format!("sites[{index}].keys"),
                        format!("key {key:?} is empty or used by more than one site"),
                    );
                }
            }
            for origin in &site.allowed_origins {
                let well_formed = origin == "*"
                    || ((origin.starts_with("https://") || origin.starts_with("http://"))
                        && !origin.trim_end_matches('/').contains(['?', '#'])
                        && origin.matches('/').count() == 2);
                if !well_formed {
                    return invalid(
                        &format!("sites[{index}].allowed_origins"),
                        format!(
                            "{origin:?} is not an origin like \"https://shop.example.com\" or \"*\""
                        ),
                    );
                }
            }
        }
        Ok(())
    }
}
