//! Aggregator costs: stage 1 (protobuf decode + record into every default view) per five-vital
//! beacon, the stage-1 flush, the stage-2 merge per partial, and the exposition per segment.
//! Run: `cargo bench -p rum-aggregator --bench aggregate`.

use std::hint::black_box;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use prost::Message;
use rum_aggregator::settings::AggregatorSettings;
use rum_aggregator::stage1::Stage1;
use rum_aggregator::stage2::Stage2;
use rum_aggregator::wire::BeaconView;

#[path = "support/fixtures.rs"]
mod fixtures;
use fixtures::{T0, five_vital_beacon};

fn stage1(c: &mut Criterion) {
    // Payloads as the channel and Kafka hand them over: encoded `rum.v1.Beacon`s.
    let encoded: Vec<Vec<u8>> = (0..10_000)
        .map(|index| five_vital_beacon(index, 50).encode_to_vec())
        .collect();
    let mut group = c.benchmark_group("stage1");
    group.throughput(Throughput::Elements(encoded.len() as u64));
    group.bench_function("decode_and_record_10k_five_vital_beacons_6_views", |b| {
        b.iter_batched(
            || Stage1::new(AggregatorSettings::default()),
            |mut stage1| {
                for bytes in &encoded {
                    let beacon = BeaconView::decode(bytes).expect("valid");
                    stage1.ingest(&beacon);
                }
                stage1
            },
            BatchSize::LargeInput,
        )
    });
    // Production's stage 1 is long-lived: its pools of histograms and sample buffers are warm
    // after the first second. Each iteration brings 10k new page views (encoded outside the
    // timing) into one Stage1, which flushes outside the timing too.
    let mut long_lived = Stage1::new(AggregatorSettings::default());
    let mut round = 0u64;
    group.bench_function("decode_and_record_10k_steady_state", |b| {
        b.iter_custom(|iterations| {
            let mut elapsed = std::time::Duration::ZERO;
            for _ in 0..iterations {
                round += 1;
                let batch: Vec<Vec<u8>> = (0..10_000)
                    .map(|index| five_vital_beacon(round * 10_000 + index, 50).encode_to_vec())
                    .collect();
                let started = std::time::Instant::now();
                for bytes in &batch {
                    let beacon = BeaconView::decode(bytes).expect("valid");
                    long_lived.ingest(&beacon);
                }
                elapsed += started.elapsed();
                black_box(long_lived.flush());
            }
            elapsed
        })
    });
    let decoded: Vec<BeaconView> = encoded
        .iter()
        .map(|bytes| BeaconView::decode(bytes).expect("valid"))
        .collect();
    group.bench_function("record_only_10k_predecoded", |b| {
        b.iter_batched(
            || Stage1::new(AggregatorSettings::default()),
            |mut stage1| {
                for beacon in &decoded {
                    stage1.ingest(beacon);
                }
                stage1
            },
            BatchSize::LargeInput,
        )
    });
    group.bench_function("decode_only_10k", |b| {
        b.iter(|| {
            for bytes in &encoded {
                black_box(BeaconView::decode(bytes).expect("valid"));
            }
        })
    });
    group.bench_function("decode_record_and_flush_10k", |b| {
        b.iter_batched(
            || Stage1::new(AggregatorSettings::default()),
            |mut stage1| {
                for bytes in &encoded {
                    let beacon = BeaconView::decode(bytes).expect("valid");
                    stage1.ingest(&beacon);
                }
                black_box(stage1.flush())
            },
            BatchSize::LargeInput,
        )
    });
    group.finish();
}

