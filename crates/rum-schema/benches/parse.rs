//! Beacon decoding (parse + validate + build the proto) with simd-json vs serde_json, on 1, 5 and 12
//! event beacons, plus protobuf encoding of the result. Run: `cargo bench -p rum-schema --bench parse`.

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use prost::Message;
use rum_schema::{BeaconDecoder, JsonParser};

const FIXTURES: [(&str, &str); 3] = [
    ("1_event", include_str!("../fixtures/beacon_1_event.json")),
    ("5_events", include_str!("../fixtures/beacon_5_events.json")),
    (
        "12_events",
        include_str!("../fixtures/beacon_12_events.json"),
    ),
];

fn compact(json: &str) -> Vec<u8> {
    let value: serde_json::Value = serde_json::from_str(json).expect("fixture is JSON");
    serde_json::to_vec(&value).expect("fixture serialises")
}

fn decode(criterion: &mut Criterion) {
    let decoder = BeaconDecoder::default();
    let mut group = criterion.benchmark_group("decode");
    for (name, fixture) in FIXTURES {
        let body = compact(fixture);
        group.throughput(Throughput::Bytes(body.len() as u64));
        for (parser_name, parser) in [
            ("simd_json", JsonParser::SimdJson),
            ("serde_json", JsonParser::SerdeJson),
        ] {
            group.bench_with_input(BenchmarkId::new(parser_name, name), &body, |bench, body| {
                // The copy is part of the real path too: simd-json unescapes in place.
                bench.iter(|| {
                    let mut scratch = body.clone();
                    decoder
                        .decode_with(parser, &mut scratch)
                        .expect("fixture is valid")
                })
            });
        }
    }
    group.finish();

    let mut group = criterion.benchmark_group("encode_proto");
    for (name, fixture) in FIXTURES {
        let decoded = decoder
            .decode(&mut compact(fixture))
            .expect("fixture is valid");
        group.bench_with_input(
            BenchmarkId::from_parameter(name),
            &decoded.beacon,
            |bench, beacon| bench.iter(|| beacon.encode_to_vec()),
        );
    }
    group.finish();
}

criterion_group!(benches, decode);
criterion_main!(benches);
