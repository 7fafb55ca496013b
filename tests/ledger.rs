//! The drop ledger, checked from outside on the real binary: after a run with every kind of bad
//! input, the identities a user relies on hold on `/metrics`:
//!
//! - beacons received = accepted + dropped at the edge and by policy;
//! - accepted = delivered + still queued + lost at the sink;
//! - delivered (to the in-process aggregator) = read by stage 1 = aggregated + dropped there;
//!
//! and every family `/metrics` describes (`# HELP`), and every `rum_*` name in the code, is
//! documented in docs/metrics.md or docs/operations.md.

#[path = "harness/http.rs"]
mod http;
#[path = "harness/rum.rs"]
mod rum;
#[path = "harness/wait.rs"]
mod wait;

use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::time::Duration;

use rum::{Rum, RumOptions};
use serde_json::{Value, json};
use wait::{now_ms, wait_until};

const FULL: &str = include_str!("../crates/rum-schema/fixtures/beacon_full.json");
const CHROME: &str = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) \
    Chrome/131.0.0.0 Safari/537.36";
const GOOGLEBOT: &str = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)";

const CONFIG: &str = r#"
[collector]
body_timeout = "1s"

[[sites]]
id = "shop"
keys = ["shop-key"]
allowed_origins = ["https://shop.example.com"]

[[sites]]
id = "demo"
keys = ["demo"]
allowed_origins = ["*"]
"#;

/// A request the edge must refuse: query, headers, body, status and ledger reason.
type Refusal = (
    &'static str,
    Vec<(&'static str, String)>,
    Vec<u8>,
    u16,
    &'static str,
);

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    encoder.write_all(data).unwrap();
    encoder.finish().unwrap()
}

/// The BEACON.md example as page view `pid`, with `key` set to `value`.
fn beacon_with(pid: &str, key: &str, value: Value) -> Vec<u8> {
    let mut beacon: Value = serde_json::from_str(FULL).unwrap();
    beacon["pid"] = json!(pid);
    beacon["sent"] = json!(now_ms());
    beacon[key] = value;
    serde_json::to_vec(&beacon).unwrap()
}

fn beacon(pid: &str) -> Vec<u8> {
    beacon_with(pid, "v", json!(1))
}

/// The sum of every sample of `family` whose labels contain all of `labels`.
fn sum(metrics: &HashMap<String, f64>, family: &str, labels: &[&str]) -> f64 {
    metrics
        .iter()
        .filter(|(key, _)| {
            let (name, rest) = key.split_once('{').unwrap_or((key.as_str(), ""));
            name == family && labels.iter().all(|label| rest.contains(label))
        })
        .map(|(_, value)| value)
        .sum()
}