fn stage2(c: &mut Criterion) {
    let mut stage1 = Stage1::new(AggregatorSettings::default());
    for index in 0..10_000 {
        BeaconView::of(&five_vital_beacon(index, 50), |view| stage1.ingest(view));
    }
    let partials = stage1.flush();
    let mut group = c.benchmark_group("stage2");
    group.throughput(Throughput::Elements(partials.len() as u64));
    group.bench_function(
        format!("merge_{}_partials_into_fresh_segments", partials.len()),
        |b| {
            b.iter_batched(
                || (Stage2::new(AggregatorSettings::default()), partials.clone()),
                |(mut stage2, partials)| {
                    stage2.advance(T0);
                    for partial in partials {
                        stage2.apply(partial);
                    }
                    stage2
                },
                BatchSize::LargeInput,
            )
        },
    );
    let mut warm = Stage2::new(AggregatorSettings::default());
    warm.advance(T0);
    for partial in partials.clone() {
        warm.apply(partial);
    }
    group.bench_function(
        format!("merge_{}_partials_into_existing_segments", partials.len()),
        |b| {
            b.iter_batched(
                || partials.clone(),
                |partials| {
                    for partial in partials {
                        warm.apply(partial);
                    }
                },
                BatchSize::LargeInput,
            )
        },
    );
    group.finish();

    let mut group = c.benchmark_group("exposition");
    group.throughput(Throughput::Elements(warm.segment_count() as u64));
    group.bench_function(format!("render_{}_segments", warm.segment_count()), |b| {
        b.iter(|| black_box(rum_aggregator::exposition::render(&warm)))
    });
    // What Prometheus scrapes (it asks for OpenMetrics first): the same walk, other headers.
    group.bench_function(
        format!("render_openmetrics_{}_segments", warm.segment_count()),
        |b| {
            b.iter(|| {
                black_box(rum_aggregator::exposition::render_in(
                    &warm,
                    rum_aggregator::exposition::Format::OpenMetrics,
                ))
            })
        },
    );
    group.finish();
}

/// The view's JSON endpoints at 2,000 and 20,000 segments (one site, one route per segment in
/// `site_route`), beside a whole `/metrics` render of the same state: an answer must not hold
/// stage 2 longer than a scrape does.
fn api(c: &mut Criterion) {
    let config = rum_config::load_str(
        "[aggregator]\ntop_n = 20000\nsite_segment_budget = 50000\n\
         [[aggregator.views]]\nname = \"site\"\ndimensions = [\"site\"]\n\
         [[aggregator.views]]\nname = \"site_route\"\ndimensions = [\"site\", \"route\"]\n",
        "bench.toml",
        Vec::<(String, String)>::new(),
    )
    .expect("bench config");
    let settings = AggregatorSettings::from_config(&config.aggregator).expect("bench settings");
    let mut group = c.benchmark_group("api");
    group.sample_size(10);
    for routes in [2_000u64, 20_000] {
        let mut stage1 = Stage1::new(settings.clone());
        for index in 0..routes * 3 {
            BeaconView::of(&five_vital_beacon(index, routes), |view| {
                stage1.ingest(view)
            });
        }
        let mut stage2 = Stage2::new(settings.clone());
        stage2.advance(T0);
        for partial in stage1.flush() {
            stage2.apply(partial);
        }
        let segments = stage2.segment_count();
        group.bench_function(format!("breakdown_lcp_5m_{segments}_segments"), |b| {
            b.iter(|| {
                black_box(rum_aggregator::api::answer(
                    &[&stage2],
                    "/api/v1/breakdown",
                    "site=shop&view=site_route&metric=lcp&window=5m&limit=50",
                ))
            })
        });
        group.bench_function(format!("summary_5m_{segments}_segments"), |b| {
            b.iter(|| {
                black_box(rum_aggregator::api::answer(
                    &[&stage2],
                    "/api/v1/summary",
                    "site=shop&window=5m",
                ))
            })
        });
        group.bench_function(format!("sites_{segments}_segments"), |b| {
            b.iter(|| black_box(rum_aggregator::api::answer(&[&stage2], "/api/v1/sites", "")))
        });
        group.bench_function(format!("render_{segments}_segments"), |b| {
            b.iter(|| black_box(rum_aggregator::exposition::render(&stage2)))
        });
    }
    group.finish();
}

criterion_group!(benches, stage1, stage2, api);
criterion_main!(benches);
