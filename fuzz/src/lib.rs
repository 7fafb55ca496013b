//! What each fuzz target does with one input, shared by the cargo-fuzz binaries
//! (`fuzz_targets/`) and by the workspace's regression test (`tests/fuzz_regressions.rs`), which
//! runs every committed seed and every past finding through the same code on stable.
//!
//! Each function panics only on a broken invariant; bad input must be refused quietly.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::OnceLock;

use http::{HeaderMap, HeaderName, HeaderValue};
use prost::Message;
use rum_aggregator::settings::AggregatorSettings;
use rum_aggregator::stage1::Stage1;
use rum_aggregator::stage2::Stage2;
use rum_aggregator::wire::BeaconView;
use rum_enrich::client_ip::{ClientIpResolver, ClientIpSource, TrustedProxies};
use rum_enrich::route::{RoutePolicy, RoutePolicyConfig};
use rum_schema::proto::{Beacon, PartialBatch};
use rum_schema::{BeaconDecoder, DecodeLimits, encode_beacon};

/// What a target does with one input.
pub type Target = fn(&[u8]);

/// The targets by name, as `fuzz/run.sh` and the seed folders name them.
pub const TARGETS: [(&str, Target); 6] = [
    ("beacon_decode", beacon_decode),
    ("gzip_body", gzip_body),
    ("route_scrub", route_scrub),
    ("client_ip", client_ip),
    ("wire_decode", wire_decode),
    ("partial_apply", partial_apply),
];

/// A beacon body (BEACON.md JSON) through the collector's decoder; what decodes must encode to
/// bytes prost reads back as the same message.
pub fn beacon_decode(data: &[u8]) {
    let decoder = BeaconDecoder::new(DecodeLimits::default());
    let mut body = data.to_vec();
    if let Ok(decoded) = decoder.decode_vec(&mut body) {
        let bytes = encode_beacon(&decoded.beacon);
        let back = Beacon::decode(bytes.as_slice()).expect("our own encoding decodes");
        assert_eq!(back, decoded.beacon);
    }
}

/// The collector's gzip output cap (its default `collector.max_decompressed_bytes`).
const GZIP_CAP: usize = 256 * 1024;

/// A gzip request body through the collector's capped inflate: never more than the cap.
pub fn gzip_body(data: &[u8]) {
    if let Ok(inflated) = rum_collector::gunzip(data, GZIP_CAP) {
        assert!(inflated.len() <= GZIP_CAP);
    }
}

fn route_policy() -> &'static RoutePolicy {
    static POLICY: OnceLock<RoutePolicy> = OnceLock::new();
    POLICY.get_or_init(|| {
        RoutePolicy::new(&RoutePolicyConfig {
            allowed_query_params: vec!["page".into()],
            rules: vec![
                "/products/:slug".into(),
                "/static/*/img".into(),
                "/docs/** => /docs".into(),
                "regex:^/u/([a-z]{2})/.* => /u/${1}".into(),
            ],
            ..RoutePolicyConfig::default()
        })
        .expect("valid rules")
    })
}

/// A page URL through URL scrubbing and route templating (rules of every form), and as a referrer
/// through origin extraction; the fragment never survives.
pub fn route_scrub(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let scrubbed = route_policy().scrub(text);
    std::hint::black_box(format!("{scrubbed:?}"));
    std::hint::black_box(rum_enrich::route::referrer_origin(text));
    let mut url = text.to_owned();
    rum_enrich::route::strip_query_and_fragment(&mut url);
    assert!(!url.contains('#'), "{url}");
}

/// Up to three forwarding header values (X-Forwarded-For, Forwarded, a CDN's one-address header),
/// one per line, through the client-IP resolver behind a trusted proxy, for each source.
pub fn client_ip(data: &[u8]) {
    let mut values = data.split(|byte| *byte == b'\n');
    let mut headers = HeaderMap::new();
    for name in ["x-forwarded-for", "forwarded", "cf-connecting-ip"] {
        if let Some(value) = values
            .next()
            .and_then(|bytes| HeaderValue::from_bytes(bytes).ok())
        {
            headers.append(HeaderName::from_static(name), value);
        }
    }
    let peer = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1));
    for source in [
        ClientIpSource::XForwardedFor,
        ClientIpSource::Forwarded,
        ClientIpSource::header("cf-connecting-ip").expect("valid name"),
    ] {
        let trusted = TrustedProxies::parse(["10.0.0.0/8", "::1"]).expect("valid networks");
        let resolved = ClientIpResolver::new(trusted, source).resolve(peer, &headers);
        std::hint::black_box(rum_enrich::client_ip::truncated_network(resolved.ip));
    }
}

/// A message from the beacon topic (a foreign producer can write anything) through stage 1's
/// projection decoder; what it decodes stage 1 ingests and flushes.
pub fn wire_decode(data: &[u8]) {
    if let Ok(view) = BeaconView::decode(data) {
        let mut stage1 = Stage1::new(AggregatorSettings::default());
        stage1.ingest(&view);
        std::hint::black_box(stage1.flush());
    }
}

/// A message from the partials topic through stage 2: decoded partials are merged, time moves
/// to the batch's tick, and the state survives an export and import.
pub fn partial_apply(data: &[u8]) {
    let Ok(batch) = PartialBatch::decode(data) else {
        return;
    };
    let settings = AggregatorSettings::default();
    let mut stage2 = Stage2::new(settings.clone());
    for partial in batch.partials {
        stage2.apply(partial);
    }
    stage2.advance(batch.tick_ms);
    let (again, _) = Stage2::import(settings, &stage2.export());
    assert_eq!(again.segment_count(), stage2.segment_count());
}
