//! Abuse limits of the real `rum` binary: per-site and per-network token buckets answer 429 with
//! Retry-After and leave other sites and networks alone; the memory watermark answers 503; slow
//! clients (slowloris headers, trickled bodies) are cut off by the header and body timeouts while
//! other clients are served; all of it counted in the drop ledger.

#[path = "harness/http.rs"]
mod http;
#[path = "harness/rum.rs"]
mod rum;
#[path = "harness/wait.rs"]
mod wait;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use rum::{Rum, RumOptions};
use wait::wait_until;

const CHROME: &str = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) \
    Chrome/131.0.0.0 Safari/537.36";

fn beacon(pid: &str) -> Vec<u8> {
    rum::full_beacon(pid)
}

fn standalone(config: &str) -> Rum {
    Rum::start(RumOptions {
        mode: "standalone",
        config_toml: Some(config),
        ..RumOptions::default()
    })
    .unwrap()
}

/// Posts a beacon for `key` as if from `client` behind the trusted proxy (loopback).
fn post_from(rum: &Rum, key: &str, client: &str, pid: &str) -> rum::HttpResponse {
    rum.post_beacon(
        &format!("key={key}"),
        &[
            ("Content-Type", "text/plain"),
            ("User-Agent", CHROME),
            ("X-Forwarded-For", client),
        ],
        &beacon(pid),
    )
}

fn dropped(rum: &Rum, reason: &str) -> f64 {
    rum.metric(&format!(
        "rum_dropped_total{{stage=\"edge\",reason=\"{reason}\",item=\"beacon\"}}"
    ))
}

const LIMITS: &str = r#"
[enrich]
trusted_proxies = ["127.0.0.1/32"]

[limits]
network_rate = 0.5
network_burst = 4

[[sites]]
id = "open"
keys = ["open-key"]
allowed_origins = ["*"]

[[sites]]
id = "capped"
keys = ["capped-key", "capped-key-2"]
allowed_origins = ["*"]
rate = 0.5
burst = 3
"#;

#[test]
fn rate_limits_refuse_the_noisy_client_and_site_and_nobody_else() {
    let rum = standalone(LIMITS);
    // A network gets its burst, then 429 with Retry-After; its neighbour in the same /24 too.
    for n in 0..4 {
        let response = post_from(&rum, "open-key", "198.51.100.1", &format!("noisy-{n}"));
        assert_eq!(response.status, 202, "{}", response.text());
    }
    let refused = post_from(&rum, "open-key", "198.51.100.200", "noisy-over");
    assert_eq!(refused.status, 429);
    assert_eq!(refused.json()["error"], "network_rate_limited");
    let retry_after: u64 = refused.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=2).contains(&retry_after), "{retry_after}");
    // Another network is not affected.
    for n in 0..4 {
        let response = post_from(&rum, "open-key", "203.0.113.9", &format!("quiet-{n}"));
        assert_eq!(response.status, 202, "{}", response.text());
    }
    // The capped site: its keys share one bucket of 3, whatever network sends.
    for (n, key) in ["capped-key", "capped-key-2", "capped-key"]
        .iter()
        .enumerate()
    {
        let client = format!("192.0.2.{n}");
        let response = post_from(&rum, key, &format!("10.{n}.0.1"), &format!("capped-{n}"));
        assert_eq!(response.status, 202, "{client}: {}", response.text());
    }
    let refused = post_from(&rum, "capped-key-2", "10.9.0.1", "capped-over");
    assert_eq!(refused.status, 429);
    assert_eq!(refused.json()["error"], "site_rate_limited");
    assert!(refused.header("retry-after").is_some());
    // The other site, from a fresh network, is not affected.
    let response = post_from(&rum, "open-key", "10.20.0.1", "open-after");
    assert_eq!(response.status, 202);

    assert_eq!(dropped(&rum, "network_rate_limited"), 1.0);
    assert_eq!(dropped(&rum, "site_rate_limited"), 1.0);
    assert_eq!(
        rum.metric("rum_collector_requests_total{status=\"429\"}"),
        2.0
    );
    assert_eq!(rum.metric("rum_collector_beacons_accepted_total"), 12.0);
}

#[test]
fn above_the_memory_watermark_new_beacons_get_503() {
    // Far below what any process needs: every beacon is refused once the sampler has run.
    let rum = standalone(
        "[limits]\nmemory_high_watermark = \"1MiB\"\n[collector]\nretry_after = \"9s\"\n",
    );
    wait_until("the memory sampler", Duration::from_secs(10), || {
        rum.metric("rum_collector_resident_memory_bytes") > 1_048_576.0
    });
    let response = rum.send(&beacon("heavy"));
    assert_eq!(response.status, 503);
    assert_eq!(response.json()["error"], "memory_pressure");
    assert_eq!(response.header("retry-after"), Some("9"));
    assert_eq!(dropped(&rum, "memory_pressure"), 1.0);
    // Scripts and the admin listener are still served.
    assert_eq!(rum.admin_get("/healthz").status, 200);
}

