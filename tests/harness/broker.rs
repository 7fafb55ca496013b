//! Test harness: a real Kafka-protocol broker (`tansu`) for integration tests.
//!
//! Uses only std + `anyhow`. The broker runs as a child process on a free
//! loopback port, always with libsql/sqlite file storage (`sqlite://tansu.db`,
//! resolved against the broker's working directory, the storage dir), which
//! survives `stop()` + `start_again()`.
//!
//! Never tansu's in-memory engine: in 0.6.0 it skips the rest of a record
//! batch when a fetch starts in the middle of it, so a restarted consumer can
//! lose records, and a restarted broker has lost everything.
//!
//! Binary lookup: `$TANSU`, else `$HOME/.cargo/bin/tansu`, else `tansu` on
//! `PATH`. Install it with `scripts/install-test-deps`.
//!
//! Broker output goes to a log file in a temp dir (see [`Broker::log_path`]);
//! the dir is removed on drop unless the thread is panicking (so a failing
//! test keeps its log, and the path is printed to stderr).

#![allow(dead_code)]

use anyhow::{Context, Result, anyhow, bail};
use std::fs::{self, File, OpenOptions};
use std::io::{Read, Seek, SeekFrom};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// How long a (re)start may take before it is reported as failed.
const READY_TIMEOUT: Duration = Duration::from_secs(30);
/// Upper bound for a single `tansu topic ...` CLI call. The CLI retries
/// internally for ~24 s when the broker is unreachable, so never let it run
/// unbounded.
const CLI_TIMEOUT: Duration = Duration::from_secs(10);
/// Overall budget for `create_topic`, retries included.
const CREATE_TOPIC_TIMEOUT: Duration = Duration::from_secs(30);
/// How many fresh ports a first start tries if the broker dies early
/// (e.g. the picked port was taken by someone else in the meantime).
const START_PORT_ATTEMPTS: usize = 3;
const LOG_TAIL_BYTES: u64 = 4096;

/// tansu's storage URL. lite::Engine resolves the URL's host+path against the
/// current dir (even `sqlite:///abs` becomes `$CWD/abs`), so the name is
/// relative and the broker runs with `current_dir(storage_dir)`.
const STORAGE_URL: &str = "sqlite://tansu.db";

/// A running (or stopped) tansu broker bound to `127.0.0.1:PORT`.
pub struct Broker {
    /// In a Mutex so `&self` methods can `try_wait` (and Broker stays Sync).
    child: Mutex<Option<Child>>,
    port: u16,
    /// Directory holding `tansu.db`; the broker's working directory.
    storage_dir: PathBuf,
    tansu: PathBuf,
    log_dir: PathBuf,
    log_path: PathBuf,
    /// Keep `log_dir` on drop (set when a start failed, so the path in the
    /// error stays valid).
    keep_log: bool,
}

impl Broker {
    /// Starts tansu with file storage in a fresh temp dir on a free loopback
    /// port; waits until it accepts TCP and answers CLI requests. File storage
    /// everywhere: tansu 0.6.0's memory engine can skip records (module docs).
    pub fn start() -> Result<Broker> {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let dir =
            std::env::temp_dir().join(format!("tansu-storage-{}-{nanos}", std::process::id()));
        Self::start_with_file_storage(&dir)
    }

    /// Starts tansu with file (libsql/sqlite) storage in `dir` (a fresh temp
    /// dir the caller owns), so `stop()` + `start_again()` keeps topics and
    /// messages. The database is `dir/tansu.db` (plus `-wal`/`-shm`).
    pub fn start_with_file_storage(dir: &Path) -> Result<Broker> {
        fs::create_dir_all(dir)
            .with_context(|| format!("creating broker storage dir {}", dir.display()))?;
        let dir = dir
            .canonicalize()
            .with_context(|| format!("resolving broker storage dir {}", dir.display()))?;
        Self::start_new(dir)
    }

