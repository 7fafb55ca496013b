//! Other agents' payloads against the real `rum` binary over loopback: web-vitals' metric objects
//! posted as its README's `sendToAnalytics` does become beacons on the native path, count page
//! views from LCP alone, keep a re-sent metric once with its latest value, and refuse malformed
//! payloads with a reason while keeping everything else.

#[path = "harness/http.rs"]
mod http;
#[path = "harness/rum.rs"]
mod rum;
#[path = "harness/wait.rs"]
mod wait;

use std::time::Duration;

use rum::Rum;

/// One page load in Chromium 156 with web-vitals 5.3.0 (`JSON.stringify(metric)`), entries trimmed.
const TTFB: &str = r#"{"name":"TTFB","value":276.9,"rating":"good","delta":276.9,"entries":[{"entryType":"navigation","startTime":0}],"id":"v5-1796194241883-8047688214015","navigationType":"navigate"}"#;
const LCP: &str = r#"{"name":"LCP","value":364,"rating":"good","delta":364,"entries":[{"entryType":"largest-contentful-paint","startTime":364}],"id":"v5-1796194241881-6840620664844","navigationType":"navigate"}"#;
const CLS: &str = r#"{"name":"CLS","value":0.02,"rating":"good","delta":0.02,"entries":[],"id":"v5-1796194241935-9315844640221","navigationType":"navigate"}"#;
const INP: &str = r#"{"name":"INP","value":72,"rating":"good","delta":72,"entries":[],"id":"v5-1796194241883-1021576206475","navigationType":"navigate"}"#;
const INP_LATER: &str = r#"{"name":"INP","value":240,"rating":"needs-improvement","delta":168,"entries":[],"id":"v5-1796194241883-1021576206475","navigationType":"navigate"}"#;

const PAGE: &str = "https://shop.example/products/42?utm=x";

fn post(rum: &Rum, content_type: &str, body: &str) -> http::HttpResponse {
    http::request(
        rum.public,
        "POST",
        "/rum/v1/web-vitals?key=demo",
        &[
            ("Content-Type", content_type.to_owned()),
            ("Content-Length", body.len().to_string()),
            ("Referer", PAGE.to_owned()),
        ],
        body.as_bytes(),
    )
}

