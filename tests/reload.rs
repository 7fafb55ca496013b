//! Hot reload of the real `rum` binary while a load runs: keys added and removed, an origin allowed
//! and revoked, a bad file refused (the key named, the old config kept), SIGHUP; no request of the
//! load fails or waits.

#[path = "harness/http.rs"]
mod http;
#[path = "harness/rum.rs"]
mod rum;
#[path = "harness/wait.rs"]
mod wait;

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use rum::{Rum, RumOptions};
use wait::wait_until;

fn beacon(pid: &str) -> Vec<u8> {
    rum::full_beacon(pid)
}

/// An alert rule named `name` (its gauges show on `/metrics` once the evaluator has it).
fn rule(name: &str) -> String {
    format!(
        "[alerts]\ndefault_rules = false\n[[alerts.rules]]\nname = {name:?}\nmetric = \"lcp\"\n\
         statistic = \"p75\"\nop = \">\"\nthreshold = 2.5\nview = \"site\"\nwindow = \"5m\"\n"
    )
}

fn config(keys: &[&str], origins: &[&str]) -> String {
    config_with(keys, origins, &rule("FirstRule"))
}

fn config_with(keys: &[&str], origins: &[&str], extra: &str) -> String {
    let quoted = |items: &[&str]| {
        items
            .iter()
            .map(|item| format!("{item:?}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    format!(
        "{extra}\n[[sites]]\nid = \"shop\"\nkeys = [\"steady\", {}]\nallowed_origins = [\"https://shop.example\", {}]\n",
        quoted(keys),
        quoted(origins)
    )
}

fn post(rum: &Rum, key: &str, origin: &str) -> rum::HttpResponse {
    rum.post_beacon(
        &format!("key={key}"),
        &[("Content-Type", "text/plain"), ("Origin", origin)],
        &beacon("reload"),
    )
}

/// Writes the file and waits until the collector has applied (or refused) it.
fn rewrite(rum: &Rum, path: &Path, contents: &str, outcome: &str) {
    let key = format!("rum_config_reload_total{{outcome=\"{outcome}\"}}");
    let before = rum.metric(&key);
    std::fs::write(path, contents).unwrap();
    wait_until(
        &format!("reload {outcome}"),
        Duration::from_secs(15),
        || rum.metric(&key) > before,
    );
}

#[test]
fn keys_and_origins_change_under_load_and_a_bad_file_is_refused() {
    let path = rum::temp_path("rum-reload", "toml");
    std::fs::write(&path, config(&[], &[])).unwrap();
    let rum = Rum::start(RumOptions {
        mode: "standalone",
        args: vec!["--config".into(), path.display().to_string()],
        ..RumOptions::default()
    })
    .unwrap();

    // The load: one client posting with the steady key throughout.
    let stop = Arc::new(AtomicBool::new(false));
    let load = {
        let stop = Arc::clone(&stop);
        let address = rum.public;
        std::thread::spawn(move || {
            let mut answered = Vec::new();
            let body = beacon("steady");
            while !stop.load(Ordering::Relaxed) {
                let started = Instant::now();
                let response = http::request(
                    address,
                    "POST",
                    "/rum/v1/beacon?key=steady",
                    &[
                        ("Content-Type", "text/plain".to_owned()),
                        ("Origin", "https://shop.example".to_owned()),
                        ("Content-Length", body.len().to_string()),
                    ],
                    &body,
                );
                answered.push((response.status, started.elapsed()));
            }
            answered
        })
    };

    assert_eq!(
        post(&rum, "fresh", "https://shop.example").json()["error"],
        "unknown_key"
    );
    rewrite(&rum, &path, &config(&["fresh"], &[]), "ok");
    assert_eq!(
        post(&rum, "fresh", "https://shop.example").status,
        202,
        "key added"
    );

    assert_eq!(
        post(&rum, "fresh", "https://partner.example").json()["error"],
        "origin_not_allowed"
    );
    rewrite(
        &rum,
        &path,
        &config(&["fresh"], &["https://partner.example"]),
        "ok",
    );
    assert_eq!(
        post(&rum, "fresh", "https://partner.example").status,
        202,
        "origin allowed"
    );
    rewrite(&rum, &path, &config(&["fresh"], &[]), "ok");
    assert_eq!(
        post(&rum, "fresh", "https://partner.example").json()["error"],
        "origin_not_allowed",
        "origin revoked"
    );

    // A file that does not validate is refused, naming the key; the running config stays.
    rewrite(
        &rum,
        &path,
        &config(&["fresh"], &["not an origin"]),
        "invalid",
    );
    wait_until("the refusal logged", Duration::from_secs(5), || {
        rum.log_text().contains("sites[0].allowed_origins")
    });
    assert_eq!(
        post(&rum, "fresh", "https://shop.example").status,
        202,
        "old config kept"
    );

    rewrite(&rum, &path, &config(&[], &[]), "ok");
    assert_eq!(
        post(&rum, "fresh", "https://shop.example").json()["error"],
        "unknown_key",
        "key removed"
    );

    // Trusted proxies and alert rules change too.
    let forwarded = |origin: &str| {
        rum.metric(&format!(
            "rum_enrich_client_ips_total{{origin=\"{origin}\"}}"
        ))
    };
    let with_header = |rum: &Rum| {
        rum.post_beacon(
            "key=steady",
            &[
                ("Content-Type", "text/plain"),
                ("Origin", "https://shop.example"),
                ("X-Forwarded-For", "203.0.113.7"),
            ],
            &beacon("forwarded"),
        )
    };
    let ignored = forwarded("peer_header_ignored");
    assert_eq!(with_header(&rum).status, 202);
    assert_eq!(
        forwarded("peer_header_ignored"),
        ignored + 1.0,
        "loopback not trusted yet"
    );
    assert!(
        rum.admin_get("/metrics")
            .text()
            .contains("alertname=\"FirstRule\"")
    );
    let trusted = format!(
        "[enrich]\ntrusted_proxies = [\"127.0.0.1/32\"]\n{}",
        rule("SecondRule")
    );
    rewrite(&rum, &path, &config_with(&[], &[], &trusted), "ok");
    let believed = forwarded("x_forwarded_for");
    assert_eq!(with_header(&rum).status, 202);
    assert_eq!(
        forwarded("x_forwarded_for"),
        believed + 1.0,
        "the proxy is trusted now"
    );
    wait_until("the new alert rule", Duration::from_secs(10), || {
        rum.admin_get("/metrics")
            .text()
            .contains("alertname=\"SecondRule\"")
    });

    // SIGHUP reloads the same file too.
    let before = rum.metric("rum_config_reload_total{outcome=\"ok\"}");
    rum.signal("HUP");
    wait_until("reload on SIGHUP", Duration::from_secs(10), || {
        rum.metric("rum_config_reload_total{outcome=\"ok\"}") > before
    });

    stop.store(true, Ordering::Relaxed);
    let answered = load.join().unwrap();
    assert!(answered.len() > 20, "the load ran: {}", answered.len());
    let failed: Vec<_> = answered
        .iter()
        .filter(|(status, _)| *status != 202)
        .collect();
    assert!(
        failed.is_empty(),
        "requests failed during reloads: {failed:?}"
    );
    let slowest = answered.iter().map(|(_, took)| *took).max().unwrap();
    assert!(
        slowest < Duration::from_secs(1),
        "a request waited {slowest:?}"
    );
    assert!(rum.terminate().success());
}