    /// `"127.0.0.1:PORT"`, for `bootstrap.servers`.
    pub fn bootstrap(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The broker's log file (stdout and stderr of every start, appended).
    pub fn log_path(&self) -> &Path {
        &self.log_path
    }

    /// Last few KiB of the broker log, for assertion messages.
    pub fn log_tail(&self) -> String {
        log_tail(&self.log_path)
    }

    /// Whether the broker process is currently running.
    pub fn is_running(&self) -> bool {
        self.child_alive()
    }

    /// Creates `name` with `partitions` partitions via `tansu topic create`.
    /// Retries transient failures (e.g. right after a start) for up to 30 s.
    /// Fails if the topic already exists.
    pub fn create_topic(&self, name: &str, partitions: u32) -> Result<()> {
        let deadline = Instant::now() + CREATE_TOPIC_TIMEOUT;
        let partitions = partitions.to_string();
        let broker_url = self.broker_url();
        let args = [
            "topic",
            "create",
            "--broker",
            broker_url.as_str(),
            "--partitions",
            partitions.as_str(),
            name,
        ];
        // Set once an attempt may have reached the broker without us seeing
        // success (timeout, unclear error); then "already exists" on a retry
        // means our own earlier attempt worked.
        let mut maybe_created = false;
        let mut last_err = String::new();
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            let remaining = deadline.saturating_duration_since(Instant::now());
            if remaining.is_zero() {
                break;
            }
            if !self.child_alive() {
                bail!(
                    "tansu broker on {} is not running; cannot create topic {name}\n--- broker log tail ({}) ---\n{}",
                    self.bootstrap(),
                    self.log_path.display(),
                    self.log_tail()
                );
            }
            match run_cli(&self.tansu, &args, remaining.min(CLI_TIMEOUT)) {
                Ok(out) if out.status.success() => return Ok(()),
                Ok(out) => {
                    let text = format!("{}{}", out.stderr, out.stdout);
                    if text.to_ascii_lowercase().contains("already exists") {
                        if maybe_created {
                            return Ok(());
                        }
                        bail!(
                            "topic {name} already exists on {}: {}",
                            self.bootstrap(),
                            text.trim()
                        );
                    }
                    maybe_created = true;
                    last_err = format!("exit {}: {}", out.status, text.trim());
                }
                Err(e) => {
                    maybe_created = true;
                    last_err = format!("{e:#}");
                }
            }
            thread::sleep(Duration::from_millis(200));
        }
        Err(anyhow!(
            "creating topic {name} ({partitions} partitions) on {} failed after {attempt} attempt(s): {last_err}\n--- broker log tail ({}) ---\n{}",
            self.bootstrap(),
            self.log_path.display(),
            self.log_tail()
        ))
    }

