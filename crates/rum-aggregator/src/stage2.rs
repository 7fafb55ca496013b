//! Stage 2: owns every segment of its sites. Folds each partial's label values by top-N (it sees
//! every partial of a site, so the ranking is the site's), merges the partials of stage 1 into
//! per-minute windows (one compact buffer per minute, see [`crate::slot`]; 5-minute blocks once
//! older than the 15m window), settles minutes into the cumulative histograms once their lateness
//! has passed, evicts idle segments, enforces the per-site segment budget, and answers window
//! queries for the exposition and the alert rules.
//!
//! Everything it does is a function of the partials it is given and the times it is advanced to,
//! so the same partials in the same order (a replay after a move to another worker) rebuild the
//! same state.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use hdrhistogram::Histogram;
use rum_schema::proto::{
    MetricPartial, Partial, SegmentSnapshot, SettledMetric, SlotSnapshot, Stage2State,
};

use crate::activity::Activity;
use crate::error_groups::SiteErrors;
use crate::exact::ExactCounts;
use crate::exemplar::{Exemplar, Exemplars};
use crate::hdr;
use crate::metric::{METRIC_COUNT, MetricKind};
use crate::metrics::{PartialDrop, Stage2Metrics};
use crate::names::{
    ActionTally, CallTally, EventTally, NAME_KIND_COUNT, NameKind, NamedCounts, NamedProto,
    ResourceTally,
};
use crate::sessions::Sessions;
use crate::settings::{AggregatorSettings, QUANTILES, RETENTION_MINUTES, WINDOWS, minute_of};
use crate::slot;
use crate::stage1::{ERROR_KINDS, RESOURCE_TYPES, closed_index, nonzero_counts};
use crate::topn::Admission;
use crate::view::{DIMENSION_COUNT, Dimension, OTHER, SegmentKey, UNKNOWN, View};

/// One minute of one segment: every metric's histogram and exact counts in one compact buffer
/// (see [`crate::slot`]).
#[derive(Debug, Clone)]
struct MinuteSlot {
    /// First minute covered.
    minute: i64,
    /// Minutes covered: 1, or [`BLOCK_MINUTES`] once compacted.
    span: i64,
    data: Box<[u8]>,
}

impl MinuteSlot {
    fn last_minute(&self) -> i64 {
        self.minute + self.span - 1
    }
}

/// Minutes older than the 15-minute window are merged into blocks of this many minutes: the 1h
/// window only needs them as a whole, and a block of five is about a third of five minutes' bytes.
pub const BLOCK_MINUTES: i64 = 5;
/// Minutes still inside the 15m window (15 complete + the current one) stay one slot each.
const EXACT_MINUTES: i64 = 16;

/// Everything stage 2 keeps for one segment.
#[derive(Debug)]
pub struct SegmentState {
    /// Ascending by minute, at most [`RETENTION_MINUTES`] long.
    minutes: VecDeque<MinuteSlot>,
    /// Exact counts of every settled minute since the segment appeared (the cumulative histogram).
    settled: Cumulative,
    settled_through: i64,
    pub page_views: u64,
    pub errors: [u64; ERROR_KINDS.len()],
    pub requests_failed: u64,
    pub requests_slow: u64,
    /// Page views and errors weighed by 1 / their sample rate, cumulative (estimated totals).
    pub estimated_page_views: f64,
    pub estimated_errors: f64,
    /// Long animation frames and their blocking time (millionths of a ms), cumulative.
    pub long_frames: u64,
    pub long_frame_blocking_micros: u64,
    /// Resources by initiator type ([`RESOURCE_TYPES`]), cumulative.
    pub resource_types: [u64; RESOURCE_TYPES.len()],
    /// Actions and business events by (folded) name, cumulative; views with `actions = true`.
    names: Option<Box<NamedCounts>>,
    /// Trace ids of the cumulative histograms' buckets (OpenMetrics exemplars), once there is one.
    exemplars: Option<Box<Exemplars>>,
    /// The earliest minute applied: a release's segment that appeared last is the newest release.
    first_minute: i64,
    last_minute: i64,
}

impl SegmentState {
    fn new(minute: i64) -> Self {
        Self {
            minutes: VecDeque::new(),
            settled: Cumulative::default(),
            settled_through: minute - 1,
            page_views: 0,
            errors: [0; ERROR_KINDS.len()],
            requests_failed: 0,
            requests_slow: 0,
            estimated_page_views: 0.0,
            estimated_errors: 0.0,
            long_frames: 0,
            long_frame_blocking_micros: 0,
            resource_types: [0; RESOURCE_TYPES.len()],
            names: None,
            exemplars: None,
            first_minute: minute,
            last_minute: minute,
        }
    }

    /// The earliest minute this segment has data for.
    pub fn first_minute(&self) -> i64 {
        self.first_minute
    }

    /// The segment's action and business-event counters (empty for views without actions).
    pub fn names(&self) -> Option<&NamedCounts> {
        self.names.as_deref()
    }

    /// Slots held (single minutes and 5-minute blocks).
    pub fn slot_count(&self) -> usize {
        self.minutes.len()
    }

    /// The cumulative exact counts of a metric (settled minutes only), if it was ever seen.
    pub fn cumulative(&self, kind: MetricKind) -> Option<&ExactCounts> {
        self.settled.get(kind)
    }

    /// Takes in exemplars as partials and snapshots carry them (raw values, by metric name);
    /// one of an unknown metric or without a 16-byte trace id is left out.
    fn add_exemplars(&mut self, exemplars: &[rum_schema::proto::Exemplar]) {
        for saved in exemplars {
            let (Some(kind), Ok(trace_id)) = (
                MetricKind::from_name(&saved.metric),
                <[u8; 16]>::try_from(saved.trace_id.as_slice()),
            ) else {
                continue;
            };
            self.exemplars.get_or_insert_default().offer(
                kind,
                kind.bucket_index(saved.value),
                Exemplar {
                    trace_id,
                    value: kind.raw_to_exported(saved.value),
                    unix_ms: saved.at_ms,
                },
            );
        }
    }

