//! The Faro translation on payloads the Faro Web SDK 2.12.1 sent from Chromium 156 (one page load:
//! a first batch with the navigation event and TTFB/FCP, a second with LCP and a thrown error), and
//! on malformed ones.

use super::*;

const BATCH_1: &str = include_str!("../../../fixtures/faro_batch_1.json");
const BATCH_2: &str = include_str!("../../../fixtures/faro_batch_2.json");

const FACTS: RequestFacts<'static> = RequestFacts {
    referer: None,
    received_at_ms: 1_796_195_350_000,
};

fn native(payload: &str) -> (Value, Translation) {
    let translation = translate(payload.as_bytes(), &FACTS, None, 256).unwrap();
    assert_eq!(translation.beacons.len(), 1, "one beacon per payload");
    let beacon = serde_json::from_slice(&translation.beacons[0].json).unwrap();
    (beacon, translation)
}

fn event<'a>(beacon: &'a Value, kind: &str, name: Option<&str>) -> &'a Value {
    beacon["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|event| event["type"] == kind && name.is_none_or(|name| event["name"] == name))
        .unwrap_or_else(|| panic!("no {kind} {name:?} in {beacon}"))
}

#[test]
fn both_batches_of_one_page_load_share_its_page_view_and_session() {
    let (first, first_translation) = native(BATCH_1);
    let (second, second_translation) = native(BATCH_2);
    assert_eq!(first["pid"], "ijBACa67LJ");
    assert_eq!(second["pid"], "ijBACa67LJ");
    assert_eq!(first["sid"], "MeNYxRdcCr");
    assert_eq!(second["sid"], "MeNYxRdcCr");
    assert_eq!(first["url"], "http://t.test/");
    assert_eq!(first["nav"], "navigate");
    assert_eq!(first_translation.beacons[0].counts_page_view, Some(true));
    assert_eq!(second_translation.beacons[0].counts_page_view, Some(true));
    // session_start is not translated; it is counted.
    assert_eq!(first_translation.rejected, [DecodeReason::UnknownEventType]);
    assert!(second_translation.rejected.is_empty());
}

#[test]
fn vitals_keep_their_id_value_rating_and_attribution() {
    let (first, _) = native(BATCH_1);
    let ttfb = event(&first, "vital", Some("TTFB"));
    assert_eq!(ttfb["id"], "v6-1796195346935-6999510414801");
    assert_eq!(ttfb["value"], 26.200000002980232);
    assert_eq!(ttfb["rating"], "good");
    let (second, _) = native(BATCH_2);
    let lcp = event(&second, "vital", Some("LCP"));
    assert_eq!(lcp["value"], 292);
    assert_eq!(lcp["attr"]["target"], "html>body>h1");
    assert_eq!(lcp["attr"]["renderDelay"], 265.79999999701977);
    assert_eq!(lcp["attr"]["ttfb"], 26.200000002980232);
}

#[test]
fn the_navigation_event_becomes_navigation_timing() {
    let (first, _) = native(BATCH_1);
    let nav = event(&first, "nav", None);
    assert_eq!(nav["ttfb"], 26.0);
    assert_eq!(nav["dns"], 0.0);
    assert_eq!(nav["domComplete"], 254.0);
    assert_eq!(nav["domInteractive"], 251.0);
    assert_eq!(nav["load"], 254.0);
    assert_eq!(nav["transferSize"], 121_765);
    // An http page: Faro's tlsNegotiationTime is not a TLS time there.
    assert!(nav.get("tls").is_none(), "{nav}");
}

#[test]
fn an_exception_becomes_an_error_with_its_top_frame_and_stack() {
    let (second, _) = native(BATCH_2);
    let error = event(&second, "error", None);
    assert_eq!(error["kind"], "error");
    assert_eq!(error["message"], "TypeError: boom");
    assert_eq!(error["source"], "http://t.test/");
    assert_eq!(error["line"], 23);
    assert_eq!(error["col"], 215);
    assert_eq!(
        error["stack"],
        "at HTMLButtonElement.onclick (http://t.test/:23:215)"
    );
}

#[test]
fn a_batch_without_a_navigation_id_joins_by_session_and_url_and_counts_no_page_view() {
    let payload = json!({
        "meta": {"page": {"url": "https://shop.example/"}, "session": {"id": "S1"}},
        "exceptions": [{"type": "Error", "value": "late", "stacktrace": {"frames": []}}],
        "logs": [{"message": "hello", "level": "info"}],
    });
    let translation = translate(payload.to_string().as_bytes(), &FACTS, None, 256).unwrap();
    let beacon: Value = serde_json::from_slice(&translation.beacons[0].json).unwrap();
    assert!(beacon["pid"].as_str().unwrap().starts_with("faro-"));
    assert_eq!(beacon["sid"], "S1");
    assert_eq!(translation.beacons[0].counts_page_view, Some(false));
    assert_eq!(translation.rejected, [DecodeReason::UnknownEventType]);
    // The same session and URL give the same page view on every collector.
    let again = translate(payload.to_string().as_bytes(), &FACTS, None, 256).unwrap();
    assert_eq!(again.beacons[0].json, translation.beacons[0].json);
}

