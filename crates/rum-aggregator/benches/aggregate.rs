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
use rum_schema::proto::{Beacon, Enrichment, Event, Vital, VitalName, event};

const T0: i64 = 1_763_760_000_000;

fn five_vital_beacon(index: u64, routes: u64) -> Beacon {
    let vital = |name: VitalName, value: f64, id: &str| Event {
        kind: Some(event::Kind::Vital(Vital {
            name: name as i32,
            value,
            id: id.to_owned(),
            ..Vital::default()
        })),
    };
    let jitter = (index * 7919 % 1000) as f64;
    Beacon {
        version: 1,
        site: "shop".into(),
        session_id: format!("s{}", index / 5),
        page_view_id: format!("pv{index}"),
        url: "https://shop.example.com/products/42".into(),
        received_at_ms: T0 + (index % 50_000) as i64,
        enrichment: Some(Enrichment {
            route: format!("/products/{}", index % routes),
            country: ["DE", "US", "FR", "GB", "IN"][(index % 5) as usize].into(),
            device_class: ["desktop", "mobile", "tablet"][(index % 3) as usize].into(),
            browser: ["Chrome", "Safari", "Firefox", "Edge"][(index % 4) as usize].into(),
            ..Enrichment::default()
        }),
        events: vec![
            vital(VitalName::Lcp, 1200.0 + jitter * 3.0, "v-lcp"),
            vital(VitalName::Inp, 80.0 + jitter / 4.0, "v-inp"),
            vital(VitalName::Cls, jitter / 10_000.0, "v-cls"),
            vital(VitalName::Fcp, 700.0 + jitter, "v-fcp"),
            vital(VitalName::Ttfb, 150.0 + jitter / 2.0, "v-ttfb"),
        ],
        ..Beacon::default()
    }
}

fn stage1(c: &mut Criterion) {
    // Payloads as the channel and Kafka hand them over: owned buffers (`Bytes` clones are free).
    let encoded: Vec<bytes::Bytes> = (0..10_000)
        .map(|index| bytes::Bytes::from(five_vital_beacon(index, 50).encode_to_vec()))
        .collect();
    let mut group = c.benchmark_group("stage1");
    group.throughput(Throughput::Elements(encoded.len() as u64));
    group.bench_function("decode_and_record_10k_five_vital_beacons_6_views", |b| {
        b.iter_batched(
            || Stage1::new(AggregatorSettings::default()),
            |mut stage1| {
                for bytes in &encoded {
                    let beacon = BeaconView::decode(bytes.clone()).expect("valid");
                    stage1.ingest(&beacon);
                }
                stage1
            },
            BatchSize::LargeInput,
        )
    });
    let decoded: Vec<BeaconView> = encoded
        .iter()
        .map(|bytes| BeaconView::decode(bytes.clone()).expect("valid"))
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
                black_box(BeaconView::decode(bytes.clone()).expect("valid"));
            }
        })
    });
    group.bench_function("decode_record_and_flush_10k", |b| {
        b.iter_batched(
            || Stage1::new(AggregatorSettings::default()),
            |mut stage1| {
                for bytes in &encoded {
                    let beacon = BeaconView::decode(bytes.clone()).expect("valid");
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
        stage1.ingest(&BeaconView::of(&five_vital_beacon(index, 50)));
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
