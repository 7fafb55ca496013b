//! Stage 1: where beacons land. Decoded beacons are recorded, per view, into the builder of their
//! (segment, 1-minute window); at each flush (a chunk's end) the builders become [`Partial`]s for
//! stage 2 and are reset. Stage 1 holds only what arrived since the last flush (plus the dedupe
//! table), so its memory follows the chunk, not the number of segments over time.
//!
//! Label values leave stage 1 as the beacons carried them (bounded in length): top-N folding is
//! stage 2's, which sees every partial of a site. Stage 1 only bounds how many distinct values of a
//! (site, dimension) one chunk may carry ([`AggregatorSettings::chunk_value_bound`]); past that a
//! value folds into `__other__` here, counted. Nothing stage 1 does depends on anything but the
//! beacons it is given and its dedupe table, so a replay of the same beacons from the same state
//! yields the same partials (what exactness behind Kafka rests on).

use std::sync::Arc;

use rum_schema::proto::{MetricPartial, Partial};

use crate::wire::{BeaconView, EventKind};

use crate::dedupe::{Dedupe, Seen};
use crate::error_groups::{ChunkErrors, ErrorOccurrence, host_of, session_hash};
use crate::exact::{ExactCounts, to_micros};
use crate::hdr::{BucketLayout, IndexHistogram};
use crate::metric::{METRIC_COUNT, MetricKind};
use crate::metrics::{BeaconDrop, DedupeOutcome, EVENT_TYPE_COUNT, EventType, Stage1Metrics};
use crate::names::{
    CallTally, ChunkNamedCounts, EventTally, NAME_KIND_COUNT, NameKind, NamedProto, ResourceTally,
    STATUS_CLASS_COUNT, origin_name, request_name_into, status_class,
};
use crate::sessions::{ChunkSessions, OccurrenceKind, session_key};
use crate::settings::{AggregatorSettings, RETENTION_MINUTES, minute_of};
use crate::view::{DIMENSION_COUNT, Dimension, OTHER, bounded_label};

/// Error kinds kept apart; anything else counts as `other` (the label stays bounded).
pub const ERROR_KINDS: [&str; 3] = ["error", "unhandledrejection", "other"];

/// Resource initiator types counted apart (`rum_resources_by_type_total{type}`); any other is
/// `other`.
pub const RESOURCE_TYPES: [&str; 8] = [
    "script",
    "link",
    "css",
    "img",
    "fetch",
    "xmlhttprequest",
    "iframe",
    "other",
];

/// The position of `value` in a closed label set whose last member takes everything else
/// ([`ERROR_KINDS`], [`RESOURCE_TYPES`]).
pub fn closed_index(set: &[&str], value: &[u8]) -> usize {
    set.iter()
        .position(|known| known.as_bytes() == value)
        .unwrap_or(set.len() - 1)
}

/// The non-zero counts of a closed label set, by name: how partials and snapshots carry them.
pub fn nonzero_counts(set: &[&str], counts: &[u64]) -> std::collections::HashMap<String, u64> {
    set.iter()
        .zip(counts)
        .filter(|(_, count)| **count > 0)
        .map(|(name, count)| ((*name).to_owned(), *count))
        .collect()
}

/// Samples buffered per builder before they are recorded in one go: appending to a vector is a
/// sequential write, while recording scatters over a multi-KiB histogram (cache misses were a third
/// of stage 1 in perf). Bounded, so a hot segment drains every few hundred samples.
const PENDING_SAMPLES: usize = 256;

/// A sample as a builder records it, worked out once per sample rather than once per view (six
/// in the default views): the histogram's counts index, the exact bucket and the value in
/// millionths. Recording one is then three indexed additions, the same ones
/// `Histogram::saturating_record` of [`MetricKind::to_recorded`] and [`ExactCounts::record`] make
/// from the raw value.
#[derive(Clone, Copy)]
struct Point {
    micros: i64,
    index: u32,
    bucket: u32,
}

impl Point {
    fn of(kind: MetricKind, value: f64, layout: &BucketLayout) -> Self {
        Self {
            micros: to_micros(value),
            // `to_recorded` is at most 3.6M (ms) or 100,000 (CLS milli): a small index.
            index: layout.index_of(kind.to_recorded(value)) as u32,
            bucket: kind.bucket_index(value) as u32,
        }
    }
}

struct MetricBuilder {
    /// Samples not yet recorded into `added` and `exact`, in arrival order (a retraction is
    /// recorded at once: the order of the exact sums' saturating additions stays what it was).
    pending: Vec<Point>,
    added: Option<IndexHistogram>,
    removed: Option<IndexHistogram>,
    exact: ExactCounts,
}

impl MetricBuilder {
    fn drain(&mut self, kind: MetricKind, digits: u8, pool: &mut Vec<IndexHistogram>) {
        if self.pending.is_empty() {
            return;
        }
        let added = self.added.get_or_insert_with(|| {
            pool.pop()
                .unwrap_or_else(|| IndexHistogram::new(kind, digits))
        });
        for point in self.pending.drain(..) {
            added.record_index(point.index as usize);
            self.exact
                .record_point(point.bucket as usize, point.micros, 1);
        }
    }
}

#[derive(Default)]
struct SegmentBuilder {
    metrics: [Option<MetricBuilder>; METRIC_COUNT],
    /// Beacons recorded into this builder (stage 2 ranks label values by them).
    beacons: u64,
    page_views: u64,
    errors: [u64; ERROR_KINDS.len()],
    /// Page views and errors each weighed by 1 / their beacon's sample rate.
    estimated_page_views: f64,
    estimated_errors: f64,
    requests_failed: u64,
    requests_slow: u64,
    /// Long animation frames and their blocking time (millionths of a ms).
    long_frames: u64,
    long_frame_blocking_micros: u64,
    /// Resources by initiator type ([`RESOURCE_TYPES`]).
    resource_types: [u64; RESOURCE_TYPES.len()],
    /// Actions and business events by name (views with `actions = true`).
    names: Option<Box<ChunkNamedCounts>>,
    /// Samples of traced page views: the latest per metric and bucket.
    exemplars: Vec<SampleExemplar>,
}

/// A sample of a page view whose load named its backend trace.
#[derive(Clone, Copy)]
struct SampleExemplar {
    kind: MetricKind,
    bucket: usize,
    trace_id: [u8; 16],
    value: f64,
    at_ms: i64,
}

impl SegmentBuilder {
    /// Keeps `exemplar` as its metric and bucket's (the latest wins).
    fn offer(&mut self, exemplar: SampleExemplar) {
        match self
            .exemplars
            .iter_mut()
            .find(|held| held.kind == exemplar.kind && held.bucket == exemplar.bucket)
        {
            Some(held) => *held = exemplar,
            None => self.exemplars.push(exemplar),
        }
    }
}