    /// The exemplars as partials and snapshots carry them.
    fn exemplars_proto(&self) -> Vec<rum_schema::proto::Exemplar> {
        let Some(exemplars) = &self.exemplars else {
            return Vec::new();
        };
        exemplars
            .iter()
            .map(|(kind, _, exemplar)| rum_schema::proto::Exemplar {
                trace_id: exemplar.trace_id.to_vec(),
                value: kind.exported_to_raw(exemplar.value),
                at_ms: exemplar.unix_ms,
                metric: kind.name().to_owned(),
            })
            .collect()
    }

    /// The exemplar kept for `bucket` (an index into `kind.bucket_bounds()`, its length = `+Inf`)
    /// of the cumulative histogram of `kind`.
    pub fn exemplar(&self, kind: MetricKind, bucket: usize) -> Option<Exemplar> {
        self.exemplars.as_ref()?.get(kind, bucket)
    }

    fn slot(&mut self, minute: i64) -> &mut MinuteSlot {
        let position = self.minutes.partition_point(|slot| slot.minute < minute);
        if self
            .minutes
            .get(position)
            .is_none_or(|slot| slot.minute != minute)
        {
            self.minutes.insert(
                position,
                MinuteSlot {
                    minute,
                    span: 1,
                    data: Box::default(),
                },
            );
        }
        &mut self.minutes[position]
    }

    fn bytes(&self) -> usize {
        let slots: usize = self
            .minutes
            .iter()
            .map(|slot| std::mem::size_of::<MinuteSlot>() + slot.data.len())
            .sum();
        let settled: usize = self
            .settled
            .0
            .iter()
            .map(|(_, exact)| {
                std::mem::size_of::<(MetricKind, ExactCounts)>() + exact.deltas().len() * 8
            })
            .sum();
        let names = self.names.as_ref().map_or(0, |names| names.bytes());
        std::mem::size_of::<SegmentState>() + slots + settled + names
    }
}

/// The cumulative exact counts of the metrics a segment has seen, in metric order: a list rather
/// than a slot per metric, since most views keep 5 of the 13 (an array of `Option`s was 312 bytes
/// in every segment, and the segment table's spare buckets multiply what a segment holds inline by
/// 1.1 to 2.3).
#[derive(Debug, Default)]
struct Cumulative(Vec<(MetricKind, ExactCounts)>);

impl Cumulative {
    fn get(&self, kind: MetricKind) -> Option<&ExactCounts> {
        self.0
            .iter()
            .find(|(seen, _)| *seen == kind)
            .map(|(_, exact)| exact)
    }

    /// The counts of `kind`, empty ones added (the list grown by exactly one) if it was not seen.
    fn entry(&mut self, kind: MetricKind) -> &mut ExactCounts {
        let position = self
            .0
            .partition_point(|(seen, _)| seen.index() < kind.index());
        if self.0.get(position).is_none_or(|(seen, _)| *seen != kind) {
            self.0.reserve_exact(1);
            self.0.insert(position, (kind, ExactCounts::new(kind)));
        }
        &mut self.0[position].1
    }
}

/// Merges complete 5-minute blocks of single-minute slots older than the 15m window into one slot
/// each. Those minutes are settled (lateness is at most 10 minutes), so nothing changes them later.
fn compact(
    segment: &mut SegmentState,
    compact_before: i64,
    scratch: &mut [Histogram<u64>],
    buffer: &mut Vec<u8>,
) {
    let mut index = 0;
    while index < segment.minutes.len() {
        let slot = &segment.minutes[index];
        let block = slot.minute.div_euclid(BLOCK_MINUTES) * BLOCK_MINUTES;
        if slot.span != 1 || block + BLOCK_MINUTES > compact_before {
            index += 1;
            continue;
        }
        let end = (index..segment.minutes.len())
            .find(|&next| {
                let slot = &segment.minutes[next];
                slot.span != 1 || slot.minute >= block + BLOCK_MINUTES
            })
            .unwrap_or(segment.minutes.len());
        let mut exact: [Option<ExactCounts>; METRIC_COUNT] = Default::default();
        for slot in segment.minutes.range(index..end) {
            for (kind, record) in slot::records(&slot.data) {
                let counts = exact[kind.index()].get_or_insert_with(|| {
                    scratch[kind.index()].reset();
                    ExactCounts::new(kind)
                });
                slot::add_record(kind, record, &mut scratch[kind.index()], counts);
            }
        }
        slot::start(buffer, scratch[0].sigfig());
        for kind in MetricKind::ALL {
            if let Some(counts) = &exact[kind.index()] {
                slot::encode_metric(buffer, kind, &scratch[kind.index()], counts);
            }
        }
        segment.minutes.drain(index..end);
        segment.minutes.insert(
            index,
            MinuteSlot {
                minute: block,
                span: BLOCK_MINUTES,
                data: Box::from(buffer.as_slice()),
            },
        );
        index += 1;
    }
}

/// One stored slot of a segment: its first minute, its length in minutes, and per metric its
/// samples and p75 (exported unit).
#[derive(Debug, Clone, PartialEq)]
pub struct TrendPoint {
    pub minute: i64,
    pub span: i64,
    pub metrics: Vec<(MetricKind, u64, f64)>,
}

/// A metric over one window of one segment.
#[derive(Debug)]
pub struct WindowSummary {
    pub histogram: Histogram<u64>,
    pub exact: ExactCounts,
}

impl WindowSummary {
    /// Value at `quantile`, in the metric's exported unit (seconds, or the CLS score).
    pub fn quantile(&self, kind: MetricKind, quantile: f64) -> f64 {
        kind.recorded_to_exported(self.histogram.value_at_quantile(quantile) as f64)
    }

    pub fn samples(&self) -> u64 {
        self.histogram.len()
    }
}

/// How much a [`Stage2`] holds; sizes add up over partitions.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StateSize {
    pub segments: usize,
    /// Values held by the top-N tables (admitted + candidates).
    pub admission_entries: usize,
    /// Bytes held by segment state (windows, exact counts, cumulative counts).
    pub histogram_bytes: usize,
}

