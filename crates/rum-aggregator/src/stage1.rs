//! Stage 1: where beacons land. Decoded beacons are recorded, per view, into the builder of their
//! (segment, 1-minute window); every flush interval the builders become [`Partial`]s for stage 2 and
//! are reset. Stage 1 holds only what arrived since the last flush (plus the top-N tables and the
//! dedupe table), so its memory follows the flush interval, not the number of segments over time.

use std::collections::HashMap;
use std::sync::Arc;

use hdrhistogram::Histogram;
use rum_schema::proto::{Beacon, MetricPartial, Partial, event};

use crate::dedupe::{Dedupe, Seen};
use crate::exact::ExactCounts;
use crate::hdr;
use crate::metric::{METRIC_COUNT, MetricKind};
use crate::metrics::Stage1Metrics;
use crate::settings::{AggregatorSettings, RETENTION_MINUTES, minute_of};
use crate::view::{DIMENSION_COUNT, Dimension, SegmentKey};

/// Error kinds kept apart; anything else counts as `other` (the label stays bounded).
pub const ERROR_KINDS: [&str; 3] = ["error", "unhandledrejection", "other"];

fn error_kind_index(kind: &str) -> usize {
    ERROR_KINDS
        .iter()
        .position(|known| *known == kind)
        .unwrap_or(ERROR_KINDS.len() - 1)
}

struct MetricBuilder {
    added: Histogram<u32>,
    removed: Option<Histogram<u32>>,
    exact: ExactCounts,
}

#[derive(Default)]
struct SegmentBuilder {
    metrics: [Option<MetricBuilder>; METRIC_COUNT],
    page_views: u64,
    errors: [u64; ERROR_KINDS.len()],
    requests_failed: u64,
    requests_slow: u64,
}

pub struct Stage1 {
    settings: AggregatorSettings,
    admission: crate::topn::Admission,
    dedupe: Dedupe,
    open: HashMap<(SegmentKey, i64), SegmentBuilder>,
    /// Reset histograms ready for reuse, per metric (their ranges differ).
    pool: [Vec<Histogram<u32>>; METRIC_COUNT],
    watermark_minute: i64,
    rebalanced_minute: i64,
    /// Which dimensions any view uses (others are never resolved).
    used_dimensions: [bool; DIMENSION_COUNT],
    /// Folds per dimension and late beacons since start (also exported as counters).
    folds: [u64; DIMENSION_COUNT],
    late: u64,
    metrics: Stage1Metrics,
}

impl Stage1 {
    pub fn new(settings: AggregatorSettings) -> Self {
        let mut used_dimensions = [false; DIMENSION_COUNT];
        for view in settings.views.iter() {
            for dimension in &view.dimensions {
                used_dimensions[dimension.index()] = true;
            }
        }
        Self {
            admission: crate::topn::Admission::new(settings.top_n, settings.max_sites),
            dedupe: Dedupe::new(settings.dedupe_capacity, RETENTION_MINUTES),
            open: HashMap::new(),
            pool: Default::default(),
            watermark_minute: i64::MIN,
            rebalanced_minute: i64::MIN,
            used_dimensions,
            folds: [0; DIMENSION_COUNT],
            late: 0,
            metrics: Stage1Metrics::register(),
            settings,
        }
    }

    fn is_late(&self, minute: i64) -> bool {
        minute
            < self
                .watermark_minute
                .saturating_sub(self.settings.allowed_lateness_minutes)
    }