/// One value to record, possibly replacing an earlier one of the same page view and metric id
/// (then in the minute that one was counted in).
struct Sample {
    kind: MetricKind,
    value: f64,
    replaces: Option<(f64, i64)>,
}

impl Sample {
    fn new(kind: MetricKind, value: f64) -> Self {
        Self {
            kind,
            value,
            replaces: None,
        }
    }
}

use crate::FastMap;

/// What a builder aggregates: view index, minute, and the segment's label values.
type BuilderKey = (usize, i64, Box<[Arc<str>]>);

/// A beacon's label value per dimension, after top-N folding (`None` for unused dimensions).
type DimensionValues = [Option<Arc<str>>; DIMENSION_COUNT];

/// Distinct label combinations remembered per flush interval (see [`ResolvedLabels`]); past it,
/// beacons resolve through the top-N tables one by one, which is slower but equally exact.
const LABEL_CACHE_CAPACITY: usize = 8192;
/// Raw label combinations longer than this are not cached (routes are capped at the edge, so
/// only a hostile producer gets here); it bounds the cache's memory with the capacity above.
const LABEL_CACHE_MAX_KEY_BYTES: usize = 1024;
/// The slot of [`Stage1::uncached`].
const UNCACHED: usize = usize::MAX;
/// Distinct raw names (per site and kind), and distinct call endpoints (per site, method and
/// endpoint), remembered per flush interval, each (see [`CachedName`]); past it, names resolve
/// one by one, which is slower but equally exact. Keys longer than [`LABEL_CACHE_MAX_KEY_BYTES`]
/// are not cached either: together they bound the caches' memory.
const NAME_CACHE_CAPACITY: usize = 8192;

/// What one combination of raw label values (site, route, device, ...) resolves to, cached for
/// the rest of the flush interval: most beacons of a busy second repeat a combination seen
/// earlier in it, and resolving one (UTF-8 checks, the chunk bound, the six builder lookups) was
/// most of stage 1's time. Its folds are counted per beacon.
#[derive(Default)]
struct ResolvedLabels {
    values: DimensionValues,
    /// Dimensions folded into `__other__` by the chunk bound, by [`Dimension::index`] bit.
    folded: u8,
    /// The minute `segments` belong to.
    minute: i64,
    /// The builder of each view's segment for `minute`.
    segments: Vec<usize>,
    /// The site's key prefix in [`Stage1::name_cache`] (when a view keeps names).
    name_scope: u32,
}

/// What one raw name of a site (an action's, an event's, an origin, a call's method, endpoint and
/// status class) resolved to this chunk, cached for the rest of the flush interval: a page's
/// origins and call groups repeat from beacon to beacon, and resolving one (UTF-8 check, length
/// bound, the chunk bound's two hash lookups, building a call group's name) was ~400 instructions.
/// Exact because both outcomes last until the flush: an admitted name stays in its table, and a
/// folded one finds its table full. A fold is counted per use, as before.
#[derive(Clone, Copy)]
struct CachedName {
    /// The label's id in [`Stage1::name_labels`].
    id: u32,
    folded: bool,
}

pub struct Stage1 {
    settings: AggregatorSettings,
    /// Per view: its dimensions and whether it keeps navigation phases (copied out of `settings`
    /// so the hot loop borrows nothing else).
    view_dimensions: Vec<Vec<Dimension>>,
    view_navigation: Vec<bool>,
    view_actions: Vec<bool>,
    /// Whether any view keeps actions and events (else their names are never resolved).
    keeps_names: bool,
    /// Distinct values seen this chunk per (site, table), for the chunk bound: tables are the
    /// dimensions by index, then the name kinds (`DIMENSION_COUNT + NameKind::index`).
    chunk_values: FastMap<(Arc<str>, usize), FastMap<Arc<str>, ()>>,
    dedupe: Dedupe,
    /// Builders open since the last flush, addressed by index, with their (view, minute, label
    /// values)...
    builders: Vec<SegmentBuilder>,
    builder_keys: Vec<BuilderKey>,
    /// ...found per (view, minute) by the segment's label values: one lookup per view per beacon.
    /// keyed by a hash of (view, minute, label values) -> the newest builder with that hash;
    /// `chain[i]` links to an older builder with the same hash. A lookup hashes and compares
    /// `&str`s: no reference counts touched, no key built, unless the segment is new.
    index: FastMap<u64, usize>,
    chain: Vec<Option<usize>>,
    key_hasher: foldhash::fast::RandomState,
    /// Label combinations resolved since the last flush: raw key -> slot in `resolved`.
    label_cache: FastMap<Box<[u8]>, usize>,
    resolved: Vec<ResolvedLabels>,
    /// Slot [`UNCACHED`]: the combination of a beacon the cache has no room for.
    uncached: ResolvedLabels,
    /// Reused buffer for one beacon's raw label key.
    label_key: Vec<u8>,
    /// Names resolved since the last flush: (site scope, kind, raw name) -> label. Sites get
    /// their scope (a number, so a key does not repeat the site) in `name_scopes`.
    name_cache: FastMap<Box<[u8]>, CachedName>,
    name_scopes: FastMap<Arc<str>, u32>,
    /// Call groups resolved since the last flush, by their raw parts: (site scope, method,
    /// endpoint) -> slot in `call_groups`, which holds the group of each status class seen. One
    /// lookup per endpoint of a `calls` event, whatever its classes; a hit skips building the
    /// group's name too.
    call_group_index: FastMap<Box<[u8]>, u32>,
    call_groups: Vec<[Option<CachedName>; STATUS_CLASS_COUNT]>,
    /// Reused buffer for one name's cache key.
    name_key: Vec<u8>,
    /// This chunk's distinct name labels (`__other__` too), numbered: builders count names by
    /// these ids ([`ChunkNamedCounts`]) until the flush, which looks them up.
    name_labels: Vec<Arc<str>>,
    name_ids: FastMap<Arc<str>, u32>,
    /// Reused buffer for one beacon's builders.
    segments: Vec<usize>,
    /// Reused buffer for one beacon's samples.
    samples: Vec<Sample>,
    /// A call group's name as it is built (reused: no allocation per name).
    request_name: String,
    /// Reused buffer for a histogram's V2 bytes.
    encoded: Vec<u8>,
    /// The counts layout of every histogram at the configured precision.
    layout: BucketLayout,
    /// Reset histograms ready for reuse, per metric (their ranges differ).
    pool: [Vec<IndexHistogram>; METRIC_COUNT],
    /// Empty sample buffers of `PENDING_SAMPLES` capacity, ready for reuse: growing a new one per
    /// builder every flush interval was a tenth of stage 1's instructions.
    pending_pool: Vec<Vec<Point>>,
    watermark_minute: i64,
    /// Where the watermark comes from: the newest beacon (standalone) or the tick records of the
    /// beacon partition (behind Kafka, so lateness is judged against the log's own clock).
    watermark_from_ticks: bool,
    /// The newest tick time seen (ms), behind Kafka.
    tick_ms: i64,
    /// The watermark minute the dedupe table was last expired at.
    expired_minute: i64,
    /// Which dimensions any view uses (others are never resolved).
    used_dimensions: [bool; DIMENSION_COUNT],
    /// Folds per dimension and name kind, and late beacons since start (also exported as
    /// counters).
    folds: [u64; DIMENSION_COUNT],
    name_folds: [u64; NAME_KIND_COUNT],
    /// This chunk's errors grouped per site (they leave with the first view's partials).
    errors: ChunkErrors,
    error_group_folds: u64,
    /// This chunk's session activity per site (it leaves with the first view's partials too).
    sessions: ChunkSessions,
    late: u64,
    metrics: Stage1Metrics,
}

