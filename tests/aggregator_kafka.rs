//! `rum aggregator` behind a real Kafka-protocol broker (tansu with file storage, so restarts keep
//! the log): collectors write beacons, stage-1 and stage-2 workers aggregate them, and what the
//! workers' `/metrics` show together is compared with a reference.
//!
//! Exactness is checked against a second deployment on the same beacon topic (its own consumer
//! groups, partials and state topics) that runs undisturbed: both read the same log, tick records
//! included, so once both are on one clock (`on_one_clock`: the same last tick read by both) and
//! the stage-2 workers have drained the partials, the two must export the same segment families,
//! line for line, the settled cumulative histograms included. The first test also
//! compares a deployment with `rum standalone` fed the same beacons.
//!
//! The tests share two cores: they run one at a time.

#[path = "harness/broker.rs"]
mod broker;
#[path = "harness/http.rs"]
mod http;
#[path = "harness/rum.rs"]
mod rum;
#[path = "harness/wait.rs"]
mod wait;

use std::collections::BTreeMap;
use std::process::Command;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use broker::Broker;
use prost::Message;
use rum::{Rum, RumOptions};
use rum_schema::proto::Tick;
use rum_transport::log::LogProducer;
use rum_transport::{KafkaClientSettings, KafkaLogProducer, TICK_KEY};
use serde_json::{Value, json};
use wait::{now_ms, wait_for, wait_until};

const FULL: &str = include_str!("../crates/rum-schema/fixtures/beacon_full.json");
const CHROME: &str = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) \
    Chrome/131.0.0.0 Safari/537.36";
const BEACON_PARTITIONS: u32 = 4;
const PARTIALS_PARTITIONS: u32 = 3;

/// One test at a time: each runs a broker and several rum processes on two cores.
static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|poison| poison.into_inner())
}

/// One aggregator deployment: its consumer groups and its own partials and state topics.
struct Deployment {
    config: String,
    config_path: std::path::PathBuf,
}

impl Deployment {
    fn new(name: &str, beacons: &str, extra: &str) -> Deployment {
        let unique = broker::unique_topic(name);
        let config = format!(
            r#"
[sink]
kind = "kafka"

[kafka]
topic = "{beacons}"
partials_topic = "{unique}.partials"
stage1_state_topic = "{unique}.state1"
stage2_state_topic = "{unique}.state2"

[topics.beacons]
partitions = {BEACON_PARTITIONS}

[topics.partials]
partitions = {PARTIALS_PARTITIONS}

[aggregator]
consumer_group = "{unique}"
start_from = "earliest"
allowed_lateness = "0s"
tick_interval = "300ms"
chunk_records = 40
stage1_snapshot_interval = "1s"
stage2_snapshot_interval = "1s"
session_timeout = "6s"
{extra}

[[aggregator.views]]
name = "site"
dimensions = ["site"]
navigation = true
actions = true

[[aggregator.views]]
name = "site_route"
dimensions = ["site", "route"]

[[aggregator.funnels]]
name = "browse"
steps = [{{ route = "/p/home" }}, {{ route = "/p/cart" }}, {{ route = "/p/list" }}]

[alerts]
default_rules = false

[[sites]]
id = "shop"
keys = ["shop-key"]
allowed_origins = ["*"]

[[sites]]
id = "news"
keys = ["news-key"]
allowed_origins = ["*"]
"#
        );
        let config_path = rum::temp_path("rum-deployment", "toml");
        std::fs::write(&config_path, &config).unwrap();
        Deployment {
            config,
            config_path,
        }
    }

    /// `rum topics create` for this deployment (the shared beacon topic is created by the first).
    fn create_topics(&self, broker: &Broker) {
        let output = Command::new(env!("CARGO_BIN_EXE_rum"))
            .args([
                "topics",
                "create",
                "--brokers",
                &broker.bootstrap(),
                "--config",
            ])
            .arg(&self.config_path)
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "rum topics create: {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        // The brokers from the config (here its environment override) rather than the flag.
        let check = Command::new(env!("CARGO_BIN_EXE_rum"))
            .args(["topics", "check", "--config"])
            .arg(&self.config_path)
            .env("RUM_KAFKA__BROKERS", broker.bootstrap())
            .output()
            .unwrap();
        assert!(
            check.status.success(),
            "rum topics check: {}{}",
            String::from_utf8_lossy(&check.stdout),
            String::from_utf8_lossy(&check.stderr)
        );
    }

