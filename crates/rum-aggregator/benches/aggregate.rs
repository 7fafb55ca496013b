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
    group.finish();
}

criterion_group!(benches, stage1, stage2);
criterion_main!(benches);
