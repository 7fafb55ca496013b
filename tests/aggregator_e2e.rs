//! The aggregator end to end with real services on loopback: beacons posted to `rum standalone`, a
//! real Prometheus scrapes it (in OpenMetrics, which it asks for first, with its exemplar store on)
//! and the p75 it reports matches the one computed from the beacons; the Prometheus text passes
//! `promtool check metrics`; a real Alertmanager receives a firing alert when a
//! segment goes over a threshold and sees it resolved when the segment recovers; a webhook receiver
//! checks the HMAC signature of every delivery.

#[path = "harness/http.rs"]
mod http;
#[path = "harness/monitoring.rs"]
mod monitoring;
#[path = "harness/openmetrics.rs"]
mod openmetrics;
#[path = "harness/rum.rs"]
mod rum;
#[path = "harness/wait.rs"]
mod wait;

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;

use hmac::{Hmac, Mac};
use monitoring::{WebhookReceiver, start_alertmanager, start_prometheus};
use openmetrics::openmetrics_families;
use rum::{Rum, RumOptions};
use serde_json::{Value, json};
use wait::wait_for;

const TEXT_PLAIN: (&str, &str) = ("Content-Type", "text/plain;charset=UTF-8");

/// What Prometheus 2.49 and later send when they scrape (Debian bookworm's 2.42 sends the older
/// `application/openmetrics-text;version=1.0.0,...;q=0.75,...`): OpenMetrics first.
const PROMETHEUS_ACCEPT: &str = "application/openmetrics-text;version=1.0.0;q=0.5,application/openmetrics-text;version=0.0.1;q=0.4,text/plain;version=0.0.4;q=0.3,*/*;q=0.2";

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

fn lcp_beacon(page_view: &str, lcp_ms: f64) -> Vec<u8> {
    let now = now_ms();
    serde_json::to_vec(&json!({
        "v": 1, "sid": "session-1", "pid": page_view, "url": "https://shop.example.com/",
        "nav": "navigate", "sent": now,
        "events": [{ "type": "vital", "name": "LCP", "value": lcp_ms, "id": "lcp-1" }]
    }))
    .unwrap()
}

fn action_beacon(page_view: &str) -> Vec<u8> {
    let now = now_ms();
    serde_json::to_vec(&json!({
        "v": 1, "sid": "session-2", "pid": page_view, "url": "https://shop.example.com/",
        "nav": "navigate", "sent": now,
        "events": [
            { "type": "action", "name": "Add to cart", "dur": 400, "requests": 1, "clicks": 3,
              "frustration": ["rage"] },
            { "type": "action", "name": "Add to cart", "dur": 200 },
            { "type": "action", "name": "<div>", "frustration": ["dead"] },
            { "type": "event", "name": "purchase", "value": 59.9 },
            { "type": "request", "url": "https://shop.example.com/api/cart/12345", "method": "POST",
              "status": 503, "duration": 120 },
            { "type": "error",
              "message": "TypeError: Cannot read properties of undefined (reading 'id')",
              "stack": "TypeError: x\n    at pay (https://shop.example.com/app.js:10:5)" },
            { "type": "loaf", "count": 2, "blocking": 230,
              "scripts": { "https://ads.example": 201, "https://shop.example.com": 60 } },
            { "type": "resources",
              "origins": { "https://cdn.example": { "bytes": 0, "untimed": 1, "durations": [80, 400] } },
              "types": { "img": 2 } },
            { "type": "calls", "endpoints": {
                "GET https://api.example.com/v1/items/12345": { "durations": [40, 180, 95], "status": [200, 200, 404],
                                                                "trace": CALL_TRACE, "traced": 180 } } }
        ]
    }))
    .unwrap()
}

/// The trace id of the traced call in [`action_beacon`].
const CALL_TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";

fn post(rum: &Rum, body: &[u8]) {
    let response = rum.post_beacon("key=demo", &[TEXT_PLAIN], body);
    assert_eq!(response.status, 202, "{}", response.text());
}

/// The demo site (no `[[sites]]`) with a funnel, so the session and funnel families are scraped,
/// linted and queried by the dashboard too.
const FUNNEL_CONFIG: &str = r#"
[[aggregator.funnels]]
name = "checkout"
steps = [{ route = "/cart" }, { action = "Add to cart" }, { event = "purchase" }]
"#;