impl std::ops::AddAssign for StateSize {
    fn add_assign(&mut self, other: StateSize) {
        self.segments += other.segments;
        self.admission_entries += other.admission_entries;
        self.histogram_bytes += other.histogram_bytes;
    }
}

pub struct Stage2 {
    views: HashMap<Arc<str>, View>,
    /// Top-N per (site, dimension), and the sites themselves.
    admission: Admission,
    /// Per dimension, the index of the first view that groups by it: folds are counted there
    /// only, so they count beacons, not beacons times views.
    counting_view: [Option<usize>; DIMENSION_COUNT],
    /// Folds per dimension since start.
    folds: [u64; DIMENSION_COUNT],
    /// The first view that keeps names: name folds are counted there only.
    counting_names_view: Option<usize>,
    /// Name occurrences folded per name kind since start.
    name_folds: [u64; NAME_KIND_COUNT],
    /// Error groups per (folded) site.
    errors: std::collections::BTreeMap<Arc<str>, SiteErrors>,
    /// Sessions and funnels of the sites this stage 2 owns.
    sessions: Sessions,
    /// Page views, errors and failed requests per site and minute, the last hour.
    activity: Activity,
    /// The watermark minute top-N was last re-ranked at.
    rebalanced_minute: i64,
    /// Whether a partial's minute moves the clock (standalone) or only [`advance`](Self::advance)
    /// does (behind Kafka, where the clock is the slowest beacon partition's: one partition's data
    /// must not close windows another has not reached).
    clock_from_data: bool,
    segments: HashMap<SegmentKey, SegmentState>,
    site_segments: HashMap<Arc<str>, usize>,
    settings: AggregatorSettings,
    watermark_minute: i64,
    /// Reused per merge: one dense histogram per metric and the buffer a slot is rewritten into
    /// (allocating them per partial fragmented the heap: RSS was twice the data).
    scratch: Vec<Histogram<u64>>,
    slot_buffer: Vec<u8>,
    /// Segments folded by the site budget, and partials dropped as late, since start.
    budget_folds: u64,
    late: u64,
    metrics: Stage2Metrics,
}

impl Stage2 {
    pub fn new(settings: AggregatorSettings) -> Self {
        let mut counting_view = [None; DIMENSION_COUNT];
        for (index, view) in settings.views.iter().enumerate() {
            for dimension in &view.dimensions {
                counting_view[dimension.index()].get_or_insert(index);
            }
        }
        Self {
            views: settings
                .views
                .iter()
                .map(|view| (view.name.clone(), view.clone()))
                .collect(),
            admission: Admission::new(settings.top_n, settings.max_sites)
                .with_top_names(settings.top_names)
                .with_releases(settings.releases),
            counting_view,
            folds: [0; DIMENSION_COUNT],
            counting_names_view: settings.views.iter().position(|view| view.actions),
            name_folds: [0; NAME_KIND_COUNT],
            errors: std::collections::BTreeMap::new(),
            sessions: Sessions::new(settings.sessions.clone(), settings.top_n),
            activity: Activity::default(),
            rebalanced_minute: i64::MIN,
            clock_from_data: true,
            segments: HashMap::new(),
            site_segments: HashMap::new(),
            watermark_minute: i64::MIN,
            scratch: MetricKind::ALL
                .iter()
                .map(|kind| hdr::new_histogram(*kind, settings.histogram_digits))
                .collect(),
            slot_buffer: Vec::new(),
            budget_folds: 0,
            late: 0,
            metrics: Stage2Metrics::register(),
            settings,
        }
    }

    pub fn settings(&self) -> &AggregatorSettings {
        &self.settings
    }

    pub fn views(&self) -> impl Iterator<Item = &View> {
        self.settings.views.iter()
    }

    /// The current minute: the later of the wall clock and the newest data.
    pub fn watermark_minute(&self) -> i64 {
        self.watermark_minute
    }

    /// Stage 2 of one partials partition behind Kafka: only [`advance`](Self::advance) moves its
    /// clock.
    pub fn for_partition(settings: AggregatorSettings) -> Self {
        let mut stage2 = Self::new(settings);
        stage2.clock_from_data = false;
        stage2
    }

