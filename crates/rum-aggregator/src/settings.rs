//! The aggregator's settings, taken from `[aggregator]` of the config file.

use std::sync::Arc;

use crate::view::View;

/// Minutes of sub-windows the longest view needs: 1 h plus the current minute (a 5-minute block is
/// kept while any of its minutes is within this).
pub const RETENTION_MINUTES: i64 = 61;

/// The rolling windows, in minutes, with their label. A window of W minutes covers the W complete
/// minutes before the current one plus the current (partial) minute, so it never shows a nearly empty
/// window right after a minute starts.
pub const WINDOWS: [(&str, i64); 4] = [("1m", 1), ("5m", 5), ("15m", 15), ("1h", 60)];

/// Quantiles exported per window.
pub const QUANTILES: [(&str, f64); 5] = [
    ("0.5", 0.5),
    ("0.75", 0.75),
    ("0.9", 0.9),
    ("0.95", 0.95),
    ("0.99", 0.99),
];

#[derive(Debug, Clone)]
pub struct AggregatorSettings {
    pub views: Arc<[View]>,
    pub histogram_digits: u8,
    pub flush_interval: std::time::Duration,
    pub allowed_lateness_minutes: i64,
    pub top_n: usize,
    pub max_sites: usize,
    pub site_segment_budget: usize,
    pub dedupe_capacity: usize,
    pub slow_request_ms: f64,
}

impl AggregatorSettings {
    pub fn from_config(config: &rum_config::AggregatorConfig) -> Result<Self, String> {
        let views = config
            .views
            .iter()
            .map(View::from_config)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self {
            views: views.into(),
            histogram_digits: config.histogram_digits,
            flush_interval: config.flush_interval.0,
            // Lateness counts in whole minutes past the window's end, rounded up.
            allowed_lateness_minutes: config.allowed_lateness.0.as_secs().div_ceil(60) as i64,
            top_n: config.top_n,
            max_sites: config.max_sites,
            site_segment_budget: config.site_segment_budget,
            dedupe_capacity: config.dedupe_capacity,
            slow_request_ms: config.slow_request.0.as_secs_f64() * 1000.0,
        })
    }
}

impl Default for AggregatorSettings {
    fn default() -> Self {
        Self::from_config(&rum_config::AggregatorConfig::default()).expect("defaults are valid")
    }
}

/// Minutes since the Unix epoch of a millisecond timestamp.
pub fn minute_of(epoch_ms: i64) -> i64 {
    epoch_ms.div_euclid(60_000)
}
