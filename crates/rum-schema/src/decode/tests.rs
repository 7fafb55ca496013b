//! Data-driven checks of the decoder: the BEACON.md example round-trips, each rejection reason fires
//! on the smallest input that should trigger it, and both parsers agree on every input.

use proptest::prelude::*;
use serde_json::{Value, json};

use super::*;
use crate::render::beacon_to_json;

const FULL: &str = include_str!("../../fixtures/beacon_full.json");

fn decode_json(value: &Value) -> Result<DecodedBeacon, BeaconRejection> {
    let mut body = serde_json::to_vec(value).unwrap();
    BeaconDecoder::default().decode(&mut body)
}

fn full() -> Value {
    serde_json::from_str(FULL).unwrap()
}

/// The full example with one top-level member replaced (or removed with `Value::Null` for `None`).
fn with(key: &str, value: Option<Value>) -> Value {
    let mut beacon = full();
    match value {
        Some(value) => beacon[key] = value,
        None => {
            beacon.as_object_mut().unwrap().remove(key);
        }
    }
    beacon
}

/// A beacon whose only event is `event`.
fn with_event(event: Value) -> Value {
    with("events", Some(json!([event])))
}

fn beacon_reason(value: &Value) -> DecodeReason {
    decode_json(value)
        .expect_err("beacon should be rejected")
        .reason
}

fn event_rejection(event: Value) -> (DecodeReason, &'static str) {
    let decoded = decode_json(&with_event(event)).expect("beacon itself is valid");
    assert!(decoded.beacon.events.is_empty(), "event should be rejected");
    let rejection = decoded.rejected_events[0];
    assert_eq!(rejection.index, 0);
    (rejection.reason, rejection.field)
}

#[test]
fn the_beacon_md_example_round_trips() {
    let sent = full();
    let decoded = decode_json(&sent).unwrap();
    assert!(decoded.rejected_events.is_empty());
    assert_eq!(decoded.unknown_fields, 0);
    assert_eq!(decoded.unknown_event_types, 0);
    assert_eq!(decoded.dropped_hints, 0);
    assert_eq!(decoded.beacon.events.len(), 9);

    let mut rendered = beacon_to_json(&decoded.beacon);
    let object = rendered.as_object_mut().unwrap();
    // The edge adds these; everything else must be exactly what was sent.
    assert_eq!(object.remove("site"), Some(json!("")));
    assert_eq!(object.remove("recv"), Some(json!(0)));
    assert_eq!(numbers_as_f64(rendered), numbers_as_f64(sent));
}

/// JSON `50` and `50.0` are the same number to a browser; compare them as such.
fn numbers_as_f64(value: Value) -> Value {
    match value {
        Value::Number(number) => json!(number.as_f64().unwrap()),
        Value::Array(items) => Value::Array(items.into_iter().map(numbers_as_f64).collect()),
        Value::Object(members) => Value::Object(
            members
                .into_iter()
                .map(|(key, member)| (key, numbers_as_f64(member)))
                .collect(),
        ),
        other => other,
    }
}

#[test]
fn unknown_members_and_event_types_are_ignored_and_counted() {
    let mut beacon = full();
    beacon["newTopLevel"] = json!(1);
    beacon["events"][0]["attr"]["element"] = json!("img");
    beacon["events"][0]["navigationEntry"] = json!({});
    beacon["events"]
        .as_array_mut()
        .unwrap()
        .push(json!({"type": "long-task", "duration": 80}));
    let decoded = decode_json(&beacon).unwrap();
    assert_eq!(decoded.unknown_fields, 3);
    assert_eq!(decoded.unknown_event_types, 1);
    assert_eq!(decoded.beacon.events.len(), 9);
    assert!(decoded.rejected_events.is_empty());
}

#[test]
fn malformed_hints_are_dropped_not_fatal() {
    let mut beacon = full();
    beacon["conn"]["rtt"] = json!("fast");
    beacon["dev"]["cores"] = json!(-1);
    beacon["events"][0]["rating"] = json!("great");
    let decoded = decode_json(&beacon).unwrap();
    assert_eq!(decoded.dropped_hints, 3);
    assert_eq!(decoded.beacon.connection.unwrap().rtt_ms, None);
    assert_eq!(decoded.beacon.events.len(), 9);
}

#[test]
fn sequence_and_screen_are_read_and_a_bad_one_only_dropped() {
    let mut beacon = full();
    beacon["seq"] = json!(2);
    beacon["dev"]["sw"] = json!(800);
    beacon["dev"]["sh"] = json!(1280);
    let decoded = decode_json(&beacon).unwrap();
    assert_eq!(decoded.beacon.sequence, Some(2));
    let device = decoded.beacon.device.unwrap();
    assert_eq!(
        (device.screen_width, device.screen_height),
        (Some(800), Some(1280))
    );
    assert_eq!(decoded.unknown_fields, 0);

    // Older scripts send neither.
    let decoded = decode_json(&full()).unwrap();
    assert_eq!(decoded.beacon.sequence, None);

    for bad in [json!(-1), json!(1.5), json!("2"), json!(1e12)] {
        let mut beacon = full();
        beacon["seq"] = bad.clone();
        beacon["dev"]["sw"] = bad.clone();
        let decoded = decode_json(&beacon).unwrap_or_else(|error| panic!("{bad}: {error:?}"));
        assert_eq!(decoded.beacon.sequence, None, "{bad}");
        assert_eq!(decoded.beacon.device.unwrap().screen_width, None, "{bad}");
        assert_eq!(decoded.dropped_hints, 2, "{bad}");
    }
}

