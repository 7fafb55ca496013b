//! The aggregator's settings, taken from `[aggregator]` of the config file.

use std::sync::Arc;

use rum_config::ConfigError;

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
    /// Action names and business-event names kept per site, each.
    pub top_names: usize,
    /// Releases kept per site (the most recent).
    pub releases: usize,
    /// Error groups tracked per site (Space-Saving capacity) and exported per site.
    pub error_groups: usize,
    pub top_errors: usize,
    /// Distinct values of one (site, dimension) one chunk of stage 1 may carry before the rest
    /// fold into `__other__` there: a bound on what a flood of distinct URLs costs between the
    /// stages, generous enough that top-N (stage 2) decides in every other case.
    pub chunk_value_bound: usize,
    pub max_sites: usize,
    pub site_segment_budget: usize,
    pub dedupe_capacity: usize,
    pub slow_request_ms: f64,
    /// Sessions and funnels (`[aggregator.sessions]`, `[[aggregator.funnels]]`).
    pub sessions: crate::sessions::SessionSettings,
    /// `rum standalone`: where stage 2's state is saved and how often (`None`: not saved).
    pub state_dir: Option<std::path::PathBuf>,
    pub state_interval: std::time::Duration,
}

/// The longest allowed lateness: minutes older than the 15m window are merged into 5-minute
/// blocks (stage 2), and a late beacon must never need one of them.
pub const MAX_ALLOWED_LATENESS: std::time::Duration = std::time::Duration::from_secs(600);

impl AggregatorSettings {
    /// Types `[aggregator]`; errors name the key (`aggregator.views[1].dimensions`).
    pub fn from_config(config: &rum_config::AggregatorConfig) -> Result<Self, ConfigError> {
        if config.allowed_lateness.0 > MAX_ALLOWED_LATENESS {
            return Err(ConfigError::invalid(
                "aggregator.allowed_lateness",
                "must be at most 10m",
            ));
        }
        let views = config
            .views
            .iter()
            .enumerate()
            .map(|(index, view)| View::from_config(view, index))
            .collect::<Result<Vec<_>, _>>()?;
        let mut dimension_sets = std::collections::HashSet::new();
        for (index, view) in views.iter().enumerate() {
            let mut sorted = view.dimensions.clone();
            sorted.sort_by_key(|dimension| dimension.index());
            if !dimension_sets.insert(sorted) {
                return Err(ConfigError::invalid(
                    format!("aggregator.views[{index}].dimensions"),
                    "another view has the same dimensions",
                ));
            }
        }
        Ok(Self {
            views: views.into(),
            histogram_digits: config.histogram_digits,
            flush_interval: config.flush_interval.0,
            // Lateness counts in whole minutes past the window's end, rounded up.
            allowed_lateness_minutes: config.allowed_lateness.0.as_secs().div_ceil(60) as i64,
            top_n: config.top_n,
            top_names: config.top_names,
            releases: config.releases,
            error_groups: config.error_groups,
            top_errors: config.top_errors.min(config.error_groups),
            // The top-N table's whole capacity (admitted + candidates): stage 2 sees every value
            // it could rank.
            chunk_value_bound: config
                .top_n
                .saturating_mul(1 + crate::topn::CANDIDATE_FACTOR),
            max_sites: config.max_sites,
            site_segment_budget: config.site_segment_budget,
            dedupe_capacity: config.dedupe_capacity,
            slow_request_ms: config.slow_request.0.as_secs_f64() * 1000.0,
            sessions: crate::sessions::SessionSettings::from_config(config)?,
            state_dir: (!config.state_dir.trim().is_empty())
                .then(|| std::path::PathBuf::from(config.state_dir.trim())),
            state_interval: config.state_interval.0,
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

#[cfg(test)]
mod tests {
    use super::*;

    fn error_of(toml: &str) -> String {
        let config = rum_config::load_str(toml, "test.toml", Vec::new()).expect("valid file");
        match AggregatorSettings::from_config(&config.aggregator) {
            Ok(_) => panic!("expected an error for:\n{toml}"),
            Err(error) => error.to_string(),
        }
    }

    #[test]
    fn view_errors_name_the_key() {
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
                "[[aggregator.views]]\nname = \"v\"\ndimensions = [\"site\", \"route\", \"route\"]\n",
                "aggregator.views[0].dimensions",
            ),
            (
                "[[aggregator.views]]\nname = \"a\"\ndimensions = [\"site\", \"route\"]\n\
                 [[aggregator.views]]\nname = \"b\"\ndimensions = [\"site\", \"route\"]\n",
                "aggregator.views[1].dimensions",
            ),
            (
                "[aggregator]\nallowed_lateness = \"11m\"\n",
                "aggregator.allowed_lateness",
            ),
        ];
        for (toml, key) in cases {
            let error = error_of(toml);
            assert!(error.contains(key), "{error} should name {key}");
        }
    }

    #[test]
    fn defaults_and_the_example_file_are_valid() {
        let defaults = AggregatorSettings::default();
        assert_eq!(defaults.views.len(), 6);
        let text = include_str!("../../../deploy/rum.example.toml");
        let config = rum_config::load_str(text, "rum.example.toml", Vec::new()).expect("valid");
        AggregatorSettings::from_config(&config.aggregator).expect("example views are valid");
    }
}
