//! `[spool]` (the collector's disk spool) and `[limits]` (abuse limits at the edge).

use std::path::PathBuf;

use serde::Deserialize;

use crate::{ByteSize, ConfigError, HumanDuration};

/// The spool's whole size before the edge answers 503.
pub const DEFAULT_SPOOL_MAX_BYTES: u64 = 1 << 30;
/// Spooled beacons older than this are dropped unreplayed (`spool_expired`): the aggregator's
/// windows closed long before.
pub const DEFAULT_SPOOL_MAX_AGE_SECS: u64 = 24 * 3600;
pub const DEFAULT_SPOOL_SEGMENT_BYTES: u64 = 16 << 20;
pub const DEFAULT_SPOOL_SEGMENT_AGE_SECS: u64 = 60;
/// Overflow mode's power-loss window.
pub const DEFAULT_SPOOL_FSYNC_INTERVAL_MS: u64 = 1000;

/// When beacons go to the spool.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "kebab-case")]
pub enum SpoolMode {
    /// Only what the producer cannot take (broker down, queue full, failed delivery, shutdown).
    #[default]
    Overflow,
    /// Every beacon, fsynced before its 202.
    WriteAhead,
    /// No spool even with a `dir`.
    Off,
}

/// `[spool]`: the collector's disk spool (Kafka sink only). Without `dir` there is none.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct SpoolConfig {
    pub dir: Option<PathBuf>,
    pub mode: SpoolMode,
    pub max_bytes: ByteSize,
    pub max_age: HumanDuration,
    pub segment_bytes: ByteSize,
    pub segment_age: HumanDuration,
    pub fsync_interval: HumanDuration,
}

impl Default for SpoolConfig {
    fn default() -> Self {
        Self {
            dir: None,
            mode: SpoolMode::Overflow,
            max_bytes: ByteSize(DEFAULT_SPOOL_MAX_BYTES),
            max_age: HumanDuration::from_secs(DEFAULT_SPOOL_MAX_AGE_SECS),
            segment_bytes: ByteSize(DEFAULT_SPOOL_SEGMENT_BYTES),
            segment_age: HumanDuration::from_secs(DEFAULT_SPOOL_SEGMENT_AGE_SECS),
            fsync_interval: HumanDuration::from_millis(DEFAULT_SPOOL_FSYNC_INTERVAL_MS),
        }
    }
}

impl SpoolConfig {
    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        if self.dir.is_none() && self.mode == SpoolMode::WriteAhead {
            return Err(ConfigError::invalid(
                "spool.dir",
                "spool.mode = \"write-ahead\" needs a directory",
            ));
        }
        if self.segment_bytes.0 < 64 << 10 {
            return Err(ConfigError::invalid(
                "spool.segment_bytes",
                "must be at least 64KiB",
            ));
        }
        if self.max_bytes.0 < 2 * self.segment_bytes.0 {
            return Err(ConfigError::invalid(
                "spool.max_bytes",
                "must be at least twice spool.segment_bytes",
            ));
        }
        if self.segment_age.0.is_zero() || self.max_age.0 <= self.segment_age.0 {
            return Err(ConfigError::invalid(
                "spool.max_age",
                "must be greater than spool.segment_age (and both greater than 0)",
            ));
        }
        let interval = self.fsync_interval.0;
        if interval.as_millis() < 10 || interval.as_secs() > 1 {
            return Err(ConfigError::invalid(
                "spool.fsync_interval",
                "must be between 10ms and 1s",
            ));
        }
        Ok(())
    }
}

/// Open connections on the public listener before new ones wait in the kernel's backlog.
pub const DEFAULT_MAX_CONNECTIONS: usize = 10_000;
/// Bodies read at once; more wait for a slot (then time out like any slow body).
pub const DEFAULT_MAX_CONCURRENT_BODIES: usize = 1024;
/// Client networks whose token buckets are tracked; the least recently seen is forgotten first.
pub const DEFAULT_TRACKED_NETWORKS: usize = 65_536;

/// `[limits]`: abuse limits at the edge. Rates are beacons per second, 0 turns a limit off.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct LimitsConfig {
    /// Per site (all its keys together), unless the site sets its own `rate`.
    pub site_rate: f64,
    pub site_burst: f64,
    /// Per client network: the /24 of an IPv4 address, the /48 of an IPv6 one, taken before the
    /// address is dropped.
    pub network_rate: f64,
    pub network_burst: f64,
    pub tracked_networks: usize,
    pub max_connections: usize,
    pub max_concurrent_bodies: usize,
    /// Resident memory beyond which new beacons get 503 (0 = off).
    pub memory_high_watermark: ByteSize,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        Self {
            site_rate: 0.0,
            site_burst: 0.0,
            network_rate: 0.0,
            network_burst: 0.0,
            tracked_networks: DEFAULT_TRACKED_NETWORKS,
            max_connections: DEFAULT_MAX_CONNECTIONS,
            max_concurrent_bodies: DEFAULT_MAX_CONCURRENT_BODIES,
            memory_high_watermark: ByteSize(0),
        }
    }
}

impl LimitsConfig {
    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        for (key, rate, burst) in [
            ("limits.site", self.site_rate, self.site_burst),
            ("limits.network", self.network_rate, self.network_burst),
        ] {
            if !rate.is_finite() || rate < 0.0 {
                return Err(ConfigError::invalid(
                    format!("{key}_rate"),
                    "must be 0 (off) or a positive number of beacons per second",
                ));
            }
            if !burst.is_finite() || burst < 0.0 || (rate > 0.0 && burst > 0.0 && burst < 1.0) {
                return Err(ConfigError::invalid(
                    format!("{key}_burst"),
                    "must be 0 (twice the rate) or at least 1",
                ));
            }
        }
        for (key, value) in [
            ("limits.tracked_networks", self.tracked_networks),
            ("limits.max_connections", self.max_connections),
            ("limits.max_concurrent_bodies", self.max_concurrent_bodies),
        ] {
            if value == 0 {
                return Err(ConfigError::invalid(key, "must be greater than 0"));
            }
        }
        Ok(())
    }
}
