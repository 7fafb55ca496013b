//! The metrics the aggregator keeps per segment: the five Core Web Vitals and the navigation phases,
//! with their recording scale, web-vitals thresholds and the Prometheus bucket bounds.
//!
//! Values arrive as the browser measured them (milliseconds; CLS unitless). Histograms record
//! integers (ms, CLS x 1000); exact counters compare the raw value with the bounds, so a threshold
//! is exact (LCP 2500 ms is good, 2500.4 ms is not) whatever the histogram precision.

use rum_schema::proto::VitalName;

/// One histogrammed metric.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum MetricKind {
    Lcp,
    Inp,
    Cls,
    Fcp,
    Ttfb,
    NavDns,
    NavConnect,
    NavTls,
    NavDownload,
    NavDomInteractive,
    NavDomComplete,
    NavLoad,
    /// A user action's loading time (click until the page is quiet again), in views with actions.
    ActionLoading,
}

/// Number of [`MetricKind`]s (array sizes).
pub const METRIC_COUNT: usize = 13;

/// Largest value a millisecond histogram tracks exactly (1 h, the decoder's own cap on LCP);
/// larger values are clamped into the top bucket.
const MAX_TRACKED_MS: u64 = 3_600_000;
/// Largest CLS x 1000 tracked (CLS 100, the decoder's cap).
const MAX_TRACKED_CLS_MILLI: u64 = 100_000;

const LCP_BOUNDS: &[f64] = &[
    500.0, 1000.0, 1500.0, 2000.0, 2500.0, 3000.0, 4000.0, 5000.0, 6000.0, 8000.0, 10000.0,
    15000.0, 20000.0, 30000.0,
];
const INP_BOUNDS: &[f64] = &[
    50.0, 100.0, 150.0, 200.0, 300.0, 400.0, 500.0, 750.0, 1000.0, 1500.0, 2000.0, 3000.0, 5000.0,
];
const CLS_BOUNDS: &[f64] = &[
    0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5, 0.75, 1.0, 2.0,
];
const FCP_BOUNDS: &[f64] = &[
    500.0, 1000.0, 1500.0, 1800.0, 2000.0, 2500.0, 3000.0, 4000.0, 5000.0, 7500.0, 10000.0, 20000.0,
];
const TTFB_BOUNDS: &[f64] = &[
    100.0, 200.0, 400.0, 600.0, 800.0, 1000.0, 1200.0, 1500.0, 1800.0, 2500.0, 3500.0, 5000.0,
    10000.0,
];
/// Action loading times: the script caps them at 10 s.
const ACTION_BOUNDS: &[f64] = &[
    50.0, 100.0, 250.0, 500.0, 1000.0, 2000.0, 3000.0, 5000.0, 10000.0,
];
const NAVIGATION_BOUNDS: &[f64] = &[
    10.0, 25.0, 50.0, 100.0, 250.0, 500.0, 1000.0, 2500.0, 5000.0, 10000.0, 30000.0,
];

/// The web-vitals rating of one value: good <= T1 < needs improvement <= T2 < poor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rating {
    Good,
    NeedsImprovement,
    Poor,
}

impl MetricKind {
    pub const ALL: [MetricKind; METRIC_COUNT] = [
        MetricKind::Lcp,
        MetricKind::Inp,
        MetricKind::Cls,
        MetricKind::Fcp,
        MetricKind::Ttfb,
        MetricKind::NavDns,
        MetricKind::NavConnect,
        MetricKind::NavTls,
        MetricKind::NavDownload,
        MetricKind::NavDomInteractive,
        MetricKind::NavDomComplete,
        MetricKind::NavLoad,
        MetricKind::ActionLoading,
    ];
    pub const VITALS: [MetricKind; 5] = [
        MetricKind::Lcp,
        MetricKind::Inp,
        MetricKind::Cls,
        MetricKind::Fcp,
        MetricKind::Ttfb,
    ];

    /// Position in [`MetricKind::ALL`], for per-metric arrays.
    pub fn index(self) -> usize {
        self as usize
    }