#[test]
fn every_beacon_is_accepted_or_in_the_ledger_and_every_accepted_one_is_accounted_for() {
    let rum = Rum::start(RumOptions {
        mode: "standalone",
        config_toml: Some(CONFIG),
        ..RumOptions::default()
    })
    .unwrap();
    let plain = |pairs: &[(&'static str, &str)]| -> Vec<(&'static str, String)> {
        let mut headers = vec![
            ("Content-Type", "text/plain;charset=UTF-8".to_owned()),
            ("User-Agent", CHROME.to_owned()),
        ];
        headers.extend(pairs.iter().map(|(name, value)| (*name, value.to_string())));
        headers
    };
    let post = |query: &str, headers: Vec<(&'static str, String)>, body: &[u8]| {
        let mut headers = headers;
        headers.push(("Content-Length", body.len().to_string()));
        http::request(
            rum.public,
            "POST",
            &format!("/rum/v1/beacon?{query}"),
            &headers,
            body,
        )
    };

    // Every outcome, with the status and ledger reason it must end in (None: accepted).
    let mut expected: BTreeMap<(&str, &str), f64> = BTreeMap::new();
    let mut sent = 0.0;
    let mut accepted = 0.0;
    let mut outcome = |status: u16, want: u16, ledger: Option<(&'static str, &'static str)>| {
        assert_eq!(status, want, "{ledger:?}");
        sent += 1.0;
        match ledger {
            Some(key) => *expected.entry(key).or_default() += 1.0,
            None => accepted += 1.0,
        }
    };

    for index in 0..5 {
        let response = post("key=demo", plain(&[]), &beacon(&format!("ok-{index}")));
        outcome(response.status, 202, None);
    }
    // Accepted in part: events refused inside it go to the ledger as events.
    let partly_bad = beacon_with(
        "partly-bad",
        "events",
        json!([
            {"type": "vital", "name": "LCP", "value": -1, "id": "v1"},
            {"type": "vital", "name": "XYZ", "value": 1, "id": "v2"},
            {"type": "telepathy"},
            {"type": "vital", "name": "CLS", "value": 0.01, "id": "v3"},
        ]),
    );
    let response = post("key=demo", plain(&[]), &partly_bad);
    outcome(response.status, 202, None);
    assert_eq!(response.json()["accepted"], 1, "{}", response.text());
    let gzipped = post(
        "key=demo",
        plain(&[("Content-Encoding", "gzip")]),
        &gzip(&beacon("gzipped")),
    );
    outcome(gzipped.status, 202, None);
    // A bot's beacon is answered like any other, and dropped by policy.
    let mut bot = plain(&[]);
    bot[1].1 = GOOGLEBOT.to_owned();
    outcome(
        post("key=demo", bot, &beacon("bot")).status,
        202,
        Some(("enrich", "bot")),
    );

    let refusals: Vec<Refusal> = vec![
        (
            "key=demo",
            plain(&[]),
            b"{\"v\":1,".to_vec(),
            400,
            "malformed_json",
        ),
        (
            "key=demo",
            plain(&[]),
            b"[1]".to_vec(),
            400,
            "invalid_beacon",
        ),
        (
            "key=demo",
            plain(&[]),
            beacon_with("v2", "v", json!(2)),
            400,
            "unsupported_version",
        ),
        (
            "key=demo",
            plain(&[]),
            beacon_with("u", "url", json!("ftp://x")),
            400,
            "invalid_url",
        ),
        (
            "key=demo",
            plain(&[]),
            beacon_with(
                "many",
                "events",
                Value::Array(vec![
                    json!({"type": "custom", "name": "n", "value": 1});
                    257
                ]),
            ),
            413,
            "too_many_events",
        ),
        (
            "key=nope",
            plain(&[]),
            beacon("unknown-key"),
            403,
            "unknown_key",
        ),
        ("other=1", plain(&[]), beacon("no-key"), 400, "missing_key"),
        (
            "key=shop-key",
            plain(&[("Origin", "https://evil.example.com")]),
            beacon("evil"),
            403,
            "origin_not_allowed",
        ),
        (
            "key=demo",
            vec![("Content-Type", "image/png".to_owned())],
            beacon("png"),
            415,
            "unsupported_media_type",
        ),
        (
            "key=demo",
            plain(&[("Content-Encoding", "br")]),
            beacon("br"),
            415,
            "unsupported_encoding",
        ),
        (
            "key=demo",
            plain(&[]),
            vec![b' '; 64 * 1024 + 1],
            413,
            "body_too_large",
        ),
        (
            "key=demo",
            plain(&[("Content-Encoding", "gzip")]),
            gzip(&vec![b' '; 16 << 20]),
            413,
            "decompressed_too_large",
        ),
        (
            "key=demo",
            plain(&[("Content-Encoding", "gzip")]),
            b"nope".to_vec(),
            400,
            "invalid_gzip",
        ),
    ];
    for (query, headers, body, status, reason) in refusals {
        let response = post(query, headers, &body);
        assert_eq!(response.json()["error"], reason, "{}", response.text());
        outcome(response.status, status, Some(("edge", reason)));
    }
    let misrouted = http::request(
        rum.public,
        "POST",
        "/rum/v2/beacon",
        &[("Content-Length", "0".into())],
        b"",
    );
    outcome(misrouted.status, 404, Some(("edge", "not_found")));
    let wrong_method = http::request(
        rum.public,
        "PUT",
        "/rum/v1/beacon?key=demo",
        &[("Content-Length", "0".into())],
        b"",
    );
    outcome(
        wrong_method.status,
        405,
        Some(("edge", "method_not_allowed")),
    );
    // A body that never arrives in full.
    let mut stalled = std::net::TcpStream::connect(rum.public).unwrap();
    stalled
        .write_all(b"POST /rum/v1/beacon?key=demo HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\nContent-Length: 500\r\n\r\n{\"v\":1")
        .unwrap();
    let timed_out = http::read_response(stalled);
    outcome(timed_out.status, 408, Some(("edge", "body_timeout")));
    // Neither a script fetch nor a preflight carries a beacon: they are not counted as received.
    assert_eq!(
        http::request(rum.public, "GET", "/rum.js", &[], b"").status,
        200
    );
    let preflight = http::request(
        rum.public,
        "OPTIONS",
        "/rum/v1/beacon?key=shop-key",
        &[("Origin", "https://evil.example.com".into())],
        b"",
    );
    assert_eq!(preflight.status, 403);

    // Everything accepted reaches stage 1 (the channel drains within a flush interval or two).
    wait_until(
        "the aggregator to read every accepted beacon",
        Duration::from_secs(20),
        || rum.metric("rum_aggregator_beacons_total") >= accepted,
    );
    let metrics = rum.metrics();
    let value = |key: &str| metrics.get(key).copied().unwrap_or(0.0);
    let received = value("rum_collector_beacons_received_total");
    let accepted_counted = value("rum_collector_beacons_accepted_total");
    let refused = sum(
        &metrics,
        "rum_dropped_total",
        &["stage=\"edge\"", "item=\"beacon\""],
    );
    let by_policy = sum(
        &metrics,
        "rum_dropped_total",
        &["stage=\"enrich\"", "item=\"beacon\""],
    );
    let lost = sum(
        &metrics,
        "rum_dropped_total",
        &["stage=\"sink\"", "item=\"beacon\""],
    );
    let delivered = value("rum_sink_delivered_total{sink=\"channel\"}");
    let queued = value("rum_sink_queue_depth{sink=\"channel\"}");
    let read = value("rum_aggregator_beacons_total");
    let not_aggregated = sum(
        &metrics,
        "rum_dropped_total",
        &["stage=\"aggregator\"", "item=\"beacon\""],
    );

    assert_eq!(
        received, sent,
        "received counts every request that carried a beacon"
    );
    assert_eq!(accepted_counted, accepted);
    assert_eq!(
        received,
        accepted_counted + refused + by_policy,
        "received = accepted + dropped"
    );
    assert_eq!(
        accepted_counted,
        delivered + queued + lost,
        "accepted = delivered + queued + lost"
    );
    assert_eq!(lost, 0.0);
    assert_eq!(delivered, read, "delivered = read by stage 1");
    assert_eq!(not_aggregated, 0.0, "nothing here is late or undecodable");
    // Each reason counted exactly as often as it was caused.
    for ((stage, reason), count) in &expected {
        assert_eq!(
            value(&format!(
                "rum_dropped_total{{stage=\"{stage}\",reason=\"{reason}\",item=\"beacon\"}}"
            )),
            *count,
            "{stage}/{reason}"
        );
    }
    assert_eq!(refused + by_policy, expected.values().sum::<f64>());
    for reason in [
        "value_out_of_range",
        "unknown_vital_name",
        "unknown_event_type",
    ] {
        assert_eq!(
            value(&format!(
                "rum_dropped_total{{stage=\"edge\",reason=\"{reason}\",item=\"event\"}}"
            )),
            1.0,
            "event drop {reason}"
        );
    }
    assert_eq!(
        value("rum_collector_preflights_total{outcome=\"refused\"}"),
        1.0
    );
    // Every reason of every stage is pre-registered, so a dashboard sees zeros, not gaps.
    for (stage, reason) in [
        ("edge", "overloaded"),
        ("edge", "sink_closed"),
        ("sink", "delivery_failed"),
        ("sink", "undelivered_at_shutdown"),
        ("aggregator", "late"),
        ("aggregator", "undecodable"),
    ] {
        assert!(
            metrics.contains_key(&format!(
                "rum_dropped_total{{stage=\"{stage}\",reason=\"{reason}\",item=\"beacon\"}}"
            )),
            "{stage}/{reason} registered"
        );
    }
    assert!(rum.terminate().success());
}

/// Every family `/metrics` describes is documented for operators.
#[test]
fn every_family_on_metrics_is_documented() {
    let docs = documentation();
    let rum = Rum::standalone().unwrap();
    // Traffic makes the aggregator's per-segment families appear too.
    let mut body = beacon("documented");
    let response = rum.post_beacon(
        "key=demo",
        &[("Content-Type", "text/plain"), ("User-Agent", CHROME)],
        &body,
    );
    assert_eq!(response.status, 202);
    body.clear();
    wait_until("segment families", Duration::from_secs(20), || {
        rum.admin_get("/metrics")
            .text()
            .contains("rum_page_views_total")
    });
    let text = rum.admin_get("/metrics").text();
    let mut undocumented: Vec<&str> = text
        .lines()
        .filter_map(|line| line.strip_prefix("# HELP "))
        .filter_map(|rest| rest.split(' ').next())
        .filter(|name| !docs.contains(&format!("`{name}`")))
        .collect();
    undocumented.dedup();
    assert!(
        undocumented.is_empty(),
        "not in docs/metrics.md or docs/operations.md: {undocumented:?}"
    );
}

/// Every metric name the code declares is documented, whether or not a short run shows it.
#[test]
fn every_metric_name_in_the_code_is_documented() {
    let docs = documentation();
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut names = std::collections::BTreeSet::new();
    let mut stack = vec![root.join("crates")];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                if !path.ends_with("target") {
                    stack.push(path);
                }
                continue;
            }
            if path.extension().is_none_or(|extension| extension != "rs") {
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap();
            for piece in string_literals(&text) {
                let is_name = piece.starts_with("rum_")
                    && piece.len() > 4
                    && piece.bytes().all(|byte| {
                        byte.is_ascii_lowercase() || byte.is_ascii_digit() || byte == b'_'
                    });
                if is_name {
                    names.insert(piece.to_owned());
                }
            }
        }
    }
    assert!(
        names.contains("rum_dropped_total"),
        "the scan found the ledger: {names:?}"
    );
    let undocumented: Vec<&String> = names
        .iter()
        .filter(|name| !docs.contains(name.as_str()))
        .collect();
    assert!(
        undocumented.is_empty(),
        "not in docs/metrics.md or docs/operations.md: {undocumented:?}"
    );
}

/// The contents of the string literals of Rust source, escapes left as written: splitting on `"`
/// alone would fall out of step at the first `\"` inside a string and read code as strings after.
fn string_literals(text: &str) -> Vec<&str> {
    let mut literals = Vec::new();
    let mut start = None;
    let mut escaped = false;
    for (index, byte) in text.bytes().enumerate() {
        match (start, byte) {
            (Some(_), b'\\') if !escaped => escaped = true,
            (Some(open), b'"') if !escaped => {
                literals.push(&text[open..index]);
                start = None;
            }
            (Some(_), _) => escaped = false,
            // Not the character literal '"'.
            (None, b'"') if !text[..index].ends_with('\'') => start = Some(index + 1),
            (None, _) => {}
        }
    }
    literals
}

fn documentation() -> String {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs");
    ["metrics.md", "operations.md"]
        .iter()
        .map(|name| std::fs::read_to_string(root.join(name)).unwrap())
        .collect::<Vec<_>>()
        .join("\n")
}