#[test]
fn beacon_level_rejections() {
    let cases: Vec<(Value, DecodeReason)> = vec![
        (json!([1, 2]), DecodeReason::InvalidBeacon),
        (json!("beacon"), DecodeReason::InvalidBeacon),
        (with("v", Some(json!(2))), DecodeReason::UnsupportedVersion),
        (
            with("v", Some(json!("1"))),
            DecodeReason::UnsupportedVersion,
        ),
        (with("v", None), DecodeReason::MissingField),
        (with("sid", None), DecodeReason::MissingField),
        (with("events", None), DecodeReason::MissingField),
        (
            with("events", Some(json!({}))),
            DecodeReason::InvalidFieldType,
        ),
        (with("sid", Some(json!(""))), DecodeReason::InvalidId),
        (with("sid", Some(json!("a b"))), DecodeReason::InvalidId),
        (
            with("pid", Some(json!("x".repeat(65)))),
            DecodeReason::InvalidId,
        ),
        (with("pid", Some(json!(42))), DecodeReason::InvalidFieldType),
        (
            with("url", Some(json!("/relative"))),
            DecodeReason::InvalidUrl,
        ),
        (
            with("url", Some(json!("ftp://x.example/"))),
            DecodeReason::InvalidUrl,
        ),
        (
            with("url", Some(json!("https:///nohost"))),
            DecodeReason::InvalidUrl,
        ),
        (
            with("url", Some(json!("https://a.example/x y"))),
            DecodeReason::InvalidUrl,
        ),
        (
            with(
                "url",
                Some(json!(format!("https://a.example/{}", "a".repeat(2048)))),
            ),
            DecodeReason::StringTooLong,
        ),
        (
            with("ref", Some(json!("r".repeat(2049)))),
            DecodeReason::StringTooLong,
        ),
        (with("ref", Some(json!(7))), DecodeReason::InvalidFieldType),
        (
            with("nav", Some(json!("teleport"))),
            DecodeReason::InvalidNavigationType,
        ),
        (
            with("sent", Some(json!(-5))),
            DecodeReason::InvalidTimestamp,
        ),
        (
            with("sent", Some(json!(1e20))),
            DecodeReason::InvalidTimestamp,
        ),
        (
            with("sent", Some(json!("now"))),
            DecodeReason::InvalidFieldType,
        ),
        (
            with(
                "events",
                Some(Value::Array(vec![json!({"type": "custom"}); 257])),
            ),
            DecodeReason::TooManyEvents,
        ),
    ];
    for (input, expected) in cases {
        assert_eq!(beacon_reason(&input), expected, "input: {input}");
    }
    let mut body = b"{\"v\":1,".to_vec();
    let rejection = BeaconDecoder::default().decode(&mut body).unwrap_err();
    assert_eq!(rejection.reason, DecodeReason::MalformedJson);
}

#[test]
fn exactly_the_limits_are_accepted() {
    let at_limit = with(
        "events",
        Some(Value::Array(vec![
            json!({"type": "custom", "name": "n", "value": 1});
            256
        ])),
    );
    assert_eq!(decode_json(&at_limit).unwrap().beacon.events.len(), 256);
    let url = format!(
        "https://a.example/{}",
        "a".repeat(2048 - "https://a.example/".len())
    );
    assert_eq!(
        decode_json(&with("url", Some(json!(url))))
            .unwrap()
            .beacon
            .url
            .len(),
        2048
    );
    assert_eq!(
        decode_json(&with("sid", Some(json!("s".repeat(64)))))
            .unwrap()
            .beacon
            .session_id
            .len(),
        64
    );
}