    /// Merges one partial.
    pub fn apply(&mut self, partial: Partial) {
        if self.clock_from_data {
            self.watermark_minute = self.watermark_minute.max(partial.minute);
        }
        self.rebalance_if_a_minute_passed();
        if partial.minute
            < self
                .watermark_minute
                .saturating_sub(self.settings.allowed_lateness_minutes)
        {
            self.late += 1;
            self.metrics.dropped.count(PartialDrop::Late);
            return;
        }
        let Some(view) = self.views.get(partial.view.as_str()) else {
            self.metrics.dropped.count(PartialDrop::UnknownView);
            return;
        };
        if partial.dimension_values.len() != view.dimensions.len() {
            self.metrics.dropped.count(PartialDrop::UnknownView);
            return;
        }
        let view_index = self
            .settings
            .views
            .iter()
            .position(|known| known.name == view.name)
            .expect("views come from the settings");
        let dimensions = view.dimensions.clone();
        let name = view.name.clone();
        let values = self.fold(
            view_index,
            &dimensions,
            &partial.dimension_values,
            partial.beacons,
        );
        let mut key = SegmentKey { view: name, values };
        if !self.segments.contains_key(&key) {
            let site: Arc<str> = key.values[0].clone();
            let live = self.site_segments.get(&site).copied().unwrap_or(0);
            if live >= self.settings.site_segment_budget && !key.is_folded() {
                self.budget_folds += 1;
                self.metrics.budget_folded.increment(1);
                key = key.folded();
            }
            if !self.segments.contains_key(&key) {
                *self.site_segments.entry(site).or_insert(0) += 1;
                self.segments
                    .insert(key.clone(), SegmentState::new(partial.minute));
            }
        }
        let segment = self.segments.get_mut(&key).expect("inserted above");
        segment.last_minute = segment.last_minute.max(partial.minute);
        segment.first_minute = segment.first_minute.min(partial.minute);
        segment.page_views += partial.page_views;
        segment.estimated_page_views += partial.estimated_page_views;
        segment.estimated_errors += partial.estimated_errors;
        for (kind, count) in &partial.errors {
            segment.errors[closed_index(&ERROR_KINDS, kind.as_bytes())] += count;
        }
        segment.requests_failed += partial.requests_failed;
        segment.requests_slow += partial.requests_slow;
        segment.long_frames += partial.long_frames;
        segment.long_frame_blocking_micros = segment
            .long_frame_blocking_micros
            .saturating_add(partial.long_frame_blocking_micros);
        for (kind, count) in &partial.resource_types {
            segment.resource_types[closed_index(&RESOURCE_TYPES, kind.as_bytes())] += count;
        }
        segment.add_exemplars(&partial.exemplars);
        if view_index == 0 {
            self.activity.add(
                &key.values[0],
                partial.minute,
                partial.page_views,
                partial.errors.values().sum(),
                partial.requests_failed,
            );
        }
        if !partial.error_groups.is_empty() {
            let capacity = self.settings.error_groups;
            let site_errors = self
                .errors
                .entry(key.values[0].clone())
                .or_insert_with(|| SiteErrors::new(capacity));
            for group in &partial.error_groups {
                site_errors.apply(group);
            }
        }
        if !partial.sessions.is_empty() {
            let site = key.values[0].clone();
            for activity in &partial.sessions {
                self.sessions.apply(&site, activity);
            }
        }
        if !partial.actions.is_empty()
            || !partial.events.is_empty()
            || !partial.failed_requests.is_empty()
            || !partial.script_origins.is_empty()
            || !partial.resource_origins.is_empty()
            || !partial.calls.is_empty()
        {
            let site = key.values[0].clone();
            self.merge_names(view_index, &site, &key, &partial);
        }
        let segment = self.segments.get_mut(&key).expect("inserted above");

        // The partial's metrics this build knows; an unknown one is dropped alone.
        let mut updates: Vec<(MetricKind, MetricPartial)> =
            Vec::with_capacity(partial.metrics.len());
        for metric_partial in partial.metrics {
            match MetricKind::from_name(&metric_partial.metric) {
                Some(kind) => updates.push((kind, metric_partial)),
                None => self.metrics.dropped.count(PartialDrop::UnknownMetric),
            }
        }
        if updates.is_empty() {
            return;
        }
        let slot = segment.slot(partial.minute);
        // Rewrite the slot: merged records for updated metrics, the others copied as they are.
        let scratch = &mut self.scratch;
        let mut rewritten = std::mem::take(&mut self.slot_buffer);
        slot::start(&mut rewritten, self.settings.histogram_digits);
        let mut merge = |kind: MetricKind,
                         existing: Option<slot::Record<'_>>,
                         metric_partial: &MetricPartial,
                         out: &mut Vec<u8>| {
            let merged = &mut scratch[kind.index()];
            merged.reset();
            let mut exact = ExactCounts::new(kind);
            if let Some(record) = existing
                && !slot::add_record(kind, record, merged, &mut exact)
            {
                self.metrics.dropped.count(PartialDrop::Undecodable);
            }
            if !hdr::add_encoded(merged, &metric_partial.added) {
                self.metrics.dropped.count(PartialDrop::Undecodable);
            }
            if !metric_partial.removed.is_empty()
                && !hdr::subtract_encoded(merged, &metric_partial.removed)
            {
                // The earlier value went to another segment (its route was re-ranked in
                // between); the new value still counts.
                self.metrics.dropped.count(PartialDrop::RetractionMissed);
            }
            let sum_micros =
                if metric_partial.sum_micros_delta != 0 || metric_partial.sum_delta == 0.0 {
                    metric_partial.sum_micros_delta
                } else {
                    crate::exact::to_micros(metric_partial.sum_delta)
                };
            if !exact.apply_deltas(&metric_partial.bucket_deltas, sum_micros) {
                self.metrics.dropped.count(PartialDrop::Undecodable);
            }
            slot::encode_metric(out, kind, merged, &exact);
        };
        let mut done = vec![false; updates.len()];
        for (kind, record) in slot::records(&slot.data) {
            match updates.iter().position(|update| update.0 == kind) {
                Some(position) => {
                    merge(kind, Some(record), &updates[position].1, &mut rewritten);
                    done[position] = true;
                }
                None => slot::append_record(&mut rewritten, kind, record),
            }
        }
        for (position, (kind, metric_partial)) in updates.iter().enumerate() {
            if !done[position] {
                merge(*kind, None, metric_partial, &mut rewritten);
            }
        }
        // An exact-size copy: slots live for an hour, so no spare capacity and no shrinking realloc.
        slot.data = Box::from(rewritten.as_slice());
        self.slot_buffer = rewritten;
    }

