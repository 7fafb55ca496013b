//! Stage 1 under an instruction counter: the same 10k five-vital beacons as the criterion bench
//! (`benches/aggregate.rs`), decoded and recorded into the six default views by a fresh `Stage1`
//! per round, then flushed. This VM has no hardware counters and its wall-clock noise (+-25%) hides
//! 10% changes, so stage-1 work is compared by instructions, which repeat exactly:
//!
//! ```sh
//! cargo build --release -p rum-aggregator --example stage1_instructions
//! valgrind --tool=callgrind --toggle-collect='*measured_round*' \
//!   target/release/examples/stage1_instructions 3
//! ```
//!
//! The `Collected` total divided by (rounds x 10,000) is the instructions per beacon (with
//! `--toggle-collect='*measured_*'` instead, each round's flush is counted too: the samples a round
//! leaves buffered are recorded there, and the builders become partials). With `steady`
//! as the second argument, one long-lived `Stage1` takes every round (new page views each round)
//! and flushes between rounds outside the counted function, as in production, where its pools
//! of histograms and buffers are warm; without it each round starts cold, as the criterion
//! bench's `decode_and_record` does. With `no-sessions` as the third argument sessions are off
//! (`aggregator.sessions.enabled = false`), to state what following sessions costs. A fourth
//! argument sets `aggregator.dedupe_capacity` (e.g. `3 steady sessions 10000`: the table is full
//! from the warm-up on, so every new page view evicts the oldest, as at capacity in production).
//! With `THIRD_PARTIES=1` in the environment every beacon also carries a `loaf` event (three
//! script origins) and a `resources` event (ten resources of five origins, four initiator types),
//! what a Chromium page's exit beacon adds. With `CALLS=1` every beacon also names its page
//! load's backend trace (exemplars on its samples) and carries a `calls` event: three endpoints,
//! six calls of three status classes, one of them traced.

use std::hint::black_box;

use prost::Message;
use rum_aggregator::settings::AggregatorSettings;
use rum_aggregator::stage1::Stage1;
use rum_aggregator::wire::BeaconView;
use rum_schema::proto::{
    Beacon, Calls, EndpointCalls, Event, LongFrames, OriginResources, Resources, ScriptTime,
    TypeCount, event,
};

#[path = "../benches/support/fixtures.rs"]
mod fixtures;

const BEACONS: u64 = 10_000;

/// `beacon` with what a Chromium page's exit beacon adds: its long frames and its resources.
fn with_third_parties(mut beacon: Beacon) -> Beacon {
    let origins = [
        "https://shop.example.com",
        "https://cdn.example",
        "https://fonts.example",
        "https://tags.example",
        "https://ads.example",
    ];
    beacon.events.push(Event {
        kind: Some(event::Kind::LongFrames(LongFrames {
            count: 2,
            blocking_ms: 180.0,
            scripts: origins[2..]
                .iter()
                .map(|origin| ScriptTime {
                    origin: (*origin).to_owned(),
                    duration_ms: 70.0,
                })
                .collect(),
        })),
    });
    beacon.events.push(Event {
        kind: Some(event::Kind::Resources(Resources {
            origins: origins
                .iter()
                .map(|origin| OriginResources {
                    origin: (*origin).to_owned(),
                    transfer_bytes: 24_000,
                    untimed: 1,
                    durations_ms: vec![40.0, 320.0],
                })
                .collect(),
            types: ["script", "img", "css", "fetch"]
                .iter()
                .map(|kind| TypeCount {
                    r#type: (*kind).to_owned(),
                    count: 2,
                })
                .collect(),
        })),
    });
    beacon
}

/// `beacon` with a traced page load and the fetch/XHR calls of a page: three endpoints.
fn with_calls(mut beacon: Beacon) -> Beacon {
    beacon.trace_id = vec![0x4b; 16];
    let endpoint =
        |method: &str, endpoint: &str, calls: &[(f64, u32)], traced: bool| EndpointCalls {
            method: method.to_owned(),
            url: format!("https://shop.example.com{endpoint}"),
            endpoint: endpoint.to_owned(),
            durations_ms: calls.iter().map(|(duration, _)| *duration).collect(),
            statuses: calls.iter().map(|(_, status)| *status).collect(),
            trace_id: if traced { vec![0x5c; 16] } else { Vec::new() },
            traced_ms: traced.then_some(calls[0].0),
        };
    beacon.events.push(Event {
        kind: Some(event::Kind::Calls(Calls {
            endpoints: vec![
                endpoint("GET", "/api/items/:id", &[(120.0, 200), (80.0, 200)], true),
                endpoint("POST", "/api/cart", &[(300.0, 201), (90.0, 409)], false),
                endpoint("GET", "/api/stock", &[(45.0, 200), (2_000.0, 503)], false),
            ],
        })),
    });
    beacon
}

