//! The aggregator's own health metrics (through the `metrics` facade, rendered with the process's
//! other metrics). The per-segment RUM data is rendered separately by [`crate::exposition`].
//!
//! - `rum_aggregator_beacons_total`: beacons read by stage 1.
//! - `rum_aggregator_events_total{type}`: events by type (`vital`, `nav`, `error`, `request`,
//!   `custom`, `action`, `event`).
//! - `rum_aggregator_folded_total{dimension}`: values folded into `__other__` by top-N (dimension,
//!   or `action` / `event` for names) or the site segment budget (`dimension="segment_budget"`).
//! - `rum_aggregator_dedupe_total{outcome}`: re-sent metrics (`unchanged`, `replaced`,
//!   `replaced_too_late`, `stale`), ids beyond a page view's capacity (`overflow`) and metrics of
//!   later beacons of page views the table had forgotten for capacity (`forgotten`).
//! - `rum_dropped_total{stage="aggregator", reason, item}` (the drop ledger): beacons stage 1 could
//!   not use (`undecodable`, `late`) and partials stage 2 could not (`late`, `unknown_view`,
//!   `unknown_metric`, `undecodable`, `retraction_missed`).
//! - `rum_aggregator_partials_total`: partials flushed by stage 1.
//! - `rum_aggregator_segments`: live segments; `rum_aggregator_window_memory_bytes`: bytes held by
//!   windowed histograms and counters; `rum_aggregator_dedupe_entries`, `rum_aggregator_topn_entries`.

use metrics::{Counter, Gauge, counter, describe_counter, describe_gauge, gauge};
use rum_ledger::{DropCounters, Item};
use rum_schema::EVENT_TYPES;

use crate::names::{NAME_KIND_COUNT, NameKind};
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
        "rum_aggregator_folded_total",
        "Label values folded into __other__ by top-N (per dimension) or the site segment budget."
    );
    describe_counter!(
        "rum_aggregator_dedupe_total",
        "Metrics re-sent for the same page view and id, by outcome."
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
    Action,
    BusinessEvent,
    LongFrames,
    Resources,
    Calls,
}

/// `rum_aggregator_events_total{type}` labels, indexed by [`EventType`].
pub(crate) const EVENT_TYPE_COUNT: usize = EVENT_TYPES.len();

/// Outcomes counted by `rum_aggregator_dedupe_total{outcome}`, in label order.
#[derive(Debug, Clone, Copy)]
pub(crate) enum DedupeOutcome {
    Unchanged,
    Replaced,
    ReplacedTooLate,
    Overflow,
    /// A value from an earlier beacon of the page view (lower `seq`) than the one counted.
    Stale,
    /// Counted as new in a later beacon (`seq > 0`) of a page view the table had forgotten for
    /// capacity before its horizon: most likely counted twice.
    Forgotten,
}

const DEDUPE_OUTCOMES: [&str; 6] = [
    "unchanged",
    "replaced",
    "replaced_too_late",
    "overflow",
    "stale",
    "forgotten",
];

rum_ledger::drop_reasons! {
    /// Why stage 1 did not aggregate a delivered beacon.
    pub enum BeaconDrop in Aggregator {
        /// Not a `rum.v1.Beacon` (a foreign producer on the topic, a corrupt record).
        Undecodable = "undecodable",
        /// Its minute closed longer ago than the allowed lateness.
        Late = "late",
    }
}

rum_ledger::drop_reasons! {
    /// Why stage 2 did not merge (all or part of) a partial.
    pub enum PartialDrop in Aggregator {
        /// Its minute closed longer ago than the allowed lateness.
        Late = "late",
        /// A view this process is not configured with (or with other dimensions).
        UnknownView = "unknown_view",
        /// A metric this build does not know (the others in the partial are merged).
        UnknownMetric = "unknown_metric",
        /// A histogram or exact-count payload that does not decode.
        Undecodable = "undecodable",
        /// A re-sent metric whose earlier value had gone to another segment (its route was
        /// re-ranked in between): the new value counts, the old one could not be taken back.
        RetractionMissed = "retraction_missed",
    }
}