    fn worker(&self, broker: &Broker, stage: &str, env: Vec<(&'static str, String)>) -> Rum {
        Rum::start(RumOptions {
            mode: "aggregator",
            config_toml: Some(&self.config),
            args: vec![
                "--brokers".into(),
                broker.bootstrap(),
                "--stage".into(),
                stage.into(),
            ],
            env,
        })
        .unwrap()
    }

    /// A stage-1 worker that writes no ticks (its first would be an hour away): the clock of what
    /// it reads is then only the ticks already in the log and the test's last one.
    fn stage1_without_ticks(&self, broker: &Broker) -> Rum {
        let config = self
            .config
            .replace("tick_interval = \"300ms\"", "tick_interval = \"1h\"");
        assert_ne!(config, self.config, "the test config sets tick_interval");
        // Its brokers from the config (the environment override), not --brokers.
        Rum::start(RumOptions {
            mode: "aggregator",
            config_toml: Some(&config),
            args: vec!["--stage".into(), "1".into()],
            env: vec![("RUM_KAFKA__BROKERS", broker.bootstrap())],
        })
        .unwrap()
    }

    fn collector(&self, broker: &Broker) -> Rum {
        let rum = Rum::start(RumOptions {
            mode: "collector",
            config_toml: Some(&self.config),
            args: vec!["--brokers".into(), broker.bootstrap()],
            ..RumOptions::default()
        })
        .unwrap();
        wait_until(
            "the collector's kafka sink",
            Duration::from_secs(30),
            || rum.admin_get("/readyz").status == 200,
        );
        rum
    }
}

/// Beacon `index` of a run: two sites, a handful of routes, values that spread over buckets.
fn beacon(index: usize) -> (&'static str, Vec<u8>) {
    let mut beacon: Value = serde_json::from_str(FULL).unwrap();
    let site_key = if index.is_multiple_of(3) {
        "news-key"
    } else {
        "shop-key"
    };
    beacon["pid"] = json!(format!("pv-{index}"));
    beacon["sid"] = json!(format!("s-{}", index / 4));
    beacon["url"] = json!(format!(
        "https://shop.example.com/p/{}",
        ["home", "cart", "list", "help"][index % 4]
    ));
    beacon["sent"] = json!(now_ms());
    beacon["events"][0]["value"] = json!(300.0 + (index * 7919 % 5700) as f64);
    beacon["events"][1]["value"] = json!((index % 37) as f64 / 100.0);
    beacon["events"][2]["value"] = json!(40.0 + (index * 31 % 600) as f64);
    // What a Chromium page's exit beacon adds, so their partial and snapshot fields cross the
    // broker too: long frames, resources and calls by origin and endpoint, and a traced load.
    let third_party = ["https://ads.example", "https://cdn.example"][index % 2];
    let events = beacon["events"].as_array_mut().unwrap();
    events.push(
        json!({ "type": "loaf", "count": 1 + index % 3, "blocking": (index % 90) as f64,
        "scripts": { third_party: 50.0 + (index % 7) as f64, "https://shop.example.com": 12.5 } }),
    );
    events.push(json!({ "type": "resources",
        "origins": { third_party: { "bytes": 1000 * (index % 5), "untimed": index % 2,
                                    "durations": [20.0 + (index % 300) as f64, 75.5] } },
        "types": { "script": 1, "img": 1 } }));
    let second_status = [200, 404, 503, 0][index % 4];
    events.push(json!({ "type": "calls", "endpoints": {
        format!("GET https://shop.example.com/api/items/{index}"): {
            "durations": [30.0 + (index % 400) as f64, 95.0],
            "status": [200, second_status],
            "trace": format!("{:032x}", index + 1), "traced": 95.0 } } }));
    beacon["trace"] = json!(format!("{:032x}", index + 1_000_000));
    (site_key, serde_json::to_vec(&beacon).unwrap())
}

/// The same page view again with a grown CLS (a re-sent metric counts once, with its last value).
fn resend(index: usize) -> (&'static str, Vec<u8>) {
    let (key, body) = beacon(index);
    let mut beacon: Value = serde_json::from_slice(&body).unwrap();
    beacon["events"][1]["value"] = json!(0.5 + (index % 7) as f64 / 100.0);
    (key, serde_json::to_vec(&beacon).unwrap())
}

/// Sends one beacon, then lets a millisecond pass: a session's occurrences are ordered by receive
/// time (ms), and two of them in the same millisecond are ordered by their place in a chunk, which
/// differs between a fleet (the session's beacons in different partitions) and standalone (one
/// chunk). Seen here: a fast loopback put a session's home and cart page views in one
/// millisecond and the funnels of the two deployments differed by that session. Real page views
/// of one session are seconds apart.
fn send(rum: &Rum, (key, body): (&str, Vec<u8>)) {
    let response = rum.post_beacon(
        &format!("key={key}"),
        &[("Content-Type", "text/plain"), ("User-Agent", CHROME)],
        &body,
    );
    assert_eq!(response.status, 202, "{}", response.text());
    std::thread::sleep(Duration::from_millis(1));
}

/// The segment families (`rum_*` series with a `view` label) and the per-site session and
/// funnel families of one `/metrics`.
fn segment_series(rum: &Rum) -> BTreeMap<String, String> {
    let response = rum.admin_get("/metrics");
    assert_eq!(response.status, 200);
    response
        .text()
        .lines()
        .filter(|line| {
            (line.starts_with("rum_") && line.contains("{view=\""))
                || line.starts_with("rum_session")
                || line.starts_with("rum_funnel")
        })
        .filter_map(|line| line.rsplit_once(' '))
        .map(|(key, value)| (key.to_owned(), value.to_owned()))
        .collect()
}

/// The union of several workers' segment series, or the first series two of them export.
fn union(workers: &[&Rum]) -> Result<BTreeMap<String, String>, String> {
    let mut all = BTreeMap::new();
    for worker in workers {
        for (key, value) in segment_series(worker) {
            if all.insert(key.clone(), value).is_some() {
                return Err(key);
            }
        }
    }
    Ok(all)
}

fn page_views(series: &BTreeMap<String, String>) -> f64 {
    series
        .iter()
        .filter(|(key, _)| key.starts_with("rum_page_views_total{view=\"site\""))
        .map(|(_, value)| value.parse::<f64>().unwrap())
        .sum()
}

/// Waits until the workers' union shows `expected` page views, each series from one worker only,
/// and stays the same for a while (the partials are drained), and returns it.
fn settled_union(workers: &[&Rum], expected: f64, what: &str) -> BTreeMap<String, String> {
    settled_union_where(workers, expected, what, |_| true)
}

/// [`settled_union`] once every page view's LCP is in the cumulative histogram too (its minute
/// settled) and every session has ended: after [`on_one_clock`].
fn settled_in_full(workers: &[&Rum], expected: f64, what: &str) -> BTreeMap<String, String> {
    settled_union_where(workers, expected, what, |series| {
        let sum = |prefix: &str| -> f64 {
            series
                .iter()
                .filter(|(key, _)| key.starts_with(prefix))
                .map(|(_, value)| value.parse::<f64>().unwrap())
                .sum()
        };
        sum("rum_lcp_seconds_count{view=\"site\"") == expected
            && sum("rum_sessions_active{") == 0.0
            && sum("rum_sessions_total{") > 0.0
    })
}

fn settled_union_where(
    workers: &[&Rum],
    expected: f64,
    what: &str,
    done: impl Fn(&BTreeMap<String, String>) -> bool,
) -> BTreeMap<String, String> {
    let mut previous = Err(String::new());
    let mut stable_since = Instant::now();
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let current = union(workers);
        if current != previous {
            previous = current;
            stable_since = Instant::now();
        } else if let Ok(series) = &previous
            && page_views(series) == expected
            && done(series)
            && stable_since.elapsed() > Duration::from_secs(3)
        {
            assert!(!series.is_empty());
            return series.clone();
        }
        if Instant::now() > deadline {
            let seen = previous.as_ref().map(page_views);
            let report: Vec<String> = workers
                .iter()
                .map(|worker| {
                    let log = worker.log_text();
                    let saved = rum::temp_path("rum-worker-log", "txt");
                    let _ = std::fs::write(&saved, &log);
                    let tail: Vec<&str> = log.lines().rev().take(25).collect();
                    format!(
                        "worker {} (whole log in {}): owned stage1 {} stage2 {}, chunks applied {} duplicate {} gap {}; log tail:\n{}",
                        worker.admin,
                        saved.display(),
                        worker.metric("rum_aggregator_partitions_owned{stage=\"stage1\"}"),
                        worker.metric("rum_aggregator_partitions_owned{stage=\"stage2\"}"),
                        worker.metric("rum_aggregator_chunks_total{stage=\"stage2\",outcome=\"applied\"}"),
                        worker.metric("rum_aggregator_chunks_total{stage=\"stage2\",outcome=\"duplicate\"}"),
                        worker.metric("rum_aggregator_chunks_total{stage=\"stage2\",outcome=\"gap\"}"),
                        tail.into_iter().rev().collect::<Vec<_>>().join("\n")
                    )
                })
                .collect();
            panic!(
                "timed out waiting for {what}: page views {seen:?}, expected {expected}\n{}",
                report.join("\n")
            );
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// Waits until the workers together count `expected` page views (every beacon went through
/// stage 1), without waiting for the series to stop changing.
fn wait_page_views(workers: &[&Rum], expected: f64, what: &str) {
    wait_until(what, Duration::from_secs(120), || {
        union(workers).is_ok_and(|series| page_views(&series) == expected)
    });
}

/// Every series of `left` and `right` equal, with a readable report of the first differences.
fn assert_same(left: &BTreeMap<String, String>, right: &BTreeMap<String, String>, what: &str) {
    let mut differences = Vec::new();
    for (key, value) in left {
        match right.get(key) {
            Some(other) if other == value => {}
            other => differences.push(format!("{key}: {value} vs {other:?}")),
        }
    }
    for key in right.keys().filter(|key| !left.contains_key(*key)) {
        differences.push(format!("{key}: missing vs {}", right[key]));
    }
    assert!(
        differences.is_empty(),
        "{what}: {} differences, first: {:#?}",
        differences.len(),
        &differences[..differences.len().min(15)]
    );
    assert!(!left.is_empty(), "{what}: nothing exported");
}

/// The broker with file storage (restarts keep topics and records), its storage dir removed at
/// the end.
fn broker() -> (Broker, tempdir::Dir) {
    let dir = tempdir::Dir::new("tansu-aggregator");
    let broker = Broker::start_with_file_storage(dir.path()).unwrap();
    (broker, dir)
}

mod tempdir {
    /// A fresh temp dir, removed on drop.
    pub struct Dir(std::path::PathBuf);

    impl Dir {
        pub fn new(prefix: &str) -> Dir {
            let path = super::rum::temp_path(prefix, "d");
            std::fs::create_dir_all(&path).unwrap();
            Dir(path)
        }

        pub fn path(&self) -> &std::path::Path {
            &self.0
        }
    }

    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

#[test]
fn two_collectors_and_three_workers_export_what_standalone_does() {
    let _serial = serial();
    let (broker, _dir) = broker();
    let beacons = broker::unique_topic("beacons");
    let deployment = Deployment::new("fleet", &beacons, "");
    deployment.create_topics(&broker);
    let collectors = [deployment.collector(&broker), deployment.collector(&broker)];
    let workers = [
        deployment.worker(&broker, "both", Vec::new()),
        deployment.worker(&broker, "both", Vec::new()),
        deployment.worker(&broker, "both", Vec::new()),
    ];
    let standalone = Rum::start(RumOptions {
        mode: "standalone",
        config_toml: Some(
            &deployment
                .config
                .replace("kind = \"kafka\"", "kind = \"channel\""),
        ),
        ..RumOptions::default()
    })
    .unwrap();
    let count = 240;
    for index in 0..count {
        send(&collectors[index % 2], beacon(index));
        send(&standalone, beacon(index));
    }
    for index in (0..count).step_by(5) {
        send(&collectors[(index + 1) % 2], resend(index));
        send(&standalone, resend(index));
    }
    let workers: Vec<&Rum> = workers.iter().collect();
    // Every minute settled on both sides: the cumulative histograms hold every sample.
    let fleet = wait_for(
        "the fleet to settle every minute",
        Duration::from_secs(150),
        || {
            let series =
                settled_union(&workers, count as f64, "the fleet to count every page view");
            let settled = series
                .get("rum_lcp_seconds_count{view=\"site\",site=\"shop\"}")
                .and_then(|value| value.parse::<f64>().ok());
            (settled == Some(160.0)).then_some(series)
        },
    );
    let reference = wait_for("standalone to settle", Duration::from_secs(90), || {
        let series = segment_series(&standalone);
        (series
            .get("rum_lcp_seconds_count{view=\"site\",site=\"shop\"}")
            .map(String::as_str)
            == Some("160"))
        .then_some(series)
    });
    // What does not depend on which minute a beacon was stamped in: the 1h windows, counters and
    // the cumulative histograms. Not the sums of times between a session's beacons: the fleet and
    // standalone received each beacon at a different instant.
    let comparable = |series: &BTreeMap<String, String>| -> BTreeMap<String, String> {
        series
            .iter()
            .filter(|(key, _)| {
                !key.starts_with("rum_funnel_step_seconds_sum")
                    && !key.starts_with("rum_session_duration_seconds_sum")
            })
            .filter(|(key, _)| {
                key.contains("window=\"1h\"")
                    || key.contains("_total{")
                    || key.contains("_bucket{")
                    || key.contains("_seconds_sum{")
                    || key.contains("_seconds_count{")
                    || key.starts_with("rum_cls_sum{")
                    || key.starts_with("rum_cls_count{")
            })
            .map(|(key, value)| (key.clone(), value.clone()))
            .collect()
    };
    assert_same(
        &comparable(&fleet),
        &comparable(&reference),
        "fleet vs standalone",
    );
    // The comparison covers the named families the exit beacons add.
    for family in [
        "rum_request_duration_seconds_bucket{view=\"site\"",
        "rum_long_frame_script_seconds_total{view=\"site\"",
        "rum_resource_duration_seconds_bucket{view=\"site\"",
        "rum_long_frames_total{view=\"site_route\"",
    ] {
        assert!(
            comparable(&fleet).keys().any(|key| key.starts_with(family)),
            "the fleet exports {family}"
        );
    }
    // Each worker's view endpoints answer for the sites it owns: together, both sites, once each.
    let mut sites: Vec<String> = workers
        .iter()
        .flat_map(|worker| {
            let body: Value =
                serde_json::from_str(&worker.admin_get("/api/v1/sites").text()).unwrap();
            body["sites"]
                .as_array()
                .unwrap()
                .iter()
                .map(|site| site["site"].as_str().unwrap().to_owned())
                .collect::<Vec<_>>()
        })
        .collect();
    sites.sort();
    assert_eq!(sites, ["news", "shop"]);
    let owner = workers
        .iter()
        .find(|worker| worker.admin_get("/api/v1/summary?site=shop").status == 200)
        .expect("a worker owns shop");
    let summary: Value = serde_json::from_str(
        &owner
            .admin_get("/api/v1/summary?site=shop&window=1h")
            .text(),
    )
    .unwrap();
    assert_eq!(summary["totals"]["page_views"], 160);
    // Each worker owns some segments (three workers, three partials partitions).
    let owners = workers
        .iter()
        .filter(|worker| !segment_series(worker).is_empty())
        .count();
    assert!(
        owners >= 2,
        "segments spread over the workers ({owners} own some)"
    );
}

/// How far ahead of the beacons the last tick is: past the session idle time (30 min), so
/// every session has ended and its duration, bounce, entry and exit are compared too; within the
/// 1 h window, so the quantiles still are.
const LAST_TICK_AHEAD_MS: i64 = 31 * 60_000;

/// Puts the deployments on one clock before their exports are compared. Time moves by the ticks
/// stage-1 workers write into the beacon partitions they own, so workers stopped one after the
/// other have read different ticks: when a minute turns in between, one deployment settles that
/// minute and the other does not. So every stage-1 worker stops, each deployment gets one that
/// writes no ticks, and the test writes one last tick [`LAST_TICK_AHEAD_MS`] ahead into every
/// beacon partition, after any tick a worker wrote. Both read the same log to its end and settle
/// the same minutes, the beacons' own included, so the cumulative histograms are compared full.
fn on_one_clock(
    broker: &Broker,
    beacons: &str,
    stage1s: Vec<Rum>,
    deployments: &[&Deployment],
) -> Vec<Rum> {
    for worker in stage1s {
        assert!(worker.terminate().success());
    }
    let quiet: Vec<Rum> = deployments
        .iter()
        .map(|deployment| deployment.stage1_without_ticks(broker))
        .collect();
    for worker in &quiet {
        wait_owning(worker, "stage1");
    }
    write_last_tick(broker, beacons, now_ms() + LAST_TICK_AHEAD_MS);
    quiet
}

/// One tick at `at_ms` into every partition of the beacon topic, as a stage-1 worker writes it.
fn write_last_tick(broker: &Broker, beacons: &str, at_ms: i64) {
    let client = KafkaClientSettings {
        brokers: broker.bootstrap(),
        client_id: "rum-test-clock".into(),
        properties: BTreeMap::new(),
    };
    let mut producer = KafkaLogProducer::new(&client, Duration::from_secs(30)).unwrap();
    let tick = Tick { at_ms }.encode_to_vec();
    for partition in 0..BEACON_PARTITIONS {
        producer
            .send(
                beacons,
                partition as i32,
                Some(TICK_KEY),
                &tick,
                u64::from(partition),
            )
            .unwrap();
    }
    assert_eq!(
        producer.flush(Duration::from_secs(30)),
        0,
        "last ticks flushed"
    );
    let mut reports = Vec::new();
    producer.deliveries(&mut reports);
    assert_eq!(reports.len(), BEACON_PARTITIONS as usize);
    for report in reports {
        report.result.expect("last tick written");
    }
}

/// Sends `range` through `collector`, with re-sends of every fifth.
fn wave(collector: &Rum, range: std::ops::Range<usize>) {
    for index in range.clone() {
        send(collector, beacon(index));
    }
    for index in range.step_by(5) {
        send(collector, resend(index));
    }
}

/// Waits until `worker` owns partitions of its stage and has rebuilt their state. (Changing the
/// group's membership again while it is still settling trips tansu 0.6.0: a group whose leader was
/// killed, and that a member then leaves mid-rebalance, never completes a rebalance again.)
fn wait_owning(worker: &Rum, stage: &str) {
    wait_until(
        &format!("the {stage} worker to own partitions"),
        Duration::from_secs(90),
        || {
            worker.metric(&format!(
                "rum_aggregator_partitions_owned{{stage=\"{stage}\"}}"
            )) > 0.0
                && worker.admin_get("/readyz").status == 200
        },
    );
}

/// Waits for a worker started with a kill point to reach it, then SIGKILLs it.
fn kill_at_point(worker: Rum, point: &str) {
    worker
        .wait_for_log(
            &format!("RUM_TEST_KILL_POINT_REACHED {point}"),
            Duration::from_secs(60),
        )
        .unwrap();
    worker.kill();
}

#[test]
fn a_worker_killed_at_each_critical_point_and_restarted_is_exact() {
    let _serial = serial();
    let (broker, _dir) = broker();
    let beacons = broker::unique_topic("beacons");
    let reference = Deployment::new("reference", &beacons, "");
    let tested = Deployment::new("tested", &beacons, "");
    reference.create_topics(&broker);
    tested.create_topics(&broker);
    let collector = reference.collector(&broker);
    let reference_stage1 = reference.worker(&broker, "1", Vec::new());
    let reference_stage2 = reference.worker(&broker, "2", Vec::new());
    let mut stage2 = tested.worker(&broker, "2", Vec::new());
    wait_owning(&stage2, "stage2");
    let kill = |point: &str| vec![("RUM_TEST_KILL_POINT", format!("{point}:3"))];
    let mut sent = 0;
    // Stage 1: killed before a chunk's partials go out, with some out, and with a snapshot and its
    // chunks acknowledged but not committed; each time a new worker takes over.
    for point in [
        "stage1.before_chunk_produce",
        "stage1.chunk_partly_produced",
        "stage1.before_commit",
    ] {
        let doomed = tested.worker(&broker, "1", kill(point));
        wave(&collector, sent..sent + 60);
        sent += 60;
        kill_at_point(doomed, point);
    }
    let stage1 = tested.worker(&broker, "1", Vec::new());
    wait_owning(&stage1, "stage1");
    // Stage 2: killed after applying chunks it has not snapshotted, and in the middle of a
    // snapshot.
    for point in ["stage2.after_apply", "stage2.during_snapshot"] {
        assert!(stage2.terminate().success());
        let doomed = tested.worker(&broker, "2", kill(point));
        wave(&collector, sent..sent + 60);
        sent += 60;
        kill_at_point(doomed, point);
        stage2 = tested.worker(&broker, "2", Vec::new());
        wait_owning(&stage2, "stage2");
    }
    wave(&collector, sent..sent + 60);
    sent += 60;
    let expected = sent as f64;
    // Every beacon through both stage 1s; then both deployments on one clock.
    wait_page_views(
        &[&reference_stage2],
        expected,
        "the reference to count every page view",
    );
    wait_page_views(
        &[&stage2],
        expected,
        "the killed deployment to count every page view",
    );
    let _quiet = on_one_clock(
        &broker,
        &beacons,
        vec![stage1, reference_stage1],
        &[&tested, &reference],
    );
    let want = settled_in_full(
        &[&reference_stage2],
        expected,
        "the reference to count every page view",
    );
    let got = settled_in_full(
        &[&stage2],
        expected,
        "the killed deployment to count every page view",
    );
    assert_same(&got, &want, "killed and restarted vs undisturbed");
    let applied = stage2.metric("rum_aggregator_chunks_total{stage=\"stage2\",outcome=\"gap\"}");
    assert_eq!(applied, 0.0, "no gaps");
}

#[test]
fn workers_killed_at_random_moments_are_exact() {
    let _serial = serial();
    let (broker, _dir) = broker();
    let beacons = broker::unique_topic("beacons");
    let reference = Deployment::new("reference", &beacons, "");
    let tested = Deployment::new("tested", &beacons, "");
    reference.create_topics(&broker);
    tested.create_topics(&broker);
    let collector = reference.collector(&broker);
    let reference_stage1 = reference.worker(&broker, "1", Vec::new());
    let reference_stage2 = reference.worker(&broker, "2", Vec::new());
    let mut worker = tested.worker(&broker, "both", Vec::new());
    // A deterministic "random" schedule: kills after 0.4 to 2.5 s of traffic.
    let mut seed: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut sent = 0;
    for _ in 0..5 {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let burst = 10 + (seed % 50) as usize;
        wave(&collector, sent..sent + burst);
        sent += burst;
        std::thread::sleep(Duration::from_millis(400 + seed % 2100));
        worker.kill();
        worker = tested.worker(&broker, "both", Vec::new());
    }
    wave(&collector, sent..sent + 30);
    sent += 30;
    let expected = sent as f64;
    // A stage-2-only worker joins; once the tested deployment has counted everything, both go on
    // one clock (the "both" worker stops, the drain worker keeps stage 2).
    let drain = tested.worker(&broker, "2", Vec::new());
    settled_union(
        &[&worker, &drain],
        expected,
        "the tested deployment to count every page view",
    );
    let _quiet = on_one_clock(
        &broker,
        &beacons,
        vec![worker, reference_stage1],
        &[&tested, &reference],
    );
    let want = settled_in_full(&[&reference_stage2], expected, "the reference");
    let got = settled_in_full(&[&drain], expected, "the tested deployment");
    assert_same(&got, &want, "randomly killed vs undisturbed");
}

#[test]
fn workers_joining_leaving_and_a_zombie_are_exact() {
    let _serial = serial();
    let (broker, _dir) = broker();
    let beacons = broker::unique_topic("beacons");
    let reference = Deployment::new("reference", &beacons, "");
    let tested = Deployment::new("tested", &beacons, "");
    reference.create_topics(&broker);
    tested.create_topics(&broker);
    let collector = reference.collector(&broker);
    let reference_stage1 = reference.worker(&broker, "1", Vec::new());
    let reference_stage2 = reference.worker(&broker, "2", Vec::new());
    let stage1 = tested.worker(&broker, "1", Vec::new());
    let first = tested.worker(&broker, "2", Vec::new());
    let second = tested.worker(&broker, "2", Vec::new());
    wave(&collector, 0..60);
    // A third joins.
    let third = tested.worker(&broker, "2", Vec::new());
    wave(&collector, 60..120);
    // One leaves cleanly.
    assert!(first.terminate().success());
    wave(&collector, 120..180);
    // One freezes past the session timeout (6 s), then wakes up and still writes and commits.
    second.signal("STOP");
    wave(&collector, 180..220);
    std::thread::sleep(Duration::from_secs(9));
    // A member joining makes the group rebalance (tansu only reassigns a silent member's
    // partitions when membership changes).
    let fourth = tested.worker(&broker, "2", Vec::new());
    wave(&collector, 220..260);
    second.signal("CONT");
    wave(&collector, 260..300);
    let expected = 300.0;
    wait_page_views(
        &[&reference_stage2],
        expected,
        "the reference to count every page view",
    );
    wait_page_views(
        &[&second, &third, &fourth],
        expected,
        "the tested workers to count every page view",
    );
    let _quiet = on_one_clock(
        &broker,
        &beacons,
        vec![stage1, reference_stage1],
        &[&tested, &reference],
    );
    let want = settled_in_full(&[&reference_stage2], expected, "the reference");
    let got = settled_in_full(&[&second, &third, &fourth], expected, "the tested workers");
    assert_same(&got, &want, "rebalanced with a zombie vs undisturbed");
}

#[test]
fn a_broker_killed_and_restarted_mid_stream_loses_and_doubles_nothing() {
    let _serial = serial();
    let (mut broker, _dir) = broker();
    let beacons = broker::unique_topic("beacons");
    let deployment = Deployment::new("survivor", &beacons, "");
    deployment.create_topics(&broker);
    let collector = deployment.collector(&broker);
    let worker = deployment.worker(&broker, "both", Vec::new());
    let standalone = Rum::start(RumOptions {
        mode: "standalone",
        config_toml: Some(
            &deployment
                .config
                .replace("kind = \"kafka\"", "kind = \"channel\""),
        ),
        ..RumOptions::default()
    })
    .unwrap();
    for index in 0..80 {
        send(&collector, beacon(index));
        send(&standalone, beacon(index));
    }
    std::thread::sleep(Duration::from_secs(2));
    broker.stop();
    // Beacons keep arriving while the broker is down (the collector's producer holds them).
    for index in 80..120 {
        send(&collector, beacon(index));
        send(&standalone, beacon(index));
    }
    std::thread::sleep(Duration::from_secs(3));
    broker.start_again().unwrap();
    for index in 120..160 {
        send(&collector, beacon(index));
        send(&standalone, beacon(index));
    }
    wait_until(
        "the collector to deliver every beacon",
        Duration::from_secs(120),
        || collector.metric("rum_sink_delivered_total{sink=\"kafka\"}") == 160.0,
    );
    let fleet = settled_union(&[&worker], 160.0, "the worker to count every page view");
    let reference = segment_series(&standalone);
    // Not the funnels: their steps become final at minute boundaries, and without one clock (see
    // `on_one_clock`, which the fleet test uses to compare them) a boundary can pass between
    // reading the worker and reading standalone.
    let comparable = |series: &BTreeMap<String, String>| -> BTreeMap<String, String> {
        series
            .iter()
            .filter(|(key, _)| key.contains("window=\"1h\"") || key.contains("_total{"))
            .filter(|(key, _)| !key.starts_with("rum_funnel"))
            .map(|(key, value)| (key.clone(), value.clone()))
            .collect()
    };
    assert_same(
        &comparable(&fleet),
        &comparable(&reference),
        "after a broker restart vs standalone",
    );
}

#[test]
fn an_idle_beacon_partition_does_not_hold_windows_open() {
    let _serial = serial();
    let (broker, _dir) = broker();
    let beacons = broker::unique_topic("beacons");
    let deployment = Deployment::new("idle", &beacons, "");
    deployment.create_topics(&broker);
    let collector = deployment.collector(&broker);
    let worker = deployment.worker(&broker, "both", Vec::new());
    // Two beacons: at most two of the four beacon partitions carry data.
    send(&collector, beacon(1));
    send(&collector, beacon(2));
    // The minute they fell in settles into the cumulative histogram once every partition's tick
    // passes its end, idle ones included (their owner writes ticks into them).
    // Up to a minute for the minute to end, plus the group forming and the pipeline's delay.
    let deadline = Instant::now() + Duration::from_secs(150);
    while worker.metric("rum_lcp_seconds_count{view=\"site\",site=\"shop\"}") != 2.0 {
        if Instant::now() > deadline {
            let metrics = worker.admin_get("/metrics").text();
            let health: Vec<&str> = metrics
                .lines()
                .filter(|line| {
                    line.starts_with("rum_aggregator_")
                        || line.starts_with("rum_lcp_window_samples")
                })
                .collect();
            panic!(
                "the cumulative LCP histogram did not fill within 150 s\n{}\nlog:\n{}",
                health.join("\n"),
                worker.log_text()
            );
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    assert_eq!(
        worker.metric("rum_aggregator_chunks_total{stage=\"stage2\",outcome=\"gap\"}"),
        0.0
    );
}

/// A stage-2 worker takes up new alert rules from its config file on SIGHUP, as standalone does:
/// the evaluators of the partitions it owns rebuild with them (a new rule's gauges appear on
/// `/metrics`), and the reload is counted.
#[test]
fn a_stage2_worker_reloads_its_alert_rules_on_sighup() {
    let _serial = serial();
    let (broker, _dir) = broker();
    let beacons = broker::unique_topic("beacons");
    let deployment = Deployment::new("rules", &beacons, "");
    deployment.create_topics(&broker);
    let with_rule = |name: &str| {
        let config = deployment.config.replace(
            "default_rules = false",
            "default_rules = false\nevaluation_interval = \"1s\"",
        );
        assert_ne!(config, deployment.config, "the test config sets [alerts]");
        format!(
            "{config}\n[[alerts.rules]]\nname = {name:?}\nmetric = \"lcp\"\nstatistic = \"p75\"\n\
             op = \">\"\nthreshold = 2.5\nview = \"site\"\nwindow = \"5m\"\n"
        )
    };
    let path = rum::temp_path("rum-worker-rules", "toml");
    std::fs::write(&path, with_rule("FirstRule")).unwrap();
    let worker = Rum::start(RumOptions {
        mode: "aggregator",
        args: vec![
            "--config".into(),
            path.display().to_string(),
            "--brokers".into(),
            broker.bootstrap(),
            "--stage".into(),
            "2".into(),
        ],
        ..RumOptions::default()
    })
    .unwrap();
    let has_rule = |name: &str| {
        worker
            .admin_get("/metrics")
            .text()
            .contains(&format!("alertname=\"{name}\""))
    };
    wait_until(
        "the worker's evaluators to have the first rule",
        Duration::from_secs(60),
        || has_rule("FirstRule"),
    );
    std::fs::write(&path, with_rule("SecondRule")).unwrap();
    worker.signal("HUP");
    wait_until(
        "the worker's evaluators to take up the second rule",
        Duration::from_secs(30),
        || has_rule("SecondRule"),
    );
    assert_eq!(
        worker.metric("rum_config_reload_total{outcome=\"ok\"}"),
        1.0,
        "{}",
        worker.log_text()
    );
    // A config that does not validate is refused and counted; the rules stay.
    std::fs::write(
        &path,
        with_rule("Broken").replace("op = \">\"", "op = \"sideways\""),
    )
    .unwrap();
    worker.signal("HUP");
    wait_until(
        "the refused reload to be counted",
        Duration::from_secs(30),
        || worker.metric("rum_config_reload_total{outcome=\"invalid\"}") == 1.0,
    );
    assert!(!has_rule("Broken"));
}