impl Stage1 {
    pub fn new(settings: AggregatorSettings) -> Self {
        let dedupe = Dedupe::new(settings.dedupe_capacity, RETENTION_MINUTES);
        Self::with_dedupe(settings, dedupe, false)
    }

    /// Stage 1 for one beacon partition behind Kafka: its dedupe table holds
    /// `dedupe_capacity` page views, and its clock is the partition's tick records
    /// ([`advance_to_tick`](Self::advance_to_tick)).
    pub fn for_partition(settings: AggregatorSettings, dedupe_capacity: usize) -> Self {
        let dedupe = Dedupe::new(dedupe_capacity, RETENTION_MINUTES);
        Self::with_dedupe(settings, dedupe, true)
    }

    /// The stage 1 of one beacon partition as `state` describes it (see [`snapshot`](Self::snapshot)).
    /// Returns how many saved page views were malformed and skipped.
    pub fn restore(
        settings: AggregatorSettings,
        dedupe_capacity: usize,
        state: &rum_schema::proto::Stage1State,
    ) -> (Self, usize) {
        let (dedupe, skipped) = Dedupe::import(
            dedupe_capacity,
            RETENTION_MINUTES,
            state.dedupe_key0,
            &state.entries,
            state.dedupe_evicted,
        );
        let mut stage1 = Self::with_dedupe(settings, dedupe, true);
        stage1.advance_to_tick(state.tick_ms);
        stage1.expired_minute = stage1.watermark_minute;
        (stage1, skipped)
    }

    /// What this stage 1 remembers, at a chunk boundary (nothing buffered): its clock and its
    /// dedupe table. `next_offset` is the first beacon offset the state does not reflect.
    pub fn snapshot(&self, partition: i32, next_offset: i64) -> rum_schema::proto::Stage1State {
        debug_assert!(
            self.builders.is_empty(),
            "a snapshot is taken between chunks"
        );
        rum_schema::proto::Stage1State {
            partition,
            next_offset,
            tick_ms: self.tick_ms,
            dedupe_key0: self.dedupe.seed(),
            dedupe_key1: 0,
            entries: self.dedupe.export(),
            dedupe_evicted: self.dedupe.evicted(),
        }
    }

    /// Moves the clock to a tick record's time (behind Kafka): later beacons of closed windows are
    /// late.
    pub fn advance_to_tick(&mut self, tick_ms: i64) {
        self.tick_ms = self.tick_ms.max(tick_ms);
        if self.tick_ms > 0 {
            self.watermark_minute = self.watermark_minute.max(minute_of(self.tick_ms));
        }
    }

    /// The newest tick time seen (ms; 0 before the first).
    pub fn tick_ms(&self) -> i64 {
        self.tick_ms
    }

    /// Page views the dedupe table holds.
    pub fn dedupe_entries(&self) -> usize {
        self.dedupe.len()
    }

    fn with_dedupe(
        settings: AggregatorSettings,
        dedupe: Dedupe,
        watermark_from_ticks: bool,
    ) -> Self {
        let mut used_dimensions = [false; DIMENSION_COUNT];
        for view in settings.views.iter() {
            for dimension in &view.dimensions {
                used_dimensions[dimension.index()] = true;
            }
        }
        Self {
            view_dimensions: settings
                .views
                .iter()
                .map(|view| view.dimensions.clone())
                .collect(),
            view_navigation: settings.views.iter().map(|view| view.navigation).collect(),
            view_actions: settings.views.iter().map(|view| view.actions).collect(),
            keeps_names: settings.views.iter().any(|view| view.actions),
            chunk_values: FastMap::default(),
            dedupe,
            builders: Vec::new(),
            builder_keys: Vec::new(),
            index: FastMap::default(),
            chain: Vec::new(),
            key_hasher: foldhash::fast::RandomState::default(),
            label_cache: FastMap::default(),
            resolved: Vec::new(),
            uncached: ResolvedLabels::default(),
            label_key: Vec::new(),
            name_cache: FastMap::default(),
            name_scopes: FastMap::default(),
            call_group_index: FastMap::default(),
            call_groups: Vec::new(),
            name_key: Vec::new(),
            name_labels: Vec::new(),
            name_ids: FastMap::default(),
            segments: Vec::new(),
            samples: Vec::new(),
            request_name: String::new(),
            encoded: Vec::new(),
            layout: BucketLayout::of_digits(settings.histogram_digits),
            pool: Default::default(),
            pending_pool: Vec::new(),
            watermark_minute: i64::MIN,
            watermark_from_ticks,
            tick_ms: 0,
            expired_minute: i64::MIN,
            used_dimensions,
            folds: [0; DIMENSION_COUNT],
            name_folds: [0; NAME_KIND_COUNT],
            errors: ChunkErrors::default(),
            error_group_folds: 0,
            sessions: ChunkSessions::default(),
            late: 0,
            metrics: Stage1Metrics::register(),
            settings,
        }
    }

    /// Windows older than this minute are closed: their beacons are late.
    fn oldest_open_minute(&self) -> i64 {
        self.watermark_minute
            .saturating_sub(self.settings.allowed_lateness_minutes)
    }

    /// Counts a delivered record that is not a beacon (stage 1 could not decode it).
    pub fn undecodable(&mut self) {
        self.metrics.beacons.increment(1);
        self.metrics.dropped.count(BeaconDrop::Undecodable);
    }