    /// Records one beacon into every view.
    pub fn ingest(&mut self, beacon: &Beacon) {
        self.metrics.beacons.increment(1);
        let minute = minute_of(beacon.received_at_ms);
        self.watermark_minute = self.watermark_minute.max(minute);
        if self.is_late(minute) {
            self.late += 1;
            self.metrics.late.increment(1);
            return;
        }
        let segments = self.segments_of(beacon);
        let site = segments
            .first()
            .map_or_else(|| beacon.site.clone(), |key| key.site().to_owned());

        let page_view_key = self.dedupe.key(&site, &beacon.page_view_id, "");
        if self.dedupe.observe(page_view_key, 0.0, minute) == Seen::New {
            for key in &segments {
                self.builder(key, minute).page_views += 1;
            }
        }
        for event in &beacon.events {
            match &event.kind {
                Some(event::Kind::Vital(vital)) => {
                    self.metrics.event("vital");
                    let Some(kind) = MetricKind::from_vital(vital.name()) else {
                        continue;
                    };
                    let metric_id = if vital.id.is_empty() {
                        kind.name()
                    } else {
                        &vital.id
                    };
                    let key = self.dedupe.key(&site, &beacon.page_view_id, metric_id);
                    match self.dedupe.observe(key, vital.value, minute) {
                        Seen::New => self.record(&segments, minute, kind, vital.value, None),
                        Seen::Unchanged => self.metrics.dedupe("unchanged"),
                        Seen::Replaced {
                            previous,
                            minute: first_minute,
                        } => {
                            if self.is_late(first_minute) {
                                // Its window is closed: the earlier value stands.
                                self.metrics.dedupe("replaced_too_late");
                            } else {
                                self.metrics.dedupe("replaced");
                                self.record(
                                    &segments,
                                    first_minute,
                                    kind,
                                    vital.value,
                                    Some(previous),
                                );
                            }
                        }
                    }
                }
                Some(event::Kind::Navigation(navigation)) => {
                    self.metrics.event("nav");
                    let key = self.dedupe.key(&site, &beacon.page_view_id, "#nav");
                    if self.dedupe.observe(key, 0.0, minute) != Seen::New {
                        self.metrics.dedupe("unchanged");
                        continue;
                    }
                    let phases = [
                        (MetricKind::NavDns, navigation.dns_ms),
                        (MetricKind::NavConnect, navigation.connect_ms),
                        (MetricKind::NavTls, navigation.tls_ms),
                        (MetricKind::NavDownload, navigation.download_ms),
                        (MetricKind::NavDomInteractive, navigation.dom_interactive_ms),
                        (MetricKind::NavDomComplete, navigation.dom_complete_ms),
                        (MetricKind::NavLoad, navigation.load_ms),
                    ];
                    for (kind, value) in phases {
                        if let Some(value) = value {
                            self.record(&segments, minute, kind, value, None);
                        }
                    }
                }
                Some(event::Kind::Error(error)) => {
                    self.metrics.event("error");
                    let kind = error_kind_index(&error.kind);
                    for key in &segments {
                        self.builder(key, minute).errors[kind] += 1;
                    }
                }
                Some(event::Kind::Request(request)) => {
                    self.metrics.event("request");
                    let failed = request.status == 0 || request.status >= 400;
                    let slow = request.duration_ms >= self.settings.slow_request_ms;
                    for key in &segments {
                        let builder = self.builder(key, minute);
                        builder.requests_failed += u64::from(failed);
                        builder.requests_slow += u64::from(slow);
                    }
                }
                Some(event::Kind::Custom(_)) => self.metrics.event("custom"),
                None => {}
            }
        }
    }

    /// The segment of each view for this beacon, with top-N folding applied.
    fn segments_of(&mut self, beacon: &Beacon) -> Vec<SegmentKey> {
        let site = match self.admission.site(Dimension::Site.raw_value(beacon)) {
            Ok(site) => site,
            Err((other, _)) => {
                self.folds[Dimension::Site.index()] += 1;
                self.metrics.folded(Dimension::Site);
                other
            }
        };
        let mut values: [Option<Arc<str>>; DIMENSION_COUNT] = Default::default();
        values[Dimension::Site.index()] = Some(site.clone());
        for dimension in Dimension::ALL.into_iter().skip(1) {
            if !self.used_dimensions[dimension.index()] {
                continue;
            }
            let value = match self
                .admission
                .value(&site, dimension, dimension.raw_value(beacon))
            {
                Ok(value) => value,
                Err((other, _)) => {
                    self.folds[dimension.index()] += 1;
                    self.metrics.folded(dimension);
                    other
                }
            };
            values[dimension.index()] = Some(value);
        }
        self.settings
            .views
            .iter()
            .map(|view| SegmentKey {
                view: view.name.clone(),
                values: view
                    .dimensions
                    .iter()
                    .map(|dimension| {
                        values[dimension.index()]
                            .clone()
                            .expect("every used dimension was resolved")
                    })
                    .collect(),
            })
            .collect()
    }