#[test]
fn web_vitals_metrics_become_beacons_and_lcp_counts_the_page_view() {
    let rum = Rum::standalone().unwrap();
    // sendBeacon (text/plain), one metric per request, and a keepalive fetch with an array.
    for metric in [TTFB, LCP, CLS, INP] {
        let response = post(&rum, "text/plain;charset=UTF-8", metric);
        assert_eq!(response.status, 202, "{}", response.text());
    }
    let response = post(&rum, "application/json", &format!("[{INP_LATER}]"));
    assert_eq!(response.status, 202, "{}", response.text());
    assert_eq!(response.json()["accepted"], 1);

    wait::wait_until(
        "the aggregator's page view",
        Duration::from_secs(10),
        || rum.metric(r#"rum_page_views_total{view="site",site="demo"}"#) == 1.0,
    );
    let metrics = rum.metrics();
    let samples = |vital: &str| {
        metrics
            .get(&format!(
                r#"rum_{vital}_window_samples{{view="site",site="demo",window="5m"}}"#
            ))
            .copied()
            .unwrap_or(0.0)
    };
    for vital in ["lcp", "cls", "inp", "ttfb"] {
        assert_eq!(samples(vital), 1.0, "{vital}: one sample each");
    }
    // The re-sent INP replaced the first value (p99 of one 240 ms sample).
    let inp = metrics
        .get(r#"rum_inp_window_seconds{view="site",site="demo",window="5m",quantile="0.99"}"#)
        .copied()
        .unwrap_or(0.0);
    assert!((0.24..=0.2424).contains(&inp), "INP {inp}");
    assert_eq!(rum.metric("rum_collector_beacons_accepted_total"), 5.0);
    assert_eq!(rum.metric("rum_collector_beacons_received_total"), 5.0);
    assert_eq!(
        rum.metric(
            r#"rum_collector_agent_payloads_total{agent="web_vitals",outcome="translated"}"#
        ),
        5.0
    );
}

#[test]
fn malformed_web_vitals_payloads_are_refused_with_a_reason_and_lose_nothing_else() {
    let rum = Rum::standalone().unwrap();
    let cases = [
        ("not json", 400, "malformed_json"),
        ("\"LCP\"", 400, "invalid_beacon"),
        (r#"{"name":"LCP","value":1}"#, 400, "missing_field"),
        (
            r#"{"name":"LCP","value":"fast","id":"v5-1-2"}"#,
            400,
            "invalid_field_type",
        ),
    ];
    for (body, status, reason) in cases {
        let response = post(&rum, "text/plain", body);
        assert_eq!(response.status, status, "{body}: {}", response.text());
        assert_eq!(response.json()["error"], reason, "{body}");
    }
    let huge = format!("[{}]", vec![CLS; 257].join(","));
    let response = post(&rum, "text/plain", &huge);
    assert_eq!(response.json()["error"], "too_many_events");

    // A bad metric beside good ones costs only itself.
    let mixed = format!(r#"[{LCP}, 7, {{"name":"FID","value":3,"id":"v3-1-2"}}, {CLS}]"#);
    let response = post(&rum, "text/plain", &mixed);
    assert_eq!(response.status, 202, "{}", response.text());
    assert_eq!(response.json()["accepted"], 2);
    assert_eq!(response.json()["rejected"], 2);
    assert_eq!(
        rum.metric(r#"rum_dropped_total{stage="edge",reason="invalid_event",item="event"}"#),
        1.0
    );
    // FID (web-vitals 3) is a metric the native format does not have: refused like an event.
    assert_eq!(
        rum.metric(r#"rum_dropped_total{stage="edge",reason="unknown_vital_name",item="event"}"#),
        1.0
    );
    // The ledger still balances: every beacon received ended accepted or refused.
    let refused: f64 = rum
        .metrics()
        .iter()
        .filter(|(key, _)| {
            key.starts_with("rum_dropped_total{stage=\"edge\"") && key.contains("item=\"beacon\"")
        })
        .map(|(_, value)| value)
        .sum();
    assert_eq!(
        rum.metric("rum_collector_beacons_received_total"),
        rum.metric("rum_collector_beacons_accepted_total") + refused
    );
}

/// What the Faro Web SDK 2.12.1 sent from Chromium 156 for one page load, in two batches.
const FARO_BATCH_1: &str = include_str!("../crates/rum-collector/fixtures/faro_batch_1.json");
const FARO_BATCH_2: &str = include_str!("../crates/rum-collector/fixtures/faro_batch_2.json");

fn post_faro(rum: &Rum, path: &str, key: Option<&str>, body: &str) -> http::HttpResponse {
    let mut headers = vec![
        ("Content-Type", "application/json".to_owned()),
        ("Content-Length", body.len().to_string()),
        ("x-faro-session-id", "MeNYxRdcCr".to_owned()),
    ];
    if let Some(key) = key {
        headers.push(("x-api-key", key.to_owned()));
    }
    http::request(rum.public, "POST", path, &headers, body.as_bytes())
}

#[test]
fn faro_batches_of_one_page_load_count_one_page_view_with_its_vitals_error_and_timing() {
    let rum = Rum::standalone().unwrap();
    let response = post_faro(&rum, "/collect", Some("demo"), FARO_BATCH_1);
    assert_eq!(response.status, 202, "{}", response.text());
    // The key in the path works too (`/collect/{app_key}`).
    let response = post_faro(&rum, "/collect/demo", None, FARO_BATCH_2);
    assert_eq!(response.status, 202, "{}", response.text());

    wait::wait_until(
        "the aggregator's page view",
        Duration::from_secs(10),
        || rum.metric(r#"rum_lcp_window_samples{view="site",site="demo",window="5m"}"#) == 1.0,
    );
    let metrics = rum.metrics();
    let value = |key: &str| metrics.get(key).copied().unwrap_or(0.0);
    assert_eq!(
        value(r#"rum_page_views_total{view="site",site="demo"}"#),
        1.0
    );
    for vital in ["lcp", "fcp", "ttfb", "nav_load"] {
        assert_eq!(
            value(&format!(
                r#"rum_{vital}_window_samples{{view="site",site="demo",window="5m"}}"#
            )),
            1.0,
            "{vital}"
        );
    }
    let lcp =
        value(r#"rum_lcp_window_seconds{view="site",site="demo",window="5m",quantile="0.5"}"#);
    assert!((0.292..=0.2953).contains(&lcp), "LCP {lcp}");
    assert_eq!(
        value(r#"rum_errors_total{view="site",site="demo",kind="error"}"#),
        1.0
    );
    assert_eq!(
        value(r#"rum_collector_agent_payloads_total{agent="faro",outcome="translated"}"#),
        2.0
    );
    // session_start is not translated: counted, not lost silently.
    assert_eq!(
        value(r#"rum_dropped_total{stage="edge",reason="unknown_event_type",item="event"}"#),
        1.0
    );
}

#[test]
fn faro_keys_preflights_and_malformed_payloads() {
    let rum = Rum::standalone().unwrap();
    assert_eq!(
        post_faro(&rum, "/collect", None, FARO_BATCH_1).json()["error"],
        "missing_key"
    );
    assert_eq!(
        post_faro(&rum, "/collect", Some("nope"), FARO_BATCH_1).json()["error"],
        "unknown_key"
    );
    assert_eq!(
        post_faro(&rum, "/collect", Some("demo"), "{\"meta\": 1}").json()["error"],
        "invalid_field_type"
    );
    assert_eq!(
        post_faro(&rum, "/collect", Some("demo"), "[]").json()["error"],
        "invalid_beacon"
    );
    // A preflight carries no x-api-key: answered for an origin a site allows, with Faro's headers.
    let preflight = http::request(
        rum.public,
        "OPTIONS",
        "/collect",
        &[
            ("Origin", "https://shop.example".to_owned()),
            ("Access-Control-Request-Method", "POST".to_owned()),
            (
                "Access-Control-Request-Headers",
                "content-type,x-api-key,x-faro-session-id".to_owned(),
            ),
        ],
        b"",
    );
    assert_eq!(preflight.status, 204);
    let allowed = preflight
        .header("access-control-allow-headers")
        .unwrap_or_default()
        .to_owned();
    assert!(
        allowed.contains("x-api-key")
            && allowed.contains("x-faro-session-id")
            && allowed.contains("idempotency-key"),
        "{allowed}"
    );
}