    /// Records one beacon into every view.
    pub fn ingest(&mut self, beacon: &BeaconView) {
        self.metrics.beacons.increment(1);
        let minute = minute_of(beacon.received_at_ms);
        if !self.watermark_from_ticks {
            self.watermark_minute = self.watermark_minute.max(minute);
        }
        let oldest_open_minute = self.oldest_open_minute();
        if minute < oldest_open_minute {
            self.late += 1;
            self.metrics.dropped.count(BeaconDrop::Late);
            return;
        }
        let slot = self.resolve_labels(beacon, minute);
        let site = self.labels(slot).values[Dimension::Site.index()]
            .clone()
            .expect("the site is always resolved");
        let scope = self.labels(slot).name_scope;
        let mut segments = std::mem::take(&mut self.segments);
        segments.clear();
        segments.extend_from_slice(&self.labels(slot).segments);

        // First the dedupe decisions (one table lookup per beacon), then the recording.
        // Reused across beacons: no allocation per beacon for the sample list.
        let mut samples = std::mem::take(&mut self.samples);
        samples.clear();
        let (new_page_view, mut page_view) =
            self.dedupe
                .page_view(&site, beacon.page_view_id, minute, beacon.sequence);
        // Summed per beacon: one counter update per event type, not per event.
        let mut event_counts = [0u64; EVENT_TYPE_COUNT];
        for event in &beacon.events {
            match &event.kind {
                Some(EventKind::Vital(vital)) => {
                    event_counts[EventType::Vital as usize] += 1;
                    let Some(kind) = MetricKind::from_vital(vital.name()) else {
                        continue;
                    };
                    let metric_id = if vital.id.is_empty() {
                        kind.name().as_bytes()
                    } else {
                        vital.id
                    };
                    match page_view.observe(metric_id, vital.value, minute, beacon.sequence) {
                        Seen::New => samples.push(Sample::new(kind, vital.value)),
                        Seen::Overflow => {
                            self.metrics.dedupe(DedupeOutcome::Overflow);
                            samples.push(Sample::new(kind, vital.value));
                        }
                        Seen::Unchanged => self.metrics.dedupe(DedupeOutcome::Unchanged),
                        Seen::Stale => self.metrics.dedupe(DedupeOutcome::Stale),
                        Seen::Replaced {
                            previous,
                            minute: counted_minute,
                        } => {
                            if counted_minute < oldest_open_minute {
                                // Its window is closed: the earlier value stands.
                                self.metrics.dedupe(DedupeOutcome::ReplacedTooLate);
                            } else {
                                self.metrics.dedupe(DedupeOutcome::Replaced);
                                samples.push(Sample {
                                    kind,
                                    value: vital.value,
                                    replaces: Some((previous, counted_minute)),
                                });
                            }
                        }
                    }
                }
                Some(EventKind::Navigation(navigation)) => {
                    event_counts[EventType::Nav as usize] += 1;
                    if page_view.observe(b"#nav", 0.0, minute, None) != Seen::New {
                        self.metrics.dedupe(DedupeOutcome::Unchanged);
                        continue;
                    }
                    // In the view's order: dns, connect, tls, download, dom interactive, dom
                    // complete, load.
                    let kinds = [
                        MetricKind::NavDns,
                        MetricKind::NavConnect,
                        MetricKind::NavTls,
                        MetricKind::NavDownload,
                        MetricKind::NavDomInteractive,
                        MetricKind::NavDomComplete,
                        MetricKind::NavLoad,
                    ];
                    for (kind, value) in kinds.into_iter().zip(navigation.phases()) {
                        if let Some(value) = value {
                            samples.push(Sample::new(kind, value));
                        }
                    }
                }
                Some(EventKind::Error(_)) => event_counts[EventType::Error as usize] += 1,
                Some(EventKind::Request(_)) => event_counts[EventType::Request as usize] += 1,
                Some(EventKind::Custom(_)) => event_counts[EventType::Custom as usize] += 1,
                Some(EventKind::Action(action)) => {
                    event_counts[EventType::Action as usize] += 1;
                    if let Some(duration) = action.duration_ms {
                        samples.push(Sample::new(MetricKind::ActionLoading, duration));
                    }
                }
                Some(EventKind::BusinessEvent(_)) => {
                    event_counts[EventType::BusinessEvent as usize] += 1;
                }
                Some(EventKind::LongFrames(_)) => {
                    event_counts[EventType::LongFrames as usize] += 1;
                }
                Some(EventKind::Resources(_)) => {
                    event_counts[EventType::Resources as usize] += 1;
                }
                Some(EventKind::Calls(_)) => event_counts[EventType::Calls as usize] += 1,
                None => {}
            }
        }

        self.metrics.events(&event_counts);
        // Translated agent metrics without a page-view identity count one only from their
        // designated metric (`counts_page_view`); every native page view counts once.
        let counts_page_view = new_page_view && beacon.counts_page_view != Some(false);
        // What one page view or error of this beacon stands for: 1 / the rate its session was
        // kept at (rates outside (0, 1] never pass the edge; read them as 1 all the same).
        let weight = beacon
            .sample_rate
            .filter(|rate| *rate > 0.0 && *rate <= 1.0)
            .map_or(1.0, |rate| 1.0 / rate);
        for index in &segments {
            let builder = &mut self.builders[*index];
            builder.beacons += 1;
            builder.page_views += u64::from(counts_page_view);
            if counts_page_view {
                builder.estimated_page_views += weight;
            }
        }
        // A replacement lands in the window its metric was counted in, so a metric's value
        // stays in one window.
        let mut earlier: Option<(i64, Vec<usize>)> = None;
        for sample in &samples {
            match sample.replaces {
                None => self.record(&segments, sample.kind, sample.value, None),
                Some((previous, counted_minute)) if counted_minute == minute => {
                    self.record(&segments, sample.kind, sample.value, Some(previous));
                }
                Some((previous, counted_minute)) => {
                    if earlier.as_ref().is_none_or(|(at, _)| *at != counted_minute) {
                        let values = self.labels(slot).values.clone();
                        let mut indices = Vec::new();
                        self.segment_indices(&values, counted_minute, &mut indices);
                        earlier = Some((counted_minute, indices));
                    }
                    let (_, target) = earlier.take().expect("set above");
                    self.record(&target, sample.kind, sample.value, Some(previous));
                    earlier = Some((counted_minute, target));
                }
            }
        }
        // A page view whose load named its backend trace links its samples to it.
        if let Ok(trace_id) = <[u8; 16]>::try_from(beacon.trace_id) {
            for sample in samples.iter().filter(|sample| sample.replaces.is_none()) {
                let exemplar = SampleExemplar {
                    kind: sample.kind,
                    bucket: sample.kind.bucket_index(sample.value),
                    trace_id,
                    value: sample.value,
                    at_ms: beacon.received_at_ms,
                };
                for index in &segments {
                    self.builders[*index].offer(exemplar);
                }
            }
        }
        for event in &beacon.events {
            match &event.kind {
                Some(EventKind::Error(error)) => {
                    let kind = closed_index(&ERROR_KINDS, error.kind);
                    for index in &segments {
                        let builder = &mut self.builders[*index];
                        builder.errors[kind] += 1;
                        builder.estimated_errors += weight;
                    }
                    self.group_error(&site, beacon, error);
                }
                Some(EventKind::Request(request)) => {
                    let failed = request.status == 0 || request.status >= 400;
                    let slow = request.duration_ms >= self.settings.slow_request_ms;
                    for index in &segments {
                        let builder = &mut self.builders[*index];
                        builder.requests_failed += u64::from(failed);
                        builder.requests_slow += u64::from(slow);
                    }
                    let cached = if failed {
                        self.call_endpoint(scope, request.method, request.endpoint)
                    } else {
                        None
                    };
                    if failed
                        && let Some(name) = self.call_group(
                            &site,
                            cached,
                            request.method,
                            request.endpoint,
                            request.status,
                        )
                    {
                        self.record_named(&segments, |names| {
                            names
                                .failed_request(name)
                                .record(Some(request.duration_ms.max(0.0)));
                        });
                    }
                }
                Some(EventKind::Action(action)) => {
                    if let Some(name) = self.name(&site, scope, NameKind::Action, action.name) {
                        self.record_named(&segments, |names| {
                            names.action(name).record(
                                action.duration_ms,
                                action.rage,
                                action.dead,
                                action.error_click,
                            );
                        });
                    }
                }
                Some(EventKind::BusinessEvent(business)) => {
                    if let Some(name) = self.name(&site, scope, NameKind::Event, business.name) {
                        self.record_named(&segments, |names| {
                            names.event(name).record(business.value);
                        });
                    }
                }
                Some(EventKind::LongFrames(frames)) => {
                    // Each loaf event holds only frames its page view's earlier beacons did not
                    // (the script sends deltas), so it adds without dedupe.
                    let blocking =
                        u64::try_from(to_micros(frames.blocking_ms.max(0.0))).unwrap_or(0);
                    for index in &segments {
                        let builder = &mut self.builders[*index];
                        builder.long_frames += u64::from(frames.count);
                        builder.long_frame_blocking_micros =
                            builder.long_frame_blocking_micros.saturating_add(blocking);
                    }
                    for (origin, duration_ms) in &frames.scripts {
                        let origin = origin_name(origin, beacon.url);
                        if let Some(name) = self.name(&site, scope, NameKind::Origin, origin) {
                            let mut tally = EventTally::default();
                            tally.record(Some(duration_ms.max(0.0)));
                            self.record_named(&segments, |names| {
                                names.script_origin(name).merge(&tally);
                            });
                        }
                    }
                }
                Some(EventKind::Resources(resources)) => {
                    // A delta like long frames: added without dedupe.
                    for (kind, count) in &resources.types {
                        let kind = closed_index(&RESOURCE_TYPES, kind);
                        for index in &segments {
                            self.builders[*index].resource_types[kind] += u64::from(*count);
                        }
                    }
                    for origin in &resources.origins {
                        let name = origin_name(origin.origin, beacon.url);
                        if let Some(name) = self.name(&site, scope, NameKind::Origin, name) {
                            // Tallied once, then added to each view's (bucketing the durations
                            // per view was ~150 instructions an origin and view).
                            let mut tally = ResourceTally::default();
                            tally.record(
                                origin.durations_ms.iter(),
                                origin.untimed,
                                origin.transfer_bytes,
                            );
                            self.record_named(&segments, |names| {
                                names.resource_origin(name).merge(&tally);
                            });
                        }
                    }
                }
                Some(EventKind::Calls(calls)) if self.keeps_names => {
                    // A delta like long frames: added without dedupe.
                    for endpoint in &calls.endpoints {
                        self.record_calls(&site, scope, &segments, endpoint, beacon.received_at_ms);
                    }
                }
                _ => {}
            }
        }
        if self.settings.sessions.enabled && !beacon.session_id.is_empty() {
            self.note_session(&site, slot, beacon, counts_page_view);
        }
        self.samples = samples;
        self.segments = segments;
    }

