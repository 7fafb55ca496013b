//! `rum standalone` keeps its windows across a restart (`aggregator.state_dir`): beacons in,
//! SIGTERM, start again: the same windows, quantiles and counters. Saved every `state_interval`
//! too, so a SIGKILL loses at most that much. A corrupt state file is reported and ignored.

#[path = "harness/http.rs"]
mod http;
#[path = "harness/rum.rs"]
mod rum;
#[path = "harness/wait.rs"]
mod wait;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use rum::{Rum, RumOptions};
use serde_json::{Value, json};
use wait::{now_ms, wait_until};

fn config(state_dir: &Path) -> String {
    format!(
        "[aggregator]\nstate_dir = {:?}\nstate_interval = \"1s\"\n",
        state_dir.display().to_string()
    )
}

fn start(config: &str) -> Rum {
    Rum::start(RumOptions {
        mode: "standalone",
        config_toml: Some(config),
        ..RumOptions::default()
    })
    .unwrap()
}

/// `count` page views on two routes, LCPs spread over the buckets.
fn send(rum: &Rum, first: usize, count: usize) {
    for index in first..first + count {
        let body = serde_json::to_vec(&json!({
            "v": 1, "sid": format!("s{}", index / 3), "pid": format!("pv-{index}"),
            "url": format!("https://shop.example.com/{}", ["cart", "home"][index % 2]),
            "nav": "navigate", "sent": now_ms(),
            "events": [{ "type": "vital", "name": "LCP", "value": 400.0 + (index * 997 % 5000) as f64,
                         "id": "lcp-1" }]
        }))
        .unwrap();
        let response = rum.post_beacon("key=demo", &[("Content-Type", "text/plain")], &body);
        assert_eq!(response.status, 202, "{}", response.text());
    }
}

/// The series a restart must keep: counters and the 1h windows (a 5m window may lose a minute
/// while the process is down).
fn kept(rum: &Rum) -> BTreeMap<String, String> {
    rum.admin_get("/metrics")
        .text()
        .lines()
        .filter(|line| line.starts_with("rum_") && line.contains("{view=\""))
        .filter(|line| line.contains("window=\"1h\"") || line.contains("_total{"))
        .filter_map(|line| line.rsplit_once(' '))
        .map(|(key, value)| (key.to_owned(), value.to_owned()))
        .collect()
}

fn page_views(rum: &Rum) -> f64 {
    rum.metric(r#"rum_page_views_total{view="site",site="demo"}"#)
}

fn summary(rum: &Rum) -> Value {
    serde_json::from_str(&rum.admin_get("/api/v1/summary?site=demo&window=1h").text()).unwrap()
}

struct TempDir(std::path::PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn windows_quantiles_and_counters_survive_sigterm_and_a_kill_loses_at_most_the_interval() {
    let dir = TempDir(rum::temp_path("rum-state", "d"));
    let config = config(&dir.0);
    let first = start(&config);
    send(&first, 0, 60);
    wait_until("60 page views", Duration::from_secs(30), || {
        page_views(&first) == 60.0
    });
    let before = kept(&first);
    let before_summary = summary(&first);
    assert!(before.len() > 10, "{before:?}");
    assert!(first.terminate().success());
    assert!(dir.0.join("standalone-stage2.state").exists());

    let second = start(&config);
    second
        .wait_for_log("stage 2 state restored", Duration::from_secs(10))
        .unwrap();
    assert_eq!(kept(&second), before, "the same series after a restart");
    let after_summary = summary(&second);
    assert_eq!(after_summary["vitals"], before_summary["vitals"]);
    assert_eq!(after_summary["totals"], before_summary["totals"]);
    assert_eq!(after_summary["activity"], before_summary["activity"]);

    // More beacons, a save (every second), then SIGKILL: the next start still has them.
    send(&second, 60, 30);
    wait_until("90 page views", Duration::from_secs(30), || {
        page_views(&second) == 90.0
    });
    std::thread::sleep(Duration::from_millis(2_500));
    let before_kill = kept(&second);
    second.kill();
    let third = start(&config);
    third
        .wait_for_log("stage 2 state restored", Duration::from_secs(10))
        .unwrap();
    assert_eq!(page_views(&third), 90.0);
    assert_eq!(kept(&third), before_kill);
    assert!(third.terminate().success());
}

#[test]
fn a_corrupt_state_file_is_reported_and_ignored() {
    let dir = TempDir(rum::temp_path("rum-state-corrupt", "d"));
    std::fs::create_dir_all(&dir.0).unwrap();
    std::fs::write(
        dir.0.join("standalone-stage2.state"),
        b"RUMSTAT1 not really",
    )
    .unwrap();
    let rum = start(&config(&dir.0));
    rum.wait_for_log("saved stage 2 state ignored", Duration::from_secs(10))
        .unwrap();
    assert!(rum.log_text().contains("corrupt"), "{}", rum.log_text());
    // It runs normally, starting empty, and its next save replaces the bad file.
    send(&rum, 0, 3);
    wait_until("3 page views", Duration::from_secs(30), || {
        page_views(&rum) == 3.0
    });
    assert!(rum.terminate().success());
    let restarted = start(&config(&dir.0));
    restarted
        .wait_for_log("stage 2 state restored", Duration::from_secs(10))
        .unwrap();
    assert_eq!(page_views(&restarted), 3.0);
}
