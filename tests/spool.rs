//! The collector's disk spool against a real broker (tansu with file storage, restarted here):
//! an outage longer than the producer's buffer with a SIGTERM in the middle delivers every
//! accepted beacon exactly once; in write-ahead mode a SIGKILL under load loses no beacon that
//! got a 202.

#[path = "harness/broker.rs"]
mod broker;
#[path = "harness/http.rs"]
mod http;
#[path = "harness/rum.rs"]
mod rum;
#[path = "harness/wait.rs"]
mod wait;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use broker::Broker;
use rum::{Rum, RumOptions};
use rum_schema::proto::event;
use serde_json::{Value, json};
use wait::wait_until;

const FULL: &str = include_str!("../crates/rum-schema/fixtures/beacon_full.json");

/// The full fixture with this page view id and metric ids of its own (`{pid}-m{n}`).
fn beacon(pid: &str) -> Vec<u8> {
    let mut beacon: Value = serde_json::from_str(FULL).unwrap();
    beacon["pid"] = json!(pid);
    for (n, event) in beacon["events"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .enumerate()
    {
        if event.get("id").is_some() {
            event["id"] = json!(format!("{pid}-m{n}"));
        }
    }
    serde_json::to_vec(&beacon).unwrap()
}

fn metric_ids(pid: &str) -> BTreeSet<String> {
    let beacon: Value = serde_json::from_str(FULL).unwrap();
    beacon["events"]
        .as_array()
        .unwrap()
        .iter()
        .enumerate()
        .filter(|(_, event)| event.get("id").is_some() && event["type"] == "vital")
        .map(|(n, _)| format!("{pid}-m{n}"))
        .collect()
}

fn spool_config(dir: &Path, mode: &str) -> String {
    format!(
        "[spool]\ndir = {:?}\nmode = {mode:?}\nsegment_bytes = \"64KiB\"\nmax_bytes = \"64MiB\"\n",
        dir.display().to_string()
    )
}

fn collector(broker: &Broker, topic: &str, config: &str, env: Vec<(&'static str, String)>) -> Rum {
    Rum::start(RumOptions {
        mode: "collector",
        config_toml: Some(config),
        args: vec![
            "--brokers".into(),
            broker.bootstrap(),
            "--topic".into(),
            topic.into(),
        ],
        env,
    })
    .unwrap()
}

/// The metric ids a beacon on the topic carries.
fn vital_ids(beacon: &rum_schema::proto::Beacon) -> BTreeSet<String> {
    beacon
        .events
        .iter()
        .filter_map(|event| match &event.kind {
            Some(event::Kind::Vital(vital)) => Some(vital.id.clone()),
            _ => None,
        })
        .collect()
}

/// What reached the topic: page view id -> metric ids, asserting each page view came once.
fn delivered(broker: &Broker, topic: &str, count: usize) -> BTreeMap<String, BTreeSet<String>> {
    let mut seen = BTreeMap::new();
    for tailed in broker.read_topic(topic, count) {
        let ids = vital_ids(&tailed.beacon);
        let pid = tailed.beacon.page_view_id;
        assert!(seen.insert(pid.clone(), ids).is_none(), "{pid} twice");
    }
    seen
}

fn segment_files(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .map(|entry| entry.unwrap().path())
                .filter(|path| path.extension().is_some_and(|e| e == "seg"))
                .collect()
        })
        .unwrap_or_default()
}

fn send_all(rum: &Rum, pids: impl IntoIterator<Item = String>) -> Vec<String> {
    let mut accepted = Vec::new();
    for pid in pids {
        let response = rum.send(&beacon(&pid));
        assert_eq!(response.status, 202, "{pid}: {}", response.text());
        accepted.push(pid);
    }
    accepted
}