    /// Adds the beacon to its session's activity in this chunk: a new page view by its route
    /// (as the views resolved it, shared, when a view uses the route), and the actions and
    /// business events some funnel names.
    fn note_session(
        &mut self,
        site: &Arc<str>,
        slot: usize,
        beacon: &BeaconView,
        counts_page_view: bool,
    ) {
        let session = session_key(beacon.session_id);
        let at_ms = beacon.received_at_ms;
        let route = if counts_page_view {
            Some(
                self.labels(slot).values[Dimension::Route.index()]
                    .clone()
                    .unwrap_or_else(|| {
                        let raw = beacon
                            .enrichment
                            .as_ref()
                            .map(|enrichment| std::str::from_utf8(enrichment.route).unwrap_or(""))
                            .filter(|route| !route.is_empty())
                            .map_or(crate::view::UNKNOWN, bounded_label);
                        Arc::from(raw)
                    }),
            )
        } else {
            None
        };
        let settings = &self.settings.sessions;
        let chunk = self.sessions.beacon(site, session, at_ms);
        if let Some(route) = route {
            chunk.push(session, at_ms, 0, OccurrenceKind::PageView, route);
        }
        if settings.funnels.is_empty() {
            return;
        }
        for (index, event) in beacon.events.iter().enumerate() {
            let (kind, name) = match &event.kind {
                Some(EventKind::Action(action)) if settings.names_action(action.name) => {
                    (OccurrenceKind::Action, action.name)
                }
                Some(EventKind::BusinessEvent(business)) if settings.names_event(business.name) => {
                    (OccurrenceKind::Event, business.name)
                }
                _ => continue,
            };
            let Ok(name) = std::str::from_utf8(name) else {
                continue;
            };
            let order = u32::try_from(index + 1).unwrap_or(u32::MAX);
            chunk.push(session, at_ms, order, kind, Arc::from(bounded_label(name)));
        }
    }

    /// Adds one error to its group for this chunk.
    fn group_error(
        &mut self,
        site: &Arc<str>,
        beacon: &BeaconView,
        error: &crate::wire::ErrorView,
    ) {
        fn text(bytes: &[u8]) -> &str {
            std::str::from_utf8(bytes).unwrap_or("")
        }
        let route = beacon
            .enrichment
            .as_ref()
            .map_or("", |enrichment| text(enrichment.route));
        let occurrence = ErrorOccurrence {
            kind: text(error.kind),
            message: text(error.message),
            stack: text(error.stack),
            page_host: host_of(text(beacon.url)),
            route: if route.is_empty() {
                crate::view::UNKNOWN
            } else {
                bounded_label(route)
            },
            session_hash: session_hash(site, beacon.session_id),
            received_ms: beacon.received_at_ms,
        };
        let bound = self.settings.chunk_value_bound;
        if self
            .errors
            .record(site, &occurrence, |groups| groups < bound)
        {
            self.error_group_folds += 1;
            self.metrics.folded_error_group();
        }
    }