/// Opens a connection and trickles `prefix` one byte per `pace`, for at most `budget`; returns
/// how long the server took to close it (or `None` if it stayed open) and what it answered.
fn trickle(
    address: std::net::SocketAddr,
    prefix: &[u8],
    pace: Duration,
    budget: Duration,
) -> (Option<Duration>, String) {
    let started = Instant::now();
    let mut stream = TcpStream::connect(address).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_millis(1)))
        .unwrap();
    let mut answer = Vec::new();
    let mut byte = 0;
    while started.elapsed() < budget {
        if byte < prefix.len() && stream.write_all(&prefix[byte..=byte]).is_err() {
            return (
                Some(started.elapsed()),
                String::from_utf8_lossy(&answer).into(),
            );
        }
        byte += 1;
        let mut buffer = [0u8; 4096];
        match stream.read(&mut buffer) {
            Ok(0) => {
                return (
                    Some(started.elapsed()),
                    String::from_utf8_lossy(&answer).into(),
                );
            }
            Ok(read) => answer.extend_from_slice(&buffer[..read]),
            Err(error)
                if matches!(
                    error.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => {
                return (
                    Some(started.elapsed()),
                    String::from_utf8_lossy(&answer).into(),
                );
            }
        }
        std::thread::sleep(pace);
    }
    (None, String::from_utf8_lossy(&answer).into())
}

#[test]
fn slow_clients_are_cut_off_and_others_are_served_meanwhile() {
    let rum = standalone("[collector]\nheader_timeout = \"1s\"\nbody_timeout = \"1s\"\n");
    let address = rum.public;
    let body = beacon("slow");
    let head = format!(
        "POST /rum/v1/beacon?key=demo HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\n\
         User-Agent: {CHROME}\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    // 30 slowloris connections (headers one byte per 100 ms) and 30 trickled bodies.
    let slow_headers: Vec<_> = (0..30)
        .map(|_| {
            let head = head.clone().into_bytes();
            std::thread::spawn(move || {
                trickle(
                    address,
                    &head,
                    Duration::from_millis(100),
                    Duration::from_secs(8),
                )
            })
        })
        .collect();
    let slow_bodies: Vec<_> = (0..30)
        .map(|_| {
            let mut request = head.clone().into_bytes();
            request.extend_from_slice(&body);
            let head_len = head.len();
            std::thread::spawn(move || {
                // The head at once, then the body a byte per 100 ms.
                let mut stream = TcpStream::connect(address).unwrap();
                stream.write_all(&request[..head_len]).unwrap();
                let started = Instant::now();
                stream
                    .set_read_timeout(Some(Duration::from_millis(1)))
                    .unwrap();
                let mut answer = Vec::new();
                for byte in &request[head_len..] {
                    if started.elapsed() > Duration::from_secs(8) {
                        break;
                    }
                    if stream.write_all(&[*byte]).is_err() {
                        break;
                    }
                    let mut buffer = [0u8; 4096];
                    match stream.read(&mut buffer) {
                        Ok(0) => break,
                        Ok(read) => answer.extend_from_slice(&buffer[..read]),
                        Err(_) => {}
                    }
                    if answer.windows(4).any(|w| w == b"\r\n\r\n") {
                        break;
                    }
                    std::thread::sleep(Duration::from_millis(100));
                }
                (
                    started.elapsed(),
                    String::from_utf8_lossy(&answer).into_owned(),
                )
            })
        })
        .collect();
    // Meanwhile normal clients are answered, quickly.
    let mut slowest = Duration::ZERO;
    for n in 0..40 {
        let started = Instant::now();
        let response = rum.post_beacon(
            "key=demo",
            &[("Content-Type", "text/plain"), ("User-Agent", CHROME)],
            &beacon(&format!("normal-{n}")),
        );
        assert_eq!(response.status, 202);
        slowest = slowest.max(started.elapsed());
        std::thread::sleep(Duration::from_millis(25));
    }
    assert!(
        slowest < Duration::from_millis(900),
        "a normal client waited {slowest:?}"
    );
    for client in slow_headers {
        let (closed_after, _) = client.join().unwrap();
        let closed_after = closed_after.expect("a slowloris connection is closed");
        assert!(closed_after < Duration::from_secs(4), "{closed_after:?}");
    }
    for client in slow_bodies {
        let (elapsed, answer) = client.join().unwrap();
        assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
        assert!(answer.contains("body_timeout"), "{answer}");
        assert!(elapsed < Duration::from_secs(4), "{elapsed:?}");
    }
    assert_eq!(dropped(&rum, "body_timeout"), 30.0);
    assert_eq!(rum.metric("rum_collector_beacons_accepted_total"), 40.0);
}

#[test]
fn bodies_beyond_the_concurrency_cap_wait_for_a_slot_and_are_counted() {
    let rum =
        standalone("[limits]\nmax_concurrent_bodies = 1\n[collector]\nbody_timeout = \"3s\"\n");
    let address = rum.public;
    let body = beacon("held");
    // One client holds the only slot for a second with a slow body...
    let head = format!(
        "POST /rum/v1/beacon?key=demo HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\n\
         User-Agent: {CHROME}\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    let holder = std::thread::spawn(move || {
        let mut stream = TcpStream::connect(address).unwrap();
        stream.write_all(head.as_bytes()).unwrap();
        stream.write_all(&body[..10]).unwrap();
        std::thread::sleep(Duration::from_secs(1));
        stream.write_all(&body[10..]).unwrap();
        http::read_response(stream)
    });
    std::thread::sleep(Duration::from_millis(200));
    // ...so the next one waits for it, then is served.
    let response = rum.send(&beacon("waiter"));
    assert_eq!(response.status, 202);
    assert_eq!(holder.join().unwrap().status, 202);
    assert!(rum.metric("rum_collector_body_slot_waits_total") >= 1.0);
}