#[test]
fn an_outage_longer_than_the_producer_buffer_with_a_restart_delivers_every_beacon_once() {
    let storage = rum::temp_path("tansu-storage", "d");
    std::fs::create_dir_all(&storage).unwrap();
    let spool_dir = rum::temp_path("rum-spool", "d");
    let mut broker = Broker::start_with_file_storage(&storage).unwrap();
    let topic = broker::unique_topic("spool-outage");
    broker.create_topic(&topic, 2).unwrap();
    // A producer buffer of 20 beacons that gives up after 3 s: the outage outlasts both.
    let env = vec![
        ("RUM_KAFKA__QUEUE_MESSAGES", "20".to_string()),
        ("RUM_KAFKA__MESSAGE_TIMEOUT", "3s".into()),
    ];
    let config = spool_config(&spool_dir, "overflow");
    let rum = collector(&broker, &topic, &config, env.clone());
    wait_until("the sink to be ready", Duration::from_secs(30), || {
        rum.admin_get("/readyz").text().contains("broker ready")
    });
    let mut accepted = send_all(&rum, (0..5).map(|n| format!("before-{n}")));
    wait_until("first deliveries", Duration::from_secs(20), || {
        rum.metric("rum_sink_delivered_total{sink=\"kafka\"}") == 5.0
    });

    broker.stop();
    // Beacons keep arriving for longer than the producer holds them: the first go to the
    // producer (which times them out into the spool), the rest straight to the spool.
    for second in 0..6 {
        accepted.extend(send_all(
            &rum,
            (0..10).map(|n| format!("outage-{second}-{n}")),
        ));
        std::thread::sleep(Duration::from_millis(1000));
    }
    assert_eq!(
        rum.admin_get("/readyz").status,
        200,
        "ready: the spool has room"
    );
    wait_until("timed-out beacons spooled", Duration::from_secs(20), || {
        rum.metric("rum_spool_appended_total{cause=\"delivery_failed\"}")
            + rum.metric("rum_spool_appended_total{cause=\"broker_down\"}")
            + rum.metric("rum_spool_appended_total{cause=\"queue_full\"}")
            > 0.0
    });
    // SIGTERM during the outage: what the producer still holds moves into the spool.
    assert!(rum.terminate().success(), "a clean shutdown");
    assert!(!segment_files(&spool_dir).is_empty(), "the spool kept them");

    // Restarted while the broker is still down: it takes new beacons and keeps the old ones.
    let rum = collector(&broker, &topic, &config, env);
    assert_eq!(
        rum.metric("rum_spool_recovered_total"),
        (accepted.len() - 5) as f64
    );
    accepted.extend(send_all(&rum, (0..10).map(|n| format!("restarted-{n}"))));

    broker.start_again().unwrap();
    wait_until("the spool replayed", Duration::from_secs(90), || {
        rum.metric("rum_spool_records") == 0.0
            && rum.metric("rum_sink_queue_depth{sink=\"kafka\"}") == 0.0
            && rum.metric("rum_sink_delivered_total{sink=\"kafka\"}") == (accepted.len() - 5) as f64
    });
    let on_topic = delivered(&broker, &topic, accepted.len());
    let expected: BTreeMap<String, BTreeSet<String>> = accepted
        .iter()
        .map(|pid| (pid.clone(), metric_ids(pid)))
        .collect();
    assert_eq!(on_topic, expected);
    for key in [
        "rum_dropped_total{stage=\"sink\",reason=\"spool_full\",item=\"beacon\"}",
        "rum_dropped_total{stage=\"sink\",reason=\"delivery_failed\",item=\"beacon\"}",
        "rum_dropped_total{stage=\"sink\",reason=\"spool_corrupt\",item=\"beacon\"}",
    ] {
        assert_eq!(rum.metric(key), 0.0, "{key}");
    }
    assert!(rum.terminate().success());
    assert!(
        segment_files(&spool_dir).is_empty(),
        "the spool is empty afterwards"
    );
}

#[test]
fn write_ahead_loses_no_acknowledged_beacon_to_a_sigkill() {
    let storage = rum::temp_path("tansu-storage", "d");
    std::fs::create_dir_all(&storage).unwrap();
    let spool_dir = rum::temp_path("rum-spool", "d");
    let broker = Broker::start_with_file_storage(&storage).unwrap();
    let topic = broker::unique_topic("spool-write-ahead");
    broker.create_topic(&topic, 2).unwrap();
    let config = spool_config(&spool_dir, "write-ahead");
    let rum = collector(&broker, &topic, &config, Vec::new());
    wait_until("the sink to be ready", Duration::from_secs(30), || {
        rum.admin_get("/readyz").text().contains("broker ready")
    });

    // Four clients post as fast as they are answered; SIGKILL lands in the middle of it.
    let address = rum.public;
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let clients: Vec<_> = (0..4)
        .map(|client| {
            let stop = std::sync::Arc::clone(&stop);
            std::thread::spawn(move || {
                let mut acknowledged = Vec::new();
                for n in 0.. {
                    if stop.load(std::sync::atomic::Ordering::Relaxed) {
                        break;
                    }
                    let pid = format!("wa-{client}-{n}");
                    let body = beacon(&pid);
                    let headers = [
                        ("Content-Type", "text/plain".to_string()),
                        ("Content-Length", body.len().to_string()),
                    ];
                    match http::try_request(
                        address,
                        "POST",
                        "/rum/v1/beacon?key=demo",
                        &headers,
                        &body,
                    ) {
                        Some(response) if response.status == 202 => acknowledged.push(pid),
                        Some(_) => {}
                        None => break,
                    }
                }
                acknowledged
            })
        })
        .collect();
    wait_until("load under way", Duration::from_secs(30), || {
        rum.metric("rum_collector_beacons_accepted_total") >= 300.0
    });
    rum.kill();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let acknowledged: Vec<String> = clients
        .into_iter()
        .flat_map(|client| client.join().unwrap())
        .collect();
    assert!(acknowledged.len() >= 300, "{}", acknowledged.len());

    let rum = collector(&broker, &topic, &config, Vec::new());
    wait_until("the spool replayed", Duration::from_secs(90), || {
        rum.metric("rum_spool_records") == 0.0
            && rum.metric("rum_sink_queue_depth{sink=\"kafka\"}") == 0.0
    });
    // At least once: every acknowledged beacon is on the topic; a crash may repeat some, with
    // the same ids.
    let tail = rum_transport::KafkaTail::new(
        &broker.bootstrap(),
        &topic,
        rum_transport::TailStart::Beginning,
        &BTreeMap::new(),
    )
    .unwrap();
    let mut on_topic: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut records = 0;
    while let Some(tailed) = tail.next_beacon(Duration::from_secs(3)).unwrap() {
        records += 1;
        let ids = vital_ids(&tailed.beacon);
        let pid = tailed.beacon.page_view_id;
        if let Some(earlier) = on_topic.insert(pid.clone(), ids.clone()) {
            assert_eq!(earlier, ids, "a duplicate of {pid} carries the same ids");
        }
    }
    let missing: Vec<&String> = acknowledged
        .iter()
        .filter(|pid| on_topic.get(*pid) != Some(&metric_ids(pid)))
        .collect();
    assert!(
        missing.is_empty(),
        "acknowledged but not delivered: {missing:?}"
    );
    eprintln!(
        "write-ahead SIGKILL: {} acknowledged, {} records on the topic ({} distinct)",
        acknowledged.len(),
        records,
        on_topic.len()
    );
    assert!(rum.terminate().success());
}
