//! Real Prometheus and Alertmanager (Debian's `prometheus` and `prometheus-alertmanager`), each
//! started for one test on a free loopback port with its own temp dir and stopped on drop, plus a
//! tiny webhook receiver that records what it is sent.
//!
//! `scripts/install-test-deps` installs the packages; a missing binary fails with that hint.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

const READY_TIMEOUT: Duration = Duration::from_secs(60);

/// A free loopback port (bound then released; the service binds it right after).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|address| address.port())
        .expect("a free loopback port")
}

/// One HTTP/1.1 request with a JSON body; `None` when nothing answers.
pub fn http(address: SocketAddr, method: &str, path: &str, body: &[u8]) -> Option<(u16, Vec<u8>)> {
    crate::http::json_request(address, method, path, body)
        .map(|response| (response.status, response.body))
}

/// Percent-encodes a query parameter value.
pub fn encode_query(value: &str) -> String {
    value
        .bytes()
        .map(|byte| match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (byte as char).to_string()
            }
            other => format!("%{other:02X}"),
        })
        .collect()
}

/// A service process with a temp dir, killed and cleaned up on drop (its log is printed on failure).
pub struct Service {
    name: &'static str,
    child: Child,
    dir: PathBuf,
    pub address: SocketAddr,
}

impl Service {
    fn start(
        name: &'static str,
        binary: &str,
        package: &str,
        dir: PathBuf,
        port: u16,
        args: Vec<String>,
    ) -> anyhow::Result<Service> {
        let log = std::fs::File::create(dir.join("service.log"))?;
        let child = Command::new(binary)
            .args(&args)
            .current_dir(&dir)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .with_context(|| format!("starting {binary}: install the Debian package `{package}` (scripts/install-test-deps does)"))?;
        let mut service = Service {
            name,
            child,
            dir,
            address: SocketAddr::from(([127, 0, 0, 1], port)),
        };
        let deadline = Instant::now() + READY_TIMEOUT;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = service.child.try_wait() {
                bail!("{name} exited with {status}; log:\n{}", service.log());
            }
            if matches!(
                http(service.address, "GET", "/-/ready", b""),
                Some((200, _))
            ) {
                return Ok(service);
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        bail!(
            "{name} not ready within {READY_TIMEOUT:?}; log:\n{}",
            service.log()
        )
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("service.log")).unwrap_or_default()
    }

    pub fn get_json(&self, path: &str) -> anyhow::Result<serde_json::Value> {
        let (status, body) = http(self.address, "GET", path, b"")
            .with_context(|| format!("{} did not answer", self.name))?;
        anyhow::ensure!(
            status == 200,
            "{} answered {status}: {}",
            self.name,
            String::from_utf8_lossy(&body)
        );
        Ok(serde_json::from_slice(&body)?)
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!("---- {} log ----\n{}", self.name, self.log());
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn service_dir(prefix: &str) -> anyhow::Result<PathBuf> {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_nanos();
    let dir = std::env::temp_dir().join(format!("{prefix}-{}-{nanos}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

/// Prometheus scraping `target` (host:port, path /metrics) every second, with its exemplar store
/// on (`--enable-feature=exemplar-storage`: rum's OpenMetrics answer carries trace ids on histogram
/// buckets, which Prometheus otherwise drops).
pub fn start_prometheus(target: SocketAddr) -> anyhow::Result<Service> {
    let dir = service_dir("rum-test-prometheus")?;
    let port = free_port();
    std::fs::write(
        dir.join("prometheus.yml"),
        format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n  - job_name: rum\n    static_configs:\n      - targets: ['{target}']\n"
        ),
    )?;
    Service::start(
        "prometheus",
        "prometheus",
        "prometheus",
        dir.clone(),
        port,
        vec![
            format!("--config.file={}", dir.join("prometheus.yml").display()),
            format!("--storage.tsdb.path={}", dir.join("data").display()),
            format!("--web.listen-address=127.0.0.1:{port}"),
            "--enable-feature=exemplar-storage".to_owned(),
        ],
    )
}

impl Service {
    /// The single value of an instant query, if it has exactly one series.
    pub fn query_value(&self, query: &str) -> anyhow::Result<Option<f64>> {
        let answer = self.get_json(&format!("/api/v1/query?query={}", encode_query(query)))?;
        let results = answer["data"]["result"]
            .as_array()
            .context("result array")?;
        match results.as_slice() {
            [] => Ok(None),
            [series] => Ok(series["value"][1]
                .as_str()
                .and_then(|value| value.parse().ok())),
            many => bail!("{} series for {query}", many.len()),
        }
    }
}

/// Alertmanager with one do-nothing receiver: the test reads alerts back through its API.
pub fn start_alertmanager() -> anyhow::Result<Service> {
    let dir = service_dir("rum-test-alertmanager")?;
    let port = free_port();
    std::fs::write(
        dir.join("alertmanager.yml"),
        "route:\n  receiver: blackhole\n  group_wait: 1s\n  group_interval: 1s\nreceivers:\n  - name: blackhole\n",
    )?;
    Service::start(
        "alertmanager",
        "prometheus-alertmanager",
        "prometheus-alertmanager",
        dir.clone(),
        port,
        vec![
            format!("--config.file={}", dir.join("alertmanager.yml").display()),
            format!("--storage.path={}", dir.join("data").display()),
            format!("--web.listen-address=127.0.0.1:{port}"),
            "--cluster.listen-address=".to_owned(),
        ],
    )
}

/// One request a webhook receiver got.
#[derive(Debug, Clone)]
pub struct ReceivedRequest {
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl ReceivedRequest {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }
}

/// A loopback HTTP server answering 200 to everything and recording each request.
pub struct WebhookReceiver {
    pub address: SocketAddr,
    pub requests: Arc<Mutex<Vec<ReceivedRequest>>>,
}

impl WebhookReceiver {
    pub fn start() -> anyhow::Result<WebhookReceiver> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let address = listener.local_addr()?;
        let requests = Arc::new(Mutex::new(Vec::new()));
        let recorded = Arc::clone(&requests);
        std::thread::spawn(move || {
            for stream in listener.incoming().map_while(Result::ok) {
                if let Some(request) = read_request(&stream) {
                    recorded.lock().unwrap().push(request);
                }
                let mut stream = stream;
                let _ = stream.write_all(
                    b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                );
            }
        });
        Ok(WebhookReceiver { address, requests })
    }

    pub fn received(&self) -> Vec<ReceivedRequest> {
        self.requests.lock().unwrap().clone()
    }
}

fn read_request(stream: &TcpStream) -> Option<ReceivedRequest> {
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .ok()?;
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let mut headers = Vec::new();
    loop {
        line.clear();
        reader.read_line(&mut line).ok()?;
        let trimmed = line.trim_end();
        if trimmed.is_empty() {
            break;
        }
        if let Some((name, value)) = trimmed.split_once(':') {
            headers.push((name.trim().to_owned(), value.trim().to_owned()));
        }
    }
    let length: usize = headers
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, value)| value.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()?;
    Some(ReceivedRequest { headers, body })
}
