//! Tests across both stages: quantile accuracy, exact thresholds, windows, lateness, dedupe,
//! cardinality bounds, and the running pipeline under paused time.

use std::sync::Arc;

use proptest::prelude::*;
use rum_schema::proto::{Beacon, Enrichment, Event, Vital, VitalName, event};

use crate::metric::MetricKind;
use crate::settings::AggregatorSettings;
use crate::stage1::Stage1;
use crate::stage2::Stage2;
use crate::view::{Dimension, SegmentKey};

const MINUTE_MS: i64 = 60_000;
/// A fixed instant (minute-aligned) for deterministic tests.
const T0: i64 = 1_763_760_000_000;

fn vital(name: VitalName, value: f64, id: &str) -> Event {
    Event {
        kind: Some(event::Kind::Vital(Vital {
            name: name as i32,
            value,
            id: id.to_owned(),
            ..Vital::default()
        })),
    }
}

fn beacon(
    page_view: &str,
    route: &str,
    country: &str,
    received_at_ms: i64,
    events: Vec<Event>,
) -> Beacon {
    Beacon {
        version: 1,
        site: "shop".into(),
        session_id: "s1".into(),
        page_view_id: page_view.into(),
        url: format!("https://shop.example{route}"),
        received_at_ms,
        enrichment: Some(Enrichment {
            route: route.into(),
            country: country.into(),
            device_class: "desktop".into(),
            browser: "Chrome".into(),
            ..Enrichment::default()
        }),
        events,
        ..Beacon::default()
    }
}

fn site_key() -> SegmentKey {
    SegmentKey {
        view: Arc::from("site"),
        values: vec![Arc::from("shop")].into_boxed_slice(),
    }
}

/// Stage 1 reads the projection of the beacon's wire form, as in production.
fn ingest(stage1: &mut Stage1, beacon: &Beacon) {
    crate::wire::BeaconView::of(beacon, |view| stage1.ingest(view));
}

/// Runs beacons through stage 1 and into stage 2 at `now_ms`.
fn aggregate(settings: &AggregatorSettings, beacons: &[Beacon], now_ms: i64) -> Stage2 {
    aggregate_both(settings, beacons, now_ms).1
}

/// [`aggregate`], keeping stage 1 too (for its fold counts).
pub(crate) fn aggregate_both(
    settings: &AggregatorSettings,
    beacons: &[Beacon],
    now_ms: i64,
) -> (Stage1, Stage2) {
    let mut stage1 = Stage1::new(settings.clone());
    let mut stage2 = Stage2::new(settings.clone());
    for beacon in beacons {
        ingest(&mut stage1, beacon);
    }
    stage2.advance(now_ms);
    for partial in stage1.flush() {
        stage2.apply(partial);
    }
    (stage1, stage2)
}