#[test]
fn event_level_rejections_keep_the_rest() {
    let cases: Vec<(Value, (DecodeReason, &str))> = vec![
        (json!(5), (DecodeReason::InvalidEvent, "")),
        (json!({"name": "LCP"}), (DecodeReason::MissingField, "type")),
        (json!({"type": 3}), (DecodeReason::InvalidFieldType, "type")),
        (
            json!({"type": "vital", "name": "FID", "value": 1, "id": "a"}),
            (DecodeReason::UnknownVitalName, "name"),
        ),
        (
            json!({"type": "vital", "value": 1, "id": "a"}),
            (DecodeReason::MissingField, "name"),
        ),
        (
            json!({"type": "vital", "name": "LCP", "id": "a"}),
            (DecodeReason::MissingField, "value"),
        ),
        (
            json!({"type": "vital", "name": "LCP", "value": 1}),
            (DecodeReason::MissingField, "id"),
        ),
        (
            json!({"type": "vital", "name": "LCP", "value": 1, "id": "has space"}),
            (DecodeReason::InvalidId, "id"),
        ),
        (
            json!({"type": "vital", "name": "LCP", "value": -1, "id": "a"}),
            (DecodeReason::ValueOutOfRange, "value"),
        ),
        (
            json!({"type": "vital", "name": "LCP", "value": 3_600_001, "id": "a"}),
            (DecodeReason::ValueOutOfRange, "value"),
        ),
        (
            json!({"type": "vital", "name": "CLS", "value": 100.5, "id": "a"}),
            (DecodeReason::ValueOutOfRange, "value"),
        ),
        (
            json!({"type": "vital", "name": "INP", "value": "168", "id": "a"}),
            (DecodeReason::InvalidFieldType, "value"),
        ),
        (
            json!({"type": "nav", "dns": -3}),
            (DecodeReason::ValueOutOfRange, "dns"),
        ),
        (
            json!({"type": "nav", "transferSize": 1.5}),
            (DecodeReason::ValueOutOfRange, "transferSize"),
        ),
        (
            json!({"type": "error", "stack": "s".repeat(16 * 1024 + 1)}),
            (DecodeReason::StringTooLong, "stack"),
        ),
        (
            json!({"type": "error", "message": "m".repeat(1025)}),
            (DecodeReason::StringTooLong, "message"),
        ),
        (
            json!({"type": "request", "url": "https://api.example/x", "status": 1000, "duration": 5}),
            (DecodeReason::ValueOutOfRange, "status"),
        ),
        (
            json!({"type": "request", "url": "https://api.example/x"}),
            (DecodeReason::MissingField, "duration"),
        ),
        (
            json!({"type": "custom", "name": "", "value": 1}),
            (DecodeReason::MissingField, "name"),
        ),
    ];
    for (event, expected) in cases {
        assert_eq!(event_rejection(event.clone()), expected, "event: {event}");
    }
}

#[test]
fn a_bad_event_rejects_only_itself() {
    let mut beacon = full();
    beacon["events"][2]["value"] = json!(-1);
    beacon["events"][6] = json!("not an event");
    let decoded = decode_json(&beacon).unwrap();
    assert_eq!(decoded.beacon.events.len(), 7);
    let indexes: Vec<usize> = decoded.rejected_events.iter().map(|r| r.index).collect();
    assert_eq!(indexes, vec![2, 6]);
}

#[test]
fn boundary_values_are_accepted() {
    for (name, value) in [
        ("LCP", 3_600_000.0),
        ("CLS", 100.0),
        ("CLS", 0.0),
        ("TTFB", 0.0),
    ] {
        let event = json!({"type": "vital", "name": name, "value": value, "id": "v1"});
        let decoded = decode_json(&with_event(event)).unwrap();
        assert_eq!(decoded.beacon.events.len(), 1, "{name} {value}");
    }
}

/// Characters that make JSON structure and numbers: mutations built from them reach the parser's
/// corner cases far more often than random bytes do.
const ALPHABET: &[u8] = b"{}[]\":,0123456789.-eEtrufalsn \\x";

#[derive(Debug, Clone)]
enum Mutation {
    Replace(prop::sample::Index, prop::sample::Index),
    Remove(prop::sample::Index),
    Insert(prop::sample::Index, prop::sample::Index),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<prop::sample::Index>(), any::<prop::sample::Index>())
            .prop_map(|(at, with)| Mutation::Replace(at, with)),
        any::<prop::sample::Index>().prop_map(Mutation::Remove),
        (any::<prop::sample::Index>(), any::<prop::sample::Index>())
            .prop_map(|(at, with)| Mutation::Insert(at, with)),
    ]
}

/// The BEACON.md example with one to four mutations applied.
fn mutated_beacon() -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(mutation(), 1..=4).prop_map(|mutations| {
        let mut body = FULL.as_bytes().to_vec();
        for mutation in mutations {
            match mutation {
                Mutation::Replace(at, with) => {
                    let position = at.index(body.len());
                    body[position] = *with.get(ALPHABET);
                }
                Mutation::Remove(at) => {
                    body.remove(at.index(body.len()));
                }
                Mutation::Insert(at, with) => {
                    body.insert(at.index(body.len()), *with.get(ALPHABET))
                }
            }
        }
        body
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(5_000))]

    #[test]
    fn parsers_agree_and_never_panic_on_mutated_beacons(body in mutated_beacon()) {
        parsers_agree_on(&body);
    }
}