pub(crate) struct Stage1Metrics {
    pub beacons: Counter,
    pub dropped: DropCounters<BeaconDrop>,
    pub partials: Counter,
    pub dedupe_entries: Gauge,
    events: [Counter; EVENT_TYPES.len()],
    folded: Vec<Counter>,
    name_folded: [Counter; NAME_KIND_COUNT],
    error_group_folded: Counter,
    dedupe: [Counter; DEDUPE_OUTCOMES.len()],
}

fn name_fold_counters() -> [Counter; NAME_KIND_COUNT] {
    NameKind::ALL.map(|kind| counter!("rum_aggregator_folded_total", "dimension" => kind.label()))
}

impl Stage1Metrics {
    pub fn register() -> Self {
        describe();
        Self {
            beacons: counter!("rum_aggregator_beacons_total"),
            dropped: DropCounters::register(Item::Beacon),
            partials: counter!("rum_aggregator_partials_total"),
            dedupe_entries: gauge!("rum_aggregator_dedupe_entries"),
            events: EVENT_TYPES.map(|kind| counter!("rum_aggregator_events_total", "type" => kind)),
            folded: Dimension::ALL
                .iter()
                .map(|d| counter!("rum_aggregator_folded_total", "dimension" => d.label()))
                .collect(),
            name_folded: name_fold_counters(),
            error_group_folded: counter!("rum_aggregator_folded_total", "dimension" => "error_group"),
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

    pub fn folded_name(&self, kind: NameKind) {
        self.name_folded[kind.index()].increment(1);
    }

    pub fn folded_error_group(&self) {
        self.error_group_folded.increment(1);
    }

    pub fn dedupe(&self, outcome: DedupeOutcome) {
        self.dedupe[outcome as usize].increment(1);
    }

    pub fn dedupe_many(&self, outcome: DedupeOutcome, count: u64) {
        if count > 0 {
            self.dedupe[outcome as usize].increment(count);
        }
    }
}

pub(crate) struct Stage2Metrics {
    pub budget_folded: Counter,
    folded: Vec<Counter>,
    name_folded: [Counter; NAME_KIND_COUNT],
    pub dropped: DropCounters<PartialDrop>,
}

/// What stage 2 holds, as gauges. Set by the owner of the stage-2 state: `rum standalone` has one
/// [`crate::Stage2`], a worker one per partials partition and sets the sum (each partition setting
/// the gauges itself would leave the last one's figures).
pub(crate) struct StateGauges {
    segments: Gauge,
    admission_entries: Gauge,
    histogram_bytes: Gauge,
}

impl StateGauges {
    pub fn register() -> Self {
        describe();
        Self {
            segments: gauge!("rum_aggregator_segments"),
            admission_entries: gauge!("rum_aggregator_topn_entries"),
            histogram_bytes: gauge!("rum_aggregator_window_memory_bytes"),
        }
    }

    pub fn set(&self, size: crate::stage2::StateSize) {
        self.segments.set(size.segments as f64);
        self.admission_entries.set(size.admission_entries as f64);
        self.histogram_bytes.set(size.histogram_bytes as f64);
    }
}

impl Stage2Metrics {
    pub fn register() -> Self {
        describe();
        Self {
            budget_folded: counter!("rum_aggregator_folded_total", "dimension" => "segment_budget"),
            folded: Dimension::ALL
                .iter()
                .map(|d| counter!("rum_aggregator_folded_total", "dimension" => d.label()))
                .collect(),
            name_folded: name_fold_counters(),
            dropped: DropCounters::register(Item::Partial),
        }
    }

    pub fn folded(&self, dimension: Dimension, beacons: u64) {
        self.folded[dimension.index()].increment(beacons);
    }

    pub fn folded_name(&self, kind: NameKind, occurrences: u64) {
        self.name_folded[kind.index()].increment(occurrences);
    }
}