    /// One endpoint's calls of a `calls` event: tallied by status class here, then one name
    /// lookup per class (a page's calls to one endpoint mostly share one).
    fn record_calls(
        &mut self,
        site: &Arc<str>,
        scope: u32,
        segments: &[usize],
        endpoint: &crate::wire::EndpointCallsView,
        received_at_ms: i64,
    ) {
        let traced = <[u8; 16]>::try_from(endpoint.trace_id)
            .ok()
            .zip(endpoint.traced_ms);
        // Tallies made on first use: zeroing one for every class cost more than the calls.
        let mut classes: [Option<(u32, CallTally)>; STATUS_CLASS_COUNT] = Default::default();
        // Durations without a status (a malformed producer's) are left out.
        for (duration, status) in endpoint.durations_ms.iter().zip(endpoint.statuses.iter()) {
            let (held_status, tally) =
                classes[status_class(status)].get_or_insert_with(|| (status, CallTally::default()));
            *held_status = status;
            tally.record(duration);
            if let Some((trace_id, traced_ms)) = traced
                && traced_ms == duration
            {
                tally.offer(crate::exemplar::Exemplar {
                    trace_id,
                    value: duration.max(0.0) / 1000.0,
                    unix_ms: received_at_ms,
                });
            }
        }
        let cached = self.call_endpoint(scope, endpoint.method, endpoint.endpoint);
        for (status, tally) in classes.iter().flatten() {
            let name = self.call_group(site, cached, endpoint.method, endpoint.endpoint, *status);
            if let Some(name) = name {
                self.record_named(segments, |names| names.call(name).merge(tally));
            }
        }
    }

    /// Applies `record` to the named counts of each segment whose view keeps names.
    fn record_named(&mut self, segments: &[usize], mut record: impl FnMut(&mut ChunkNamedCounts)) {
        for (view, index) in segments.iter().enumerate() {
            if self.view_actions[view] {
                let names = &mut self.builders[*index].names;
                if names.is_none() {
                    *names = Some(Box::default());
                }
                record(names.as_deref_mut().expect("made above"));
            }
        }
    }

    /// An action's or event's name or an origin as a label for this chunk (bounded in length,
    /// `__other__` past the chunk bound, counted), by its id in `name_labels`, or `None` when no
    /// view keeps names.
    fn name(&mut self, site: &Arc<str>, scope: u32, kind: NameKind, raw: &[u8]) -> Option<u32> {
        if !self.keeps_names {
            return None;
        }
        let mut key = std::mem::take(&mut self.name_key);
        key.clear();
        key.extend_from_slice(&scope.to_le_bytes());
        key.push(kind.index() as u8);
        key.extend_from_slice(raw);
        let name = self.cached_name(&key, kind, |stage1| {
            stage1.resolve_name(site, kind, std::str::from_utf8(raw).unwrap_or(OTHER))
        });
        self.name_key = key;
        Some(name)
    }

    /// The slot in `call_groups` of a call endpoint of a site (`None` when no view keeps names,
    /// or the cache has no room for it).
    fn call_endpoint(&mut self, scope: u32, method: &[u8], endpoint: &[u8]) -> Option<usize> {
        if !self.keeps_names {
            return None;
        }
        let mut key = std::mem::take(&mut self.name_key);
        key.clear();
        key.extend_from_slice(&scope.to_le_bytes());
        // The method's length first, so (method, endpoint) pairs cannot collide.
        key.extend_from_slice(&method.len().to_le_bytes());
        key.extend_from_slice(method);
        key.extend_from_slice(endpoint);
        let slot = match self.call_group_index.get(key.as_slice()) {
            Some(slot) => Some(*slot as usize),
            None if self.call_groups.len() < NAME_CACHE_CAPACITY
                && key.len() <= LABEL_CACHE_MAX_KEY_BYTES =>
            {
                let slot = self.call_groups.len();
                self.call_groups.push(Default::default());
                self.call_group_index
                    .insert(key.as_slice().into(), slot as u32);
                Some(slot)
            }
            None => None,
        };
        self.name_key = key;
        slot
    }

    /// A call's group ([`request_name`](crate::names::request_name)) as a label for this chunk,
    /// like [`name`](Self::name): from its endpoint's slot ([`call_endpoint`](Self::call_endpoint))
    /// when the class was seen, else built, resolved and kept there.
    fn call_group(
        &mut self,
        site: &Arc<str>,
        cached: Option<usize>,
        method: &[u8],
        endpoint: &[u8],
        status: u32,
    ) -> Option<u32> {
        if !self.keeps_names {
            return None;
        }
        let class = status_class(status);
        let resolved = match cached.and_then(|slot| self.call_groups[slot][class]) {
            Some(resolved) => resolved,
            None => {
                let mut group = std::mem::take(&mut self.request_name);
                request_name_into(&mut group, method, endpoint, status);
                let resolved = self.resolve_name(site, NameKind::FailedRequest, &group);
                self.request_name = group;
                if let Some(slot) = cached {
                    self.call_groups[slot][class] = Some(resolved);
                }
                resolved
            }
        };
        self.count_fold(NameKind::FailedRequest, resolved);
        Some(resolved.id)
    }

    /// The label (its id) cached under `key`, else `resolve`d (and cached while there is room); a
    /// fold is counted either way.
    fn cached_name(
        &mut self,
        key: &[u8],
        kind: NameKind,
        resolve: impl FnOnce(&mut Self) -> CachedName,
    ) -> u32 {
        let resolved = match self.name_cache.get(key) {
            Some(cached) => *cached,
            None => {
                let resolved = resolve(self);
                if self.name_cache.len() < NAME_CACHE_CAPACITY
                    && key.len() <= LABEL_CACHE_MAX_KEY_BYTES
                {
                    self.name_cache.insert(key.into(), resolved);
                }
                resolved
            }
        };
        self.count_fold(kind, resolved);
        resolved.id
    }

    /// Counts a fold of the chunk bound, once per use of a folded name.
    fn count_fold(&mut self, kind: NameKind, resolved: CachedName) {
        if resolved.folded {
            self.name_folds[kind.index()] += 1;
            self.metrics.folded_name(kind);
        }
    }

    /// `text` (bounded in length) through the chunk bound of (site, kind).
    fn resolve_name(&mut self, site: &Arc<str>, kind: NameKind, text: &str) -> CachedName {
        let bound = self.settings.chunk_value_bound;
        let table = DIMENSION_COUNT + kind.index();
        match self.chunk_value(Some(site), table, bounded_label(text), bound) {
            Some(name) => CachedName {
                id: self.name_id(name),
                folded: false,
            },
            None => CachedName {
                id: self.name_id(Arc::from(OTHER)),
                folded: true,
            },
        }
    }

    /// The id of `label` in this chunk's `name_labels`, numbered on first use. One id per
    /// distinct text, whichever site or kind it came from, as `NamedCounts` keyed names.
    fn name_id(&mut self, label: Arc<str>) -> u32 {
        if let Some(id) = self.name_ids.get(&label) {
            return *id;
        }
        let id = u32::try_from(self.name_labels.len()).expect("names are bounded per chunk");
        self.name_labels.push(label.clone());
        self.name_ids.insert(label, id);
        id
    }