/// Both parsers, and the in-place path, give the same answer on `body`; none panics.
fn parsers_agree_on(body: &[u8]) {
    let decoder = BeaconDecoder::default();
    let simd = decoder.decode_with(JsonParser::SimdJson, &mut body.to_vec());
    // The collector's path: parsed in place in the padded body, on the thread's reused tape.
    let mut owned = body.to_vec();
    let in_place = decoder.decode_vec(&mut owned);
    assert_eq!(in_place, simd, "body: {}", String::from_utf8_lossy(body));
    assert_eq!(
        owned.len(),
        body.len(),
        "decode_vec gives the body back at its length"
    );
    let serde = decoder.decode_with(JsonParser::SerdeJson, &mut body.to_vec());
    match (simd, serde) {
        (Ok(simd), Ok(serde)) => {
            // serde_json iterates members sorted, the tape in document order: an event with two
            // bad members may name a different one, so rejections compare by index only.
            let indexes = |decoded: &DecodedBeacon| -> Vec<usize> {
                decoded
                    .rejected_events
                    .iter()
                    .map(|rejection| rejection.index)
                    .collect()
            };
            assert_eq!(indexes(&simd), indexes(&serde));
            assert_eq!(
                simd.beacon,
                serde.beacon,
                "body: {}",
                String::from_utf8_lossy(body)
            );
            assert_eq!(
                (
                    simd.unknown_fields,
                    simd.unknown_event_types,
                    simd.dropped_hints
                ),
                (
                    serde.unknown_fields,
                    serde.unknown_event_types,
                    serde.dropped_hints
                )
            );
        }
        (Err(simd), Err(serde)) => assert_eq!(simd.reason, serde.reason),
        (simd, serde) => {
            // Only number-syntax corner cases may differ between the parsers (both reject or
            // accept the document; neither may panic). Anything else is a decoder bug.
            let both_reasons =
                [&simd, &serde].map(|result| result.as_ref().err().map(|e| e.reason));
            assert!(
                both_reasons.contains(&Some(DecodeReason::MalformedJson)),
                "parsers disagree beyond syntax: {simd:?} vs {serde:?}"
            );
        }
    }
}