    /// Adds a partial's action and event tallies to its segment, names folded by top-N (a name
    /// stage 1 already folded stays `__other__`, uncounted here).
    fn merge_names(
        &mut self,
        view_index: usize,
        site: &Arc<str>,
        key: &SegmentKey,
        partial: &Partial,
    ) {
        let counting = self.counting_names_view == Some(view_index);
        let mut folded = [0u64; NAME_KIND_COUNT];
        let mut resolve = |admission: &mut Admission, kind: NameKind, raw: &str, hits: u64| {
            if raw == OTHER {
                return Arc::from(OTHER);
            }
            match admission.name(site, kind, raw, hits) {
                Ok(name) => name,
                Err((other, _)) => {
                    folded[kind.index()] += hits;
                    other
                }
            }
        };
        let mut names = Vec::with_capacity(partial.actions.len());
        for tally in &partial.actions {
            let name = resolve(
                &mut self.admission,
                NameKind::Action,
                &tally.name,
                tally.count,
            );
            names.push((name, ActionTally::from_proto(tally)));
        }
        let mut event_names = Vec::with_capacity(partial.events.len());
        for tally in &partial.events {
            let name = resolve(
                &mut self.admission,
                NameKind::Event,
                &tally.name,
                tally.count,
            );
            event_names.push((name, EventTally::from_proto(tally)));
        }
        let mut failed_names = Vec::with_capacity(partial.failed_requests.len());
        for tally in &partial.failed_requests {
            let name = resolve(
                &mut self.admission,
                NameKind::FailedRequest,
                &tally.name,
                tally.count,
            );
            failed_names.push((name, EventTally::from_proto(tally)));
        }
        let mut origin_names = Vec::with_capacity(partial.script_origins.len());
        for tally in &partial.script_origins {
            let name = resolve(
                &mut self.admission,
                NameKind::Origin,
                &tally.name,
                tally.count,
            );
            origin_names.push((name, EventTally::from_proto(tally)));
        }
        let mut resource_names = Vec::with_capacity(partial.resource_origins.len());
        for tally in &partial.resource_origins {
            let name = resolve(
                &mut self.admission,
                NameKind::Origin,
                &tally.name,
                tally.count,
            );
            resource_names.push((name, ResourceTally::from_proto(tally)));
        }
        let mut call_names = Vec::with_capacity(partial.calls.len());
        for tally in &partial.calls {
            let name = resolve(
                &mut self.admission,
                NameKind::FailedRequest,
                &tally.name,
                tally.count,
            );
            call_names.push((name, CallTally::from_proto(tally)));
        }
        let segment = self.segments.get_mut(key).expect("the caller inserted it");
        let counts = segment.names.get_or_insert_default();
        for (name, tally) in &names {
            counts.action(name).merge(tally);
        }
        for (name, tally) in &event_names {
            counts.event(name).merge(tally);
        }
        for (name, tally) in &failed_names {
            counts.failed_request(name).merge(tally);
        }
        for (name, tally) in &origin_names {
            counts.script_origin(name).merge(tally);
        }
        for (name, tally) in &resource_names {
            counts.resource_origin(name).merge(tally);
        }
        for (name, tally) in &call_names {
            counts.call(name).merge(tally);
        }
        if counting {
            for kind in NameKind::ALL {
                let occurrences = folded[kind.index()];
                if occurrences > 0 {
                    self.name_folds[kind.index()] += occurrences;
                    self.metrics.folded_name(kind, occurrences);
                }
            }
        }
    }

    /// The sessions and funnels of the sites this stage 2 owns.
    pub fn sessions(&self) -> &Sessions {
        &self.sessions
    }

    /// Page views, errors and failed requests per site and minute, the last hour.
    pub fn activity(&self) -> &Activity {
        &self.activity
    }

    /// The stored last hour of `segment` as points (a minute, or a 5-minute block past the 15m
    /// window), oldest first, each with the samples and p75 (exported unit) of every metric of
    /// `kinds` it holds.
    pub fn trend(&self, segment: &SegmentState, kinds: &[MetricKind]) -> Vec<TrendPoint> {
        let oldest = self.watermark_minute.saturating_sub(60);
        segment
            .minutes
            .iter()
            .filter(|slot| slot.last_minute() >= oldest && slot.minute <= self.watermark_minute)
            .map(|slot| {
                let mut metrics = Vec::new();
                for (kind, record) in slot::records(&slot.data) {
                    if !kinds.contains(&kind) {
                        continue;
                    }
                    let mut histogram = hdr::new_histogram(kind, self.settings.histogram_digits);
                    let mut exact = ExactCounts::new(kind);
                    slot::add_record(kind, record, &mut histogram, &mut exact);
                    if !histogram.is_empty() {
                        let p75 =
                            kind.recorded_to_exported(histogram.value_at_quantile(0.75) as f64);
                        metrics.push((kind, histogram.len(), p75));
                    }
                }
                TrendPoint {
                    minute: slot.minute,
                    span: slot.span,
                    metrics,
                }
            })
            .collect()
    }

    /// The error groups of every site this stage 2 holds.
    pub fn error_groups(&self) -> impl Iterator<Item = (&Arc<str>, &SiteErrors)> {
        self.errors.iter()
    }

    /// Name occurrences folded into `__other__` by top-N so far, for `kind`.
    pub fn name_folds(&self, kind: NameKind) -> u64 {
        self.name_folds[kind.index()]
    }

    /// The label values of a partial of view `view_index`, folded by top-N; `beacons` count for
    /// the ranking. A value stage 1 already folded stays `__other__`, uncounted here.
    fn fold(
        &mut self,
        view_index: usize,
        dimensions: &[Dimension],
        raw: &[String],
        beacons: u64,
    ) -> Box<[Arc<str>]> {
        let mut values: Vec<Arc<str>> = Vec::with_capacity(raw.len());
        let raw_site = raw.first().map_or(UNKNOWN, String::as_str);
        let site = if raw_site == OTHER {
            Arc::from(OTHER)
        } else {
            match self.admission.site(raw_site, beacons) {
                Ok(site) => site,
                Err((other, _)) => {
                    self.count_fold(view_index, Dimension::Site, beacons);
                    other
                }
            }
        };
        values.push(site.clone());
        for (dimension, raw_value) in dimensions.iter().zip(raw).skip(1) {
            let value = if raw_value == OTHER {
                Arc::from(OTHER)
            } else {
                match self.admission.value(&site, *dimension, raw_value, beacons) {
                    Ok(value) => value,
                    Err((other, _)) => {
                        self.count_fold(view_index, *dimension, beacons);
                        other
                    }
                }
            };
            values.push(value);
        }
        values.into_boxed_slice()
    }

    fn count_fold(&mut self, view_index: usize, dimension: Dimension, beacons: u64) {
        if self.counting_view[dimension.index()] == Some(view_index) {
            self.folds[dimension.index()] += beacons;
            self.metrics.folded(dimension, beacons);
        }
    }