    /// The number that stands for `site` in this chunk's name cache keys.
    fn name_scope(&mut self, site: &Arc<str>) -> u32 {
        let next = u32::try_from(self.name_scopes.len()).unwrap_or(u32::MAX);
        *self.name_scopes.entry(site.clone()).or_insert(next)
    }

    /// The slot in `self.resolved` holding this beacon's folded labels and its builders for
    /// `minute`: from the cache when the combination was seen since the last flush.
    fn resolve_labels(&mut self, beacon: &BeaconView, minute: i64) -> usize {
        let mut key = std::mem::take(&mut self.label_key);
        key.clear();
        for dimension in Dimension::ALL {
            if self.used_dimensions[dimension.index()] {
                dimension.append_raw_key(beacon, &mut key);
            }
        }
        let slot = match self.label_cache.get(key.as_slice()) {
            Some(&slot) => {
                let folded = self.resolved[slot].folded;
                if folded != 0 {
                    for dimension in Dimension::ALL {
                        if folded & (1 << dimension.index()) != 0 {
                            self.folds[dimension.index()] += 1;
                            self.metrics.folded(dimension);
                        }
                    }
                }
                if self.resolved[slot].minute != minute {
                    self.refresh_segments(slot, minute);
                }
                slot
            }
            None => {
                let (values, folded) = self.dimension_values(beacon);
                let name_scope = if self.keeps_names {
                    self.name_scope(values[Dimension::Site.index()].as_ref().expect("resolved"))
                } else {
                    0
                };
                let cacheable = self.label_cache.len() < LABEL_CACHE_CAPACITY
                    && key.len() <= LABEL_CACHE_MAX_KEY_BYTES;
                let slot = if cacheable {
                    self.label_cache
                        .insert(key.as_slice().into(), self.resolved.len());
                    self.resolved.push(ResolvedLabels::default());
                    self.resolved.len() - 1
                } else {
                    UNCACHED
                };
                let resolved = self.labels_mut(slot);
                resolved.values = values;
                resolved.folded = folded;
                resolved.name_scope = name_scope;
                self.refresh_segments(slot, minute);
                slot
            }
        };
        self.label_key = key;
        slot
    }

    fn labels(&self, slot: usize) -> &ResolvedLabels {
        if slot == UNCACHED {
            &self.uncached
        } else {
            &self.resolved[slot]
        }
    }

    fn labels_mut(&mut self, slot: usize) -> &mut ResolvedLabels {
        if slot == UNCACHED {
            &mut self.uncached
        } else {
            &mut self.resolved[slot]
        }
    }

    /// Points a resolved combination at its builders for `minute`.
    fn refresh_segments(&mut self, slot: usize, minute: i64) {
        let values = std::mem::take(&mut self.labels_mut(slot).values);
        let mut segments = std::mem::take(&mut self.labels_mut(slot).segments);
        self.segment_indices(&values, minute, &mut segments);
        let resolved = self.labels_mut(slot);
        resolved.values = values;
        resolved.segments = segments;
        resolved.minute = minute;
    }

    /// Empties the label cache and the chunk bound's tables (builder indices end with the flush).
    fn settle_label_cache(&mut self) {
        self.resolved.clear();
        self.label_cache.clear();
        self.chunk_values.clear();
        self.name_cache.clear();
        self.call_group_index.clear();
        self.call_groups.clear();
        self.name_scopes.clear();
    }

    /// The beacon's label value for every used dimension (bounded in length), with the chunk
    /// bound applied; also the dimensions it folded (see [`ResolvedLabels`]).
    fn dimension_values(&mut self, beacon: &BeaconView) -> (DimensionValues, u8) {
        let mut folded = 0u8;
        let mut values: DimensionValues = Default::default();
        let bound = self.settings.chunk_value_bound;
        let raw_site = bounded_label(Dimension::Site.raw_value(beacon));
        let site = self.chunk_value(None, Dimension::Site.index(), raw_site, bound);
        let site = match site {
            Some(site) => site,
            None => {
                self.note_fold(Dimension::Site, &mut folded);
                Arc::from(OTHER)
            }
        };
        for dimension in Dimension::ALL.into_iter().skip(1) {
            if !self.used_dimensions[dimension.index()] {
                continue;
            }
            let raw_value = bounded_label(dimension.raw_value(beacon));
            let value = match self.chunk_value(Some(&site), dimension.index(), raw_value, bound) {
                Some(value) => value,
                None => {
                    self.note_fold(dimension, &mut folded);
                    Arc::from(OTHER)
                }
            };
            values[dimension.index()] = Some(value);
        }
        values[Dimension::Site.index()] = Some(site);
        (values, folded)
    }

    /// `raw_value` as a shared label for this chunk, or `None` when the (site, table) already
    /// carries `bound` other values this chunk.
    fn chunk_value(
        &mut self,
        site: Option<&Arc<str>>,
        table: usize,
        raw_value: &str,
        bound: usize,
    ) -> Option<Arc<str>> {
        let site: Arc<str> = site.cloned().unwrap_or_else(|| Arc::from(""));
        let seen = self.chunk_values.entry((site, table)).or_default();
        if let Some((value, _)) = seen.get_key_value(raw_value) {
            return Some(value.clone());
        }
        if seen.len() >= bound {
            return None;
        }
        let value: Arc<str> = Arc::from(raw_value);
        seen.insert(value.clone(), ());
        Some(value)
    }

    fn note_fold(&mut self, dimension: Dimension, folded: &mut u8) {
        self.folds[dimension.index()] += 1;
        self.metrics.folded(dimension);
        *folded |= 1 << dimension.index();
    }

    /// The builder of each view's segment for `minute`, created on first use.
    fn segment_indices(&mut self, values: &DimensionValues, minute: i64, indices: &mut Vec<usize>) {
        use std::hash::{BuildHasher, Hasher};
        indices.clear();
        for (view, dimensions) in self.view_dimensions.iter().enumerate() {
            let label = |dimension: &Dimension| -> &str {
                values[dimension.index()]
                    .as_deref()
                    .expect("every used dimension was resolved")
            };
            let mut hasher = self.key_hasher.build_hasher();
            hasher.write_usize(view);
            hasher.write_i64(minute);
            for dimension in dimensions {
                hasher.write(label(dimension).as_bytes());
                hasher.write_u8(0xff);
            }
            let hash = hasher.finish();
            let mut cursor = self.index.get(&hash).copied();
            while let Some(candidate) = cursor {
                let (candidate_view, candidate_minute, candidate_values) =
                    &self.builder_keys[candidate];
                if *candidate_view == view
                    && *candidate_minute == minute
                    && candidate_values
                        .iter()
                        .zip(dimensions)
                        .all(|(stored, dimension)| &**stored == label(dimension))
                {
                    break;
                }
                cursor = self.chain[candidate];
            }
            let index = match cursor {
                Some(index) => index,
                None => {
                    let index = self.builders.len();
                    self.builders.push(SegmentBuilder::default());
                    let key: Box<[Arc<str>]> = dimensions
                        .iter()
                        .map(|dimension| {
                            values[dimension.index()]
                                .clone()
                                .expect("every used dimension was resolved")
                        })
                        .collect();
                    self.builder_keys.push((view, minute, key));
                    self.chain.push(self.index.insert(hash, index));
                    index
                }
            };
            indices.push(index);
        }
    }