#[test]
fn a_page_id_the_site_sets_is_the_page_view() {
    let payload = json!({
        "meta": {"page": {"url": "https://shop.example/", "id": "checkout-7"}, "session": {"id": "S1"}},
        "exceptions": [{"type": "Error", "value": "late"}],
    });
    let translation = translate(payload.to_string().as_bytes(), &FACTS, None, 256).unwrap();
    let beacon: Value = serde_json::from_slice(&translation.beacons[0].json).unwrap();
    assert_eq!(beacon["pid"], "checkout-7");
    assert_eq!(translation.beacons[0].counts_page_view, Some(true));
}

#[test]
fn the_session_header_and_the_referer_fill_in_for_meta() {
    let payload = json!({"meta": {}, "measurements": []});
    let facts = RequestFacts {
        referer: Some("https://shop.example/cart"),
        ..FACTS
    };
    let translation = translate(payload.to_string().as_bytes(), &facts, Some("HDR"), 256).unwrap();
    let beacon: Value = serde_json::from_slice(&translation.beacons[0].json).unwrap();
    assert_eq!(beacon["sid"], "HDR");
    assert_eq!(beacon["url"], "https://shop.example/cart");
}

#[test]
fn malformed_payloads_are_refused_with_a_reason() {
    let huge = json!({"meta": {"page": {"url": "https://a.example/"}},
                      "logs": vec![json!({"message": "x"}); 257]})
    .to_string();
    let cases: [(&str, DecodeReason); 6] = [
        ("not json", DecodeReason::MalformedJson),
        ("[1]", DecodeReason::InvalidBeacon),
        (r#"{"measurements": []}"#, DecodeReason::MissingField),
        (r#"{"meta": 3}"#, DecodeReason::InvalidFieldType),
        (
            r#"{"meta": {"page": {"url": "https://a.example/"}}, "exceptions": {}}"#,
            DecodeReason::InvalidFieldType,
        ),
        (&huge, DecodeReason::TooManyEvents),
    ];
    for (payload, reason) in cases {
        let error = translate(payload.as_bytes(), &FACTS, None, 256).unwrap_err();
        assert_eq!(
            error.reason,
            reason,
            "{}",
            &payload[..payload.len().min(80)]
        );
    }
    // No URL anywhere.
    let error = translate(br#"{"meta": {}}"#, &FACTS, None, 256).unwrap_err();
    assert_eq!(error.reason, DecodeReason::MissingField);
    // Items of the wrong shape cost only themselves.
    let payload = json!({"meta": {"page": {"url": "https://a.example/"}},
                         "exceptions": [7], "measurements": [{"type": "web-vitals", "values": {}}],
                         "events": [{"name": "faro.performance.resource",
                                     "attributes": {"initiatorType": "img", "name": "x"}}]});
    let translation = translate(payload.to_string().as_bytes(), &FACTS, None, 256).unwrap();
    assert_eq!(
        translation.rejected,
        [
            DecodeReason::UnknownEventType,
            DecodeReason::InvalidEvent,
            DecodeReason::UnknownEventType
        ]
    );
}

#[test]
fn fetch_and_xhr_resources_become_requests() {
    let payload = json!({"meta": {"page": {"url": "https://a.example/"}},
        "events": [{"name": "faro.performance.resource", "attributes": {
            "initiatorType": "fetch", "name": "https://api.example/cart", "duration": "812",
            "responseStatus": "500", "faroNavigationId": "N1"}}]});
    let (beacon, translation) = native(&payload.to_string());
    assert!(translation.rejected.is_empty());
    assert_eq!(beacon["pid"], "N1");
    let request = event(&beacon, "request", None);
    assert_eq!(request["url"], "https://api.example/cart");
    assert_eq!(request["status"], 500);
    assert_eq!(request["duration"], 812.0);
}

#[test]
fn the_mapping_names_every_translated_field() {
    let documented: String = MAPPING
        .iter()
        .map(|(field, meaning)| format!("{field} {meaning}"))
        .collect();
    for field in [
        "navigation_entry_id",
        "faroNavigationId",
        "meta.page.url",
        "meta.session.id",
        "exceptions",
        "faro.performance.navigation",
        "faro.performance.resource",
        "logs",
        "traces",
    ] {
        assert!(documented.contains(field), "{field} is not in MAPPING");
    }
}
