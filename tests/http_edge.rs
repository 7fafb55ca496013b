//! The collector's HTTP contract, tested against the real `rum` binary over loopback: every rejection
//! reason with its status and the counters it moves, CORS preflight, partial accept, gzip, the admin
//! endpoints, a stalled client, graceful shutdown and `rum check-config`.

#[path = "harness/http.rs"]
mod http;
#[path = "harness/rum.rs"]
mod rum;
#[path = "harness/wait.rs"]
mod wait;

use std::io::Write;

use rum::{Rum, RumOptions};
use serde_json::{Value, json};

const FULL: &str = include_str!("../crates/rum-schema/fixtures/beacon_full.json");

fn full() -> Value {
    serde_json::from_str(FULL).unwrap()
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    encoder.write_all(data).unwrap();
    encoder.finish().unwrap()
}

const TEXT_PLAIN: (&str, &str) = ("Content-Type", "text/plain;charset=UTF-8");

/// A site that only accepts its own origin, beside the demo site.
const RESTRICTED_CONFIG: &str = r#"
[[sites]]
id = "shop"
keys = ["shop-key"]
allowed_origins = ["https://shop.example.com"]

[[sites]]
id = "demo"
keys = ["demo"]
allowed_origins = ["*"]
"#;

fn restricted() -> Rum {
    Rum::start(RumOptions {
        mode: "standalone",
        config_toml: Some(RESTRICTED_CONFIG),
        ..RumOptions::default()
    })
    .unwrap()
}