    /// Re-ranks top-N once per minute of the watermark (the first minute only starts the clock).
    fn rebalance_if_a_minute_passed(&mut self) {
        if self.watermark_minute > self.rebalanced_minute {
            if self.rebalanced_minute != i64::MIN {
                self.admission.rebalance();
            }
            self.rebalanced_minute = self.watermark_minute;
        }
    }

    /// Values folded into `__other__` by top-N so far, for `dimension` (in beacons).
    pub fn folds(&self, dimension: Dimension) -> u64 {
        self.folds[dimension.index()]
    }

    /// Values held by the top-N tables (admitted + candidates).
    pub fn admission_entries(&self) -> usize {
        self.admission.entries()
    }

    /// Moves time forward to `now_ms` (wall clock in standalone, the slowest beacon partition's
    /// tick time behind Kafka): settles minutes past their lateness into the cumulative counts,
    /// drops minutes older than the longest window and evicts idle segments.
    pub fn advance(&mut self, now_ms: i64) {
        self.watermark_minute = self.watermark_minute.max(minute_of(now_ms));
        self.rebalance_if_a_minute_passed();
        let settle_before = self.watermark_minute - self.settings.allowed_lateness_minutes;
        self.sessions.settle(settle_before.saturating_mul(60_000));
        self.activity.expire(self.watermark_minute);
        let keep_from = self.watermark_minute - RETENTION_MINUTES + 1;
        let compact_before = self.watermark_minute - EXACT_MINUTES + 1;
        let scratch = &mut self.scratch;
        let buffer = &mut self.slot_buffer;
        let mut evicted_sites: Vec<Arc<str>> = Vec::new();
        self.segments.retain(|key, segment| {
            for slot in &segment.minutes {
                if slot.minute >= settle_before || slot.minute <= segment.settled_through {
                    continue;
                }
                for (kind, record) in slot::records(&slot.data) {
                    slot::add_exact(kind, record, segment.settled.entry(kind));
                }
            }
            segment.settled_through = segment.settled_through.max(settle_before - 1);
            compact(segment, compact_before, scratch, buffer);
            while segment
                .minutes
                .front()
                .is_some_and(|slot| slot.last_minute() < keep_from)
            {
                segment.minutes.pop_front();
            }
            let alive = !segment.minutes.is_empty() || segment.last_minute >= keep_from;
            if !alive {
                evicted_sites.push(key.values[0].clone());
            }
            alive
        });
        for site in evicted_sites {
            if let Some(count) = self.site_segments.get_mut(&site) {
                *count -= 1;
                if *count == 0 {
                    self.site_segments.remove(&site);
                }
            }
        }
    }

    /// How much this stage 2 holds (for [`crate::metrics::StateGauges`]).
    pub fn size(&self) -> StateSize {
        StateSize {
            segments: self.segments.len(),
            admission_entries: self.admission.entries(),
            histogram_bytes: self.histogram_bytes(),
        }
    }

    /// What this stage 2 holds, for a snapshot (the worker adds its positions): segments,
    /// top-N tables, the clock and the budget's count.
    pub fn export(&self) -> Stage2State {
        let mut segments: Vec<(&SegmentKey, &SegmentState)> = self.segments.iter().collect();
        segments.sort_by(|a, b| a.0.cmp(b.0));
        Stage2State {
            watermark_minute: self.watermark_minute,
            segments: segments
                .into_iter()
                .map(|(key, segment)| SegmentSnapshot {
                    view: key.view.to_string(),
                    values: key.values.iter().map(|value| value.to_string()).collect(),
                    slots: segment
                        .minutes
                        .iter()
                        .map(|slot| SlotSnapshot {
                            minute: slot.minute,
                            span: slot.span,
                            data: slot.data.to_vec(),
                        })
                        .collect(),
                    settled: segment
                        .settled
                        .0
                        .iter()
                        .map(|(kind, exact)| SettledMetric {
                            metric: kind.name().to_owned(),
                            counts: exact.deltas().to_vec(),
                            sum_micros: exact.sum_micros(),
                        })
                        .collect(),
                    settled_through: segment.settled_through,
                    page_views: segment.page_views,
                    errors: segment.errors.to_vec(),
                    requests_failed: segment.requests_failed,
                    requests_slow: segment.requests_slow,
                    last_minute: segment.last_minute,
                    first_minute: segment.first_minute,
                    estimated_page_views: segment.estimated_page_views,
                    estimated_errors: segment.estimated_errors,
                    long_frames: segment.long_frames,
                    long_frame_blocking_micros: segment.long_frame_blocking_micros,
                    resource_types: nonzero_counts(&RESOURCE_TYPES, &segment.resource_types),
                    exemplars: segment.exemplars_proto(),
                    ..Self::names_snapshot(segment)
                })
                .collect(),
            admission: Some(self.admission.export()),
            budget_folds: self.budget_folds,
            late: self.late,
            error_groups: self
                .errors
                .iter()
                .map(|(site, errors)| errors.export(site))
                .collect(),
            sessions: self.sessions.export(),
            sessions_evicted: self.sessions.evicted(),
            activity: self.activity.export(),
            ..Stage2State::default()
        }
    }

    /// A segment's named counters as snapshot fields (the rest left default).
    fn names_snapshot(segment: &SegmentState) -> SegmentSnapshot {
        let NamedProto {
            actions,
            events,
            failed_requests,
            script_origins,
            resource_origins,
            calls,
        } = segment
            .names()
            .map(NamedCounts::to_proto)
            .unwrap_or_default();
        SegmentSnapshot {
            actions,
            events,
            failed_requests,
            script_origins,
            resource_origins,
            calls,
            ..SegmentSnapshot::default()
        }
    }

    /// [`import`](Self::import) for `rum standalone`, whose clock is the data's and the wall
    /// clock's (a restart picks up where the saved state left off).
    pub fn import_standalone(settings: AggregatorSettings, state: &Stage2State) -> (Self, usize) {
        let (mut stage2, dropped) = Self::import(settings, state);
        stage2.clock_from_data = true;
        (stage2, dropped)
    }