    /// Records `value` (replacing `previous`, if any) into the given segments (one per view).
    fn record(&mut self, segments: &[usize], kind: MetricKind, value: f64, previous: Option<f64>) {
        let digits = self.settings.histogram_digits;
        let point = Point::of(kind, value, &self.layout);
        let previous = previous.map(|previous| Point::of(kind, previous, &self.layout));
        for (view, index) in segments.iter().enumerate() {
            if !kind.kept_by(self.view_navigation[view], self.view_actions[view]) {
                continue;
            }
            let pool = &mut self.pool[kind.index()];
            let pending_pool = &mut self.pending_pool;
            let metric =
                self.builders[*index].metrics[kind.index()].get_or_insert_with(|| MetricBuilder {
                    pending: pending_pool
                        .pop()
                        .unwrap_or_else(|| Vec::with_capacity(PENDING_SAMPLES)),
                    added: None,
                    removed: None,
                    exact: ExactCounts::new(kind),
                });
            metric.pending.push(point);
            if metric.pending.len() >= PENDING_SAMPLES {
                metric.drain(kind, digits, pool);
            }
            if let Some(previous) = previous {
                metric
                    .removed
                    .get_or_insert_with(|| {
                        pool.pop()
                            .unwrap_or_else(|| IndexHistogram::new(kind, digits))
                    })
                    .record_index(previous.index as usize);
                metric
                    .exact
                    .record_point(previous.bucket as usize, previous.micros, -1);
            }
        }
    }

    /// Turns everything recorded since the last flush into partials, and does the once-a-minute
    /// housekeeping (top-N re-ranking, dedupe expiry).
    pub fn flush(&mut self) -> Vec<Partial> {
        self.settle_label_cache();
        let mut partials = Vec::with_capacity(self.builders.len());
        let mut builders = std::mem::take(&mut self.builders);
        let keys = std::mem::take(&mut self.builder_keys);
        self.index.clear();
        self.chain.clear();
        for ((view, minute, values), builder) in keys.into_iter().zip(builders.drain(..)) {
            let view_name = &self.settings.views[view].name;
            // A site's error groups go with its first partial of the first view.
            let (error_groups, sessions) = if view == 0 {
                (self.errors.take(&values[0]), self.sessions.take(&values[0]))
            } else {
                (Vec::new(), Vec::new())
            };
            let mut metrics = Vec::new();
            for (index, metric) in builder.metrics.into_iter().enumerate() {
                let Some(mut metric) = metric else { continue };
                let kind = MetricKind::ALL[index];
                let digits = self.settings.histogram_digits;
                metric.drain(kind, digits, &mut self.pool[index]);
                let MetricBuilder {
                    pending,
                    added,
                    removed,
                    exact,
                } = metric;
                self.pending_pool.push(pending);
                let mut added = added.unwrap_or_else(|| {
                    self.pool[index]
                        .pop()
                        .unwrap_or_else(|| IndexHistogram::new(kind, digits))
                });
                metrics.push(MetricPartial {
                    metric: kind.name().to_owned(),
                    added: added.encode_with(&mut self.encoded),
                    removed: removed
                        .as_ref()
                        .map(|removed| removed.encode_with(&mut self.encoded))
                        .unwrap_or_default(),
                    bucket_deltas: exact.deltas().to_vec(),
                    sum_delta: exact.sum(),
                    sum_micros_delta: exact.sum_micros(),
                });
                added.reset();
                self.pool[index].push(added);
                if let Some(mut removed) = removed {
                    removed.reset();
                    self.pool[index].push(removed);
                }
            }
            let NamedProto {
                actions,
                events,
                failed_requests,
                script_origins,
                resource_origins,
                calls,
            } = builder
                .names
                .as_deref()
                .map(|names| names.to_proto(&self.name_labels))
                .unwrap_or_default();
            partials.push(Partial {
                view: view_name.to_string(),
                dimension_values: values.iter().map(|value| value.to_string()).collect(),
                minute,
                metrics,
                page_views: builder.page_views,
                errors: nonzero_counts(&ERROR_KINDS, &builder.errors),
                requests_failed: builder.requests_failed,
                requests_slow: builder.requests_slow,
                beacons: builder.beacons,
                estimated_page_views: builder.estimated_page_views,
                estimated_errors: builder.estimated_errors,
                actions,
                events,
                error_groups,
                failed_requests,
                sessions,
                long_frames: builder.long_frames,
                long_frame_blocking_micros: builder.long_frame_blocking_micros,
                script_origins,
                resource_origins,
                resource_types: nonzero_counts(&RESOURCE_TYPES, &builder.resource_types),
                calls,
                exemplars: builder
                    .exemplars
                    .iter()
                    .map(|exemplar| rum_schema::proto::Exemplar {
                        trace_id: exemplar.trace_id.to_vec(),
                        value: exemplar.value,
                        at_ms: exemplar.at_ms,
                        metric: exemplar.kind.name().to_owned(),
                    })
                    .collect(),
            });
        }
        self.errors.clear();
        self.sessions.clear();
        // The builders that numbered names by these ids are gone.
        self.name_labels.clear();
        self.name_ids.clear();
        // Keep the allocation for the next interval.
        builders.clear();
        self.builders = builders;
        // The pool never holds more than a busy flush needed; trim what a burst left behind.
        for pool in &mut self.pool {
            pool.truncate(1024);
        }
        self.pending_pool.truncate(1024);
        if self.watermark_minute > self.expired_minute {
            self.expired_minute = self.watermark_minute;
            self.dedupe.expire(self.watermark_minute);
        }
        self.metrics.partials.increment(partials.len() as u64);
        self.metrics.dedupe_entries.set(self.dedupe.len() as f64);
        self.metrics
            .dedupe_many(DedupeOutcome::Forgotten, self.dedupe.take_forgotten());
        partials
    }

    /// Values folded into `__other__` so far, for `dimension`.
    pub fn folds(&self, dimension: Dimension) -> u64 {
        self.folds[dimension.index()]
    }

    /// Names folded into `__other__` by the chunk bound so far, for `kind`.
    pub fn name_folds(&self, kind: NameKind) -> u64 {
        self.name_folds[kind.index()]
    }

    /// Errors whose fingerprint folded into `__other__` by the chunk bound so far.
    pub fn error_group_folds(&self) -> u64 {
        self.error_group_folds
    }

    /// Beacons dropped as late so far.
    pub fn late(&self) -> u64 {
        self.late
    }
}