    /// Kills the broker process (SIGKILL) and waits for it. The port number
    /// is kept for `start_again()`. Idempotent.
    pub fn stop(&mut self) {
        let child = self
            .child
            .get_mut()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if let Some(mut child) = child {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the broker again on the same port with the same storage and
    /// waits until it is ready. If it is still running, it is stopped first.
    pub fn start_again(&mut self) -> Result<()> {
        self.stop();
        let deadline = Instant::now() + READY_TIMEOUT;
        // The port was released by the killed process; tansu binds with
        // SO_REUSEADDR (tokio), so TIME_WAIT is not a problem. Retry a
        // spawn that dies early in case the old socket lingers briefly.
        loop {
            self.spawn()?;
            match self.wait_ready(deadline) {
                Ok(()) => return Ok(()),
                Err(e) => {
                    let exited = !self.child_alive();
                    self.stop();
                    if exited && Instant::now() + Duration::from_millis(500) < deadline {
                        thread::sleep(Duration::from_millis(300));
                        continue;
                    }
                    self.keep_log = true;
                    return Err(
                        e.context(format!("restarting tansu broker on {}", self.bootstrap()))
                    );
                }
            }
        }
    }

    fn start_new(storage_dir: PathBuf) -> Result<Broker> {
        let tansu = find_tansu()?;
        let log_dir = unique_temp_dir("tansu-harness")?;
        let log_path = log_dir.join("broker.log");
        let mut broker = Broker {
            child: Mutex::new(None),
            port: 0,
            storage_dir,
            tansu,
            log_dir,
            log_path,
            keep_log: false,
        };
        let mut last_err = None;
        for _ in 0..START_PORT_ATTEMPTS {
            broker.port = free_port()?;
            broker.spawn()?;
            match broker.wait_ready(Instant::now() + READY_TIMEOUT) {
                Ok(()) => return Ok(broker),
                Err(e) => {
                    let exited = !broker.child_alive();
                    broker.stop();
                    last_err = Some(e);
                    if !exited {
                        // Hung rather than crashed: a new port will not help.
                        break;
                    }
                }
            }
        }
        broker.keep_log = true;
        Err(last_err.unwrap_or_else(|| anyhow!("tansu broker did not start")))
    }

    fn broker_url(&self) -> String {
        format!("tcp://127.0.0.1:{}", self.port)
    }

    fn child_lock(&self) -> MutexGuard<'_, Option<Child>> {
        self.child.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn child_alive(&self) -> bool {
        match self.child_lock().as_mut() {
            Some(child) => matches!(child.try_wait(), Ok(None)),
            None => false,
        }
    }

    /// `Some(status)` if the process has exited, `None` if running or absent.
    fn child_exit(&self) -> Option<ExitStatus> {
        self.child_lock()
            .as_mut()
            .and_then(|c| c.try_wait().ok().flatten())
    }

    fn spawn(&mut self) -> Result<()> {
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log_path)
            .with_context(|| format!("opening broker log {}", self.log_path.display()))?;
        let log_err = log.try_clone()?;
        let url = self.broker_url();
        let mut cmd = Command::new(&self.tansu);
        cmd.arg("broker")
            .arg("--listener-url")
            .arg(&url)
            .arg("--advertised-listener-url")
            .arg(&url)
            .arg("--storage-engine")
            .arg(STORAGE_URL)
            .env("NO_COLOR", "1")
            .env_remove("OTEL_EXPORTER_OTLP_ENDPOINT")
            .stdin(Stdio::null())
            .stdout(Stdio::from(log))
            .stderr(Stdio::from(log_err));
        cmd.current_dir(&self.storage_dir);
        let child = cmd
            .spawn()
            .with_context(|| format!("spawning {} broker", self.tansu.display()))?;
        *self.child_lock() = Some(child);
        Ok(())
    }

    /// Ready = the process is alive, 127.0.0.1:PORT accepts TCP, and
    /// `tansu topic list` against it succeeds.
    fn wait_ready(&self, deadline: Instant) -> Result<()> {
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, self.port));
        let broker_url = self.broker_url();
        let mut last = String::from("no TCP connection yet");
        loop {
            if let Some(status) = self.child_exit() {
                return Err(self.startup_error(&format!("tansu broker exited early ({status})")));
            }
            if self.child_lock().is_none() {
                bail!("tansu broker is not running");
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(self.startup_error(&format!(
                    "tansu broker on {} not ready within {:?} (last: {last})",
                    self.bootstrap(),
                    READY_TIMEOUT
                )));
            }
            if TcpStream::connect_timeout(&addr, Duration::from_millis(250)).is_ok() {
                let remaining = deadline.saturating_duration_since(Instant::now());
                match run_cli(
                    &self.tansu,
                    &["topic", "list", "--broker", broker_url.as_str()],
                    remaining.min(CLI_TIMEOUT),
                ) {
                    Ok(out) if out.status.success() => return Ok(()),
                    Ok(out) => {
                        last = format!(
                            "`tansu topic list` exit {}: {}{}",
                            out.status,
                            out.stderr.trim(),
                            out.stdout.trim()
                        )
                    }
                    Err(e) => last = format!("`tansu topic list`: {e:#}"),
                }
            } else {
                last = "TCP connect refused".into();
            }
            thread::sleep(Duration::from_millis(50));
        }
    }

    fn startup_error(&self, what: &str) -> anyhow::Error {
        anyhow!(
            "{what}\ncommand: {} broker --listener-url {url} --advertised-listener-url {url} --storage-engine {} (cwd {})\n--- broker log tail ({}) ---\n{}",
            self.tansu.display(),
            STORAGE_URL,
            self.storage_dir.display(),
            self.log_path.display(),
            self.log_tail(),
            url = self.broker_url(),
        )
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        self.stop();
        if self.keep_log || thread::panicking() {
            eprintln!(
                "tansu broker {} log kept at {}",
                self.bootstrap(),
                self.log_path.display()
            );
        } else {
            let _ = fs::remove_dir_all(&self.log_dir);
        }
    }
}

impl Broker {
    /// Reads exactly `count` beacons from the start of `topic` (within a minute), then checks that
    /// nothing more arrives: no duplicates from retries, nothing that should have been dropped.
    pub fn read_topic(&self, topic: &str, count: usize) -> Vec<rum_transport::TailedBeacon> {
        let tail = rum_transport::KafkaTail::new(
            &self.bootstrap(),
            topic,
            rum_transport::TailStart::Beginning,
            &std::collections::BTreeMap::new(),
        )
        .expect("a tail on the topic");
        let mut beacons = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(60);
        while beacons.len() < count && Instant::now() < deadline {
            if let Some(beacon) = tail
                .next_beacon(Duration::from_secs(1))
                .expect("a beacon from the topic")
            {
                beacons.push(beacon);
            }
        }
        assert_eq!(beacons.len(), count, "beacons on the topic");
        assert!(
            tail.next_beacon(Duration::from_secs(2))
                .expect("reading the topic")
                .is_none(),
            "unexpected extra beacon on the topic"
        );
        beacons
    }
}