    /// A stage 2 holding what `state` describes (see [`export`](Self::export)). Segments of views
    /// this process does not have are dropped (the answer says how many).
    pub fn import(settings: AggregatorSettings, state: &Stage2State) -> (Self, usize) {
        let mut stage2 = Stage2::for_partition(settings);
        let mut dropped = 0;
        stage2.watermark_minute = state.watermark_minute;
        stage2.rebalanced_minute = state.watermark_minute;
        stage2.budget_folds = state.budget_folds;
        stage2.late = state.late;
        // What was final is read; the next advance settles again from the restored clock.
        stage2
            .sessions
            .import(&state.sessions, state.sessions_evicted, i64::MIN);
        stage2.activity = Activity::import(&state.activity);
        for saved in &state.error_groups {
            let capacity = stage2.settings.error_groups;
            stage2.errors.insert(
                Arc::from(saved.site.as_str()),
                SiteErrors::import(capacity, saved),
            );
        }
        if let Some(admission) = &state.admission {
            stage2.admission =
                Admission::import(stage2.settings.top_n, stage2.settings.max_sites, admission)
                    .with_top_names(stage2.settings.top_names)
                    .with_releases(stage2.settings.releases);
        }
        for saved in &state.segments {
            let Some(view) = stage2.views.get(saved.view.as_str()) else {
                dropped += 1;
                continue;
            };
            if saved.values.len() != view.dimensions.len() {
                dropped += 1;
                continue;
            }
            let key = SegmentKey {
                view: view.name.clone(),
                values: saved
                    .values
                    .iter()
                    .map(|value| Arc::from(value.as_str()))
                    .collect(),
            };
            let mut segment = SegmentState::new(saved.last_minute);
            segment.settled_through = saved.settled_through;
            segment.page_views = saved.page_views;
            for (slot, count) in segment.errors.iter_mut().zip(&saved.errors) {
                *slot = *count;
            }
            segment.requests_failed = saved.requests_failed;
            segment.requests_slow = saved.requests_slow;
            segment.estimated_page_views = saved.estimated_page_views;
            segment.estimated_errors = saved.estimated_errors;
            segment.long_frames = saved.long_frames;
            segment.long_frame_blocking_micros = saved.long_frame_blocking_micros;
            for (kind, count) in &saved.resource_types {
                segment.resource_types[closed_index(&RESOURCE_TYPES, kind.as_bytes())] += count;
            }
            segment.add_exemplars(&saved.exemplars);
            segment.names = NamedCounts::from_proto(
                &saved.actions,
                &saved.events,
                &saved.failed_requests,
                &saved.script_origins,
                &saved.resource_origins,
                &saved.calls,
            )
            .map(Box::new);
            segment.last_minute = saved.last_minute;
            // Slots of older snapshots (the legacy encoding, or other digits) are re-encoded.
            let digits = stage2.settings.histogram_digits;
            segment.minutes = saved
                .slots
                .iter()
                .map(|slot| MinuteSlot {
                    minute: slot.minute,
                    span: slot.span,
                    data: slot::upgrade(&slot.data, digits)
                        .unwrap_or_else(|| slot.data.clone())
                        .into_boxed_slice(),
                })
                .collect();
            segment.first_minute = match saved.first_minute {
                0 => segment
                    .minutes
                    .front()
                    .map_or(saved.last_minute, |slot| slot.minute),
                minute => minute,
            };
            for settled in &saved.settled {
                let Some(kind) = MetricKind::from_name(&settled.metric) else {
                    continue;
                };
                let mut exact = ExactCounts::new(kind);
                if exact.apply_deltas(&settled.counts, settled.sum_micros) {
                    *segment.settled.entry(kind) = exact;
                }
            }
            *stage2
                .site_segments
                .entry(key.values[0].clone())
                .or_insert(0) += 1;
            stage2.segments.insert(key, segment);
        }
        (stage2, dropped)
    }

    /// New segments folded into their view's `__other__` segment by the site budget so far.
    pub fn budget_folds(&self) -> u64 {
        self.budget_folds
    }

    /// Partials dropped as late so far.
    pub fn late(&self) -> u64 {
        self.late
    }

    pub fn segment_count(&self) -> usize {
        self.segments.len()
    }

    /// Bytes held by segment state (windows, exact counts, cumulative counts).
    pub fn histogram_bytes(&self) -> usize {
        let errors: usize = self.errors.values().map(SiteErrors::bytes).sum();
        self.segments
            .values()
            .map(SegmentState::bytes)
            .sum::<usize>()
            + errors
            + self.sessions.bytes()
            + self.activity.bytes()
    }

    pub fn segments(&self) -> impl Iterator<Item = (&SegmentKey, &SegmentState)> {
        self.segments.iter()
    }

    pub fn segment(&self, key: &SegmentKey) -> Option<&SegmentState> {
        self.segments.get(key)
    }

    /// Merges `kind` from the newest minute back over the first `window_count` windows of
    /// [`WINDOWS`], handing `visit` each window's merged histogram and exact counts (`None` when
    /// the window has no sample) without copying them: one pass serves every window.
    fn merge_windows(
        &self,
        segment: &SegmentState,
        kind: MetricKind,
        window_count: usize,
        mut visit: impl FnMut(usize, Option<(&Histogram<u64>, &ExactCounts)>),
    ) {
        let mut merged: Option<(Histogram<u64>, ExactCounts)> = None;
        let mut slots = segment.minutes.iter().rev().peekable();
        for (index, (_, window_minutes)) in WINDOWS.iter().enumerate().take(window_count) {
            // Saturating: behind Kafka the clock starts only once every beacon partition has
            // ticked, and segments applied before that are rendered (empty) in the meantime.
            let oldest = self.watermark_minute.saturating_sub(*window_minutes);
            // A 5-minute block counts when any of its minutes is in the window, so the 1h window
            // spans 60 to 64 complete minutes plus the current one.
            while let Some(slot) = slots.next_if(|slot| slot.last_minute() >= oldest) {
                if slot.minute > self.watermark_minute {
                    continue;
                }
                let Some((_, record)) = slot::records(&slot.data).find(|(k, _)| *k == kind) else {
                    continue;
                };
                let (histogram, exact) = merged.get_or_insert_with(|| {
                    (
                        hdr::new_histogram(kind, self.settings.histogram_digits),
                        ExactCounts::new(kind),
                    )
                });
                slot::add_record(kind, record, histogram, exact);
            }
            visit(
                index,
                merged
                    .as_ref()
                    .filter(|(histogram, _)| !histogram.is_empty())
                    .map(|(histogram, exact)| (histogram, exact)),
            );
        }
    }