#[test]
fn accepts_the_beacon_md_example_and_counts_it() {
    let rum = Rum::standalone().unwrap();
    let response = rum.send(FULL.as_bytes());
    assert_eq!(response.status, 202, "{}", response.text());
    assert_eq!(response.json(), json!({"accepted": 9, "rejected": []}));
    assert_eq!(response.header("vary"), Some("Origin"));

    let metrics = rum.metrics();
    assert_eq!(metrics["rum_collector_beacons_accepted_total"], 1.0);
    assert_eq!(metrics["rum_collector_requests_total{status=\"202\"}"], 1.0);
    assert_eq!(
        metrics["rum_collector_events_accepted_total{type=\"vital\"}"],
        5.0
    );
    for event_type in ["nav", "error", "request", "custom"] {
        assert_eq!(
            metrics[&format!("rum_collector_events_accepted_total{{type=\"{event_type}\"}}")],
            1.0
        );
    }
    // The channel's consumer (the aggregator task) takes the beacon after the 202 went out, so
    // delivery is counted a moment later, not necessarily before this request arrives.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while rum.metric("rum_sink_delivered_total{sink=\"channel\"}") < 1.0 {
        assert!(
            std::time::Instant::now() < deadline,
            "the channel never delivered the beacon"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert_eq!(
        rum.metric("rum_sink_delivered_total{sink=\"channel\"}"),
        1.0
    );
}

#[test]
fn application_json_and_gzip_bodies_are_accepted() {
    let rum = Rum::standalone().unwrap();
    let json_type = rum.post_beacon(
        "key=demo",
        &[("Content-Type", "application/json")],
        FULL.as_bytes(),
    );
    assert_eq!(json_type.status, 202, "{}", json_type.text());
    let gzipped = rum.post_beacon(
        "key=demo",
        &[TEXT_PLAIN, ("Content-Encoding", "gzip")],
        &gzip(FULL.as_bytes()),
    );
    assert_eq!(gzipped.status, 202, "{}", gzipped.text());
    assert_eq!(rum.metric("rum_collector_beacons_accepted_total"), 2.0);
}

/// One rejection case: how to send it, and what must come back.
struct Case {
    name: &'static str,
    method: &'static str,
    path: String,
    headers: Vec<(&'static str, String)>,
    body: Vec<u8>,
    status: u16,
    reason: &'static str,
}

fn post(
    query: &str,
    headers: &[(&'static str, &str)],
    body: Vec<u8>,
    status: u16,
    reason: &'static str,
    name: &'static str,
) -> Case {
    Case {
        name,
        method: "POST",
        path: format!("/rum/v1/beacon?{query}"),
        headers: headers.iter().map(|(k, v)| (*k, v.to_string())).collect(),
        body,
        status,
        reason,
    }
}

fn with(key: &str, value: Value) -> Vec<u8> {
    let mut beacon = full();
    beacon[key] = value;
    serde_json::to_vec(&beacon).unwrap()
}

#[test]
fn every_rejection_reason_is_a_clear_4xx_and_counted() {
    let rum = restricted();
    let shop_origin = ("Origin", "https://shop.example.com");
    let evil_origin = ("Origin", "https://evil.example.com");
    let body = FULL.as_bytes().to_vec();
    let oversize = vec![b' '; 64 * 1024 + 1];
    let bomb = gzip(&vec![b' '; 16 << 20]);
    let too_many = with(
        "events",
        Value::Array(vec![
            json!({"type": "custom", "name": "n", "value": 1});
            257
        ]),
    );
    let cases = vec![
        post(
            "key=demo",
            &[TEXT_PLAIN],
            b"{\"v\":1,".to_vec(),
            400,
            "malformed_json",
            "malformed JSON",
        ),
        post(
            "key=demo",
            &[TEXT_PLAIN],
            b"[1,2,3]".to_vec(),
            400,
            "invalid_beacon",
            "not an object",
        ),
        post(
            "key=demo",
            &[TEXT_PLAIN],
            with("v", json!(2)),
            400,
            "unsupported_version",
            "wrong version",
        ),
        post(
            "key=nope",
            &[TEXT_PLAIN],
            body.clone(),
            403,
            "unknown_key",
            "unknown key",
        ),
        post(
            "other=1",
            &[TEXT_PLAIN],
            body.clone(),
            400,
            "missing_key",
            "missing key",
        ),
        post(
            "key=shop-key",
            &[TEXT_PLAIN, evil_origin],
            body.clone(),
            403,
            "origin_not_allowed",
            "disallowed origin",
        ),
        post(
            "key=shop-key",
            &[TEXT_PLAIN],
            body.clone(),
            403,
            "origin_not_allowed",
            "no origin for a restricted site",
        ),
        post(
            "key=demo",
            &[TEXT_PLAIN],
            oversize,
            413,
            "body_too_large",
            "oversize body",
        ),
        post(
            "key=demo",
            &[TEXT_PLAIN, ("Content-Encoding", "gzip")],
            bomb,
            413,
            "decompressed_too_large",
            "gzip bomb",
        ),
        post(
            "key=demo",
            &[TEXT_PLAIN, ("Content-Encoding", "gzip")],
            b"not gzip".to_vec(),
            400,
            "invalid_gzip",
            "broken gzip",
        ),
        post(
            "key=demo",
            &[TEXT_PLAIN, ("Content-Encoding", "br")],
            body.clone(),
            415,
            "unsupported_encoding",
            "brotli",
        ),
        post(
            "key=demo",
            &[TEXT_PLAIN],
            too_many,
            413,
            "too_many_events",
            "too many events",
        ),
        post(
            "key=demo",
            &[TEXT_PLAIN],
            with("sid", json!("has spaces")),
            400,
            "invalid_id",
            "bad sid",
        ),
        post(
            "key=demo",
            &[TEXT_PLAIN],
            with("pid", json!("")),
            400,
            "invalid_id",
            "empty pid",
        ),
        post(
            "key=demo",
            &[TEXT_PLAIN],
            with("url", json!("javascript:alert(1)")),
            400,
            "invalid_url",
            "bad url",
        ),
        post(
            "key=demo",
            &[TEXT_PLAIN],
            with("nav", json!("warp")),
            400,
            "invalid_navigation_type",
            "bad nav",
        ),
        post(
            "key=demo",
            &[TEXT_PLAIN],
            with("sent", json!(-1)),
            400,
            "invalid_timestamp",
            "negative sent",
        ),
        post(
            "key=demo",
            &[TEXT_PLAIN],
            with("sid", json!(7)),
            400,
            "invalid_field_type",
            "numeric sid",
        ),
        post(
            "key=demo",
            &[("Content-Type", "application/x-www-form-urlencoded")],
            body.clone(),
            415,
            "unsupported_media_type",
            "form content type",
        ),
        post(
            "key=demo",
            &[],
            body.clone(),
            415,
            "unsupported_media_type",
            "no content type",
        ),
        Case {
            name: "wrong method",
            method: "GET",
            path: "/rum/v1/beacon?key=demo".into(),
            headers: vec![],
            body: vec![],
            status: 405,
            reason: "method_not_allowed",
        },
        Case {
            name: "unknown path",
            method: "POST",
            path: "/rum/v2/beacon".into(),
            headers: vec![("Content-Type", "text/plain".into())],
            body: body.clone(),
            status: 404,
            reason: "not_found",
        },
    ];
    for case in &cases {
        let before = rum.metrics();
        let mut headers = vec![("Content-Length", case.body.len().to_string())];
        headers.extend(case.headers.iter().cloned());
        let response = rum::request(rum.public, case.method, &case.path, &headers, &case.body);
        assert_eq!(
            response.status,
            case.status,
            "{}: {}",
            case.name,
            response.text()
        );
        let answer = response.json();
        assert_eq!(answer["error"], case.reason, "{}: {answer}", case.name);
        assert!(
            answer["detail"].as_str().is_some_and(|d| !d.is_empty()),
            "{}",
            case.name
        );
        if case.status == 405 {
            assert_eq!(response.header("allow"), Some("POST, OPTIONS"));
        }

        let after = rum.metrics();
        let delta = |key: &str| after.get(key).unwrap_or(&0.0) - before.get(key).unwrap_or(&0.0);
        assert_eq!(
            delta(&format!(
                "rum_dropped_total{{stage=\"edge\",reason=\"{}\",item=\"beacon\"}}",
                case.reason
            )),
            1.0,
            "{}: rejection counter",
            case.name
        );
        assert_eq!(
            delta(&format!(
                "rum_collector_requests_total{{status=\"{}\"}}",
                case.status
            )),
            1.0,
            "{}: status counter",
            case.name
        );
        assert_eq!(
            delta("rum_collector_beacons_accepted_total"),
            0.0,
            "{}",
            case.name
        );
    }
    // Nothing bad poisoned the process: a good beacon still goes through.
    let good = rum.post_beacon("key=shop-key", &[TEXT_PLAIN, shop_origin], FULL.as_bytes());
    assert_eq!(good.status, 202, "{}", good.text());
    assert_eq!(
        good.header("access-control-allow-origin"),
        Some("https://shop.example.com")
    );
}

#[test]
fn a_chunked_beacon_without_content_length_is_read_whole() {
    let rum = Rum::standalone().unwrap();
    // Uneven chunks, one of them a single byte: the body is sized without Content-Length and
    // grows as chunks arrive.
    let mut body = Vec::new();
    for chunk in FULL.as_bytes().chunks(977).flat_map(|chunk| {
        let (first, rest) = chunk.split_at(1);
        [first, rest]
    }) {
        if chunk.is_empty() {
            continue;
        }
        body.extend(format!("{:x}\r\n", chunk.len()).as_bytes());
        body.extend(chunk);
        body.extend(b"\r\n");
    }
    body.extend(b"0\r\n\r\n");
    let headers = vec![
        ("Content-Type", "text/plain".to_string()),
        ("Transfer-Encoding", "chunked".to_string()),
    ];
    let response = rum::request(
        rum.public,
        "POST",
        "/rum/v1/beacon?key=demo",
        &headers,
        &body,
    );
    assert_eq!(response.status, 202, "{}", response.text());
    assert_eq!(response.json(), json!({"accepted": 9, "rejected": []}));
}

#[test]
fn oversize_chunked_body_is_cut_off_while_streaming() {
    let rum = Rum::standalone().unwrap();
    // No Content-Length: the cap must hold while the body streams.
    let chunk = vec![b' '; 16 * 1024];
    let mut body = Vec::new();
    for _ in 0..8 {
        body.extend(format!("{:x}\r\n", chunk.len()).as_bytes());
        body.extend(&chunk);
        body.extend(b"\r\n");
    }
    body.extend(b"0\r\n\r\n");
    let headers = vec![
        ("Content-Type", "text/plain".to_string()),
        ("Transfer-Encoding", "chunked".to_string()),
    ];
    let response = rum::request(
        rum.public,
        "POST",
        "/rum/v1/beacon?key=demo",
        &headers,
        &body,
    );
    assert_eq!(response.status, 413, "{}", response.text());
    assert_eq!(response.json()["error"], "body_too_large");
}

#[test]
fn partial_accept_reports_each_bad_event_and_keeps_the_rest() {
    let rum = Rum::standalone().unwrap();
    let mut beacon = full();
    beacon["events"][0]["value"] = json!(-5); // LCP out of range
    beacon["events"][1]["value"] = json!(250); // CLS above 100
    beacon["events"][3]["name"] = json!("FID"); // unknown vital
    beacon["events"][8] = json!({"type": "custom", "name": "x"}); // missing value
    beacon["events"]
        .as_array_mut()
        .unwrap()
        .push(json!({"type": "long-task", "duration": 90}));
    beacon["extra"] = json!("ignored");
    let response = rum.send(&serde_json::to_vec(&beacon).unwrap());
    assert_eq!(response.status, 202, "{}", response.text());
    assert_eq!(
        response.json(),
        json!({
            "accepted": 5,
            "rejected": [
                {"index": 0, "reason": "value_out_of_range", "field": "value"},
                {"index": 1, "reason": "value_out_of_range", "field": "value"},
                {"index": 3, "reason": "unknown_vital_name", "field": "name"},
                {"index": 8, "reason": "missing_field", "field": "value"},
            ]
        })
    );
    let metrics = rum.metrics();
    assert_eq!(
        metrics["rum_dropped_total{stage=\"edge\",reason=\"value_out_of_range\",item=\"event\"}"],
        2.0
    );
    assert_eq!(
        metrics["rum_dropped_total{stage=\"edge\",reason=\"unknown_vital_name\",item=\"event\"}"],
        1.0
    );
    assert_eq!(
        metrics["rum_dropped_total{stage=\"edge\",reason=\"missing_field\",item=\"event\"}"],
        1.0
    );
    assert_eq!(
        metrics["rum_dropped_total{stage=\"edge\",reason=\"unknown_event_type\",item=\"event\"}"],
        1.0
    );
    assert_eq!(
        metrics["rum_collector_ignored_total{what=\"unknown_field\"}"],
        1.0
    );
    assert_eq!(metrics["rum_collector_beacons_accepted_total"], 1.0);
}

#[test]
fn cors_preflight() {
    let rum = restricted();
    let preflight = |query: &str, origin: &str| {
        let headers = vec![
            ("Origin", origin.to_string()),
            ("Access-Control-Request-Method", "POST".to_string()),
            ("Access-Control-Request-Headers", "content-type".to_string()),
        ];
        rum::request(
            rum.public,
            "OPTIONS",
            &format!("/rum/v1/beacon?{query}"),
            &headers,
            b"",
        )
    };
    let allowed = preflight("key=shop-key", "https://shop.example.com");
    assert_eq!(allowed.status, 204);
    assert_eq!(
        allowed.header("access-control-allow-origin"),
        Some("https://shop.example.com")
    );
    assert_eq!(allowed.header("access-control-max-age"), Some("86400"));
    assert_eq!(allowed.header("vary"), Some("Origin"));
    assert_eq!(
        allowed.header("access-control-allow-methods"),
        Some("POST, OPTIONS")
    );
    assert!(
        allowed
            .header("access-control-allow-headers")
            .unwrap()
            .contains("Content-Type")
    );

    let refused = preflight("key=shop-key", "https://evil.example.com");
    assert_eq!(refused.status, 403);
    assert_eq!(refused.header("access-control-allow-origin"), None);
    assert_eq!(
        rum.metric("rum_collector_preflights_total{outcome=\"refused\"}"),
        1.0
    );
    assert_eq!(
        rum.metric("rum_collector_requests_total{status=\"204\"}"),
        1.0
    );
}

#[test]
fn a_stalled_body_times_out_without_stalling_others() {
    let rum = Rum::start(RumOptions {
        mode: "standalone",
        env: vec![("RUM_COLLECTOR__BODY_TIMEOUT", "1s".to_string())],
        ..RumOptions::default()
    })
    .unwrap();
    let mut stalled = std::net::TcpStream::connect(rum.public).unwrap();
    stalled
        .write_all(b"POST /rum/v1/beacon?key=demo HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\nContent-Length: 500\r\n\r\n{\"v\":1")
        .unwrap();
    // Meanwhile other clients are served.
    assert_eq!(rum.send(FULL.as_bytes()).status, 202);
    let response = rum::read_response(stalled);
    assert_eq!(response.status, 408, "{}", response.text());
    assert_eq!(response.json()["error"], "body_timeout");
    assert_eq!(
        rum.metric("rum_dropped_total{stage=\"edge\",reason=\"body_timeout\",item=\"beacon\"}"),
        1.0
    );
}

#[test]
fn admin_endpoints_are_on_their_own_port() {
    let rum = Rum::standalone().unwrap();
    assert_eq!(rum.admin_get("/healthz").status, 200);
    assert_eq!(rum.admin_get("/readyz").status, 200);
    let metrics = rum.admin_get("/metrics");
    assert!(metrics.text().contains("# HELP rum_dropped_total"));
    assert!(
        metrics
            .text()
            .contains("rum_sink_queue_capacity{sink=\"channel\"} 100000")
    );
    // Not on the public port.
    let public_metrics = rum::request(rum.public, "GET", "/metrics", &[], b"");
    assert_eq!(public_metrics.status, 404);
}

#[test]
fn sigterm_drains_and_exits_cleanly() {
    let rum = Rum::standalone().unwrap();
    for _ in 0..20 {
        assert_eq!(rum.send(FULL.as_bytes()).status, 202);
    }
    let status = rum.terminate();
    assert!(status.success(), "exit status {status:?}");
}

#[test]
fn check_config_names_the_bad_key() {
    let binary = env!("CARGO_BIN_EXE_rum");
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/../../deploy/rum.example.toml");
    let ok = std::process::Command::new(binary)
        .args(["check-config", example])
        .output()
        .unwrap();
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let stdout = String::from_utf8_lossy(&ok.stdout);
    assert!(stdout.contains("ok"), "{stdout}");
    // The operator sees which user agent rules are compiled in, and their date.
    assert!(
        stdout.contains("note: user agent rules: uap-core "),
        "{stdout}"
    );

    let path = rum::temp_path("bad-config", "toml");
    std::fs::write(&path, "[collector]\nmax_body_bytes = \"lots\"\n").unwrap();
    let bad = std::process::Command::new(binary)
        .arg("check-config")
        .arg(&path)
        .output()
        .unwrap();
    assert!(!bad.status.success());
    let stderr = String::from_utf8_lossy(&bad.stderr);
    assert!(stderr.contains("max_body_bytes"), "{stderr}");
}

#[test]
fn serves_the_browser_script_with_caching_compression_and_revalidation() {
    let rum = Rum::standalone().unwrap();
    let built = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../sdk/dist/rum.js"
    ))
    .unwrap();

    let plain = rum::request(rum.public, "GET", "/rum.js", &[], b"");
    assert_eq!(plain.status, 200);
    assert_eq!(plain.body, built, "serves exactly the SDK build");
    assert_eq!(
        plain.header("content-type"),
        Some("text/javascript; charset=utf-8")
    );
    assert_eq!(plain.header("cache-control"), Some("public, max-age=300"));
    assert_eq!(plain.header("vary"), Some("Accept-Encoding"));
    let etag = plain.header("etag").expect("etag").to_owned();

    let compressed = rum::request(
        rum.public,
        "GET",
        "/rum.js",
        &[("Accept-Encoding", "gzip, deflate, br".to_owned())],
        b"",
    );
    assert_eq!(compressed.header("content-encoding"), Some("gzip"));
    let mut inflated = Vec::new();
    std::io::Read::read_to_end(
        &mut flate2::read::GzDecoder::new(compressed.body.as_slice()),
        &mut inflated,
    )
    .unwrap();
    assert_eq!(inflated, built);
    assert!(compressed.body.len() < built.len());

    let revalidated = rum::request(
        rum.public,
        "GET",
        "/rum.js",
        &[("If-None-Match", etag.clone())],
        b"",
    );
    assert_eq!(revalidated.status, 304);
    assert!(revalidated.body.is_empty());

    let versioned_path = plain
        .header("x-rum-script-path")
        .expect("versioned path")
        .to_owned();
    assert!(versioned_path.starts_with("/rum-") && versioned_path.ends_with(".js"));
    let versioned = rum::request(rum.public, "GET", &versioned_path, &[], b"");
    assert_eq!(versioned.status, 200);
    assert_eq!(versioned.body, built);
    assert_eq!(
        versioned.header("cache-control"),
        Some("public, max-age=31536000, immutable")
    );
    assert_eq!(versioned.header("etag"), Some(etag.as_str()));

    let head = rum::request(rum.public, "HEAD", "/rum.js", &[], b"");
    assert_eq!(head.status, 200);
    assert_eq!(
        rum::request(rum.public, "POST", "/rum.js", &[], b"").status,
        405
    );
    assert_eq!(
        rum::request(rum.public, "GET", "/rum-0000.js", &[], b"").status,
        404
    );
}

/// A site with a server-side sample rate and a switched-off feature.
const SAMPLED_CONFIG: &str = r#"
[[sites]]
id = "shop"
keys = ["shop-key"]
allowed_origins = ["https://shop.example.com"]
sample_rate = 0.25
disable = ["actions"]

[[sites]]
id = "demo"
keys = ["demo"]
allowed_origins = ["*"]
"#;

#[test]
fn serves_the_site_config_and_enforces_its_sample_rate() {
    let rum = Rum::start(RumOptions {
        mode: "standalone",
        config_toml: Some(SAMPLED_CONFIG),
        ..RumOptions::default()
    })
    .unwrap();
    let origin = ("Origin", "https://shop.example.com".to_owned());
    let config = rum::request(
        rum.public,
        "GET",
        "/rum/v1/config?key=shop-key",
        std::slice::from_ref(&origin),
        b"",
    );
    assert_eq!(config.status, 200, "{}", config.text());
    assert_eq!(
        config.json(),
        json!({"sampleRate": 0.25, "disable": ["actions"]})
    );
    assert_eq!(config.header("content-type"), Some("application/json"));
    assert_eq!(config.header("cache-control"), Some("no-cache"));
    assert_eq!(
        config.header("access-control-allow-origin"),
        Some("https://shop.example.com")
    );
    let etag = config.header("etag").expect("etag").to_owned();
    let revalidated = rum::request(
        rum.public,
        "GET",
        "/rum/v1/config?key=shop-key",
        &[origin.clone(), ("If-None-Match", etag)],
        b"",
    );
    assert_eq!(revalidated.status, 304);
    assert!(revalidated.body.is_empty());
    // A site without server-side sampling: the tag's rate stands, nothing switched off.
    let demo = rum::request(rum.public, "GET", "/rum/v1/config?key=demo", &[], b"");
    assert_eq!(demo.json(), json!({"disable": []}));
    for (query, status) in [("", 400), ("?key=nope", 403)] {
        let refused = rum::request(
            rum.public,
            "GET",
            &format!("/rum/v1/config{query}"),
            &[],
            b"",
        );
        assert_eq!(refused.status, status, "{query}");
    }
    let evil = rum::request(
        rum.public,
        "GET",
        "/rum/v1/config?key=shop-key",
        &[("Origin", "https://evil.example.com".to_owned())],
        b"",
    );
    assert_eq!(evil.status, 403);

    // Beacons: a session just outside 25% is answered 202 and dropped (counted); one just inside
    // is accepted. Neither the config requests nor the sampled-out beacon are edge refusals.
    let beacon = |session: &str| {
        let mut beacon = full();
        beacon["sid"] = json!(session);
        serde_json::to_vec(&beacon).unwrap()
    };
    let headers = [TEXT_PLAIN, ("Origin", "https://shop.example.com")];
    let outside = rum.post_beacon("key=shop-key", &headers, &beacon("8000000000000000"));
    assert_eq!(outside.status, 202, "{}", outside.text());
    let inside = rum.post_beacon("key=shop-key", &headers, &beacon("7vvvvvvvvvvvvvvv"));
    assert_eq!(inside.status, 202, "{}", inside.text());
    let metrics = rum.metrics();
    let value = |key: &str| metrics.get(key).copied().unwrap_or(0.0);
    assert_eq!(
        value(r#"rum_dropped_total{stage="enrich",reason="sampled_out",item="beacon"}"#),
        1.0
    );
    assert_eq!(value("rum_collector_beacons_accepted_total"), 1.0);
    for (outcome, count) in [("served", 2.0), ("not_modified", 1.0), ("refused", 3.0)] {
        assert_eq!(
            value(&format!(
                "rum_collector_site_config_requests_total{{outcome=\"{outcome}\"}}"
            )),
            count,
            "{outcome}"
        );
    }
    assert_eq!(value("rum_collector_beacons_received_total"), 2.0);
}