    /// The name inside metric names (`rum_<name>_seconds`) and in partials.
    pub fn name(self) -> &'static str {
        match self {
            MetricKind::Lcp => "lcp",
            MetricKind::Inp => "inp",
            MetricKind::Cls => "cls",
            MetricKind::Fcp => "fcp",
            MetricKind::Ttfb => "ttfb",
            MetricKind::NavDns => "nav_dns",
            MetricKind::NavConnect => "nav_connect",
            MetricKind::NavTls => "nav_tls",
            MetricKind::NavDownload => "nav_download",
            MetricKind::NavDomInteractive => "nav_dom_interactive",
            MetricKind::NavDomComplete => "nav_dom_complete",
            MetricKind::NavLoad => "nav_load",
            MetricKind::ActionLoading => "action_loading",
        }
    }

    pub fn from_name(name: &str) -> Option<MetricKind> {
        MetricKind::ALL.into_iter().find(|kind| kind.name() == name)
    }

    pub fn from_vital(name: VitalName) -> Option<MetricKind> {
        match name {
            VitalName::Lcp => Some(MetricKind::Lcp),
            VitalName::Inp => Some(MetricKind::Inp),
            VitalName::Cls => Some(MetricKind::Cls),
            VitalName::Fcp => Some(MetricKind::Fcp),
            VitalName::Ttfb => Some(MetricKind::Ttfb),
            VitalName::Unspecified => None,
        }
    }

    pub fn is_vital(self) -> bool {
        MetricKind::VITALS.contains(&self)
    }

    /// A navigation phase (kept in views with `navigation = true`).
    pub fn is_navigation(self) -> bool {
        !self.is_vital() && self != MetricKind::ActionLoading
    }

    /// Whether a view with these switches keeps this metric.
    pub fn kept_by(self, navigation: bool, actions: bool) -> bool {
        match self {
            MetricKind::ActionLoading => actions,
            kind if kind.is_navigation() => navigation,
            _ => true,
        }
    }

    /// CLS is a unitless score; everything else is a duration exported in seconds.
    pub fn is_unitless(self) -> bool {
        self == MetricKind::Cls
    }

    /// The exported family stem: `rum_lcp_seconds`, `rum_cls` (no unit suffix).
    pub fn family(self) -> String {
        if self.is_unitless() {
            format!("rum_{}", self.name())
        } else {
            format!("rum_{}_seconds", self.name())
        }
    }

    /// The windowed quantile gauge family: `rum_lcp_window_seconds`, `rum_cls_window`.
    pub fn window_family(self) -> String {
        if self.is_unitless() {
            format!("rum_{}_window", self.name())
        } else {
            format!("rum_{}_window_seconds", self.name())
        }
    }

    /// web-vitals thresholds (T1, T2) in raw units, for the vitals.
    pub fn thresholds(self) -> Option<(f64, f64)> {
        match self {
            MetricKind::Lcp => Some((2500.0, 4000.0)),
            MetricKind::Inp => Some((200.0, 500.0)),
            MetricKind::Cls => Some((0.1, 0.25)),
            MetricKind::Fcp => Some((1800.0, 3000.0)),
            MetricKind::Ttfb => Some((800.0, 1800.0)),
            _ => None,
        }
    }

    pub fn rating(self, raw_value: f64) -> Option<Rating> {
        let (good, poor) = self.thresholds()?;
        Some(if raw_value <= good {
            Rating::Good
        } else if raw_value <= poor {
            Rating::NeedsImprovement
        } else {
            Rating::Poor
        })
    }

    /// Upper bounds (raw units, inclusive) of the exact, threshold-aligned buckets; an implicit
    /// overflow bucket follows the last one.
    pub fn bucket_bounds(self) -> &'static [f64] {
        match self {
            MetricKind::Lcp => LCP_BOUNDS,
            MetricKind::Inp => INP_BOUNDS,
            MetricKind::Cls => CLS_BOUNDS,
            MetricKind::Fcp => FCP_BOUNDS,
            MetricKind::Ttfb => TTFB_BOUNDS,
            MetricKind::ActionLoading => ACTION_BOUNDS,
            _ => NAVIGATION_BOUNDS,
        }
    }

    /// Index of the exact bucket a raw value falls in (`bounds.len()` = overflow).
    pub fn bucket_index(self, raw_value: f64) -> usize {
        self.bucket_bounds()
            .iter()
            .position(|bound| raw_value <= *bound)
            .unwrap_or(self.bucket_bounds().len())
    }

    /// The integer a histogram records for a raw value (ms rounded; CLS x 1000 rounded).
    pub fn to_recorded(self, raw_value: f64) -> u64 {
        let scaled = if self.is_unitless() {
            raw_value * 1000.0
        } else {
            raw_value
        };
        // Round half up by adding 0.5 and truncating: values are non-negative (the decoder rejects
        // the rest), and `f64::round` is a libm call that showed up in stage 1's profile. The
        // float-to-int cast saturates: NaN and negatives give 0.
        ((scaled + 0.5) as u64).min(self.max_recorded())
    }

    /// Highest value the histogram tracks at full precision.
    pub fn max_recorded(self) -> u64 {
        if self.is_unitless() {
            MAX_TRACKED_CLS_MILLI
        } else {
            MAX_TRACKED_MS
        }
    }

    /// Converts a recorded integer (or a raw-unit value) to the exported unit: seconds, or the CLS
    /// score.
    pub fn recorded_to_exported(self, recorded: f64) -> f64 {
        recorded / 1000.0
    }

    /// Converts a raw browser value (ms, or CLS) to the exported unit.
    pub fn raw_to_exported(self, raw_value: f64) -> f64 {
        if self.is_unitless() {
            raw_value
        } else {
            raw_value / 1000.0
        }
    }

    /// Converts an exported-unit threshold from config (seconds, or CLS) to raw units.
    pub fn exported_to_raw(self, exported: f64) -> f64 {
        if self.is_unitless() {
            exported
        } else {
            exported * 1000.0
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thresholds_are_bucket_bounds_so_good_share_is_exact() {
        for kind in MetricKind::VITALS {
            let (good, poor) = kind.thresholds().expect("vital");
            assert!(kind.bucket_bounds().contains(&good), "{kind:?} T1");
            assert!(kind.bucket_bounds().contains(&poor), "{kind:?} T2");
        }
    }

    #[test]
    fn bounds_are_strictly_increasing() {
        for kind in MetricKind::ALL {
            assert!(
                kind.bucket_bounds()
                    .windows(2)
                    .all(|pair| pair[0] < pair[1])
            );
        }
    }

    #[test]
    fn ratings_at_the_boundaries() {
        let cases = [
            (MetricKind::Lcp, 2500.0, Rating::Good),
            (MetricKind::Lcp, 2500.4, Rating::NeedsImprovement),
            (MetricKind::Lcp, 2501.0, Rating::NeedsImprovement),
            (MetricKind::Lcp, 4000.0, Rating::NeedsImprovement),
            (MetricKind::Lcp, 4001.0, Rating::Poor),
            (MetricKind::Inp, 200.0, Rating::Good),
            (MetricKind::Inp, 201.0, Rating::NeedsImprovement),
            (MetricKind::Inp, 500.0, Rating::NeedsImprovement),
            (MetricKind::Inp, 501.0, Rating::Poor),
            (MetricKind::Cls, 0.1, Rating::Good),
            (MetricKind::Cls, 0.100_001, Rating::NeedsImprovement),
            (MetricKind::Cls, 0.25, Rating::NeedsImprovement),
            (MetricKind::Cls, 0.250_001, Rating::Poor),
            (MetricKind::Fcp, 1800.0, Rating::Good),
            (MetricKind::Fcp, 1801.0, Rating::NeedsImprovement),
            (MetricKind::Fcp, 3000.0, Rating::NeedsImprovement),
            (MetricKind::Fcp, 3001.0, Rating::Poor),
            (MetricKind::Ttfb, 800.0, Rating::Good),
            (MetricKind::Ttfb, 801.0, Rating::NeedsImprovement),
            (MetricKind::Ttfb, 1800.0, Rating::NeedsImprovement),
            (MetricKind::Ttfb, 1801.0, Rating::Poor),
        ];
        for (kind, value, expected) in cases {
            assert_eq!(kind.rating(value), Some(expected), "{kind:?} {value}");
        }
    }

    #[test]
    fn names_round_trip() {
        for kind in MetricKind::ALL {
            assert_eq!(MetricKind::from_name(kind.name()), Some(kind));
            assert_eq!(MetricKind::ALL[kind.index()], kind);
        }
    }

    #[test]
    fn recording_scale() {
        assert_eq!(MetricKind::Lcp.to_recorded(1834.6), 1835);
        assert_eq!(MetricKind::Cls.to_recorded(0.042), 42);
        assert_eq!(MetricKind::Lcp.to_recorded(-1.0), 0);
        assert_eq!(MetricKind::Lcp.to_recorded(1e12), MAX_TRACKED_MS);
    }
}