/// Unique topic names per test: `{prefix}-{pid}-{nanos}`.
pub fn unique_topic(prefix: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    // The counter guards against two calls within the clock's resolution.
    let n = COUNTER.fetch_add(1, Ordering::Relaxed) as u128;
    format!("{prefix}-{}-{}", std::process::id(), nanos + n)
}

// ---------------------------------------------------------------- helpers

fn find_tansu() -> Result<PathBuf> {
    const HINT: &str =
        "run `scripts/install-test-deps` to install it (or set $TANSU to the binary)";
    if let Some(p) = std::env::var_os("TANSU").filter(|p| !p.is_empty()) {
        let p = PathBuf::from(p);
        if p.is_file() {
            return Ok(p);
        }
        bail!("$TANSU={} is not a file; {HINT}", p.display());
    }
    if let Some(home) = std::env::var_os("HOME").filter(|h| !h.is_empty()) {
        let p = Path::new(&home).join(".cargo/bin/tansu");
        if p.is_file() {
            return Ok(p);
        }
    }
    if let Some(path) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&path) {
            let p = dir.join("tansu");
            if p.is_file() {
                return Ok(p);
            }
        }
    }
    bail!(
        "tansu broker binary not found ($TANSU unset, no $HOME/.cargo/bin/tansu, not on PATH); {HINT}"
    )
}

/// Picks a free loopback port by binding `127.0.0.1:0` and releasing it.
fn free_port() -> Result<u16> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).context("binding 127.0.0.1:0")?;
    Ok(listener.local_addr()?.port())
}

fn unique_temp_dir(prefix: &str) -> Result<PathBuf> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let dir = std::env::temp_dir().join(format!(
        "{prefix}-{}-{nanos}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    Ok(dir)
}

struct CliOutput {
    status: ExitStatus,
    stdout: String,
    stderr: String,
}

/// Runs `tansu ARGS` with a hard timeout (the process is killed on expiry).
fn run_cli(tansu: &Path, args: &[&str], timeout: Duration) -> Result<CliOutput> {
    let mut child = Command::new(tansu)
        .args(args)
        .env("NO_COLOR", "1")
        .env_remove("OTEL_EXPORTER_OTLP_ENDPOINT")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("spawning {} {}", tansu.display(), args.join(" ")))?;
    // Drain pipes on threads so a chatty child cannot block on a full pipe.
    let mut out_pipe = child.stdout.take().expect("piped stdout");
    let mut err_pipe = child.stderr.take().expect("piped stderr");
    let out_t = thread::spawn(move || {
        let mut b = Vec::new();
        let _ = out_pipe.read_to_end(&mut b);
        b
    });
    let err_t = thread::spawn(move || {
        let mut b = Vec::new();
        let _ = err_pipe.read_to_end(&mut b);
        b
    });
    let deadline = Instant::now() + timeout;
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break Some(status);
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        thread::sleep(Duration::from_millis(20));
    };
    let stdout = String::from_utf8_lossy(&out_t.join().unwrap_or_default()).into_owned();
    let stderr = String::from_utf8_lossy(&err_t.join().unwrap_or_default()).into_owned();
    match status {
        Some(status) => Ok(CliOutput {
            status,
            stdout,
            stderr: strip_ansi(&stderr),
        }),
        None => bail!(
            "`tansu {}` timed out after {timeout:?}; stderr: {}",
            args.join(" "),
            strip_ansi(&stderr).trim()
        ),
    }
}

fn log_tail(path: &Path) -> String {
    let read = || -> std::io::Result<String> {
        let mut f = File::open(path)?;
        let len = f.metadata()?.len();
        f.seek(SeekFrom::Start(len.saturating_sub(LOG_TAIL_BYTES)))?;
        let mut buf = Vec::new();
        f.read_to_end(&mut buf)?;
        Ok(strip_ansi(&String::from_utf8_lossy(&buf)))
    };
    match read() {
        Ok(s) if s.trim().is_empty() => "(log is empty)".into(),
        Ok(s) => s,
        Err(e) => format!("(cannot read log {}: {e})", path.display()),
    }
}

/// Removes ANSI CSI escape sequences (`ESC [ ... final-byte`).
fn strip_ansi(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' && chars.peek() == Some(&'[') {
            chars.next();
            for c in chars.by_ref() {
                if ('@'..='~').contains(&c) {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}