/// Nearest-rank quantile of integers (what an exact computation gives).
fn exact_quantile(sorted: &[u64], quantile: f64) -> u64 {
    let rank = ((quantile * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

fn check_quantiles(values_ms: &[u64], digits: u8) -> Result<(), TestCaseError> {
    let settings = AggregatorSettings {
        histogram_digits: digits,
        ..AggregatorSettings::default()
    };
    let beacons: Vec<Beacon> = values_ms
        .iter()
        .enumerate()
        .map(|(index, value)| {
            beacon(
                &format!("pv{index}"),
                "/",
                "DE",
                T0,
                vec![vital(VitalName::Lcp, *value as f64, "l")],
            )
        })
        .collect();
    let stage2 = aggregate(&settings, &beacons, T0);
    let segment = stage2.segment(&site_key()).expect("segment exists");
    let summary = stage2
        .window(segment, MetricKind::Lcp, "1m")
        .expect("samples");
    let mut sorted: Vec<u64> = values_ms
        .iter()
        .map(|v| MetricKind::Lcp.to_recorded(*v as f64))
        .collect();
    sorted.sort_unstable();
    prop_assert_eq!(summary.samples(), sorted.len() as u64);
    let relative_error = 10f64.powi(-i32::from(digits));
    for quantile in [0.5, 0.75, 0.9, 0.95, 0.99] {
        let exact = exact_quantile(&sorted, quantile) as f64;
        let estimated = summary.histogram.value_at_quantile(quantile) as f64;
        // HDR keeps `digits` significant digits; integers below the unit resolution are exact to 1.
        prop_assert!(
            (estimated - exact).abs() <= exact * relative_error + 1.0,
            "q{} exact {} estimated {} (digits {})",
            quantile,
            exact,
            estimated,
            digits
        );
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn quantiles_are_within_the_relative_error_for_random_values(
        values in prop::collection::vec(0u64..3_600_000, 1..400),
        digits in 1u8..=3,
    ) {
        check_quantiles(&values, digits)?;
    }

    #[test]
    fn quantiles_are_within_the_relative_error_for_adversarial_values(
        base in 1u64..100_000,
        spread in 0u32..20,
        count in 1usize..300,
        outliers in 0usize..10,
    ) {
        // Clusters on powers of two (HDR bucket edges), a single repeated value, and far outliers.
        let mut values: Vec<u64> = (0..count).map(|i| (base << (i as u32 % (spread + 1)).min(5)).min(3_600_000)).collect();
        values.extend(std::iter::repeat_n(3_600_000, outliers));
        values.extend([1, 2, 3]);
        check_quantiles(&values, 2)?;
    }
}

/// Behind Kafka a partition's stage 2 keeps no clock of its own until every beacon partition has
/// ticked; segments merged before then are rendered and queried with empty windows, not a panic
/// (found by `an_idle_beacon_partition_does_not_hold_windows_open`: the clock at its start value
/// overflowed the window arithmetic).
#[test]
fn a_stage2_without_a_clock_yet_renders_empty_windows() {
    let settings = AggregatorSettings::default();
    let mut stage1 = Stage1::new(settings.clone());
    let mut stage2 = Stage2::for_partition(settings);
    ingest(
        &mut stage1,
        &beacon(
            "pv-1",
            "/",
            "DE",
            T0,
            vec![vital(VitalName::Lcp, 1200.0, "l")],
        ),
    );
    for partial in stage1.flush() {
        stage2.apply(partial);
    }
    assert!(stage2.segment_count() > 0);
    let text = crate::exposition::render(&stage2);
    assert!(text.contains("rum_page_views_total"), "{text}");
    assert!(
        !text.contains("rum_lcp_window_seconds{"),
        "no window has data yet:\n{text}"
    );
}

#[test]
fn boundary_values_are_exact_in_windows_and_cumulative_counts() {
    let settings = AggregatorSettings::default();
    let beacons = vec![
        beacon("a", "/", "DE", T0, vec![vital(VitalName::Lcp, 2500.0, "l")]),
        beacon("b", "/", "DE", T0, vec![vital(VitalName::Lcp, 2501.0, "l")]),
        beacon("c", "/", "DE", T0, vec![vital(VitalName::Lcp, 4000.0, "l")]),
        beacon("d", "/", "DE", T0, vec![vital(VitalName::Lcp, 4001.0, "l")]),
        beacon("e", "/", "DE", T0, vec![vital(VitalName::Cls, 0.1, "c")]),
        beacon("f", "/", "DE", T0, vec![vital(VitalName::Cls, 0.25, "c")]),
    ];
    let mut stage2 = aggregate(&settings, &beacons, T0);
    let key = site_key();
    let segment = stage2.segment(&key).expect("segment");
    let lcp = stage2.window(segment, MetricKind::Lcp, "5m").expect("lcp");
    let ratings = lcp.exact.ratings(MetricKind::Lcp).expect("vital");
    assert_eq!(
        (ratings.good, ratings.needs_improvement, ratings.poor),
        (1, 2, 1)
    );
    let cls = stage2.window(segment, MetricKind::Cls, "5m").expect("cls");
    let ratings = cls.exact.ratings(MetricKind::Cls).expect("vital");
    assert_eq!(
        (ratings.good, ratings.needs_improvement, ratings.poor),
        (1, 1, 0)
    );

    // The cumulative histogram takes the minute once its lateness has passed.
    assert!(segment.cumulative(MetricKind::Lcp).is_none());
    stage2.advance(T0 + (settings.allowed_lateness_minutes + 1) * MINUTE_MS);
    let cumulative = stage2
        .segment(&key)
        .expect("segment")
        .cumulative(MetricKind::Lcp)
        .expect("settled");
    let le: Vec<u64> = cumulative.cumulative().collect();
    let good_bucket = MetricKind::Lcp
        .bucket_bounds()
        .iter()
        .position(|b| *b == 2500.0)
        .expect("bound");
    assert_eq!(le[good_bucket], 1, "le=2.5 is exactly the good count");
    assert_eq!(*le.last().expect("+Inf"), 4);
    let text = crate::exposition::render(&stage2);
    assert!(
        text.contains("rum_lcp_seconds_bucket{view=\"site\",site=\"shop\",le=\"2.5\"} 1\n"),
        "{text}"
    );
    assert!(text.contains("rum_lcp_seconds_count{view=\"site\",site=\"shop\"} 4\n"));
}

#[test]
fn windows_roll_over_by_minute_and_segments_are_evicted() {
    let settings = AggregatorSettings::default();
    let beacons = vec![beacon(
        "a",
        "/",
        "DE",
        T0,
        vec![vital(VitalName::Inp, 120.0, "i")],
    )];
    let mut stage2 = aggregate(&settings, &beacons, T0);
    let key = site_key();
    let samples = |stage2: &Stage2| -> Vec<u64> {
        let Some(segment) = stage2.segment(&key) else {
            return vec![];
        };
        stage2
            .windows(segment, MetricKind::Inp)
            .iter()
            .map(|summary| summary.as_ref().map_or(0, |s| s.samples()))
            .collect()
    };
    assert_eq!(samples(&stage2), vec![1, 1, 1, 1]);
    // 1m covers the current minute and the one before.
    stage2.advance(T0 + MINUTE_MS);
    assert_eq!(samples(&stage2), vec![1, 1, 1, 1]);
    stage2.advance(T0 + 2 * MINUTE_MS);
    assert_eq!(samples(&stage2), vec![0, 1, 1, 1]);
    stage2.advance(T0 + 6 * MINUTE_MS);
    assert_eq!(samples(&stage2), vec![0, 0, 1, 1]);
    stage2.advance(T0 + 16 * MINUTE_MS);
    assert_eq!(samples(&stage2), vec![0, 0, 0, 1]);
    stage2.advance(T0 + 60 * MINUTE_MS);
    assert_eq!(samples(&stage2), vec![0, 0, 0, 1]);
    assert_eq!(stage2.segment_count(), settings.views.len());
    // Past the 15m window the minute lives in a 5-minute block, which the 1h window keeps while any
    // of its minutes is in it (T0 starts a block: minutes T0..T0+4).
    stage2.advance(T0 + 64 * MINUTE_MS);
    assert_eq!(samples(&stage2), vec![0, 0, 0, 1]);
    stage2.advance(T0 + 65 * MINUTE_MS);
    assert_eq!(samples(&stage2), Vec::<u64>::new());
    assert_eq!(stage2.segment_count(), 0, "idle segments are evicted");
}

#[test]
fn old_minutes_merge_into_blocks_without_losing_a_sample() {
    let settings = AggregatorSettings::default();
    let mut stage1 = Stage1::new(settings.clone());
    let mut stage2 = Stage2::new(settings.clone());
    let mut all = Vec::new();
    for minute in 0..30i64 {
        let now = T0 + minute * MINUTE_MS;
        stage2.advance(now);
        for index in 0..7 {
            let value = 300.0 + ((minute * 7 + index) * 7919 % 5000) as f64;
            all.push(value as u64);
            ingest(
                &mut stage1,
                &beacon(
                    &format!("pv-{minute}-{index}"),
                    "/",
                    "DE",
                    now,
                    vec![vital(VitalName::Lcp, value, "l")],
                ),
            );
        }
        for partial in stage1.flush() {
            stage2.apply(partial);
        }
    }
    let key = site_key();
    let segment = stage2.segment(&key).expect("segment");
    // At minute 29: blocks 0-4 and 5-9 are complete and older than the 15m window (14..29); block
    // 10-14 still has minute 14 in that window, so 10..29 stay single minutes.
    assert_eq!(segment.slot_count(), 2 + 20);
    let hour = stage2
        .window(segment, MetricKind::Lcp, "1h")
        .expect("samples");
    assert_eq!(hour.samples(), all.len() as u64);
    all.sort_unstable();
    let exact = exact_quantile(&all, 0.75) as f64;
    let estimated = hour.histogram.value_at_quantile(0.75) as f64;
    assert!(
        (estimated - exact).abs() <= exact * 0.01 + 1.0,
        "{estimated} vs {exact}"
    );
    let quarter_hour = stage2
        .window(segment, MetricKind::Lcp, "15m")
        .expect("samples");
    assert_eq!(
        quarter_hour.samples(),
        16 * 7,
        "15 complete minutes + the current one"
    );
}

#[test]
fn late_beacons_and_partials_are_counted_not_mixed_in() {
    let settings = AggregatorSettings::default();
    let lateness = settings.allowed_lateness_minutes;
    let mut stage1 = Stage1::new(settings.clone());
    let now = T0 + 10 * MINUTE_MS;
    ingest(
        &mut stage1,
        &beacon(
            "new",
            "/",
            "DE",
            now,
            vec![vital(VitalName::Lcp, 1000.0, "l")],
        ),
    );
    // Exactly at the allowed lateness: accepted. One minute more: late.
    ingest(
        &mut stage1,
        &beacon(
            "ok",
            "/",
            "DE",
            now - lateness * MINUTE_MS,
            vec![vital(VitalName::Lcp, 1000.0, "l")],
        ),
    );
    ingest(
        &mut stage1,
        &beacon(
            "late",
            "/",
            "DE",
            now - (lateness + 1) * MINUTE_MS,
            vec![vital(VitalName::Lcp, 1000.0, "l")],
        ),
    );
    assert_eq!(stage1.late(), 1);

    let mut stage2 = Stage2::new(settings.clone());
    stage2.advance(now + 5 * MINUTE_MS);
    for partial in stage1.flush() {
        stage2.apply(partial);
    }
    // By stage 2's clock both minutes are past the lateness: every partial is late there.
    assert_eq!(stage2.segment_count(), 0);
    assert_eq!(stage2.late(), 2 * settings.views.len() as u64);
}

#[test]
fn a_resent_metric_counts_once_with_its_latest_value() {
    let settings = AggregatorSettings::default();
    let first = beacon(
        "pv",
        "/",
        "DE",
        T0,
        vec![vital(VitalName::Cls, 0.05, "cls-1")],
    );
    let again = beacon(
        "pv",
        "/",
        "DE",
        T0 + 20_000,
        vec![vital(VitalName::Cls, 0.05, "cls-1")],
    );
    let grown = beacon(
        "pv",
        "/",
        "DE",
        T0 + 90_000,
        vec![vital(VitalName::Cls, 0.3, "cls-1")],
    );
    let mut stage1 = Stage1::new(settings.clone());
    let mut stage2 = Stage2::new(settings.clone());
    stage2.advance(T0);
    // Across flushes, like real re-sends.
    for beacon in [&first, &again, &grown] {
        ingest(&mut stage1, beacon);
        for partial in stage1.flush() {
            stage2.apply(partial);
        }
    }
    let key = site_key();
    let segment = stage2.segment(&key).expect("segment");
    assert_eq!(segment.page_views, 1, "one page view however many beacons");
    let summary = stage2.window(segment, MetricKind::Cls, "5m").expect("cls");
    assert_eq!(summary.samples(), 1);
    // HDR reports the highest value equivalent to the sample: within 1% (2 digits).
    let median = summary.quantile(MetricKind::Cls, 0.5);
    assert!((0.3..=0.303).contains(&median), "{median}");
    let ratings = summary.exact.ratings(MetricKind::Cls).expect("vital");
    assert_eq!((ratings.good, ratings.poor), (0, 1));
}

/// The CLS and INP (seconds, as exposed) medians after the exit beacons `beacons` (in arrival order), one flush each.
fn exit_values(beacons: &[Beacon]) -> (f64, f64, u64) {
    let settings = AggregatorSettings::default();
    let mut stage1 = Stage1::new(settings.clone());
    let mut stage2 = Stage2::new(settings.clone());
    stage2.advance(T0);
    for beacon in beacons {
        ingest(&mut stage1, beacon);
        for partial in stage1.flush() {
            stage2.apply(partial);
        }
    }
    let segment = stage2.segment(&site_key()).expect("segment");
    let cls = stage2.window(segment, MetricKind::Cls, "5m").expect("cls");
    let inp = stage2.window(segment, MetricKind::Inp, "5m").expect("inp");
    (
        cls.quantile(MetricKind::Cls, 0.5),
        inp.quantile(MetricKind::Inp, 0.5),
        cls.samples() + inp.samples(),
    )
}

#[test]
fn exit_beacons_swapped_in_flight_keep_the_later_value() {
    // `pagehide` sends CLS 0.05 / INP 80 (seq 1); `visibilitychange` a few ms later the final
    // CLS 0.3 / INP 200 (seq 2), with the same `sent` millisecond. The second arrives first.
    let exit = |sequence: Option<u32>, cls: f64, inp: f64| Beacon {
        sequence,
        sent_at_ms: T0 + 5_000,
        ..beacon(
            "pv",
            "/",
            "DE",
            T0 + 5_010,
            vec![
                vital(VitalName::Cls, cls, "cls-1"),
                vital(VitalName::Inp, inp, "inp-1"),
            ],
        )
    };
    let (cls, inp, samples) = exit_values(&[exit(Some(2), 0.3, 200.0), exit(Some(1), 0.05, 80.0)]);
    assert_eq!(samples, 2, "each metric counts once");
    assert!(
        (0.3..=0.303).contains(&cls),
        "CLS {cls}: the later beacon's"
    );
    assert!(
        (0.2..=0.202).contains(&inp),
        "INP {inp} s: the later beacon's"
    );

    // In order, the same answer.
    let (cls, inp, _) = exit_values(&[exit(Some(1), 0.05, 80.0), exit(Some(2), 0.3, 200.0)]);
    assert!((0.3..=0.303).contains(&cls) && (0.2..=0.202).contains(&inp));

    // Beacons without a sequence (older scripts) keep the arrival rule: the last arrival wins.
    let (cls, inp, _) = exit_values(&[exit(None, 0.3, 200.0), exit(None, 0.05, 80.0)]);
    assert!((0.05..=0.0505).contains(&cls), "CLS {cls}");
    assert!((0.08..=0.081).contains(&inp), "INP {inp} s");
}

#[test]
fn a_flood_of_distinct_routes_and_countries_stays_within_the_configured_bounds() {
    let settings = AggregatorSettings {
        top_n: 50,
        site_segment_budget: 300,
        dedupe_capacity: 20_000,
        ..AggregatorSettings::default()
    };
    let mut stage1 = Stage1::new(settings.clone());
    let mut stage2 = Stage2::new(settings.clone());
    stage2.advance(T0);
    for index in 0..100_000 {
        let route = format!("/item/{index}/detail");
        let country = format!("C{index}");
        ingest(
            &mut stage1,
            &beacon(
                &format!("pv{index}"),
                &route,
                &country,
                T0 + index as i64 % 50_000,
                vec![vital(VitalName::Lcp, 1000.0 + (index % 3000) as f64, "l")],
            ),
        );
        if index % 10_000 == 9_999 {
            for partial in stage1.flush() {
                stage2.apply(partial);
            }
        }
    }
    // Top-N: at most 50 routes and 50 countries become labels; the rest fold, and are counted
    // (by stage 1's per-chunk bound, or by top-N in stage 2), once per beacon.
    for dimension in [Dimension::Route, Dimension::Country] {
        assert_eq!(
            stage1.folds(dimension) + stage2.folds(dimension),
            100_000 - 50,
            "{dimension:?}"
        );
        assert!(
            stage1.folds(dimension) > 0,
            "the chunk bound took its share"
        );
    }
    assert!(
        stage2.admission_entries() <= 1 + 6 * 5 * 50,
        "top-N tables bounded"
    );
    // Segments: budget per site plus one folded segment per view.
    assert!(stage2.segment_count() <= settings.site_segment_budget + settings.views.len());
    // Memory: well under 64 KiB per live segment (one minute of data each).
    let bytes = stage2.histogram_bytes();
    let bound = (settings.site_segment_budget + settings.views.len()) * 64 * 1024;
    assert!(
        bytes < bound,
        "{bytes} bytes for {} segments",
        stage2.segment_count()
    );
    let text = crate::exposition::render(&stage2);
    assert!(text.contains("route=\"__other__\""));
    assert!(text.contains("country=\"__other__\""));
}

#[test]
fn top_n_ranks_by_every_beacon_a_partial_stands_for() {
    let settings = AggregatorSettings {
        top_n: 1,
        ..AggregatorSettings::default()
    };
    let mut stage1 = Stage1::new(settings.clone());
    let mut stage2 = Stage2::new(settings);
    stage2.advance(T0);
    let lcp = || vec![vital(VitalName::Lcp, 1000.0, "l")];
    let flush = |stage1: &mut Stage1, stage2: &mut Stage2| {
        for partial in stage1.flush() {
            stage2.apply(partial);
        }
    };
    ingest(&mut stage1, &beacon("pv-cold", "/cold", "DE", T0, lcp()));
    flush(&mut stage1, &mut stage2);
    // Ten beacons of a route that does not fit: stage 1 sends one partial per view standing for
    // all ten (nine of them served from its label cache); they fold, and count ten for the ranking.
    for index in 0..10 {
        let page_view = format!("pv-hot-{index}");
        ingest(
            &mut stage1,
            &beacon(&page_view, "/hot", "DE", T0 + 1_000 + index, lcp()),
        );
    }
    flush(&mut stage1, &mut stage2);
    assert_eq!(stage1.folds(Dimension::Route), 0, "within the chunk bound");
    assert_eq!(stage2.folds(Dimension::Route), 10);
    // The next minute re-ranks: /hot (10) beats /cold (1). Had the partial counted once, the tie
    // (1 to 1) would keep /cold.
    ingest(
        &mut stage1,
        &beacon("pv-next", "/cold", "DE", T0 + 60_000, lcp()),
    );
    flush(&mut stage1, &mut stage2);
    ingest(
        &mut stage1,
        &beacon("pv-hot-again", "/hot", "DE", T0 + 61_000, lcp()),
    );
    flush(&mut stage1, &mut stage2);
    let hot = SegmentKey {
        view: Arc::from("site_route"),
        values: vec![Arc::from("shop"), Arc::from("/hot")].into_boxed_slice(),
    };
    let segment = stage2
        .segment(&hot)
        .expect("/hot is a segment of its own now");
    assert_eq!(segment.page_views, 1);
}

#[tokio::test(start_paused = true)]
async fn the_running_pipeline_shows_a_beacon_within_the_flush_interval_and_rolls_windows() {
    use prost::Message;
    use rum_transport::{BeaconSink, ChannelSink, SinkRecord};

    let settings = AggregatorSettings::default();
    let (sink, source) = ChannelSink::new(16);
    let clock = crate::pipeline::Clock::starting_at(T0 + 5_000);
    let aggregator = crate::pipeline::Aggregator::spawn(settings.clone(), source, clock);
    let handle = aggregator.handle.clone();
    let record = beacon(
        "pv",
        "/",
        "DE",
        clock.now_ms(),
        vec![vital(VitalName::Lcp, 1800.0, "l")],
    );
    sink.try_send(SinkRecord {
        key: b"shop/pv".to_vec(),
        payload: record.encode_to_vec(),
    })
    .expect("queued");

    tokio::time::sleep(settings.flush_interval + std::time::Duration::from_millis(100)).await;
    let text = handle.render().await;
    assert!(
        text.contains("rum_lcp_window_seconds{view=\"site\",site=\"shop\",window=\"1m\",quantile=\"0.75\"} 1.8"),
        "{text}"
    );
    assert!(text.contains("rum_page_views_total{view=\"site\",site=\"shop\"} 1\n"));

    // Two minutes on, the 1m window no longer holds it; 5m still does.
    tokio::time::sleep(std::time::Duration::from_secs(120)).await;
    let text = handle.render().await;
    assert!(!text.contains("window=\"1m\""), "{text}");
    assert!(text.contains("rum_lcp_window_samples{view=\"site\",site=\"shop\",window=\"5m\"} 1\n"));

    drop(sink);
    aggregator.finish().await;
}

#[test]
fn a_stage2_snapshot_restores_to_the_same_exposition_and_answers() {
    let settings = AggregatorSettings::default();
    let mut stage1 = Stage1::new(settings.clone());
    let mut stage2 = Stage2::for_partition(settings.clone());
    stage2.advance(T0);
    let feed = |stage1: &mut Stage1, stage2: &mut Stage2, from: usize, at: i64| {
        for index in from..from + 50 {
            ingest(
                stage1,
                &beacon(
                    &format!("pv{index}"),
                    &format!("/r/{}", index % 7),
                    ["DE", "FR", "US"][index % 3],
                    at + index as i64,
                    vec![
                        vital(VitalName::Lcp, 500.0 + (index * 37 % 4000) as f64, "l"),
                        vital(VitalName::Cls, (index % 30) as f64 / 100.0, "c"),
                    ],
                ),
            );
        }
        for partial in stage1.flush() {
            stage2.apply(partial);
        }
    };
    for minute in 0..20 {
        feed(
            &mut stage1,
            &mut stage2,
            minute * 50,
            T0 + minute as i64 * MINUTE_MS,
        );
        stage2.advance(T0 + minute as i64 * MINUTE_MS);
    }
    let state = stage2.export();
    let (mut restored, dropped) = Stage2::import(settings.clone(), &state);
    assert_eq!(dropped, 0);
    assert_eq!(
        crate::exposition::render(&restored),
        crate::exposition::render(&stage2)
    );
    assert_eq!(
        restored.export(),
        state,
        "export -> import -> export is stable"
    );
    // The same partials afterwards give the same state on both: top-N tables and budget included.
    let mut stage1_again = Stage1::new(settings);
    let mut partials = Vec::new();
    for index in 5000..5060 {
        ingest(
            &mut stage1_again,
            &beacon(
                &format!("late-{index}"),
                &format!("/new/{index}"),
                "DE",
                T0 + 20 * MINUTE_MS + index as i64,
                vec![vital(VitalName::Lcp, 900.0, "l")],
            ),
        );
    }
    partials.extend(stage1_again.flush());
    for partial in partials {
        stage2.apply(partial.clone());
        restored.apply(partial);
    }
    stage2.advance(T0 + 21 * MINUTE_MS);
    restored.advance(T0 + 21 * MINUTE_MS);
    assert_eq!(restored.export(), stage2.export());
}

#[test]
fn a_stage1_snapshot_restores_to_the_same_partials() {
    let settings = AggregatorSettings::default();
    let mut original = Stage1::for_partition(settings.clone(), 1000);
    original.advance_to_tick(T0);
    let first = |index: usize| {
        beacon(
            &format!("pv{index}"),
            "/",
            "DE",
            T0 + index as i64,
            vec![vital(VitalName::Lcp, 1000.0 + index as f64, "l")],
        )
    };
    for index in 0..30 {
        ingest(&mut original, &first(index));
    }
    original.flush();
    let state = original.snapshot(3, 42);
    assert_eq!((state.partition, state.next_offset), (3, 42));
    let (mut restored, skipped) = Stage1::restore(settings, 1000, &state);
    assert_eq!(skipped, 0);
    // Re-sends of known page views and new ones: both must answer the same.
    let next = |index: usize| {
        beacon(
            &format!("pv{index}"),
            "/",
            "DE",
            T0 + 1_000 + index as i64,
            vec![vital(VitalName::Lcp, 2000.0 + index as f64, "l")],
        )
    };
    for index in 20..40 {
        ingest(&mut original, &next(index));
        ingest(&mut restored, &next(index));
    }
    let sort = |partials: Vec<rum_schema::proto::Partial>| {
        let mut partials: Vec<_> = partials
            .into_iter()
            .map(|partial| {
                (
                    partial.view.clone(),
                    partial.dimension_values.clone(),
                    partial,
                )
            })
            .collect();
        partials.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
        partials
            .into_iter()
            .map(|(_, _, partial)| partial)
            .collect::<Vec<_>>()
    };
    let from_original = sort(original.flush());
    let from_restored = sort(restored.flush());
    assert!(
        from_original
            .iter()
            .any(|partial| partial.page_views == 20 - 10)
    );
    assert_eq!(from_original, from_restored);
}

#[test]
fn a_release_view_keeps_the_most_recent_releases_and_folds_older_ones_counted() {
    let config = rum_config::load_str(
        "[aggregator]\nreleases = 3\n\
         [[aggregator.views]]\nname = \"site\"\ndimensions = [\"site\"]\n\
         [[aggregator.views]]\nname = \"site_release\"\ndimensions = [\"site\", \"release\"]\n",
        "test.toml",
        Vec::<(String, String)>::new(),
    )
    .unwrap();
    let settings = AggregatorSettings::from_config(&config.aggregator).unwrap();
    let lcp = |value: f64| Event {
        kind: Some(event::Kind::Vital(Vital {
            name: VitalName::Lcp as i32,
            value,
            id: "lcp".into(),
            ..Vital::default()
        })),
    };
    let released = |page_view: &str, release: &str, at: i64| Beacon {
        release: release.into(),
        ..beacon(page_view, "/", "DE", at, vec![lcp(1000.0)])
    };
    let mut stage1 = Stage1::new(settings.clone());
    let mut stage2 = Stage2::new(settings.clone());
    stage2.advance(T0);
    // Four deploys one after the other: 1.0 leaves when 1.3 arrives.
    for (index, release) in ["1.0", "1.1", "1.2", "1.3"].into_iter().enumerate() {
        ingest(
            &mut stage1,
            &released(&format!("pv{index}"), release, T0 + 1_000),
        );
        for partial in stage1.flush() {
            stage2.apply(partial);
        }
    }
    // An old tab still on 1.0, and a page without a release.
    ingest(&mut stage1, &released("old-tab", "1.0", T0 + 2_000));
    ingest(&mut stage1, &released("no-release", "", T0 + 2_000));
    for partial in stage1.flush() {
        stage2.apply(partial);
    }
    let release_key = |release: &str| SegmentKey {
        view: Arc::from("site_release"),
        values: vec![Arc::from("shop"), Arc::from(release)].into_boxed_slice(),
    };
    for (release, page_views) in [("1.1", 1), ("1.2", 1), ("1.3", 1), (crate::view::OTHER, 1)] {
        assert_eq!(
            stage2.segment(&release_key(release)).map(|s| s.page_views),
            Some(page_views),
            "{release}"
        );
    }
    // 1.0 kept the segment it had, and "unknown" (no release) is a release like any other.
    assert_eq!(
        stage2.segment(&release_key("1.0")).map(|s| s.page_views),
        Some(1)
    );
    assert_eq!(
        stage2
            .segment(&release_key(crate::view::UNKNOWN))
            .map(|s| s.page_views),
        Some(1),
        "admitted as the newest, pushing 1.1 out of the table (its segment stays)"
    );
    assert_eq!(stage2.folds(Dimension::Release), 1);
    let text = crate::exposition::render(&stage2);
    assert!(
        text.contains(r#"rum_page_views_total{view="site_release",site="shop",release="1.3"} 1"#)
    );
}

#[test]
fn an_estimated_view_weighs_page_views_and_errors_by_their_sample_rate() {
    let config = rum_config::load_str(
        "[[aggregator.views]]\nname = \"site\"\ndimensions = [\"site\"]\nestimated = true\n\
         [[aggregator.views]]\nname = \"site_route\"\ndimensions = [\"site\", \"route\"]\n",
        "test.toml",
        Vec::<(String, String)>::new(),
    )
    .unwrap();
    let settings = AggregatorSettings::from_config(&config.aggregator).unwrap();
    let error = || Event {
        kind: Some(event::Kind::Error(rum_schema::proto::Error {
            message: "boom".into(),
            ..Default::default()
        })),
    };
    let sampled = |page_view: &str, rate: Option<f64>, events: Vec<Event>| Beacon {
        sample_rate: rate,
        ..beacon(page_view, "/", "DE", T0 + 1_000, events)
    };
    let beacons = [
        // Two page views of 25% sessions (4 each), one with an error; one of an unsampled page
        // (1); a second beacon of the first page view is not another page view.
        sampled("a", Some(0.25), vec![error()]),
        sampled("a", Some(0.25), vec![]),
        sampled("b", Some(0.25), vec![]),
        sampled("c", None, vec![error()]),
    ];
    let stage2 = aggregate(&settings, &beacons, T0 + 1_000);
    let site = stage2.segment(&site_key()).expect("site segment");
    assert_eq!(site.page_views, 3);
    assert_eq!(site.estimated_page_views, 9.0);
    assert_eq!(site.estimated_errors, 5.0);
    let text = crate::exposition::render(&stage2);
    assert!(
        text.contains("rum_page_views_estimated_total{view=\"site\",site=\"shop\"} 9\n"),
        "{text}"
    );
    assert!(text.contains("rum_errors_estimated_total{view=\"site\",site=\"shop\"} 5\n"));
    // Only views that ask export them.
    assert!(!text.contains("rum_page_views_estimated_total{view=\"site_route\""));
    // And they survive a snapshot.
    let (restored, _) = Stage2::import(settings, &stage2.export());
    assert_eq!(
        restored.segment(&site_key()).unwrap().estimated_page_views,
        9.0
    );
}

/// A deterministic stream of beacons that exercises everything stage 1 records: re-sent and
/// replaced metrics (in order, stale, across minutes and flushes), navigation, actions, business
/// events, errors, requests, long frames, resources, traced calls, sample rates, late beacons,
/// and hostile values (NaN, negative, 1e300, so sums saturate) a producer bypassing the edge
/// could write.
fn mixed_stream(count: u64) -> Vec<Vec<Beacon>> {
    use rum_schema::proto::{
        Action, BusinessEvent, Calls, EndpointCalls, Error, LongFrames, Navigation,
        OriginResources, Request, Resources, ScriptTime, TypeCount,
    };
    let mut rng = Splitmix(0x9e37_79b9_7f4a_7c15);
    let mut chunks = Vec::new();
    let mut chunk = Vec::new();
    for index in 0..count {
        let page_view = rng.below(count / 3 + 1);
        let minute = (index * 4 / count) as i64;
        let mut events = vec![
            vital(VitalName::Lcp, rng.value(800.0, 5000), "lcp"),
            vital(VitalName::Inp, rng.value(20.0, 900), "inp"),
            vital(VitalName::Cls, rng.value(0.0, 2) / 3.0, "cls"),
        ];
        if rng.below(2) == 0 {
            events.push(vital(VitalName::Fcp, rng.value(300.0, 3000), ""));
            events.push(vital(VitalName::Ttfb, rng.value(50.0, 2000), "ttfb"));
        }
        let kind = |kind: event::Kind| Event { kind: Some(kind) };
        if rng.below(4) == 0 {
            events.push(kind(event::Kind::Navigation(Navigation {
                dns_ms: Some(rng.value(1.0, 40)),
                load_ms: Some(rng.value(400.0, 4000)),
                tls_ms: (rng.below(2) == 0).then(|| rng.value(2.0, 30)),
                ..Navigation::default()
            })));
        }
        if rng.below(5) == 0 {
            events.push(kind(event::Kind::Action(Action {
                name: ["Add to cart", "Search", "Pay"][rng.below(3) as usize].into(),
                duration_ms: (rng.below(3) > 0).then(|| rng.value(30.0, 3000)),
                rage: rng.below(6) == 0,
                dead: rng.below(7) == 0,
                ..Action::default()
            })));
        }
        if rng.below(8) == 0 {
            events.push(kind(event::Kind::BusinessEvent(BusinessEvent {
                name: "purchase".into(),
                value: Some(rng.value(10.0, 200)),
            })));
        }
        if rng.below(10) == 0 {
            events.push(kind(event::Kind::Error(Error {
                kind: ["error", "unhandledrejection", "weird"][rng.below(3) as usize].into(),
                message: format!("TypeError: x{}", rng.below(4)),
                stack: "at f (https://shop.example/app.js:1:2)".into(),
                ..Error::default()
            })));
        }
        if rng.below(6) == 0 {
            events.push(kind(event::Kind::Request(Request {
                url: "https://shop.example/api/cart".into(),
                method: "POST".into(),
                status: [200, 404, 503, 0][rng.below(4) as usize],
                duration_ms: rng.value(20.0, 3000),
                endpoint: "/api/cart".into(),
            })));
        }
        if rng.below(5) == 0 {
            events.push(kind(event::Kind::LongFrames(LongFrames {
                count: 1 + rng.below(3) as u32,
                blocking_ms: rng.value(50.0, 300),
                scripts: vec![ScriptTime {
                    origin: "https://tags.example".into(),
                    duration_ms: rng.value(10.0, 100),
                }],
            })));
            events.push(kind(event::Kind::Resources(Resources {
                origins: vec![OriginResources {
                    origin: ["https://cdn.example", "https://shop.example"][rng.below(2) as usize]
                        .into(),
                    transfer_bytes: rng.below(50_000),
                    untimed: rng.below(2) as u32,
                    durations_ms: vec![rng.value(5.0, 400), rng.value(5.0, 400)],
                }],
                types: vec![TypeCount {
                    r#type: ["script", "img", "beacon"][rng.below(3) as usize].into(),
                    count: 1 + rng.below(4) as u32,
                }],
            })));
        }
        let traced = rng.below(3) == 0;
        if rng.below(5) == 0 {
            events.push(kind(event::Kind::Calls(Calls {
                endpoints: vec![EndpointCalls {
                    method: "GET".into(),
                    url: "https://shop.example/api/items/1".into(),
                    endpoint: "/api/items/:id".into(),
                    durations_ms: vec![120.0, rng.value(10.0, 900)],
                    statuses: vec![200, [200, 404, 503][rng.below(3) as usize]],
                    trace_id: if traced { vec![0x5c; 16] } else { Vec::new() },
                    traced_ms: traced.then_some(120.0),
                }],
            })));
        }
        let routes = ["/", "/products/:id", "/cart", "/search"];
        let mut beacon = beacon(
            &format!("pv{page_view}"),
            routes[rng.below(4) as usize],
            ["DE", "US", "FR"][rng.below(3) as usize],
            // A few beacons arrive after their minute closed.
            T0 + minute * MINUTE_MS + rng.below(MINUTE_MS as u64) as i64
                - if rng.below(50) == 0 {
                    30 * MINUTE_MS
                } else {
                    0
                },
            events,
        );
        beacon.session_id = format!("s{}", page_view / 3);
        beacon.site = ["shop", "blog"][(page_view % 2) as usize].into();
        beacon.sequence = (rng.below(3) > 0).then(|| rng.below(5) as u32);
        beacon.sample_rate = (rng.below(4) == 0).then_some(0.25);
        if traced {
            beacon.trace_id = vec![0x4b; 16];
        }
        if let Some(enrichment) = beacon.enrichment.as_mut() {
            enrichment.device_class = ["desktop", "mobile"][rng.below(2) as usize].into();
            enrichment.browser = ["Chrome", "Safari", "Firefox"][rng.below(3) as usize].into();
        }
        chunk.push(beacon);
        if rng.below(60) == 0 {
            chunks.push(std::mem::take(&mut chunk));
        }
    }
    chunks.push(chunk);
    chunks
}

/// A deterministic generator for [`mixed_stream`] (splitmix64).
struct Splitmix(u64);

impl Splitmix {
    fn below(&mut self, bound: u64) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        (z ^ (z >> 31)) % bound
    }

    /// `base` plus up to `spread` / 7, or one time in 40 a hostile value.
    fn value(&mut self, base: f64, spread: u64) -> f64 {
        const HOSTILE: [f64; 7] = [
            f64::NAN,
            -5.0,
            1e300,
            f64::INFINITY,
            0.0,
            3_600_000.0,
            2500.0,
        ];
        if self.below(40) == 0 {
            HOSTILE[self.below(HOSTILE.len() as u64) as usize]
        } else {
            base + self.below(spread) as f64 / 7.0
        }
    }
}

/// A digest of partials that does not depend on a hash map's order (their map fields sorted)
/// nor on the Rust release (FNV-1a, not `DefaultHasher`).
fn partials_digest(partials: &[rum_schema::proto::Partial], digest: &mut u64) {
    use prost::Message;
    for partial in partials {
        let mut partial = partial.clone();
        let errors: std::collections::BTreeMap<_, _> = partial.errors.drain().collect();
        let types: std::collections::BTreeMap<_, _> = partial.resource_types.drain().collect();
        digest_bytes(&partial.encode_to_vec(), digest);
        digest_bytes(format!("{errors:?} {types:?}").as_bytes(), digest);
    }
}

fn digest_bytes(bytes: &[u8], digest: &mut u64) {
    for byte in bytes {
        *digest = (*digest ^ u64::from(*byte)).wrapping_mul(0x0100_0000_01b3);
    }
}

/// Stage 1's partials of [`mixed_stream`] are byte for byte what they were before issue 20's
/// changes to stage 1's hot path (decoder, recording, label and name lookups): those changes must
/// not move a count, a bucket, a sum or a fold. The digest was taken from the code as it was
/// before them; a change that means to alter partials updates it and says why.
#[test]
fn stage1_partials_of_a_mixed_stream_are_pinned() {
    let settings = AggregatorSettings {
        // Small enough that chunks fold values and names.
        chunk_value_bound: 3,
        ..AggregatorSettings::default()
    };
    for (dedupe_capacity, expected) in [
        (100_000, 0x3c96_4250_b801_e0d4_u64),
        (50, 0x11f6_9c33_07b4_5bfb),
    ] {
        let mut stage1 = Stage1::for_partition(settings.clone(), dedupe_capacity);
        let mut digest = 0xcbf2_9ce4_8422_2325_u64;
        for (index, chunk) in mixed_stream(6_000).iter().enumerate() {
            stage1.advance_to_tick(T0 + index as i64 * 2_000);
            for beacon in chunk {
                ingest(&mut stage1, beacon);
            }
            partials_digest(&stage1.flush(), &mut digest);
        }
        let folds: Vec<u64> = Dimension::ALL
            .iter()
            .map(|dimension| stage1.folds(*dimension))
            .chain(
                crate::names::NameKind::ALL
                    .iter()
                    .map(|kind| stage1.name_folds(*kind)),
            )
            .chain([stage1.late(), stage1.error_group_folds()])
            .collect();
        digest_bytes(format!("{folds:?}").as_bytes(), &mut digest);
        eprintln!("capacity {dedupe_capacity}: digest {digest:#018x}, folds and late {folds:?}");
        assert_eq!(digest, expected, "capacity {dedupe_capacity}");
    }
}
