//! Runs the real `rum` binary for a test and talks plain HTTP/1.1 to it (through `http.rs`).
//!
//! Each test gets its own process on loopback with OS-chosen ports (read back from the startup log),
//! so counters read from `/metrics` belong to that test alone.

// Each test binary includes this file and uses part of it.
#![allow(dead_code, unused_imports)]

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

/// How long the binary may take to start listening.
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// A running `rum` process.
pub struct Rum {
    child: Child,
    /// The beacon listener (`rum aggregator` has none: its admin address stands in).
    pub public: SocketAddr,
    pub admin: SocketAddr,
    pub log: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

/// Extra process settings.
#[derive(Default)]
pub struct RumOptions<'a> {
    /// `standalone` or `collector`.
    pub mode: &'a str,
    /// Contents of a config file to pass with --config.
    pub config_toml: Option<&'a str>,
    pub env: Vec<(&'a str, String)>,
    pub args: Vec<String>,
}

impl Rum {
    pub fn standalone() -> anyhow::Result<Rum> {
        Rum::start(RumOptions {
            mode: "standalone",
            ..RumOptions::default()
        })
    }

    pub fn start(options: RumOptions<'_>) -> anyhow::Result<Rum> {
        let aggregator = options.mode == "aggregator";
        let mut command = Command::new(env!("CARGO_BIN_EXE_rum"));
        command.arg(options.mode);
        if aggregator {
            command.args(["--listen-admin", "127.0.0.1:0"]);
        } else {
            command.args(["--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0"]);
        }
        command
            .args(&options.args)
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        if options.config_toml.is_none() {
            // Without a config file standalone saves its state in ./rum-state: tests start
            // empty and leave nothing behind (options.env may still set it).
            command.env("RUM_AGGREGATOR__STATE_DIR", "");
        }
        for (name, value) in &options.env {
            command.env(name, value);
        }
        if let Some(toml) = options.config_toml {
            let path = temp_path("rum-test-config", "toml");
            std::fs::write(&path, toml)?;
            command.arg("--config").arg(path);
        }
        let mut child = command.spawn().context("spawning rum")?;
        let stderr = child.stderr.take().expect("piped stderr");
        let log = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let (addresses_tx, addresses_rx) = mpsc::channel();
        let log_writer = std::sync::Arc::clone(&log);
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if line.contains("rum collector listening")
                    || line.contains("rum aggregator running")
                {
                    let _ = addresses_tx.send(line.clone());
                }
                log_writer.lock().unwrap().push(line);
            }
        });
        let line = match addresses_rx.recv_timeout(START_TIMEOUT) {
            Ok(line) => line,
            Err(_) => {
                let _ = child.kill();
                let log = log.lock().unwrap().join("\n");
                bail!("rum did not start listening within {START_TIMEOUT:?}; log:\n{log}");
            }
        };
        let field = |name: &str| -> anyhow::Result<SocketAddr> {
            let start = line.find(&format!("{name}=")).context("address in log")? + name.len() + 1;
            let end = line[start..]
                .find(' ')
                .map_or(line.len(), |end| start + end);
            Ok(line[start..end].parse()?)
        };
        let admin = field("admin")?;
        Ok(Rum {
            public: if aggregator { admin } else { field("listen")? },
            admin,
            child,
            log,
        })
    }

    /// The process id (for signals).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends `signal` (`KILL`, `STOP`, `CONT`, `TERM`) to the process.
    pub fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .args([&format!("-{signal}"), &self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success(), "kill -{signal} failed");
    }

    /// SIGKILL, and wait until it is gone.
    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Waits until a log line contains `text`.
    pub fn wait_for_log(&self, text: &str, timeout: Duration) -> anyhow::Result<()> {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if self
                .log
                .lock()
                .unwrap()
                .iter()
                .any(|line| line.contains(text))
            {
                return Ok(());
            }
            if let Some(status) = self.child_status() {
                bail!(
                    "rum exited ({status}) before logging {text:?}; log:\n{}",
                    self.log_text()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        bail!(
            "rum did not log {text:?} within {timeout:?}; log:\n{}",
            self.log_text()
        )
    }

    fn child_status(&self) -> Option<std::process::ExitStatus> {
        // `try_wait` needs &mut; read /proc instead to stay &self.
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.child.id())).ok()?;
        stat.split(") ")
            .nth(1)
            .and_then(|rest| rest.chars().next())
            .filter(|state| *state == 'Z' || *state == 'X')
            .map(|_| std::process::ExitStatus::default())
    }

    /// POSTs a beacon body to `/rum/v1/beacon?{query}` with the given headers.
    pub fn post_beacon(&self, query: &str, headers: &[(&str, &str)], body: &[u8]) -> HttpResponse {
        let mut all_headers = vec![("Content-Length", body.len().to_string())];
        all_headers.extend(headers.iter().map(|(k, v)| (*k, v.to_string())));
        request(
            self.public,
            "POST",
            &format!("/rum/v1/beacon?{query}"),
            &all_headers,
            body,
        )
    }

    /// POSTs a JSON beacon as `navigator.sendBeacon` does (text/plain) with key `demo`.
    pub fn send(&self, body: &[u8]) -> HttpResponse {
        self.post_beacon(
            "key=demo",
            &[("Content-Type", "text/plain;charset=UTF-8")],
            body,
        )
    }

    pub fn admin_get(&self, path: &str) -> HttpResponse {
        request(self.admin, "GET", path, &[], b"")
    }

    /// Every sample on `/metrics`, keyed as written (`name{labels}`).
    pub fn metrics(&self) -> HashMap<String, f64> {
        let response = self.admin_get("/metrics");
        assert_eq!(response.status, 200);
        response
            .text()
            .lines()
            .filter(|line| !line.starts_with('#') && !line.is_empty())
            .filter_map(|line| {
                let (key, value) = line.rsplit_once(' ')?;
                Some((key.to_owned(), value.parse().ok()?))
            })
            .collect()
    }

    /// One sample's value, 0 when absent (counters start absent or at 0).
    pub fn metric(&self, key: &str) -> f64 {
        self.metrics().get(key).copied().unwrap_or(0.0)
    }

    /// Sends SIGTERM and waits for the exit status.
    pub fn terminate(mut self) -> std::process::ExitStatus {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                return status;
            }
            assert!(Instant::now() < deadline, "rum did not exit after SIGTERM");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn log_text(&self) -> String {
        self.log.lock().unwrap().join("\n")
    }
}

impl Drop for Rum {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub use crate::http::{HttpResponse, read_response, request};

/// A fresh path in the temp dir.
pub fn temp_path(prefix: &str, extension: &str) -> PathBuf {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    std::env::temp_dir().join(format!(
        "{prefix}-{}-{nanos}.{extension}",
        std::process::id()
    ))
}

/// The full beacon fixture (every event type) as a body, with its own page view id.
pub fn full_beacon(page_view_id: &str) -> Vec<u8> {
    let mut beacon: serde_json::Value = serde_json::from_str(include_str!(
        "../../crates/rum-schema/fixtures/beacon_full.json"
    ))
    .expect("the fixture is JSON");
    beacon["pid"] = serde_json::json!(page_view_id);
    serde_json::to_vec(&beacon).expect("JSON")
}