#[test]
fn prometheus_reads_the_p75_computed_from_the_beacons_and_promtool_accepts_the_exposition() {
    let rum = Rum::start(RumOptions {
        mode: "standalone",
        config_toml: Some(FUNNEL_CONFIG),
        ..RumOptions::default()
    })
    .unwrap();
    // A spread of LCP values (deterministic), one page view each.
    let values: Vec<f64> = (0..240u64)
        .map(|i| (300 + (i * 7919) % 5700) as f64)
        .collect();
    for (index, value) in values.iter().enumerate() {
        post(&rum, &lcp_beacon(&format!("pv-{index}"), *value));
    }
    // One page view with user actions and business events, so their families are scraped and
    // linted too.
    post(&rum, &action_beacon("pv-actions"));
    let mut sorted = values.clone();
    sorted.sort_by(f64::total_cmp);
    let rank = (0.75 * sorted.len() as f64).ceil() as usize;
    let exact_p75_seconds = sorted[rank - 1] / 1000.0;

    let prometheus = start_prometheus(rum.admin).unwrap();
    let query = r#"rum_lcp_window_seconds{view="site",site="demo",window="5m",quantile="0.75"}"#;
    let p75 = wait_for(
        "prometheus to scrape the p75",
        Duration::from_secs(60),
        || prometheus.query_value(query).unwrap(),
    );
    // HDR at 2 significant digits: within 1% of the exact nearest-rank quantile.
    assert!(
        (p75 - exact_p75_seconds).abs() <= exact_p75_seconds * 0.01,
        "prometheus p75 {p75} vs exact {exact_p75_seconds}"
    );
    let samples = prometheus
        .query_value(r#"rum_lcp_window_samples{view="site",site="demo",window="5m"}"#)
        .unwrap();
    assert_eq!(samples, Some(values.len() as f64));
    let page_views = prometheus
        .query_value(r#"rum_page_views_total{view="site",site="demo"}"#)
        .unwrap();
    assert_eq!(page_views, Some(values.len() as f64 + 1.0));
    for (query, expected) in [
        (
            r#"rum_actions_total{view="site",site="demo",action="Add to cart"}"#,
            2.0,
        ),
        (
            r#"rum_action_frustrations_total{view="site",site="demo",action="Add to cart",signal="rage"}"#,
            1.0,
        ),
        (
            r#"rum_action_frustrations_total{view="site_route",site="demo",route="/",action="<div>",signal="dead"}"#,
            1.0,
        ),
        (
            r#"rum_action_time_seconds_total{view="site",site="demo",action="Add to cart"}"#,
            0.6,
        ),
        (
            r#"rum_events_total{view="site",site="demo",event="purchase"}"#,
            1.0,
        ),
        (
            r#"rum_event_value_total{view="site",site="demo",event="purchase"}"#,
            59.9,
        ),
        (
            r#"rum_action_loading_window_samples{view="site",site="demo",window="5m"}"#,
            2.0,
        ),
        (
            r#"rum_request_failures_total{view="site",site="demo",method="POST",endpoint="/api/cart/:id",status="5xx"}"#,
            1.0,
        ),
        // Two sessions, tracked until they are idle for 30 minutes; the funnel's counts come once
        // their minute is past the allowed lateness (2 minutes by default), 0 until then.
        (r#"rum_sessions_active{site="demo"}"#, 2.0),
        (
            r#"rum_funnel_sessions_total{site="demo",funnel="checkout",step="1",target="route:/cart"}"#,
            0.0,
        ),
    ] {
        assert_eq!(
            prometheus.query_value(query).unwrap(),
            Some(expected),
            "{query}"
        );
    }
    // The error of that page view, grouped, on /metrics and with its sample on the JSON API.
    let errors: Value =
        serde_json::from_str(&rum.admin_get("/api/v1/errors?site=demo").text()).unwrap();
    let group = &errors["sites"][0]["groups"][0];
    assert_eq!(group["occurrences"], 1, "{errors}");
    assert_eq!(
        group["message"],
        "TypeError: Cannot read properties of undefined (reading <str>)"
    );
    assert_eq!(group["frame"], "pay /app.js");
    assert_eq!(
        group["sample"]["message"],
        "TypeError: Cannot read properties of undefined (reading 'id')"
    );
    let label = group["label"].as_str().unwrap();
    let query = format!(r#"rum_error_group_total{{site="demo",error="{label}",kind="error"}}"#);
    assert_eq!(
        prometheus.query_value(&query).unwrap(),
        Some(1.0),
        "{query}"
    );
    let bad = rum.admin_get("/api/v1/errors?limit=0");
    assert_eq!(bad.status, 400);
    assert!(bad.text().contains("limit must be"), "{}", bad.text());

    // Every query of the shipped Grafana dashboard runs against this Prometheus without error, and
    // the per-site ones see this site.
    let dashboard: Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../deploy/grafana/rum-dashboard.json"
        ))
        .unwrap(),
    )
    .unwrap();
    let mut queries = 0;
    for panel in dashboard["panels"].as_array().unwrap() {
        for target in panel["targets"].as_array().unwrap() {
            let expr = target["expr"]
                .as_str()
                .unwrap()
                .replace("$site", "demo")
                .replace("$window", "5m")
                .replace("$__rate_interval", "1m");
            let answer = prometheus
                .get_json(&format!(
                    "/api/v1/query?query={}",
                    monitoring::encode_query(&expr)
                ))
                .unwrap_or_else(|error| panic!("dashboard query {expr}: {error}"));
            assert_eq!(answer["status"], "success", "{expr}: {answer}");
            queries += 1;
        }
    }
    assert!(queries >= 20);
    // The third-party, long-frame and API panels see the page view that reported them.
    for (expr, label, value) in [
        (
            r#"topk(10, sum by (site, origin) (rate(rum_long_frame_script_seconds_total{view="site", site=~"demo", origin!="first-party"}[1m])))"#,
            "origin",
            "https://ads.example",
        ),
        (
            r#"topk(10, histogram_quantile(0.75, sum by (site, origin, le) (rate(rum_resource_duration_seconds_bucket{view="site", site=~"demo"}[1m]))))"#,
            "origin",
            "https://cdn.example",
        ),
        (
            r#"topk(10, histogram_quantile(0.95, sum by (site, method, endpoint, le) (rate(rum_request_duration_seconds_bucket{view="site", site=~"demo"}[1m]))))"#,
            "endpoint",
            "api.example.com/v1/items/:id",
        ),
    ] {
        let answer = wait_for(expr, Duration::from_secs(60), || {
            let answer = prometheus
                .get_json(&format!(
                    "/api/v1/query?query={}",
                    monitoring::encode_query(expr)
                ))
                .unwrap();
            let found = answer["data"]["result"]
                .as_array()
                .is_some_and(|series| !series.is_empty());
            found.then_some(answer)
        });
        assert_eq!(
            answer["data"]["result"][0]["metric"][label], value,
            "{expr}: {answer}"
        );
    }
    let p75_panel = prometheus
        .query_value(
            r#"rum_lcp_window_seconds{view="site", site=~"demo", window="5m", quantile="0.75"}"#,
        )
        .unwrap();
    assert_eq!(p75_panel, Some(p75));

    // Prometheus scraped OpenMetrics and took it: the target is up without an error, and the
    // counters' metadata names their family without `_total`, which only its OpenMetrics parser
    // does (from the 0.0.4 text it would be `rum_page_views_total`). Its exemplar store answers.
    let targets = prometheus.get_json("/api/v1/targets").unwrap();
    let target = &targets["data"]["activeTargets"][0];
    assert_eq!(target["health"], "up", "{targets}");
    assert_eq!(target["lastError"], "", "{targets}");
    let metadata = wait_for(
        "prometheus to hold the metadata of rum_page_views",
        Duration::from_secs(30),
        || {
            let metadata = prometheus
                .get_json("/api/v1/metadata?metric=rum_page_views")
                .unwrap();
            metadata["data"]["rum_page_views"]
                .is_array()
                .then_some(metadata)
        },
    );
    assert_eq!(
        metadata["data"]["rum_page_views"][0]["type"], "counter",
        "{metadata}"
    );
    let exemplars = prometheus
        .get_json(&format!(
            "/api/v1/query_exemplars?query={}",
            monitoring::encode_query("rum_lcp_seconds_bucket")
        ))
        .unwrap();
    assert_eq!(exemplars["status"], "success", "{exemplars}");
    // The traced call's trace id is stored as the exemplar of its bucket (180 ms: le 0.25), so
    // Grafana can jump from that bucket to the trace.
    let query = r#"rum_request_duration_seconds_bucket{view="site",site="demo",endpoint="api.example.com/v1/items/:id",status="2xx"}"#;
    let stored = wait_for(
        "prometheus to store the call's exemplar",
        Duration::from_secs(30),
        || {
            let answer = prometheus
                .get_json(&format!(
                    "/api/v1/query_exemplars?query={}",
                    monitoring::encode_query(query)
                ))
                .unwrap();
            answer["data"]
                .as_array()
                .filter(|series| !series.is_empty())
                .cloned()
        },
    );
    assert_eq!(stored.len(), 1, "{stored:?}");
    assert_eq!(stored[0]["seriesLabels"]["le"], "0.25", "{stored:?}");
    let exemplar = &stored[0]["exemplars"][0];
    assert_eq!(exemplar["labels"]["trace_id"], CALL_TRACE, "{stored:?}");
    assert_eq!(exemplar["value"], "0.18", "{stored:?}");

    // What it was served: OpenMetrics for its Accept, every family once (the process's own and
    // the aggregator's), the counters named without `_total`, the last line `# EOF`.
    let openmetrics = http::request(
        rum.admin,
        "GET",
        "/metrics",
        &[("Accept", PROMETHEUS_ACCEPT.to_owned())],
        b"",
    );
    assert_eq!(
        openmetrics.header("content-type"),
        Some("application/openmetrics-text; version=1.0.0; charset=utf-8")
    );
    let families = openmetrics_families(&openmetrics.text(), true);
    for expected in [
        ("rum_page_views", "counter"),
        ("rum_dropped", "counter"),
        // (`rum_lcp_seconds` comes once a minute has settled, past this test's time.)
        ("rum_resource_duration_seconds", "histogram"),
        ("rum_sink_produce_latency_seconds", "histogram"),
        ("rum_lcp_window_seconds", "summary"),
    ] {
        assert!(
            families
                .iter()
                .any(|(name, kind)| (name.as_str(), kind.as_str()) == expected),
            "{expected:?} missing from the OpenMetrics families {families:?}"
        );
    }

    // The Prometheus text (what a client that does not ask for OpenMetrics gets, as before)
    // passes promtool's lint. promtool (2.42) reads only that format: an exemplar is a parse
    // error to it ("expected integer as timestamp, got #"), and it takes `rum_page_views_total` for
    // a family other than `# TYPE rum_page_views counter` (one without help).
    let exposition = rum.admin_get("/metrics");
    assert_eq!(
        exposition.header("content-type"),
        Some("text/plain; version=0.0.4; charset=utf-8")
    );
    let exposition = exposition.text();
    assert!(exposition.contains("rum_lcp_window_seconds{"));
    assert!(!exposition.contains("# EOF"));
    let mut promtool = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool (Debian package `prometheus`; scripts/install-test-deps installs it)");
    promtool
        .stdin
        .take()
        .unwrap()
        .write_all(exposition.as_bytes())
        .unwrap();
    let output = promtool.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "promtool check metrics failed:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

fn verify_signature(secret: &str, request: &monitoring::ReceivedRequest) {
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(&request.body);
    let expected: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect();
    assert_eq!(
        request.header("X-Rum-Signature"),
        Some(format!("sha256={expected}").as_str()),
        "every webhook delivery is signed"
    );
}

fn active_test_alerts(alertmanager: &monitoring::Service) -> Vec<Value> {
    alertmanager
        .get_json("/api/v2/alerts?active=true&silenced=false&inhibited=false")
        .unwrap()
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .filter(|alert| alert["labels"]["alertname"] == "RumTestLcpSlow")
        .collect()
}

#[test]
fn alertmanager_and_a_signed_webhook_see_an_alert_fire_and_resolve() {
    let alertmanager = start_alertmanager().unwrap();
    let webhook = WebhookReceiver::start().unwrap();
    let secret = "s3cret-for-test";
    let config = format!(
        r#"
[[sites]]
id = "demo"
keys = ["demo"]
allowed_origins = ["*"]

[alerts]
evaluation_interval = "1s"
resend_interval = "2s"
default_rules = false
external_url = "http://rum.test"

[[alerts.alertmanagers]]
url = "http://{alertmanager}"

[[alerts.webhooks]]
url = "http://{webhook}/hook"
hmac_secret = "{secret}"

[[alerts.rules]]
name = "RumTestLcpSlow"
metric = "lcp"
statistic = "p75"
op = ">"
threshold = 4.0
view = "site"
window = "1m"
min_samples = 10
for = "2s"
labels = {{ severity = "page" }}
annotations = {{ summary = "p75 LCP of {{{{ $labels.site }}}} is {{{{ $value }}}}s" }}
"#,
        alertmanager = alertmanager.address,
        webhook = webhook.address,
    );
    let rum = Rum::start(RumOptions {
        mode: "standalone",
        config_toml: Some(&config),
        ..RumOptions::default()
    })
    .unwrap();

    // The segment goes over the threshold: p75 LCP 6 s.
    for index in 0..20 {
        post(&rum, &lcp_beacon(&format!("slow-{index}"), 6000.0));
    }
    let firing = wait_for(
        "alertmanager to hold the firing alert",
        Duration::from_secs(45),
        || active_test_alerts(&alertmanager).into_iter().next(),
    );
    assert_eq!(firing["labels"]["site"], "demo");
    assert_eq!(firing["labels"]["view"], "site");
    assert_eq!(firing["labels"]["severity"], "page");
    assert_eq!(
        firing["annotations"]["summary"],
        "p75 LCP of demo is 6.015s"
    );
    assert_eq!(firing["status"]["state"], "active");
    // The view's alerts endpoint counts it too.
    let alerts: Value = serde_json::from_str(&rum.admin_get("/api/v1/alerts").text()).unwrap();
    let rule = alerts["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|rule| rule["alertname"] == "RumTestLcpSlow")
        .unwrap_or_else(|| panic!("{alerts}"))
        .clone();
    assert_eq!(rule["firing"], 1, "{alerts}");

    // It recovers: enough fast page views that p75 drops to 0.5 s.
    for index in 0..100 {
        post(&rum, &lcp_beacon(&format!("fast-{index}"), 500.0));
    }
    wait_for(
        "alertmanager to see the alert resolved",
        Duration::from_secs(45),
        || active_test_alerts(&alertmanager).is_empty().then_some(()),
    );

    // The webhook saw both, each delivery signed.
    let payloads = wait_for(
        "the webhook to get the resolved notification",
        Duration::from_secs(20),
        || {
            let received = webhook.received();
            let resolved = received.iter().any(|request| {
                serde_json::from_slice::<Value>(&request.body)
                    .is_ok_and(|body| body["status"] == "resolved")
            });
            resolved.then_some(received)
        },
    );
    for request in &payloads {
        verify_signature(secret, request);
    }
    let first: Value = serde_json::from_slice(&payloads[0].body).unwrap();
    assert_eq!(first["version"], "4");
    assert_eq!(first["status"], "firing");
    assert_eq!(first["groupLabels"]["alertname"], "RumTestLcpSlow");
    assert_eq!(first["alerts"][0]["labels"]["site"], "demo");
    assert_eq!(first["externalURL"], "http://rum.test");

    let metrics = rum.metrics();
    assert!(
        metrics
            .get(r#"rum_alert_notifications_total{receiver="alertmanager[0]",outcome="sent"}"#)
            .copied()
            .unwrap_or(0.0)
            >= 2.0
    );
    assert!(
        metrics
            .get(r#"rum_alert_notifications_total{receiver="webhook[0]",outcome="sent"}"#)
            .copied()
            .unwrap_or(0.0)
            >= 2.0
    );
}

#[test]
fn the_shipped_prometheus_config_and_rules_pass_promtool() {
    let deploy = concat!(env!("CARGO_MANIFEST_DIR"), "/../../deploy/prometheus");
    for args in [
        ["check", "rules", "rum-rules.yml"],
        ["check", "config", "prometheus.yml"],
    ] {
        let output = Command::new("promtool")
            .args(args)
            .current_dir(deploy)
            .output()
            .expect(
                "promtool (Debian package `prometheus`; scripts/install-test-deps installs it)",
            );
        assert!(
            output.status.success(),
            "promtool {args:?} failed:\n{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
}
