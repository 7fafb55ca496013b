//! Memory per active segment: for a sweep of N, builds a stage 2 holding N segments with a full hour
//! of one-minute windows of all five vitals, and prints the RSS each point added, per segment, beside
//! stage 2's own accounting; then the least-squares slope of added RSS over N (the cost of one more
//! segment), and how many slots a segment holds and their encoded sizes.
//!
//! Run: `cargo run --release -p rum-aggregator --example segment_memory -- [samples_per_minute]`
//! (default 20 samples of each vital per segment per minute).

#![allow(clippy::print_stdout)]

use std::sync::Arc;

use rum_aggregator::settings::AggregatorSettings;
use rum_aggregator::stage1::Stage1;
use rum_aggregator::stage2::Stage2;
use rum_aggregator::view::{Dimension, View};
use rum_aggregator::wire::BeaconView;
use rum_schema::proto::{Beacon, Enrichment, Event, Vital, VitalName, event};

const T0: i64 = 1_763_760_000_000;
const MINUTES: i64 = 61;

fn rss_bytes() -> usize {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: usize = statm
        .split_whitespace()
        .nth(1)
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    pages * 4096
}

/// A cheap deterministic pseudo-random sequence (xorshift).
struct Noise(u64);

impl Noise {
    fn next(&mut self) -> f64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % 1_000_000) as f64 / 1_000_000.0
    }
}

fn beacon(route: usize, page_view: u64, minute: i64, noise: &mut Noise) -> Beacon {
    let vital = |name: VitalName, value: f64| Event {
        kind: Some(event::Kind::Vital(Vital {
            name: name as i32,
            value,
            id: "v".into(),
            ..Vital::default()
        })),
    };
    // Long-tailed values, like real vitals: base * e^(noise * 3).
    let spread = |base: f64, noise: &mut Noise| base * (noise.next() * 3.0).exp();
    Beacon {
        version: 1,
        site: "shop".into(),
        page_view_id: format!("pv{page_view}"),
        received_at_ms: T0 + minute * 60_000,
        enrichment: Some(Enrichment {
            route: format!("/r/{route}"),
            ..Enrichment::default()
        }),
        events: vec![
            vital(VitalName::Lcp, spread(800.0, noise)),
            vital(VitalName::Inp, spread(40.0, noise)),
            vital(VitalName::Cls, spread(0.01, noise)),
            vital(VitalName::Fcp, spread(500.0, noise)),
            vital(VitalName::Ttfb, spread(100.0, noise)),
        ],
        ..Beacon::default()
    }
}

fn fill(segments: usize, samples_per_minute: u64) -> Stage2 {
    let settings = AggregatorSettings {
        views: Arc::from(vec![View {
            name: Arc::from("site_route"),
            dimensions: vec![Dimension::Site, Dimension::Route],
            navigation: false,
            actions: false,
            estimated: false,
        }]),
        top_n: segments + 1,
        site_segment_budget: segments + 10,
        dedupe_capacity: 1_000,
        ..AggregatorSettings::default()
    };
    let mut stage1 = Stage1::new(settings.clone());
    let mut stage2 = Stage2::new(settings);
    let mut noise = Noise(0x9e37_79b9_7f4a_7c15);
    let mut page_view = 0;
    for minute in 0..MINUTES {
        stage2.advance(T0 + minute * 60_000);
        for route in 0..segments {
            for _ in 0..samples_per_minute {
                page_view += 1;
                BeaconView::of(&beacon(route, page_view, minute, &mut noise), |view| {
                    stage1.ingest(view)
                });
            }
            // Flushing per segment keeps stage 1's transient builders small, as its one-second
            // flush does in production, so the RSS slope measures what stage 2 holds.
            for partial in stage1.flush() {
                stage2.apply(partial);
            }
        }
    }
    stage2
}

/// Where the bytes are: slots per segment and their sizes (encoded slot bytes, from a snapshot).
fn breakdown(stage2: &Stage2) {
    let state = stage2.export();
    let segments = state.segments.len().max(1);
    let (mut single, mut single_bytes, mut blocks, mut block_bytes) = (0, 0, 0, 0);
    for segment in &state.segments {
        for slot in &segment.slots {
            if slot.span == 1 {
                single += 1;
                single_bytes += slot.data.len();
            } else {
                blocks += 1;
                block_bytes += slot.data.len();
            }
        }
    }
    println!(
        "slots per segment: {} minutes x {} B, {} 5-minute blocks x {} B",
        single / segments,
        single_bytes / single.max(1),
        blocks / segments,
        block_bytes / blocks.max(1)
    );
}

fn main() {
    let samples_per_minute: u64 = std::env::args()
        .nth(1)
        .and_then(|v| v.parse().ok())
        .unwrap_or(20);
    println!(
        "samples per vital per segment per minute: {samples_per_minute}; {MINUTES} minutes held"
    );
    println!(
        "{:>9} {:>14} {:>18} {:>20}",
        "segments", "rss_added_MiB", "rss_per_segment_B", "accounted_per_seg_B"
    );
    let mut points: Vec<(usize, usize)> = Vec::new();
    let mut kept = Vec::new();
    for segments in [250, 500, 1000, 2000] {
        // Each point is a new stage 2 kept alive beside the earlier ones: the RSS it adds is its
        // own memory (its stage 1 is dropped inside `fill`).
        let before = rss_bytes();
        let stage2 = fill(segments, samples_per_minute);
        let added = rss_bytes().saturating_sub(before);
        points.push((segments, added));
        println!(
            "{segments:>9} {:>14.1} {:>18} {:>20}",
            added as f64 / 1048576.0,
            added / segments,
            stage2.histogram_bytes() / stage2.segment_count().max(1)
        );
        kept.push(stage2);
    }
    // Least-squares slope of added RSS over the segment count: the cost of one more segment, with
    // any fixed per-point cost in the intercept.
    let count = points.len() as f64;
    let mean_x = points.iter().map(|(x, _)| *x as f64).sum::<f64>() / count;
    let mean_y = points.iter().map(|(_, y)| *y as f64).sum::<f64>() / count;
    let covariance: f64 = points
        .iter()
        .map(|(x, y)| (*x as f64 - mean_x) * (*y as f64 - mean_y))
        .sum();
    let variance: f64 = points
        .iter()
        .map(|(x, _)| (*x as f64 - mean_x).powi(2))
        .sum();
    println!("RSS slope: {:.0} bytes per segment", covariance / variance);
    // After the sweep: the snapshot it reads from is an allocation of its own.
    if let Some(stage2) = kept.first() {
        breakdown(stage2);
    }
}
