//! The aggregator's own health metrics (through the `metrics` facade, rendered with the process's
//! other metrics). The per-segment RUM data is rendered separately by [`crate::exposition`].
//!
//! - `rum_aggregator_beacons_total`: beacons read by stage 1.
//! - `rum_aggregator_events_total{type}`: events by type (`vital`, `nav`, `error`, `request`, `custom`).
//! - `rum_aggregator_late_total{stage}`: beacons (stage 1) or partials (stage 2) past the allowed
//!   lateness, not mixed in.
//! - `rum_aggregator_folded_total{dimension}`: values folded into `__other__` by top-N (dimension)
//!   or the site segment budget (`dimension="segment_budget"`).
//! - `rum_aggregator_dedupe_total{outcome}`: re-sent metrics (`unchanged`, `replaced`,
//!   `replaced_too_late`) and ids beyond a page view's capacity (`overflow`).
//! - `rum_aggregator_dropped_total{reason}`: data dropped by stage 2 (`undecodable`, `unknown_view`,
//!   `unknown_metric`, `retraction_missed`).
//! - `rum_aggregator_partials_total`: partials flushed by stage 1.
//! - `rum_aggregator_segments`: live segments; `rum_aggregator_window_memory_bytes`: bytes held by
//!   windowed histograms and counters; `rum_aggregator_dedupe_entries`, `rum_aggregator_topn_entries`.

use metrics::{Counter, Gauge, counter, describe_counter, describe_gauge, gauge};

use crate::view::Dimension;

fn describe() {
    describe_counter!(
        "rum_aggregator_beacons_total",
        "Beacons read by aggregator stage 1."
    );
    describe_counter!(
        "rum_aggregator_events_total",
        "Events read by aggregator stage 1, by type."
    );
    describe_counter!(
        "rum_aggregator_late_total",
        "Beacons (stage1) or partials (stage2) older than the allowed lateness, not mixed in."
    );
    describe_counter!(
        "rum_aggregator_folded_total",
        "Label values folded into __other__ by top-N (per dimension) or the site segment budget."
    );
    describe_counter!(
        "rum_aggregator_dedupe_total",
        "Metrics re-sent for the same page view and id, by outcome."
    );
    describe_counter!(
        "rum_aggregator_dropped_total",
        "Data dropped by stage 2, by reason."
    );
    describe_counter!(
        "rum_aggregator_partials_total",
        "Partials flushed by stage 1."
    );
    describe_gauge!("rum_aggregator_segments", "Live segments held by stage 2.");
    describe_gauge!(
        "rum_aggregator_window_memory_bytes",
        "Bytes held by stage 2's windowed histograms and exact counters."
    );
    describe_gauge!(
        "rum_aggregator_dedupe_entries",
        "Page views remembered for dedupe."
    );
    describe_gauge!(
        "rum_aggregator_topn_entries",
        "Values held by the top-N tables."
    );
}

/// Event types counted by `rum_aggregator_events_total{type}`, in label order.
#[derive(Debug, Clone, Copy)]
pub(crate) enum EventType {
    Vital,
    Nav,
    Error,
    Request,
    Custom,
}

const EVENT_TYPES: [&str; 5] = ["vital", "nav", "error", "request", "custom"];
pub(crate) const EVENT_TYPE_COUNT: usize = EVENT_TYPES.len();

/// Outcomes counted by `rum_aggregator_dedupe_total{outcome}`, in label order.
#[derive(Debug, Clone, Copy)]
pub(crate) enum DedupeOutcome {
    Unchanged,
    Replaced,
    ReplacedTooLate,
    Overflow,
}

const DEDUPE_OUTCOMES: [&str; 4] = ["unchanged", "replaced", "replaced_too_late", "overflow"];

pub(crate) struct Stage1Metrics {
    pub beacons: Counter,
    pub late: Counter,
    pub partials: Counter,
    pub dedupe_entries: Gauge,
    pub admission_entries: Gauge,
    events: [Counter; EVENT_TYPES.len()],
    folded: Vec<Counter>,
    dedupe: [Counter; DEDUPE_OUTCOMES.len()],
}

impl Stage1Metrics {
    pub fn register() -> Self {
        describe();
        Self {
            beacons: counter!("rum_aggregator_beacons_total"),
            late: counter!("rum_aggregator_late_total", "stage" => "stage1"),
            partials: counter!("rum_aggregator_partials_total"),
            dedupe_entries: gauge!("rum_aggregator_dedupe_entries"),
            admission_entries: gauge!("rum_aggregator_topn_entries"),
            events: EVENT_TYPES.map(|kind| counter!("rum_aggregator_events_total", "type" => kind)),
            folded: Dimension::ALL
                .iter()
                .map(|d| counter!("rum_aggregator_folded_total", "dimension" => d.label()))
                .collect(),
            dedupe: DEDUPE_OUTCOMES
                .map(|outcome| counter!("rum_aggregator_dedupe_total", "outcome" => outcome)),
        }
    }

    /// Counts a beacon's events, given per [`EventType`] index.
    pub fn events(&self, counts: &[u64; EVENT_TYPE_COUNT]) {
        for (counter, &count) in self.events.iter().zip(counts) {
            if count > 0 {
                counter.increment(count);
            }
        }
    }

    pub fn folded(&self, dimension: Dimension) {
        self.folded[dimension.index()].increment(1);
    }

    pub fn dedupe(&self, outcome: DedupeOutcome) {
        self.dedupe[outcome as usize].increment(1);
    }
}

pub(crate) struct Stage2Metrics {
    pub late: Counter,
    pub budget_folded: Counter,
    pub segments: Gauge,
    pub histogram_bytes: Gauge,
    dropped: [(&'static str, Counter); 4],
}

impl Stage2Metrics {
    pub fn register() -> Self {
        describe();
        Self {
            late: counter!("rum_aggregator_late_total", "stage" => "stage2"),
            budget_folded: counter!("rum_aggregator_folded_total", "dimension" => "segment_budget"),
            segments: gauge!("rum_aggregator_segments"),
            histogram_bytes: gauge!("rum_aggregator_window_memory_bytes"),
            dropped: [
                "undecodable",
                "unknown_view",
                "unknown_metric",
                "retraction_missed",
            ]
            .map(|reason| {
                (
                    reason,
                    counter!("rum_aggregator_dropped_total", "reason" => reason),
                )
            }),
        }
    }

    pub fn dropped(&self, reason: &str) {
        if let Some((_, counter)) = self.dropped.iter().find(|(name, _)| *name == reason) {
            counter.increment(1);
        }
    }
}