    /// `kind` over every window of [`WINDOWS`] for one segment, in that order (`None` where the
    /// metric has no samples in the window).
    pub fn windows(&self, segment: &SegmentState, kind: MetricKind) -> [Option<WindowSummary>; 4] {
        let mut results: [Option<WindowSummary>; 4] = Default::default();
        self.merge_windows(segment, kind, WINDOWS.len(), |index, merged| {
            results[index] = merged.map(|(histogram, exact)| WindowSummary {
                histogram: histogram.clone(),
                exact: exact.clone(),
            });
        });
        results
    }

    /// Samples and the exported quantiles ([`QUANTILES`]) of `kind` per window, computed in the
    /// merge pass (the exposition needs nothing else, so no histogram is copied).
    pub fn window_quantiles(
        &self,
        segment: &SegmentState,
        kind: MetricKind,
    ) -> [Option<(u64, [f64; QUANTILES.len()])>; 4] {
        let mut results: [Option<(u64, [f64; QUANTILES.len()])>; 4] = Default::default();
        self.merge_windows(segment, kind, WINDOWS.len(), |index, merged| {
            results[index] = merged.map(|(histogram, _)| {
                (
                    histogram.len(),
                    QUANTILES.map(|(_, quantile)| {
                        kind.recorded_to_exported(histogram.value_at_quantile(quantile) as f64)
                    }),
                )
            });
        });
        results
    }

    /// One metric over one window (by label, e.g. `"5m"`).
    pub fn window(
        &self,
        segment: &SegmentState,
        kind: MetricKind,
        window: &str,
    ) -> Option<WindowSummary> {
        let position = WINDOWS.iter().position(|(label, _)| *label == window)?;
        // Merges only as far back as this window needs, and copies only its result.
        let mut result = None;
        self.merge_windows(segment, kind, position + 1, |index, merged| {
            if index == position {
                result = merged.map(|(histogram, exact)| WindowSummary {
                    histogram: histogram.clone(),
                    exact: exact.clone(),
                });
            }
        });
        result
    }
}

#[cfg(test)]
mod tests {
    use rum_schema::proto::{Beacon, Enrichment, Event, Vital, VitalName, event};

    use super::*;
    use crate::stage1::Stage1;
    use crate::wire::BeaconView;

    const T0: i64 = 1_763_760_000_000;

    /// 40 minutes of two routes' vitals (so 5-minute blocks, late minutes and retractions exist).
    fn filled() -> Stage2 {
        let settings = AggregatorSettings::default();
        let mut stage1 = Stage1::new(settings.clone());
        let mut stage2 = Stage2::new(settings);
        let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
        for minute in 0..40i64 {
            stage2.advance(T0 + minute * 60_000);
            for sample in 0..30u64 {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                let noise = (seed % 1000) as f64 / 1000.0;
                let vital = |name: VitalName, value: f64| Event {
                    kind: Some(event::Kind::Vital(Vital {
                        name: name as i32,
                        value,
                        id: "v".into(),
                        ..Vital::default()
                    })),
                };
                // Every tenth page view re-sends its LCP a minute later (a retraction).
                let page_view = if sample % 10 == 0 && minute > 0 {
                    format!("pv{}-{sample}", minute - 1)
                } else {
                    format!("pv{minute}-{sample}")
                };
                let beacon = Beacon {
                    version: 1,
                    site: "shop".into(),
                    page_view_id: page_view,
                    received_at_ms: T0 + minute * 60_000,
                    enrichment: Some(Enrichment {
                        route: format!("/r/{}", sample % 2),
                        ..Enrichment::default()
                    }),
                    events: vec![
                        vital(VitalName::Lcp, 2500.0 + (noise - 0.5) * 4000.0),
                        vital(VitalName::Inp, 200.0 * (noise * 3.0).exp() / 3.0),
                        vital(VitalName::Cls, 0.1 + (noise - 0.5) * 0.01),
                    ],
                    ..Beacon::default()
                };
                BeaconView::of(&beacon, |view| stage1.ingest(view));
            }
            for partial in stage1.flush() {
                stage2.apply(partial);
            }
        }
        stage2
    }

    #[test]
    fn snapshots_with_slots_in_the_legacy_encoding_import_to_the_same_state() {
        let stage2 = filled();
        let state = stage2.export();
        let mut legacy = state.clone();
        let mut blocks = 0;
        for segment in &mut legacy.segments {
            for slot in &mut segment.slots {
                blocks += usize::from(slot.span == BLOCK_MINUTES);
                slot.data = slot::to_legacy(&slot.data);
                assert_ne!(slot.data.first(), state.segments[0].slots[0].data.first());
            }
        }
        assert!(blocks > 0, "the legacy snapshot holds blocks");
        let (restored, dropped) = Stage2::import(stage2.settings().clone(), &legacy);
        assert_eq!(dropped, 0);
        assert_eq!(restored.export(), state);
        assert_eq!(
            crate::exposition::render(&restored),
            crate::exposition::render(&stage2)
        );
        for (key, segment) in stage2.segments() {
            let other = restored.segment(key).expect("restored");
            for kind in [MetricKind::Lcp, MetricKind::Inp, MetricKind::Cls] {
                let ours = stage2.window_quantiles(segment, kind);
                assert!(ours[3].is_some());
                assert_eq!(ours, restored.window_quantiles(other, kind));
            }
        }
    }
}