#[test]
fn a_tape_node_is_24_bytes() {
    // MAX_KEPT_TAPE_NODES and the scratch docs count in these.
    assert_eq!(std::mem::size_of::<simd_json::Node<'static>>(), 24);
}

#[test]
fn actions_and_business_events_decode_with_their_bounds() {
    let decoded = decode_json(&with(
        "events",
        Some(json!([
            { "type": "action", "name": "Add to cart", "kind": "tap", "dur": 412.5, "errors": 1,
              "requests": 2, "clicks": 4, "frustration": ["rage", "error"] },
            { "type": "action", "name": "<div>", "frustration": ["dead"] },
            { "type": "event", "name": "purchase", "value": 59.9 },
            { "type": "event", "name": "signup" },
        ])),
    ))
    .unwrap();
    assert!(decoded.rejected_events.is_empty());
    assert_eq!(decoded.dropped_hints, 0);
    let kinds: Vec<_> = decoded
        .beacon
        .events
        .iter()
        .map(|event| event.kind.clone().unwrap())
        .collect();
    assert_eq!(
        kinds[0],
        proto::event::Kind::Action(proto::Action {
            name: "Add to cart".into(),
            kind: proto::ActionKind::Tap as i32,
            duration_ms: Some(412.5),
            errors: 1,
            requests: 2,
            clicks: Some(4),
            rage: true,
            dead: false,
            error_click: true,
        })
    );
    assert!(
        matches!(&kinds[1], proto::event::Kind::Action(a) if a.dead && a.duration_ms.is_none() && a.kind == 0)
    );
    assert_eq!(
        kinds[2],
        proto::event::Kind::BusinessEvent(proto::BusinessEvent {
            name: "purchase".into(),
            value: Some(59.9),
        })
    );
    assert_eq!(
        kinds[3],
        proto::event::Kind::BusinessEvent(proto::BusinessEvent {
            name: "signup".into(),
            value: None,
        })
    );

    // At the limits: accepted.
    let hundred = "é".repeat(100);
    for event in [
        json!({"type": "action", "name": hundred, "dur": 10_000, "errors": 10_000}),
        json!({"type": "action", "name": "a", "dur": 0}),
        json!({"type": "event", "name": hundred, "value": 1e9}),
        json!({"type": "event", "name": "e", "value": 0}),
    ] {
        let decoded = decode_json(&with_event(event.clone())).unwrap();
        assert!(decoded.rejected_events.is_empty(), "{event}");
    }
    // Past them: that event is rejected with a reason naming the field.
    let too_long = "é".repeat(101);
    let cases = [
        (
            json!({"type": "action"}),
            (DecodeReason::MissingField, "name"),
        ),
        (
            json!({"type": "action", "name": "  "}),
            (DecodeReason::MissingField, "name"),
        ),
        (
            json!({"type": "action", "name": 5}),
            (DecodeReason::InvalidFieldType, "name"),
        ),
        (
            json!({"type": "action", "name": too_long}),
            (DecodeReason::StringTooLong, "name"),
        ),
        (
            json!({"type": "action", "name": "a", "dur": 10_000.5}),
            (DecodeReason::ValueOutOfRange, "dur"),
        ),
        (
            json!({"type": "action", "name": "a", "dur": -1}),
            (DecodeReason::ValueOutOfRange, "dur"),
        ),
        (
            json!({"type": "action", "name": "a", "errors": 1.5}),
            (DecodeReason::ValueOutOfRange, "errors"),
        ),
        (
            json!({"type": "action", "name": "a", "requests": 10_001}),
            (DecodeReason::ValueOutOfRange, "requests"),
        ),
        (
            json!({"type": "event"}),
            (DecodeReason::MissingField, "name"),
        ),
        (
            json!({"type": "event", "name": "e", "value": 1.5e9}),
            (DecodeReason::ValueOutOfRange, "value"),
        ),
        (
            json!({"type": "event", "name": "e", "value": -5}),
            (DecodeReason::ValueOutOfRange, "value"),
        ),
        (
            json!({"type": "event", "name": "e", "value": "5"}),
            (DecodeReason::InvalidFieldType, "value"),
        ),
    ];
    for (event, expected) in cases {
        assert_eq!(event_rejection(event.clone()), expected, "{event}");
    }
    // Hints (kind, clicks, frustration) that are malformed are dropped and counted; the action stays.
    let decoded = decode_json(&with_event(json!({
        "type": "action", "name": "a", "kind": "hover", "clicks": 0,
        "frustration": ["rage", "angry", 3]
    })))
    .unwrap();
    assert_eq!(decoded.dropped_hints, 4);
    assert!(matches!(
        &decoded.beacon.events[0].kind,
        Some(proto::event::Kind::Action(a)) if a.rage && a.clicks.is_none() && a.kind == 0
    ));
    let decoded = decode_json(&with_event(
        json!({"type": "action", "name": "a", "frustration": "rage"}),
    ))
    .unwrap();
    assert_eq!(decoded.dropped_hints, 1);
}

#[test]
fn release_and_environment_are_read_and_a_malformed_one_only_dropped() {
    let mut beacon = full();
    beacon["rel"] = json!("2026.12.1+abc_123");
    beacon["env"] = json!("production");
    let decoded = decode_json(&beacon).unwrap();
    assert_eq!(decoded.beacon.release, "2026.12.1+abc_123");
    assert_eq!(decoded.beacon.environment, "production");
    assert_eq!((decoded.unknown_fields, decoded.dropped_hints), (0, 0));
    // Older scripts send neither; null is the same as absent.
    let decoded = decode_json(&full()).unwrap();
    assert_eq!(
        (
            decoded.beacon.release.as_str(),
            decoded.beacon.environment.as_str()
        ),
        ("", "")
    );
    let mut beacon = full();
    beacon["rel"] = json!(null);
    assert_eq!(decode_json(&beacon).unwrap().dropped_hints, 0);
    for bad in [
        json!(""),
        json!("a b"),
        json!("x".repeat(65)),
        json!("v1\n"),
        json!("é"),
        json!(12),
        json!(["1.0"]),
    ] {
        let mut beacon = full();
        beacon["rel"] = bad.clone();
        beacon["env"] = bad.clone();
        let decoded = decode_json(&beacon).unwrap_or_else(|error| panic!("{bad}: {error:?}"));
        assert_eq!(decoded.beacon.release, "", "{bad}");
        assert_eq!(decoded.beacon.environment, "", "{bad}");
        assert_eq!(decoded.dropped_hints, 2, "{bad}");
    }
    assert!(is_release_label(&"x".repeat(64)));
    assert!(is_release_label("a-Z_0.9+:@/"));
}

#[test]
fn the_sample_rate_is_read_and_a_malformed_one_only_dropped() {
    let mut beacon = full();
    beacon["sr"] = json!(0.25);
    let decoded = decode_json(&beacon).unwrap();
    assert_eq!(decoded.beacon.sample_rate, Some(0.25));
    assert_eq!(decoded.dropped_hints, 0);
    assert_eq!(decode_json(&full()).unwrap().beacon.sample_rate, None);
    for bad in [json!(0), json!(-0.5), json!(1.5), json!("0.5"), json!([1])] {
        let mut beacon = full();
        beacon["sr"] = bad.clone();
        let decoded = decode_json(&beacon).unwrap_or_else(|error| panic!("{bad}: {error:?}"));
        assert_eq!(decoded.beacon.sample_rate, None, "{bad}");
        assert_eq!(decoded.dropped_hints, 1, "{bad}");
    }
}

#[test]
fn long_frames_decode_with_their_bounds() {
    let event = json!({ "type": "loaf", "count": 3, "blocking": 412.5,
        "scripts": { "https://ads.example:8443": 210, "": 35.5 } });
    let decoded = decode_json(&with_event(event.clone())).unwrap();
    assert!(decoded.rejected_events.is_empty());
    assert_eq!(
        decoded.beacon.events[0].kind,
        Some(proto::event::Kind::LongFrames(proto::LongFrames {
            count: 3,
            blocking_ms: 412.5,
            // In document order (serde_json writes the keys sorted).
            scripts: vec![
                proto::ScriptTime {
                    origin: String::new(),
                    duration_ms: 35.5,
                },
                proto::ScriptTime {
                    origin: "https://ads.example:8443".into(),
                    duration_ms: 210.0,
                },
            ],
        }))
    );
    // It renders back to what was sent.
    let rendered = beacon_to_json(&decoded.beacon);
    assert_eq!(
        numbers_as_f64(rendered["events"][0].clone()),
        numbers_as_f64(event)
    );
    // Without scripts or blocking time (a browser that attributes none): kept.
    let bare = decode_json(&with_event(json!({"type": "loaf", "count": 1}))).unwrap();
    assert!(bare.rejected_events.is_empty());

    let many: serde_json::Map<String, Value> = (0..=MAX_ORIGINS)
        .map(|index| (format!("https://{index}.example"), json!(1)))
        .collect();
    let cases = [
        (
            json!({"type": "loaf"}),
            (DecodeReason::MissingField, "count"),
        ),
        (
            json!({"type": "loaf", "count": 0}),
            (DecodeReason::ValueOutOfRange, "count"),
        ),
        (
            json!({"type": "loaf", "count": 1.5}),
            (DecodeReason::ValueOutOfRange, "count"),
        ),
        (
            json!({"type": "loaf", "count": 10_001}),
            (DecodeReason::ValueOutOfRange, "count"),
        ),
        (
            json!({"type": "loaf", "count": 1, "blocking": -1}),
            (DecodeReason::ValueOutOfRange, "blocking"),
        ),
        (
            json!({"type": "loaf", "count": 1, "scripts": [1]}),
            (DecodeReason::InvalidFieldType, "scripts"),
        ),
        (
            json!({"type": "loaf", "count": 1, "scripts": {"https://a.example": "x"}}),
            (DecodeReason::InvalidFieldType, "scripts"),
        ),
        (
            json!({"type": "loaf", "count": 1, "scripts": {"https://a.example": 4e6}}),
            (DecodeReason::ValueOutOfRange, "scripts"),
        ),
        (
            json!({"type": "loaf", "count": 1, "scripts": {"x".repeat(301): 1}}),
            (DecodeReason::StringTooLong, "scripts"),
        ),
        (
            json!({"type": "loaf", "count": 1, "scripts": many}),
            (DecodeReason::ValueOutOfRange, "scripts"),
        ),
    ];
    for (event, expected) in cases {
        assert_eq!(event_rejection(event.clone()), expected, "{event}");
    }
}

#[test]
fn resources_decode_with_their_bounds() {
    let event = json!({ "type": "resources",
        "origins": {
            "https://shop.example": { "bytes": 48213, "untimed": 0, "durations": [12.5, 40, 3] },
            "https://cdn.example": { "bytes": 0, "untimed": 2, "durations": [80, 95] },
        },
        "types": { "script": 2, "img": 3 } });
    let decoded = decode_json(&with_event(event.clone())).unwrap();
    assert!(decoded.rejected_events.is_empty());
    assert_eq!(
        decoded.beacon.events[0].kind,
        Some(proto::event::Kind::Resources(proto::Resources {
            // In document order (serde_json writes the keys sorted).
            origins: vec![
                proto::OriginResources {
                    origin: "https://cdn.example".into(),
                    transfer_bytes: 0,
                    untimed: 2,
                    durations_ms: vec![80.0, 95.0],
                },
                proto::OriginResources {
                    origin: "https://shop.example".into(),
                    transfer_bytes: 48213,
                    untimed: 0,
                    durations_ms: vec![12.5, 40.0, 3.0],
                },
            ],
            types: vec![
                proto::TypeCount {
                    r#type: "img".into(),
                    count: 3,
                },
                proto::TypeCount {
                    r#type: "script".into(),
                    count: 2,
                },
            ],
        }))
    );
    let rendered = beacon_to_json(&decoded.beacon);
    assert_eq!(
        numbers_as_f64(rendered["events"][0].clone()),
        numbers_as_f64(event)
    );

    let origins =
        |summary: Value| json!({"type": "resources", "origins": {"https://a.example": summary}});
    let many: serde_json::Map<String, Value> = (0..=MAX_ORIGINS)
        .map(|index| {
            (
                format!("https://{index}.example"),
                json!({"durations": [1]}),
            )
        })
        .collect();
    let cases = [
        (
            json!({"type": "resources", "origins": []}),
            (DecodeReason::InvalidFieldType, "origins"),
        ),
        (
            json!({"type": "resources", "types": {"img": -1}}),
            (DecodeReason::ValueOutOfRange, "types"),
        ),
        (
            json!({"type": "resources", "types": {"x".repeat(33): 1}}),
            (DecodeReason::StringTooLong, "types"),
        ),
        (
            origins(json!(3)),
            (DecodeReason::InvalidFieldType, "origins"),
        ),
        (
            origins(json!({"bytes": 1})),
            (DecodeReason::MissingField, "durations"),
        ),
        (
            origins(json!({"durations": []})),
            (DecodeReason::ValueOutOfRange, "durations"),
        ),
        (
            origins(json!({"durations": [-1]})),
            (DecodeReason::ValueOutOfRange, "durations"),
        ),
        (
            origins(json!({"durations": "1"})),
            (DecodeReason::InvalidFieldType, "durations"),
        ),
        (
            origins(json!({"durations": [1], "untimed": 2})),
            (DecodeReason::ValueOutOfRange, "untimed"),
        ),
        (
            origins(json!({"durations": [1], "bytes": 1.5})),
            (DecodeReason::ValueOutOfRange, "bytes"),
        ),
        (
            origins(json!({"durations": vec![1; MAX_RESOURCES_PER_ORIGIN + 1]})),
            (DecodeReason::ValueOutOfRange, "durations"),
        ),
        (
            json!({"type": "resources", "origins": many}),
            (DecodeReason::ValueOutOfRange, "origins"),
        ),
    ];
    for (event, expected) in cases {
        assert_eq!(event_rejection(event.clone()), expected, "{event}");
    }
}

#[test]
fn inp_longest_script_is_read_and_a_malformed_one_only_dropped() {
    let inp = |attr: Value| json!({ "type": "vital", "name": "INP", "value": 168, "id": "v5-1", "attr": attr });
    let decoded = decode_json(&with_event(inp(json!({
        "target": "button#buy", "script": "https://tags.example/t.js", "scriptDuration": 131.5
    }))))
    .unwrap();
    let Some(proto::event::Kind::Vital(vital)) = &decoded.beacon.events[0].kind else {
        panic!("a vital");
    };
    let attribution = vital.attribution.as_ref().unwrap();
    assert_eq!(attribution.script, "https://tags.example/t.js");
    assert_eq!(attribution.script_duration_ms, Some(131.5));
    let rendered = beacon_to_json(&decoded.beacon);
    assert_eq!(
        rendered["events"][0]["attr"]["script"],
        "https://tags.example/t.js"
    );
    assert_eq!(rendered["events"][0]["attr"]["scriptDuration"], 131.5);
    // Hints: a malformed member is dropped and counted, the vital kept.
    let decoded = decode_json(&with_event(inp(
        json!({ "script": 3, "scriptDuration": -1 }),
    )))
    .unwrap();
    assert_eq!(decoded.beacon.events.len(), 1);
    assert_eq!(decoded.dropped_hints, 2);
}

const TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const TRACE_BYTES: [u8; 16] = [
    0x4b, 0xf9, 0x2f, 0x35, 0x77, 0xb3, 0x4d, 0xa6, 0xa3, 0xce, 0x92, 0x9d, 0x0e, 0x0e, 0x47, 0x36,
];

#[test]
fn calls_decode_with_their_bounds_and_a_bad_trace_is_only_dropped() {
    let event = json!({ "type": "calls", "endpoints": {
        "GET https://api.example.com/items/42": { "durations": [120.5, 80], "status": [200, 404],
                                                   "trace": TRACE, "traced": 120.5 },
        "POST https://shop.example.com/api/cart": { "durations": [300], "status": [0] } } });
    let decoded = decode_json(&with_event(event.clone())).unwrap();
    assert!(decoded.rejected_events.is_empty());
    assert_eq!(decoded.dropped_hints, 0);
    assert_eq!(
        decoded.beacon.events[0].kind,
        Some(proto::event::Kind::Calls(proto::Calls {
            endpoints: vec![
                proto::EndpointCalls {
                    method: "GET".into(),
                    url: "https://api.example.com/items/42".into(),
                    endpoint: String::new(),
                    durations_ms: vec![120.5, 80.0],
                    statuses: vec![200, 404],
                    trace_id: TRACE_BYTES.to_vec(),
                    traced_ms: Some(120.5),
                },
                proto::EndpointCalls {
                    method: "POST".into(),
                    url: "https://shop.example.com/api/cart".into(),
                    durations_ms: vec![300.0],
                    statuses: vec![0],
                    ..proto::EndpointCalls::default()
                },
            ],
        }))
    );
    let rendered = beacon_to_json(&decoded.beacon);
    assert_eq!(
        numbers_as_f64(rendered["events"][0].clone()),
        numbers_as_f64(event)
    );

    // The trace is a link: a malformed or half one is a dropped hint, the calls kept.
    for trace in [
        json!({"trace": "00000000000000000000000000000000", "traced": 1}),
        json!({"trace": "4bf92f3577b34da6a3ce929d0e0e47", "traced": 1}),
        json!({"trace": "zzf92f3577b34da6a3ce929d0e0e4736", "traced": 1}),
        json!({"trace": TRACE}),
        json!({"traced": 1}),
        json!({"trace": TRACE, "traced": -1}),
    ] {
        let mut summary = json!({"durations": [1], "status": [200]});
        for (key, value) in trace.as_object().unwrap() {
            summary[key] = value.clone();
        }
        let decoded = decode_json(&with_event(
            json!({"type": "calls", "endpoints": {"GET /x": summary}}),
        ))
        .unwrap();
        let Some(proto::event::Kind::Calls(calls)) = &decoded.beacon.events[0].kind else {
            panic!("the calls are kept with {trace}");
        };
        assert!(calls.endpoints[0].trace_id.is_empty(), "{trace}");
        assert_eq!(calls.endpoints[0].traced_ms, None, "{trace}");
        assert_eq!(decoded.dropped_hints, 1, "{trace}");
    }

    let endpoint = |summary: Value| json!({"type": "calls", "endpoints": {"GET /x": summary}});
    let many: serde_json::Map<String, Value> = (0..=MAX_ENDPOINTS)
        .map(|index| {
            (
                format!("GET /{index}"),
                json!({"durations": [1], "status": [200]}),
            )
        })
        .collect();
    let cases = [
        (
            json!({"type": "calls", "endpoints": []}),
            (DecodeReason::InvalidFieldType, "endpoints"),
        ),
        (
            json!({"type": "calls", "endpoints": {"GET": {"durations": [1], "status": [1]}}}),
            (DecodeReason::InvalidFieldType, "endpoints"),
        ),
        (
            json!({"type": "calls", "endpoints": {" /x": {"durations": [1], "status": [1]}}}),
            (DecodeReason::InvalidFieldType, "endpoints"),
        ),
        (
            json!({"type": "calls", "endpoints": {format!("{} /x", "M".repeat(33)): {"durations": [1], "status": [1]}}}),
            (DecodeReason::StringTooLong, "endpoints"),
        ),
        (
            json!({"type": "calls", "endpoints": {format!("GET /{}", "x".repeat(2048)): {"durations": [1], "status": [1]}}}),
            (DecodeReason::StringTooLong, "endpoints"),
        ),
        (
            endpoint(json!(3)),
            (DecodeReason::InvalidFieldType, "endpoints"),
        ),
        (
            endpoint(json!({"status": [200]})),
            (DecodeReason::MissingField, "durations"),
        ),
        (
            endpoint(json!({"durations": [], "status": []})),
            (DecodeReason::MissingField, "durations"),
        ),
        (
            endpoint(json!({"durations": [1, 2], "status": [200]})),
            (DecodeReason::ValueOutOfRange, "status"),
        ),
        (
            endpoint(json!({"durations": [1]})),
            (DecodeReason::ValueOutOfRange, "status"),
        ),
        (
            endpoint(json!({"durations": [-1], "status": [200]})),
            (DecodeReason::ValueOutOfRange, "durations"),
        ),
        (
            endpoint(json!({"durations": [1], "status": [1000]})),
            (DecodeReason::ValueOutOfRange, "status"),
        ),
        (
            endpoint(json!({"durations": [1], "status": ["200"]})),
            (DecodeReason::InvalidFieldType, "status"),
        ),
        (
            endpoint(json!({"durations": vec![1; MAX_CALLS_PER_ENDPOINT + 1], "status": [200]})),
            (DecodeReason::ValueOutOfRange, "durations"),
        ),
        (
            json!({"type": "calls", "endpoints": many}),
            (DecodeReason::ValueOutOfRange, "endpoints"),
        ),
    ];
    for (event, expected) in cases {
        assert_eq!(event_rejection(event.clone()), expected, "{event}");
    }
}

#[test]
fn the_page_loads_trace_is_read_and_a_malformed_one_only_dropped() {
    let decoded = decode_json(&with("trace", Some(json!(TRACE)))).unwrap();
    assert_eq!(decoded.beacon.trace_id, TRACE_BYTES);
    assert_eq!(decoded.dropped_hints, 0);
    assert_eq!(beacon_to_json(&decoded.beacon)["trace"], TRACE);
    // Upper-case digits name the same trace.
    let upper = decode_json(&with("trace", Some(json!(TRACE.to_uppercase())))).unwrap();
    assert_eq!(upper.beacon.trace_id, TRACE_BYTES);
    for bad in [
        json!("00000000000000000000000000000000"),
        json!("4bf92f"),
        json!(42),
        json!(format!("{TRACE}00")),
    ] {
        let decoded = decode_json(&with("trace", Some(bad.clone()))).unwrap();
        assert!(decoded.beacon.trace_id.is_empty(), "{bad}");
        assert_eq!(decoded.dropped_hints, 1, "{bad}");
    }
}

#[test]
fn the_id_byte_table_is_the_id_alphabets() {
    for byte in 0..=u8::MAX {
        let session = byte.is_ascii_alphanumeric() || byte == b'_' || byte == b'-';
        assert_eq!(is_id_char(byte), session, "{byte:#04x}");
        let metric = session || byte == b'.' || byte == b':';
        assert_eq!(
            ID_CHARS[usize::from(byte)] & METRIC_ID != 0,
            metric,
            "{byte:#04x}"
        );
    }
}