/// One bench iteration: decode + record every beacon (the flush is not counted: in production it
/// runs once a second, whatever the rate).
#[inline(never)]
fn measured_round(stage1: &mut Stage1, encoded: &[Vec<u8>]) {
    for bytes in encoded {
        let beacon = BeaconView::decode(bytes).expect("valid");
        stage1.ingest(&beacon);
    }
}

/// The flush after a round, in a function of its own: `--toggle-collect='*measured_*'` counts it
/// with the round (samples still buffered at the end of a round are recorded here), while
/// `'*measured_round*'` leaves it out.
#[inline(never)]
fn measured_flush(stage1: &mut Stage1, digest: &mut Option<Digest>) -> usize {
    let partials = stage1.flush();
    if let Some(digest) = digest {
        digest.add(&partials);
    }
    partials.len()
}

/// With `DIGEST=1`: a hash of every partial (its map fields sorted, as their encoding order is a
/// hash map's), printed at the end, so two builds can be checked to give the same partials.
struct Digest(u64);

impl Digest {
    fn add(&mut self, partials: &[rum_schema::proto::Partial]) {
        use std::hash::{Hash, Hasher};
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        self.0.hash(&mut hasher);
        for partial in partials {
            let mut partial = partial.clone();
            let errors: std::collections::BTreeMap<_, _> = partial.errors.drain().collect();
            let types: std::collections::BTreeMap<_, _> = partial.resource_types.drain().collect();
            partial.encode_to_vec().hash(&mut hasher);
            format!("{errors:?} {types:?}").hash(&mut hasher);
        }
        self.0 = hasher.finish();
    }
}

fn main() {
    let rounds: u64 = std::env::args()
        .nth(1)
        .map_or(3, |text| text.parse().expect("rounds: a number"));
    let steady = std::env::args().nth(2).as_deref() == Some("steady");
    let mut settings = AggregatorSettings::default();
    settings.sessions.enabled = std::env::args().nth(3).as_deref() != Some("no-sessions");
    if let Some(capacity) = std::env::args().nth(4) {
        settings.dedupe_capacity = capacity.parse().expect("dedupe capacity: a number");
    }
    let third_parties = std::env::var_os("THIRD_PARTIES").is_some();
    let calls = std::env::var_os("CALLS").is_some();
    let batch = |round: u64| -> Vec<Vec<u8>> {
        (0..BEACONS)
            .map(|index| {
                let mut beacon = fixtures::five_vital_beacon(round * BEACONS + index, 50);
                if third_parties {
                    beacon = with_third_parties(beacon);
                }
                if calls {
                    beacon = with_calls(beacon);
                }
                beacon.encode_to_vec()
            })
            .collect()
    };
    let mut digest = std::env::var_os("DIGEST").map(|_| Digest(0));
    let mut measured = std::time::Duration::ZERO;
    let mut partials = 0;
    let mut long_lived = Stage1::new(settings.clone());
    for round in 0..rounds {
        if steady {
            // Warm up once (uncounted), then every round brings new page views.
            if round == 0 {
                for bytes in batch(rounds + 1) {
                    long_lived.ingest(&BeaconView::decode(&bytes).expect("valid"));
                }
                long_lived.flush();
            }
            let encoded = batch(round);
            let started = std::time::Instant::now();
            measured_round(&mut long_lived, black_box(&encoded));
            measured += started.elapsed();
            partials += measured_flush(&mut long_lived, &mut digest);
        } else {
            let encoded = batch(0);
            let mut stage1 = Stage1::new(settings.clone());
            let started = std::time::Instant::now();
            measured_round(&mut stage1, black_box(&encoded));
            measured += started.elapsed();
            partials += measured_flush(&mut stage1, &mut digest);
        }
    }
    let per_beacon_ns = measured.as_nanos() as f64 / (rounds * BEACONS) as f64;
    eprintln!(
        "{} (sessions {}) {rounds} rounds x {BEACONS} beacons, {partials} partials: \
         {per_beacon_ns:.0} ns per beacon, {:.0}k beacons/s (wall clock of the counted part)",
        if steady { "steady" } else { "cold" },
        if settings.sessions.enabled {
            "on"
        } else {
            "off"
        },
        1e6 / per_beacon_ns
    );
    if let Some(Digest(digest)) = digest {
        eprintln!("partials digest {digest:016x}");
    }
}
