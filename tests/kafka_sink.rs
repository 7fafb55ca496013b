//! The Kafka sink against a real Kafka-protocol broker (tansu, started here on a free loopback port):
//! beacons posted over HTTP arrive on the topic as `rum.v1.Beacon`, equal to what was sent plus the
//! edge's fields and privacy steps (scrubbed URL, referrer origin, enrichment), under an idempotent
//! producer; and a broker outage sheds load with counted 503s,
//! loses nothing that was accepted, and delivers it once the broker is back.

#[path = "harness/broker.rs"]
mod broker;
#[path = "harness/http.rs"]
mod http;
#[path = "harness/rum.rs"]
mod rum;
#[path = "harness/wait.rs"]
mod wait;

use std::collections::HashSet;
use std::time::Duration;

use broker::Broker;
use rum::{Rum, RumOptions};
use serde_json::{Value, json};
use wait::{now_ms, wait_until};

const FULL: &str = include_str!("../crates/rum-schema/fixtures/beacon_full.json");

fn beacon_with_pid(pid: &str) -> Value {
    let mut beacon: Value = serde_json::from_str(FULL).unwrap();
    beacon["pid"] = json!(pid);
    beacon
}

fn collector(broker: &Broker, topic: &str, env: Vec<(&'static str, String)>) -> Rum {
    let rum = Rum::start(RumOptions {
        mode: "collector",
        args: vec![
            "--brokers".into(),
            broker.bootstrap(),
            "--topic".into(),
            topic.into(),
        ],
        env,
        ..RumOptions::default()
    })
    .unwrap();
    wait_until(
        "the kafka sink to be ready",
        Duration::from_secs(30),
        || rum.admin_get("/readyz").status == 200,
    );
    rum
}

/// The `sent` of the beacon with this page view id.
fn original_sent_ms(pid: &str, sent: &[Value]) -> i64 {
    sent.iter()
        .find(|beacon| beacon["pid"] == json!(pid))
        .and_then(|beacon| beacon["sent"].as_i64())
        .unwrap()
}

/// JSON numbers compared as numbers (`50` == `50.0`).
fn normalized(value: Value) -> Value {
    match value {
        Value::Number(number) => json!(number.as_f64().unwrap()),
        Value::Array(items) => Value::Array(items.into_iter().map(normalized).collect()),
        Value::Object(members) => Value::Object(
            members
                .into_iter()
                .map(|(k, v)| (k, normalized(v)))
                .collect(),
        ),
        other => other,
    }
}

#[test]
fn beacons_posted_over_http_arrive_on_the_topic_intact() {
    let broker = Broker::start().unwrap();
    let topic = broker::unique_topic("beacons");
    broker.create_topic(&topic, 3).unwrap();
    let rum = collector(&broker, &topic, vec![]);

    let before = now_ms();
    let sent: Vec<Value> = (0..6)
        .map(|n| beacon_with_pid(&format!("page-{n}")))
        .collect();
    for beacon in &sent {
        let response = rum.send(&serde_json::to_vec(beacon).unwrap());
        assert_eq!(response.status, 202, "{}", response.text());
    }
    let after = now_ms();

    let received = broker.read_topic(&topic, sent.len());
    for tailed in &received {
        let pid = &tailed.beacon.page_view_id;
        assert_eq!(
            tailed.key.as_deref(),
            Some(format!("demo/{pid}").as_bytes()),
            "partition key"
        );
        let recv = tailed.beacon.received_at_ms;
        assert!(
            (before..=after).contains(&recv),
            "receive time {recv} outside [{before}, {after}]"
        );

        let mut rendered = rum_schema::render::beacon_to_json(&tailed.beacon);
        let object = rendered.as_object_mut().unwrap();
        assert_eq!(object.remove("site"), Some(json!("demo")));
        assert_eq!(object.remove("recv"), Some(json!(recv)));
        // What the edge adds: no user agent in this request, no GeoIP database configured, and the
        // client clock skew, clamped to the default [-5 min, 1 day] (the fixture's `sent` is a
        // fixed date, so today that is the clamp).
        let skew = (recv - original_sent_ms(pid, &sent)).clamp(-300_000, 86_400_000);
        assert_eq!(
            object.remove("enrich"),
            Some(json!({
                "browser": "Other",
                "os": "Other",
                "device": "other",
                "route": "/products/:id",
                "clockSkew": skew,
            })),
            "enrichment of {pid}"
        );
        // The privacy step: query and fragment stripped, referrer cut to its origin.
        let mut expected = sent
            .iter()
            .find(|beacon| beacon["pid"] == json!(pid))
            .unwrap()
            .clone();
        expected["url"] = json!("https://shop.example.com/products/42");
        expected["ref"] = json!("https://www.google.com");
        // The edge names each call's endpoint (the host first: it leaves the page's host).
        for event in expected["events"].as_array_mut().unwrap() {
            if event["type"] == "request" {
                event["endpoint"] = json!("api.example.com/cart");
            }
        }
        assert_eq!(normalized(rendered), normalized(expected), "beacon {pid}");
    }

    // `rum tail` shows the same beacons as JSON lines.
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_rum"))
        .args(["tail", "--brokers", &broker.bootstrap(), "--topic", &topic])
        .args([
            "--from-beginning",
            "--max-messages",
            "6",
            "--idle-timeout",
            "30s",
        ])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let lines: Vec<Value> = String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert_eq!(lines.len(), 6);
    let pids: HashSet<&str> = lines
        .iter()
        .map(|line| line["pid"].as_str().unwrap())
        .collect();
    assert_eq!(pids.len(), 6);
    assert!(
        lines
            .iter()
            .all(|line| line["site"] == "demo" && line["events"].as_array().unwrap().len() == 9)
    );

    // Idempotence is in force: the broker assigned this producer an id.
    wait_until("idempotent producer id", Duration::from_secs(15), || {
        rum.metric("rum_sink_kafka_idempotent_producer_assigned") == 1.0
    });
    wait_until("delivery reports", Duration::from_secs(15), || {
        rum.metric("rum_sink_delivered_total{sink=\"kafka\"}") == 6.0
    });
    assert_eq!(
        rum.metric("rum_sink_produce_latency_seconds_count{sink=\"kafka\"}"),
        6.0
    );
    assert!(rum.terminate().success());
}

#[test]
fn a_broker_outage_sheds_load_loses_nothing_and_delivers_on_return() {
    let storage = rum::temp_path("tansu-storage", "d");
    std::fs::create_dir_all(&storage).unwrap();
    let mut broker = Broker::start_with_file_storage(&storage).unwrap();
    let topic = broker::unique_topic("outage");
    broker.create_topic(&topic, 1).unwrap();
    let queue = 20;
    let rum = collector(
        &broker,
        &topic,
        vec![
            ("RUM_KAFKA__QUEUE_MESSAGES", queue.to_string()),
            ("RUM_KAFKA__MESSAGE_TIMEOUT", "120s".into()),
            ("RUM_COLLECTOR__RETRY_AFTER", "7s".into()),
        ],
    );

    // Before the outage: delivered.
    for n in 0..3 {
        let response =
            rum.send(&serde_json::to_vec(&beacon_with_pid(&format!("before-{n}"))).unwrap());
        assert_eq!(response.status, 202);
    }
    wait_until("first deliveries", Duration::from_secs(20), || {
        rum.metric("rum_sink_delivered_total{sink=\"kafka\"}") == 3.0
    });

    broker.stop();
    let mut accepted = Vec::new();
    let mut shed = 0;
    for n in 0..(queue + 15) {
        let pid = format!("during-{n}");
        let response = rum.send(&serde_json::to_vec(&beacon_with_pid(&pid)).unwrap());
        match response.status {
            202 => accepted.push(pid),
            503 => {
                assert_eq!(response.json()["error"], "overloaded");
                assert_eq!(response.header("retry-after"), Some("7"));
                shed += 1;
            }
            other => panic!("unexpected status {other}: {}", response.text()),
        }
    }
    // The bounded queue took what it could hold and shed the rest, counted.
    assert_eq!(accepted.len(), queue, "accepted while the broker was down");
    assert_eq!(shed, 15);
    assert_eq!(
        rum.metric("rum_dropped_total{stage=\"edge\",reason=\"overloaded\",item=\"beacon\"}"),
        15.0
    );
    assert_eq!(
        rum.admin_get("/readyz").status,
        503,
        "not ready while the queue is full"
    );
    assert_eq!(
        rum.metric("rum_sink_delivery_errors_total{sink=\"kafka\",reason=\"MessageTimedOut\"}"),
        0.0
    );

    broker.start_again().unwrap();
    wait_until(
        "delivery after the broker returned",
        Duration::from_secs(90),
        || rum.metric("rum_sink_delivered_total{sink=\"kafka\"}") == (3 + queue) as f64,
    );
    wait_until(
        "readiness after the broker returned",
        Duration::from_secs(30),
        || rum.admin_get("/readyz").status == 200,
    );

    let on_topic: Vec<String> = broker
        .read_topic(&topic, 3 + queue)
        .into_iter()
        .map(|tailed| tailed.beacon.page_view_id)
        .collect();
    let expected: Vec<String> = (0..3)
        .map(|n| format!("before-{n}"))
        .chain(accepted)
        .collect();
    // One partition, one key per page view: order is kept too.
    assert_eq!(on_topic, expected);
    let failures: f64 = rum
        .metrics()
        .iter()
        .filter(|(key, _)| key.starts_with("rum_sink_delivery_errors_total"))
        .map(|(_, value)| value)
        .sum();
    assert_eq!(failures, 0.0);
    assert!(rum.terminate().success());
}