    fn builder(&mut self, key: &SegmentKey, minute: i64) -> &mut SegmentBuilder {
        // Cloning the key is a few reference-count increments; it is only stored on first use.
        self.open.entry((key.clone(), minute)).or_default()
    }

    /// Records `value` (replacing `previous`, if any) into every segment's `minute`.
    fn record(
        &mut self,
        segments: &[SegmentKey],
        minute: i64,
        kind: MetricKind,
        value: f64,
        previous: Option<f64>,
    ) {
        let digits = self.settings.histogram_digits;
        for (view, key) in self.settings.views.clone().iter().zip(segments) {
            if !kind.is_vital() && !view.navigation {
                continue;
            }
            let pool = &mut self.pool[kind.index()];
            let builder = self.open.entry((key.clone(), minute)).or_default();
            let metric = builder.metrics[kind.index()].get_or_insert_with(|| MetricBuilder {
                added: pool
                    .pop()
                    .unwrap_or_else(|| hdr::new_histogram(kind, digits)),
                removed: None,
                exact: ExactCounts::new(kind),
            });
            metric.added.saturating_record(kind.to_recorded(value));
            metric.exact.record(kind, value, 1);
            if let Some(previous) = previous {
                metric
                    .removed
                    .get_or_insert_with(|| {
                        pool.pop()
                            .unwrap_or_else(|| hdr::new_histogram(kind, digits))
                    })
                    .saturating_record(kind.to_recorded(previous));
                metric.exact.record(kind, previous, -1);
            }
        }
    }

    /// Turns everything recorded since the last flush into partials, and does the once-a-minute
    /// housekeeping (top-N re-ranking, dedupe expiry).
    pub fn flush(&mut self) -> Vec<Partial> {
        let mut partials = Vec::with_capacity(self.open.len());
        for ((key, minute), builder) in self.open.drain() {
            let mut metrics = Vec::new();
            for (index, metric) in builder.metrics.into_iter().enumerate() {
                let Some(metric) = metric else { continue };
                let kind = MetricKind::ALL[index];
                let MetricBuilder {
                    mut added,
                    removed,
                    exact,
                } = metric;
                metrics.push(MetricPartial {
                    metric: kind.name().to_owned(),
                    added: hdr::encode(&added),
                    removed: removed.as_ref().map(hdr::encode).unwrap_or_default(),
                    bucket_deltas: exact.deltas().to_vec(),
                    sum_delta: exact.sum(),
                });
                added.reset();
                self.pool[index].push(added);
                if let Some(mut removed) = removed {
                    removed.reset();
                    self.pool[index].push(removed);
                }
            }
            partials.push(Partial {
                view: key.view.to_string(),
                dimension_values: key.values.iter().map(|value| value.to_string()).collect(),
                minute,
                metrics,
                page_views: builder.page_views,
                errors: ERROR_KINDS
                    .iter()
                    .zip(builder.errors)
                    .filter(|(_, count)| *count > 0)
                    .map(|(kind, count)| ((*kind).to_owned(), count))
                    .collect(),
                requests_failed: builder.requests_failed,
                requests_slow: builder.requests_slow,
            });
        }
        // The pool never holds more than a busy flush needed; trim what a burst left behind.
        for pool in &mut self.pool {
            pool.truncate(1024);
        }
        if self.watermark_minute > self.rebalanced_minute {
            if self.rebalanced_minute != i64::MIN {
                self.admission.rebalance();
            }
            self.rebalanced_minute = self.watermark_minute;
            self.dedupe.expire(self.watermark_minute);
        }
        self.metrics.partials.increment(partials.len() as u64);
        self.metrics.dedupe_entries.set(self.dedupe.len() as f64);
        self.metrics
            .admission_entries
            .set(self.admission.entries() as f64);
        partials
    }

    /// Values folded into `__other__` so far, for `dimension`.
    pub fn folds(&self, dimension: Dimension) -> u64 {
        self.folds[dimension.index()]
    }

    /// Beacons dropped as late so far.
    pub fn late(&self) -> u64 {
        self.late
    }

    /// Values held by the top-N tables (admitted + candidates).
    pub fn admission_entries(&self) -> usize {
        self.admission.entries()
    }
}
