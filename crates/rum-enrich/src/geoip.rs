//! GeoIP: the country, region, city and autonomous system of a client address, read from MaxMind DB
//! (`.mmdb`) files.
//!
//! Two optional databases. The *location* database may be GeoIP2/GeoLite2 City or Country
//! (nested `country.iso_code`, `subdivisions[0]`, `city.names.en`) or the flat DB-IP Lite layout
//! published by ip-location-db (`country_code`, and `state1`/`city` in its city database); one
//! record decoder reads both, so nobody has to say which layout a file uses. The *ASN* database
//! (GeoLite2-ASN or ip-location-db `asn-mmdb`) gives `autonomous_system_number`.
//!
//! Files are memory-mapped (the only `unsafe` in the workspace, in [`map_file`]): lookups read the
//! page cache, shared by every process on the host, and a reload never holds two heap copies of a
//! 100 MB city database. Mapping is safe only while nobody modifies the file in place, so files must
//! be replaced atomically (write a temporary file, then rename), as geoipupdate and
//! `scripts/fetch-geoip-db` do. [`GeoIp::reload_if_changed`], driven by a [`GeoIpReloader`] thread, notices a replaced
//! file, loads and validates it off the request path and swaps it in; a file that fails validation
//! leaves the previous database serving.
//!
//! This module must never log, label or return the address it looks up, never do I/O or wait for a
//! reload on the lookup path, never panic on anything a database contains, and never let a database
//! value become an unbounded metric label: countries are validated to two ASCII letters, names are
//! length-capped, and metric labels are closed sets.
//!
//! Metrics (handles registered when [`GeoIp`] is built, so a lookup only does an atomic add):
//!
//! - `rum_geoip_database_age_seconds{database="location|asn"}` (gauge): now minus the database's
//!   build time, refreshed at load and at every reload check.
//! - `rum_geoip_lookups_total{database, outcome="found|not_found|invalid|no_database"}`.
//! - `rum_geoip_reloads_total{database, outcome="ok|failed"}`.

use std::borrow::Cow;
use std::fmt;
use std::fs::{self, File, Metadata};
use std::io;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex, PoisonError, RwLock, Weak};
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use maxminddb::Mmap;
use maxminddb::{MaxMindDbError, Reader, WithinOptions};
use metrics::{Counter, Gauge, counter, describe_counter, describe_gauge, gauge};
use serde::Deserialize;
use serde::de::value::MapAccessDeserializer;
use serde::de::{Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use tracing::{info, warn};

/// How often a [`GeoIpReloader`] checks the files when the caller has no opinion:
/// `enrich.geoip_reload_interval`'s default, [`rum_config::DEFAULT_GEOIP_RELOAD_INTERVAL_SECS`].
pub const DEFAULT_RELOAD_INTERVAL: Duration =
    Duration::from_secs(rum_config::DEFAULT_GEOIP_RELOAD_INTERVAL_SECS);

/// Shortest reload interval a [`GeoIpReloader`] accepts: a zero interval would spin.
pub const MIN_RELOAD_INTERVAL: Duration = Duration::from_millis(100);

/// Largest file accepted as a database (real ones are 5-150 MB). A larger file, or a device such as
/// `/dev/zero` configured by mistake, is refused instead of exhausting memory.
pub const MAX_DATABASE_BYTES: u64 = 2 * 1024 * 1024 * 1024;

/// Longest region or city name kept; longer values are treated as unknown.
const MAX_NAME_BYTES: usize = 128;

/// Records sampled when a database is loaded to check it serves its role (see [`validate_role`]).
const VALIDATION_SAMPLE_RECORDS: usize = 256;

const DATABASE_AGE: &str = "rum_geoip_database_age_seconds";
const LOOKUPS: &str = "rum_geoip_lookups_total";
const RELOADS: &str = "rum_geoip_reloads_total";

/// What the databases say about one address. Everything is empty when unknown.
///
/// Region and city are only set together with a valid country.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GeoInfo {
    /// ISO 3166-1 alpha-2 country, uppercase; `None` when unknown.
    pub country: Option<CountryCode>,
    /// First-level subdivision, preferably its English name ("England", "California"), else its
    /// ISO 3166-2 code; empty when unknown.
    pub region: String,
    /// English city name; empty when unknown.
    pub city: String,
    /// Autonomous system number; 0 when unknown (AS0 is reserved and never announced, RFC 7607).
    pub asn: u32,
}

impl GeoInfo {
    /// The label value for an unknown country.
    pub const UNKNOWN_COUNTRY: &'static str = "unknown";

    /// The country code, or [`Self::UNKNOWN_COUNTRY`]: always one of 677 values, safe as a label.
    pub fn country_or_unknown(&self) -> &str {
        match &self.country {
            Some(country) => country.as_str(),
            None => Self::UNKNOWN_COUNTRY,
        }
    }
}

/// An ISO 3166-1 alpha-2 country code: exactly two ASCII letters, stored uppercase.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CountryCode([u8; 2]);

impl CountryCode {
    /// Accepts two ASCII letters in either case; anything else (three letters, digits, non-ASCII,
    /// surrounding spaces) is `None`.
    pub fn parse(text: &str) -> Option<Self> {
        let &[first, second] = text.as_bytes() else {
            return None;
        };
        if !(first.is_ascii_alphabetic() && second.is_ascii_alphabetic()) {
            return None;
        }
        Some(Self([
            first.to_ascii_uppercase(),
            second.to_ascii_uppercase(),
        ]))
    }

    /// The code as text, e.g. `"GB"`.
    pub fn as_str(&self) -> &str {
        // Always succeeds: `parse` only admits ASCII letters.
        std::str::from_utf8(&self.0).unwrap_or("")
    }
}

impl fmt::Display for CountryCode {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(self.as_str())
    }
}

impl fmt::Debug for CountryCode {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "CountryCode({})", self.as_str())
    }
}

/// The two database roles; also the `database` metric label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DatabaseKind {
    /// Country, region and city.
    Location,
    /// Autonomous system number.
    Asn,
}

impl DatabaseKind {
    /// The metric label and log field value.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Location => "location",
            Self::Asn => "asn",
        }
    }

    /// The field a database in this role must have (for error messages).
    const fn required_field(self) -> &'static str {
        match self {
            Self::Location => "country",
            Self::Asn => "autonomous_system_number",
        }
    }
}

impl fmt::Display for DatabaseKind {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(self.as_str())
    }
}

/// Which files to read. `None` means not configured: lookups in that role answer unknown.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GeoIpPaths {
    /// GeoIP2/GeoLite2 City or Country, or DB-IP Lite country or city.
    pub location: Option<PathBuf>,
    /// GeoLite2-ASN or ip-location-db ASN.
    pub asn: Option<PathBuf>,
}

/// Why a database could not be loaded. At start-up this is fatal; on reload the previous database
/// keeps serving.
#[derive(Debug, thiserror::Error)]
pub enum GeoIpError {
    /// The file could not be opened or read.
    #[error("cannot read the {database} geoip database {}: {source}", .path.display())]
    Read {
        database: DatabaseKind,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// The path is a directory, device or pipe.
    #[error("the {database} geoip database {} is not a regular file", .path.display())]
    NotAFile {
        database: DatabaseKind,
        path: PathBuf,
    },
    /// The file is larger than [`MAX_DATABASE_BYTES`].
    #[error(
        "the {database} geoip database {} is larger than {MAX_DATABASE_BYTES} bytes",
        .path.display()
    )]
    TooLarge {
        database: DatabaseKind,
        path: PathBuf,
    },
    /// maxminddb refused the file (truncated, corrupt, not an mmdb file at all).
    #[error("the {database} geoip database {} is not a valid mmdb file: {source}", .path.display())]
    Invalid {
        database: DatabaseKind,
        path: PathBuf,
        #[source]
        source: MaxMindDbError,
    },
    /// A valid mmdb file without the data this role needs, e.g. an ASN file given as location.
    #[error(
        "the {database} geoip database {} has no usable `{field}` in its first {VALIDATION_SAMPLE_RECORDS} records; is it the right file for this role?",
        .path.display()
    )]
    WrongLayout {
        database: DatabaseKind,
        path: PathBuf,
        field: &'static str,
    },
    /// The operating system refused to start the reloader thread.
    #[error("cannot start the geoip reloader thread: {0}")]
    SpawnReloader(#[source] io::Error),
}

/// What one reload check did for one database.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReloadStatus {
    /// No database configured in this role.
    NotConfigured,
    /// The file is the one already seen.
    Unchanged,
    /// A changed file was loaded, validated and swapped in.
    Reloaded,
    /// A changed (or vanished) file could not be used; the previous database keeps serving.
    Failed,
}

/// What one reload check did, per database.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReloadReport {
    pub location: ReloadStatus,
    pub asn: ReloadStatus,
}

/// GeoIP lookups over the configured databases. Share it behind an `Arc`; lookups take `&self`.
pub struct GeoIp {
    location: Database,
    asn: Database,
}

impl fmt::Debug for GeoIp {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        let path = |database: &Database| database.source.as_ref().map(|source| source.path.clone());
        formatter
            .debug_struct("GeoIp")
            .field("location", &path(&self.location))
            .field("asn", &path(&self.asn))
            .finish()
    }
}

impl GeoIp {
    /// Loads and validates the configured databases and registers the metrics (install the metrics
    /// recorder first). A configured file that cannot be used is an error: better to refuse to
    /// start than to run silently without geography.
    pub fn open(paths: &GeoIpPaths) -> Result<Self, GeoIpError> {
        describe_metrics();
        Ok(Self {
            location: Database::open(DatabaseKind::Location, paths.location.as_deref())?,
            asn: Database::open(DatabaseKind::Asn, paths.asn.as_deref())?,
        })
    }

    /// No databases: every lookup answers unknown (and counts `no_database`).
    pub fn disabled() -> Self {
        describe_metrics();
        Self {
            location: Database::unconfigured(DatabaseKind::Location),
            asn: Database::unconfigured(DatabaseKind::Asn),
        }
    }

    /// Logs once, at start-up, which databases are loaded, and warns when there is no location
    /// database. Returns whether it warned.
    pub fn log_startup_status(&self) -> bool {
        for database in [&self.location, &self.asn] {
            let Some(source) = &database.source else {
                continue;
            };
            let current = source.read();
            let metadata = current.reader.metadata();
            info!(
                database = database.kind.as_str(),
                path = %source.path.display(),
                database_type = %metadata.database_type,
                build_epoch = metadata.build_epoch,
                "geoip database loaded"
            );
        }
        if self.asn.source.is_none() {
            info!("no geoip asn database configured; asn will be unknown");
        }
        if self.location.source.is_some() {
            return false;
        }
        warn!("no geoip location database configured; country, region and city will be unknown");
        true
    }

    /// Looks the address up in both databases. Never fails: whatever is not found is unknown.
    /// Does no I/O; waits at most for a reload's pointer swap, never for a file read.
    pub fn lookup(&self, address: IpAddr) -> GeoInfo {
        // Dual-stack listeners report IPv4 peers as ::ffff:a.b.c.d; databases file them as IPv4.
        let address = address.to_canonical();
        let location = self
            .location
            .lookup(|reader| decode_answer::<LocationRecord<'_>>(reader, address));
        let asn = self
            .asn
            .lookup(|reader| decode_answer::<AsnRecord<'_>>(reader, address));
        let mut info = GeoInfo {
            asn: asn.unwrap_or(0),
            ..GeoInfo::default()
        };
        if let Some(location) = location {
            info.country = Some(location.country);
            info.region = location.region;
            info.city = location.city;
        }
        info
    }

    /// Checks each configured file and swaps in any that changed (size, modification time or, on
    /// Unix, inode) and passes validation. Reads files: call it off the request path, e.g. from
    /// [`GeoIpReloader`]. A file that fails is not retried until it changes again. Also refreshes
    /// the age gauges.
    pub fn reload_if_changed(&self) -> ReloadReport {
        ReloadReport {
            location: self.location.reload_if_changed(),
            asn: self.asn.reload_if_changed(),
        }
    }

    fn has_database(&self) -> bool {
        self.location.source.is_some() || self.asn.source.is_some()
    }
}

/// A thread that calls [`GeoIp::reload_if_changed`] every interval. Dropping it stops the thread
/// (and waits for a reload in progress to finish).
pub struct GeoIpReloader {
    stop: Option<mpsc::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl fmt::Debug for GeoIpReloader {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("GeoIpReloader")
            .field("running", &self.thread.is_some())
            .finish()
    }
}

impl GeoIpReloader {
    /// Starts the thread; `interval` is raised to [`MIN_RELOAD_INTERVAL`] if shorter. Starts
    /// nothing when no database is configured. The thread holds only a weak reference, so it also
    /// ends when the last `Arc<GeoIp>` is dropped.
    pub fn spawn(geoip: &Arc<GeoIp>, interval: Duration) -> Result<Self, GeoIpError> {
        if !geoip.has_database() {
            return Ok(Self {
                stop: None,
                thread: None,
            });
        }
        let interval = interval.max(MIN_RELOAD_INTERVAL);
        let geoip: Weak<GeoIp> = Arc::downgrade(geoip);
        let (stop, stopped) = mpsc::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("rum-geoip-reload".to_owned())
            .spawn(move || {
                // The sender is never used to send: dropping it is the stop signal.
                while let Err(RecvTimeoutError::Timeout) = stopped.recv_timeout(interval) {
                    let Some(geoip) = geoip.upgrade() else {
                        return;
                    };
                    geoip.reload_if_changed();
                }
            })
            .map_err(GeoIpError::SpawnReloader)?;
        Ok(Self {
            stop: Some(stop),
            thread: Some(thread),
        })
    }
}

impl Drop for GeoIpReloader {
    fn drop(&mut self) {
        drop(self.stop.take());
        let Some(thread) = self.thread.take() else {
            return;
        };
        if thread.join().is_err() {
            warn!("geoip reloader thread panicked");
        }
    }
}

fn describe_metrics() {
    describe_gauge!(
        DATABASE_AGE,
        metrics::Unit::Seconds,
        "Time since the loaded geoip database was built, by database."
    );
    describe_counter!(LOOKUPS, "GeoIP lookups, by database and outcome.");
    describe_counter!(
        RELOADS,
        "GeoIP database reloads after a file change, by database and outcome."
    );
}

/// One role's metric handles, registered once.
struct DatabaseMetrics {
    found: Counter,
    not_found: Counter,
    invalid: Counter,
    no_database: Counter,
    reload_ok: Counter,
    reload_failed: Counter,
    /// Only registered with a database: exported as 0 without one, it would read as "fresh".
    age_seconds: Option<Gauge>,
}

impl DatabaseMetrics {
    fn register(kind: DatabaseKind, configured: bool) -> Self {
        let database = kind.as_str();
        let lookups =
            |outcome: &'static str| counter!(LOOKUPS, "database" => database, "outcome" => outcome);
        let reloads =
            |outcome: &'static str| counter!(RELOADS, "database" => database, "outcome" => outcome);
        Self {
            found: lookups("found"),
            not_found: lookups("not_found"),
            invalid: lookups("invalid"),
            no_database: lookups("no_database"),
            reload_ok: reloads("ok"),
            reload_failed: reloads("failed"),
            age_seconds: configured.then(|| gauge!(DATABASE_AGE, "database" => database)),
        }
    }

    fn set_age(&self, build_epoch: u64) {
        let Some(age_seconds) = &self.age_seconds else {
            return;
        };
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0.0, |since_epoch| since_epoch.as_secs_f64());
        // Not clamped at zero: a negative age says the clock or the database is wrong.
        age_seconds.set(now - build_epoch as f64);
    }
}

/// One role: its metrics and, when configured, its file.
struct Database {
    kind: DatabaseKind,
    metrics: DatabaseMetrics,
    source: Option<Source>,
}

/// A configured file and the database loaded from it.
struct Source {
    path: PathBuf,
    /// Read-locked for the duration of one lookup; write-locked only to swap in a loaded database.
    current: RwLock<LoadedDatabase>,
    /// The file last tried, whether or not it loaded (`None`: the path was missing). Reload checks
    /// hold this lock for their whole duration, so two never race.
    last_seen: Mutex<Option<FileStamp>>,
}

impl Source {
    fn read(&self) -> std::sync::RwLockReadGuard<'_, LoadedDatabase> {
        // Poisoning needs a panic while write-locked, and the write lock only guards a move.
        self.current.read().unwrap_or_else(PoisonError::into_inner)
    }
}

struct LoadedDatabase {
    reader: Reader<Mmap>,
    stamp: FileStamp,
}

impl LoadedDatabase {
    fn build_epoch(&self) -> u64 {
        self.reader.metadata().build_epoch
    }
}

/// Enough of a file's metadata to notice it was replaced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct FileStamp {
    len: u64,
    modified: Option<SystemTime>,
    /// (device, inode) on Unix: an atomic rename always changes it, even within one mtime tick.
    file_id: (u64, u64),
}

impl FileStamp {
    fn of(metadata: &Metadata) -> Self {
        Self {
            len: metadata.len(),
            modified: metadata.modified().ok(),
            file_id: file_id(metadata),
        }
    }
}

#[cfg(unix)]
fn file_id(metadata: &Metadata) -> (u64, u64) {
    use std::os::unix::fs::MetadataExt;
    (metadata.dev(), metadata.ino())
}

#[cfg(not(unix))]
fn file_id(_metadata: &Metadata) -> (u64, u64) {
    (0, 0)
}

impl Database {
    fn open(kind: DatabaseKind, path: Option<&Path>) -> Result<Self, GeoIpError> {
        let Some(path) = path else {
            return Ok(Self::unconfigured(kind));
        };
        let loaded = load(kind, path)?;
        let metrics = DatabaseMetrics::register(kind, true);
        metrics.set_age(loaded.build_epoch());
        Ok(Self {
            kind,
            metrics,
            source: Some(Source {
                path: path.to_owned(),
                last_seen: Mutex::new(Some(loaded.stamp)),
                current: RwLock::new(loaded),
            }),
        })
    }

    fn unconfigured(kind: DatabaseKind) -> Self {
        Self {
            kind,
            metrics: DatabaseMetrics::register(kind, false),
            source: None,
        }
    }

    /// Runs `answer` against the current database and counts the outcome.
    fn lookup<T>(&self, answer: impl FnOnce(&Reader<Mmap>) -> Decoded<T>) -> Option<T> {
        let Some(source) = &self.source else {
            self.metrics.no_database.increment(1);
            return None;
        };
        let decoded = answer(&source.read().reader);
        match decoded {
            Decoded::Found(value) => {
                self.metrics.found.increment(1);
                Some(value)
            }
            Decoded::NotFound => {
                self.metrics.not_found.increment(1);
                None
            }
            Decoded::Invalid => {
                self.metrics.invalid.increment(1);
                None
            }
        }
    }

    fn reload_if_changed(&self) -> ReloadStatus {
        let Some(source) = &self.source else {
            return ReloadStatus::NotConfigured;
        };
        let mut last_seen = source
            .last_seen
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let status = match fs::metadata(&source.path) {
            Err(error) => {
                // Counted once when the file disappears, not at every check while it stays away.
                if last_seen.take().is_some() {
                    self.metrics.reload_failed.increment(1);
                    warn!(
                        database = self.kind.as_str(),
                        path = %source.path.display(),
                        %error,
                        "geoip database file is unreadable; keeping the loaded database"
                    );
                    ReloadStatus::Failed
                } else {
                    ReloadStatus::Unchanged
                }
            }
            Ok(metadata) if *last_seen == Some(FileStamp::of(&metadata)) => ReloadStatus::Unchanged,
            Ok(metadata) => match load(self.kind, &source.path) {
                Ok(loaded) => {
                    *last_seen = Some(loaded.stamp);
                    info!(
                        database = self.kind.as_str(),
                        path = %source.path.display(),
                        database_type = %loaded.reader.metadata().database_type,
                        build_epoch = loaded.build_epoch(),
                        "geoip database reloaded"
                    );
                    let previous = std::mem::replace(
                        &mut *source
                            .current
                            .write()
                            .unwrap_or_else(PoisonError::into_inner),
                        loaded,
                    );
                    // Freed after the write lock is released, so lookups never wait for it.
                    drop(previous);
                    self.metrics.reload_ok.increment(1);
                    ReloadStatus::Reloaded
                }
                Err(error) => {
                    // Remembered so a broken file is reported once, not at every check.
                    *last_seen = Some(FileStamp::of(&metadata));
                    self.metrics.reload_failed.increment(1);
                    warn!(
                        database = self.kind.as_str(),
                        %error,
                        "geoip database reload failed; keeping the loaded database"
                    );
                    ReloadStatus::Failed
                }
            },
        };
        drop(last_seen);
        self.metrics.set_age(source.read().build_epoch());
        status
    }
}

/// Memory-maps an open database file: lookups read the page cache directly (shared by every process
/// on the host, no copy on the heap, none doubled during a reload).
#[allow(unsafe_code)]
fn map_file(file: &File) -> io::Result<Mmap> {
    // SAFETY: the mapping is of the inode `file` refers to. Database files are replaced by rename
    // (geoipupdate, scripts/fetch-geoip-db, and what docs/geoip.md requires), which leaves this
    // inode and its bytes untouched until the mapping is dropped; the reloader then maps the new
    // inode. Only modifying or truncating the file in place could change bytes under the reader,
    // and docs/geoip.md forbids exactly that.
    unsafe { Mmap::map(file) }
}

/// Reads, parses and validates one file. The stamp comes from the open handle, so it describes
/// exactly the bytes read even if the path is replaced meanwhile.
fn load(kind: DatabaseKind, path: &Path) -> Result<LoadedDatabase, GeoIpError> {
    let read_error = |source: io::Error| GeoIpError::Read {
        database: kind,
        path: path.to_owned(),
        source,
    };
    let too_large = || GeoIpError::TooLarge {
        database: kind,
        path: path.to_owned(),
    };
    let file = File::open(path).map_err(read_error)?;
    let metadata = file.metadata().map_err(read_error)?;
    if !metadata.is_file() {
        return Err(GeoIpError::NotAFile {
            database: kind,
            path: path.to_owned(),
        });
    }
    if metadata.len() > MAX_DATABASE_BYTES {
        return Err(too_large());
    }
    let mapping = map_file(&file).map_err(read_error)?;
    let reader = Reader::from_source(mapping).map_err(|source| GeoIpError::Invalid {
        database: kind,
        path: path.to_owned(),
        source,
    })?;
    validate_role(kind, path, &reader)?;
    Ok(LoadedDatabase {
        reader,
        stamp: FileStamp::of(&metadata),
    })
}

/// Checks that the first records include at least one usable answer for the role. This catches an
/// ASN file configured as the location database and vice versa, and files in neither layout.
/// `Reader::verify` is not used: it rejects the real DB-IP files (their metadata `description` is
/// an empty map), and a bad record elsewhere only makes its own lookups `invalid`.
fn validate_role(kind: DatabaseKind, path: &Path, reader: &Reader<Mmap>) -> Result<(), GeoIpError> {
    let invalid = |source: MaxMindDbError| GeoIpError::Invalid {
        database: kind,
        path: path.to_owned(),
        source,
    };
    let usable = match kind {
        DatabaseKind::Location => sample_has_answer::<LocationRecord<'_>>(reader),
        DatabaseKind::Asn => sample_has_answer::<AsnRecord<'_>>(reader),
    }
    .map_err(invalid)?;
    if usable {
        return Ok(());
    }
    Err(GeoIpError::WrongLayout {
        database: kind,
        path: path.to_owned(),
        field: kind.required_field(),
    })
}

fn sample_has_answer<'r, R: Record<'r>>(reader: &'r Reader<Mmap>) -> Result<bool, MaxMindDbError> {
    for network in reader
        .networks(WithinOptions::default())?
        .take(VALIDATION_SAMPLE_RECORDS)
    {
        let Ok(Some(record)) = network?.decode::<R>() else {
            continue;
        };
        if let Decoded::Found(_) = record.answer() {
            return Ok(true);
        }
    }
    Ok(false)
}

/// The outcome of one lookup in one database.
enum Decoded<T> {
    Found(T),
    /// No record, or a record without the value this role needs.
    NotFound,
    /// A record whose value is malformed (or that maxminddb could not decode).
    Invalid,
}

/// A record layout: how to decode it and what it answers.
trait Record<'de>: Deserialize<'de> {
    type Answer;
    fn answer(self) -> Decoded<Self::Answer>;
}

fn decode_answer<'r, R: Record<'r>>(
    reader: &'r Reader<Mmap>,
    address: IpAddr,
) -> Decoded<R::Answer> {
    // maxminddb reports IPv6 in an IPv4-only database as an error; for us it is simply not there.
    if address.is_ipv6() && reader.metadata().ip_version == 4 {
        return Decoded::NotFound;
    }
    let Ok(result) = reader.lookup(address) else {
        return Decoded::Invalid;
    };
    match result.decode::<R>() {
        Ok(Some(record)) => record.answer(),
        Ok(None) => Decoded::NotFound,
        Err(_) => Decoded::Invalid,
    }
}

/// The answer of the location database.
struct Location {
    country: CountryCode,
    region: String,
    city: String,
}

/// Both location layouts in one struct; each file fills the fields of its own layout. Fields of an
/// unexpected type come through as [`Value::Other`] rather than failing the record, except the
/// GeoIP2 maps (`country`, `subdivisions`, `city` as a map), whose wrong shape makes it `invalid`.
#[derive(Deserialize)]
struct LocationRecord<'a> {
    /// GeoIP2: where the address is.
    #[serde(borrow)]
    country: Option<Place<'a>>,
    /// GeoIP2: where the network is registered; used only when `country` is absent.
    #[serde(borrow)]
    registered_country: Option<Place<'a>>,
    /// GeoIP2: largest first.
    #[serde(borrow)]
    subdivisions: Option<FirstElement<Place<'a>>>,
    /// GeoIP2 `{names: {en}}` or DB-IP text.
    #[serde(borrow)]
    city: Option<City<'a>>,
    /// DB-IP.
    #[serde(borrow)]
    country_code: Option<Value<'a>>,
    /// DB-IP city: the first-level subdivision name.
    #[serde(borrow)]
    state1: Option<Value<'a>>,
}

impl<'a> Record<'a> for LocationRecord<'a> {
    type Answer = Location;

    fn answer(self) -> Decoded<Location> {
        let country = [
            self.country.and_then(|place| place.iso_code),
            self.country_code,
            self.registered_country.and_then(|place| place.iso_code),
        ]
        .into_iter()
        .flatten()
        .find(|value| !value.is_empty());
        let country = match country {
            None => return Decoded::NotFound,
            Some(Value::Text(text)) => match CountryCode::parse(&text) {
                Some(country) => country,
                None => return Decoded::Invalid,
            },
            Some(Value::Integer(_) | Value::Other) => return Decoded::Invalid,
        };
        let subdivision = self.subdivisions.and_then(|first| first.0);
        let region = subdivision
            .and_then(|place| {
                let english = place.names.and_then(|names| names.en).and_then(clean_name);
                english.or_else(|| place.iso_code.and_then(clean_name))
            })
            .or_else(|| self.state1.and_then(clean_name))
            .unwrap_or_default();
        let city = match self.city {
            Some(City::Text(value)) => clean_name(value),
            Some(City::Names(names)) => names.en.and_then(clean_name),
            None => None,
        }
        .unwrap_or_default();
        Decoded::Found(Location {
            country,
            region,
            city,
        })
    }
}

/// A GeoIP2 place (country or subdivision).
#[derive(Deserialize)]
struct Place<'a> {
    #[serde(borrow)]
    iso_code: Option<Value<'a>>,
    #[serde(borrow)]
    names: Option<Names<'a>>,
}

/// GeoIP2 localised names; only English is used, so labels stay in one language.
#[derive(Deserialize)]
struct Names<'a> {
    #[serde(borrow)]
    en: Option<Value<'a>>,
}

/// `city` is a map of names in GeoIP2 and plain text in DB-IP.
enum City<'a> {
    Text(Value<'a>),
    Names(Names<'a>),
}

#[derive(Deserialize)]
struct GeoIp2City<'a> {
    #[serde(borrow)]
    names: Option<Names<'a>>,
}

impl<'de: 'a, 'a> Deserialize<'de> for City<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct CityVisitor<'a>(std::marker::PhantomData<City<'a>>);

        impl<'de: 'a, 'a> Visitor<'de> for CityVisitor<'a> {
            type Value = City<'a>;

            fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
                formatter.write_str("a city name or a map of city names")
            }

            fn visit_borrowed_str<E>(self, text: &'de str) -> Result<City<'a>, E> {
                Ok(City::Text(Value::Text(Cow::Borrowed(text))))
            }

            fn visit_str<E>(self, text: &str) -> Result<City<'a>, E> {
                Ok(City::Text(Value::Text(Cow::Owned(text.to_owned()))))
            }

            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<City<'a>, A::Error> {
                let city = GeoIp2City::deserialize(MapAccessDeserializer::new(map))?;
                Ok(City::Names(Names {
                    en: city.names.and_then(|names| names.en),
                }))
            }
        }

        deserializer.deserialize_any(CityVisitor(std::marker::PhantomData))
    }
}

/// The first element of an array; the rest are skipped without being decoded into anything.
struct FirstElement<T>(Option<T>);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for FirstElement<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct FirstVisitor<T>(std::marker::PhantomData<T>);

        impl<'de, T: Deserialize<'de>> Visitor<'de> for FirstVisitor<T> {
            type Value = FirstElement<T>;

            fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
                formatter.write_str("an array")
            }

            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<FirstElement<T>, A::Error> {
                let first = seq.next_element::<T>()?;
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(FirstElement(first))
            }
        }

        deserializer.deserialize_seq(FirstVisitor(std::marker::PhantomData))
    }
}

/// The ASN layout (GeoLite2-ASN and ip-location-db).
#[derive(Deserialize)]
struct AsnRecord<'a> {
    #[serde(borrow)]
    autonomous_system_number: Option<Value<'a>>,
}

impl<'a> Record<'a> for AsnRecord<'a> {
    type Answer = u32;

    fn answer(self) -> Decoded<u32> {
        let number = match self.autonomous_system_number {
            None => return Decoded::NotFound,
            Some(value) if value.is_empty() => return Decoded::NotFound,
            Some(Value::Integer(number)) => u32::try_from(number).ok(),
            // Tolerated for hand-made databases: "64500" or "AS64500".
            Some(Value::Text(text)) => {
                let digits = text
                    .strip_prefix("AS")
                    .or_else(|| text.strip_prefix("as"))
                    .unwrap_or(&text);
                digits.parse::<u32>().ok()
            }
            Some(Value::Other) => None,
        };
        match number {
            // AS0 is reserved (RFC 7607): a database saying 0 is saying nothing valid.
            Some(number) if number != 0 => Decoded::Found(number),
            _ => Decoded::Invalid,
        }
    }
}

/// One scalar field as far as this module cares. Any type is accepted, so a field of the wrong
/// type makes that value invalid instead of failing the whole record.
enum Value<'a> {
    Text(Cow<'a, str>),
    Integer(i128),
    /// Floats, booleans, bytes, maps, arrays, and integers beyond i128.
    Other,
}

impl Value<'_> {
    /// DB-IP writes "" for what it does not know.
    fn is_empty(&self) -> bool {
        matches!(self, Value::Text(text) if text.is_empty())
    }
}

/// A name fit to store: text, trimmed, not empty, at most [`MAX_NAME_BYTES`], no control
/// characters.
fn clean_name(value: Value<'_>) -> Option<String> {
    let Value::Text(text) = value else {
        return None;
    };
    let trimmed = text.trim();
    let fits = !trimmed.is_empty() && trimmed.len() <= MAX_NAME_BYTES;
    (fits && !trimmed.chars().any(char::is_control)).then(|| trimmed.to_owned())
}

impl<'de: 'a, 'a> Deserialize<'de> for Value<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ValueVisitor<'a>(std::marker::PhantomData<Value<'a>>);

        impl<'de: 'a, 'a> Visitor<'de> for ValueVisitor<'a> {
            type Value = Value<'a>;

            fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
                formatter.write_str("any value")
            }

            fn visit_borrowed_str<E>(self, text: &'de str) -> Result<Value<'a>, E> {
                Ok(Value::Text(Cow::Borrowed(text)))
            }

            fn visit_str<E>(self, text: &str) -> Result<Value<'a>, E> {
                Ok(Value::Text(Cow::Owned(text.to_owned())))
            }

            fn visit_i64<E>(self, number: i64) -> Result<Value<'a>, E> {
                Ok(Value::Integer(i128::from(number)))
            }

            fn visit_u64<E>(self, number: u64) -> Result<Value<'a>, E> {
                Ok(Value::Integer(i128::from(number)))
            }

            fn visit_i128<E>(self, number: i128) -> Result<Value<'a>, E> {
                Ok(Value::Integer(number))
            }

            fn visit_u128<E>(self, number: u128) -> Result<Value<'a>, E> {
                Ok(i128::try_from(number).map_or(Value::Other, Value::Integer))
            }

            fn visit_f64<E>(self, _: f64) -> Result<Value<'a>, E> {
                Ok(Value::Other)
            }

            fn visit_bool<E>(self, _: bool) -> Result<Value<'a>, E> {
                Ok(Value::Other)
            }

            fn visit_bytes<E>(self, _: &[u8]) -> Result<Value<'a>, E> {
                Ok(Value::Other)
            }

            fn visit_unit<E>(self) -> Result<Value<'a>, E> {
                Ok(Value::Other)
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value<'a>, A::Error> {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(Value::Other)
            }

            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value<'a>, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(Value::Other)
            }
        }

        deserializer.deserialize_any(ValueVisitor(std::marker::PhantomData))
    }
}

#[cfg(test)]
mod tests {
    //! Known answers come from the databases `testdata/geoip/generate.py` writes; see its data.

    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Instant;

    use super::*;
    use crate::test_recorder::TestRecorder;

    /// Build epoch the generator stamps into every test database (2026-01-01T00:00:00Z).
    const TEST_BUILD_EPOCH: u64 = 1_767_225_600;

    fn testdata(name: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("testdata/geoip")
            .join(name)
    }

    fn address(text: &str) -> IpAddr {
        text.parse().expect("test addresses are valid")
    }

    fn paths(location: Option<&str>, asn: Option<&str>) -> GeoIpPaths {
        GeoIpPaths {
            location: location.map(testdata),
            asn: asn.map(testdata),
        }
    }

    impl TestRecorder {
        fn lookups(&self, database: &str, outcome: &str) -> u64 {
            self.counter(LOOKUPS, &[("database", database), ("outcome", outcome)])
        }

        fn reloads(&self, database: &str, outcome: &str) -> u64 {
            self.counter(RELOADS, &[("database", database), ("outcome", outcome)])
        }
    }

    /// Opens the databases with metric handles bound to a fresh recorder.
    fn open_recorded(paths: &GeoIpPaths) -> (GeoIp, Arc<TestRecorder>) {
        let recorder = Arc::new(TestRecorder::default());
        let geoip = metrics::with_local_recorder(recorder.as_ref(), || GeoIp::open(paths))
            .expect("test databases load");
        (geoip, recorder)
    }

    fn open(paths: &GeoIpPaths) -> GeoIp {
        open_recorded(paths).0
    }

    fn info(country: &str, region: &str, city: &str, asn: u32) -> GeoInfo {
        GeoInfo {
            country: CountryCode::parse(country),
            region: region.to_owned(),
            city: city.to_owned(),
            asn,
        }
    }

    /// A directory under the system temp dir, removed when dropped.
    struct TempDir(PathBuf);

    impl TempDir {
        fn new(name: &str) -> Self {
            static NEXT: AtomicUsize = AtomicUsize::new(0);
            let unique = NEXT.fetch_add(1, Ordering::Relaxed);
            let path = std::env::temp_dir()
                .join(format!("rum-geoip-{name}-{}-{unique}", std::process::id()));
            fs::create_dir_all(&path).expect("create temp dir");
            Self(path)
        }

        /// Replaces `name` the way operators must: write a sibling, then rename over.
        fn replace_atomically(&self, name: &str, bytes: &[u8]) -> PathBuf {
            let target = self.0.join(name);
            let staging = self.0.join(format!(".{name}.tmp"));
            fs::write(&staging, bytes).expect("write staging file");
            fs::rename(&staging, &target).expect("rename over target");
            target
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    fn read_testdata(name: &str) -> Vec<u8> {
        fs::read(testdata(name)).expect("read test database")
    }

    #[test]
    fn country_codes_are_two_ascii_letters_uppercased() {
        let cases = [
            ("GB", Some("GB")),
            ("gb", Some("GB")),
            ("Nl", Some("NL")),
            ("GBR", None),
            ("G", None),
            ("", None),
            ("1A", None),
            ("G\n", None),
            (" GB", None),
            ("ÜK", None),
            ("Ü", None),
            ("--", None),
        ];
        for (input, expected) in cases {
            let parsed = CountryCode::parse(input);
            assert_eq!(
                parsed.as_ref().map(CountryCode::as_str),
                expected,
                "input {input:?}"
            );
        }
        let unknown = GeoInfo::default();
        assert_eq!(unknown.country_or_unknown(), "unknown");
        assert_eq!(info("fr", "", "", 0).country_or_unknown(), "FR");
    }

    #[test]
    fn geoip2_city_layout_ipv4() {
        let geoip = open(&paths(Some("geoip2-city-test.mmdb"), None));
        let cases = [
            ("81.2.69.142", info("GB", "England", "London", 0)),
            // Subdivision without names: its ISO code; non-ASCII city names are kept.
            ("89.160.20.5", info("SE", "E", "Linköping", 0)),
            // No `country`: falls back to `registered_country`.
            ("202.196.224.1", info("PH", "", "", 0)),
            // Dual-stack sockets report IPv4 peers as IPv4-mapped IPv6.
            ("::ffff:81.2.69.142", info("GB", "England", "London", 0)),
        ];
        for (ip, expected) in cases {
            assert_eq!(geoip.lookup(address(ip)), expected, "{ip}");
        }
    }

    #[test]
    fn geoip2_city_layout_ipv6() {
        let geoip = open(&paths(Some("geoip2-city-test.mmdb"), None));
        assert_eq!(
            geoip.lookup(address("2001:218:1::1")),
            info("JP", "Tokyo", "Minato", 0)
        );
        // Country only.
        assert_eq!(geoip.lookup(address("2a02:d3c0::7")), info("BT", "", "", 0));
    }

    #[test]
    fn dbip_country_layout_ipv4_and_ipv6() {
        let geoip = open(&paths(Some("dbip-country-test.mmdb"), None));
        let cases = [
            ("1.0.0.1", "AU"),
            ("81.2.69.142", "GB"),
            ("2a00:1450:4001::1", "PL"),
            ("2400:cb00::1", "US"),
        ];
        for (ip, country) in cases {
            assert_eq!(geoip.lookup(address(ip)), info(country, "", "", 0), "{ip}");
        }
    }

    #[test]
    fn dbip_city_layout_ipv4_and_ipv6() {
        let geoip = open(&paths(Some("dbip-city-test.mmdb"), None));
        assert_eq!(
            geoip.lookup(address("81.2.69.142")),
            info("GB", "England", "London", 0)
        );
        assert_eq!(
            geoip.lookup(address("2a00:1450:4001::1")),
            info("PL", "Mazovia", "Warsaw", 0)
        );
        // DB-IP's "" for unknown state and city.
        assert_eq!(geoip.lookup(address("1.0.0.1")), info("AU", "", "", 0));
    }

    #[test]
    fn asn_database_ipv4_and_ipv6_beside_a_location_database() {
        let (geoip, recorder) =
            open_recorded(&paths(Some("geoip2-city-test.mmdb"), Some("asn-test.mmdb")));
        assert_eq!(geoip.lookup(address("1.1.1.1")).asn, 13335);
        assert_eq!(geoip.lookup(address("2606:4700::1111")).asn, 13335);
        assert_eq!(geoip.lookup(address("8.8.8.8")).asn, 15169);
        assert_eq!(geoip.lookup(address("2001:4860:4860::8888")).asn, 15169);
        // Both databases answer for the same address independently.
        assert_eq!(
            geoip.lookup(address("81.2.69.142")),
            info("GB", "England", "London", 0)
        );
        assert_eq!(recorder.lookups("asn", "found"), 4);
        assert_eq!(recorder.lookups("asn", "not_found"), 1);
        assert_eq!(recorder.lookups("location", "found"), 1);
        assert_eq!(recorder.lookups("location", "not_found"), 4);
    }

    #[test]
    fn addresses_not_in_the_database_are_unknown() {
        let (geoip, recorder) =
            open_recorded(&paths(Some("geoip2-city-test.mmdb"), Some("asn-test.mmdb")));
        for ip in ["9.9.9.9", "127.0.0.1", "2001:db8::1", "::1"] {
            assert_eq!(geoip.lookup(address(ip)), GeoInfo::default(), "{ip}");
        }
        assert_eq!(recorder.lookups("location", "not_found"), 4);
        assert_eq!(recorder.lookups("asn", "not_found"), 4);
        assert_eq!(recorder.lookups("location", "found"), 0);
    }

    #[test]
    fn ipv6_in_an_ipv4_only_database_is_not_found() {
        let (geoip, recorder) = open_recorded(&paths(Some("dbip-country-ipv4-test.mmdb"), None));
        assert_eq!(geoip.lookup(address("1.0.0.1")), info("AU", "", "", 0));
        assert_eq!(
            geoip.lookup(address("2a00:1450:4001::1")),
            GeoInfo::default()
        );
        assert_eq!(recorder.lookups("location", "not_found"), 1);
        assert_eq!(recorder.lookups("location", "invalid"), 0);
    }

    #[test]
    fn no_database_answers_unknown_and_warns_at_start_up() {
        let recorder = TestRecorder::default();
        let (disabled, opened_without_paths) = metrics::with_local_recorder(&recorder, || {
            (GeoIp::disabled(), GeoIp::open(&GeoIpPaths::default()))
        });
        let opened_without_paths = opened_without_paths.expect("no paths is not an error");
        for geoip in [&disabled, &opened_without_paths] {
            assert_eq!(geoip.lookup(address("81.2.69.142")), GeoInfo::default());
            assert_eq!(geoip.lookup(address("2001:218::1")), GeoInfo::default());
            assert!(
                geoip.log_startup_status(),
                "the missing database is warned about"
            );
            let report = geoip.reload_if_changed();
            assert_eq!(report.location, ReloadStatus::NotConfigured);
            assert_eq!(report.asn, ReloadStatus::NotConfigured);
        }
        assert_eq!(recorder.lookups("location", "no_database"), 4);
        assert_eq!(recorder.lookups("asn", "no_database"), 4);
        assert_eq!(
            recorder.gauge(DATABASE_AGE, &[("database", "location")]),
            None
        );

        let configured = open(&paths(Some("dbip-country-test.mmdb"), None));
        assert!(!configured.log_startup_status());
    }

    #[test]
    fn invalid_values_never_become_answers() {
        let invalid = "invalid-values-test.mmdb";
        let (geoip, recorder) = open_recorded(&paths(Some(invalid), Some(invalid)));
        // (address, location outcome, expected answer)
        let cases = [
            ("10.1.0.1", "invalid", GeoInfo::default()),
            ("10.2.0.1", "invalid", GeoInfo::default()),
            ("10.3.0.1", "not_found", GeoInfo::default()),
            ("10.4.0.1", "invalid", GeoInfo::default()),
            ("10.5.0.1", "invalid", GeoInfo::default()),
            ("10.6.0.1", "invalid", GeoInfo::default()),
            ("10.7.0.1", "found", info("GB", "", "", 0)),
            ("10.8.0.1", "invalid", GeoInfo::default()),
            ("10.9.0.1", "invalid", GeoInfo::default()),
            // Control character in the region, oversized city: both dropped, country kept.
            ("10.10.0.1", "found", info("FR", "", "", 0)),
            // `country` must be a map: the record does not decode.
            ("10.11.0.1", "invalid", GeoInfo::default()),
            ("2001:db8:1::1", "invalid", GeoInfo::default()),
            ("2001:db8:2::1", "found", info("NL", "", "", 0)),
        ];
        for (ip, outcome, expected) in cases {
            let before = recorder.lookups("location", outcome);
            assert_eq!(geoip.lookup(address(ip)), expected, "{ip}");
            assert_eq!(
                recorder.lookups("location", outcome),
                before + 1,
                "{ip} counted as {outcome}"
            );
        }

        let asn_cases = [
            ("10.20.0.1", "invalid", 0),   // AS0
            ("10.21.0.1", "found", 64500), // "AS64500"
            ("10.22.0.1", "invalid", 0),   // negative
            ("10.23.0.1", "invalid", 0),   // beyond u32
            ("10.24.0.1", "invalid", 0),   // not a number
            ("10.25.0.1", "found", 64501),
            ("10.7.0.1", "not_found", 0), // a record without the field
        ];
        for (ip, outcome, expected) in asn_cases {
            let before = recorder.lookups("asn", outcome);
            assert_eq!(geoip.lookup(address(ip)).asn, expected, "{ip}");
            assert_eq!(
                recorder.lookups("asn", outcome),
                before + 1,
                "{ip} counted as {outcome}"
            );
        }
    }

    #[test]
    fn metrics_have_bounded_labels_and_the_database_age() {
        let (geoip, recorder) =
            open_recorded(&paths(Some("geoip2-city-test.mmdb"), Some("asn-test.mmdb")));
        for ip in ["81.2.69.142", "2001:218::1", "1.1.1.1", "9.9.9.9"] {
            geoip.lookup(address(ip));
        }
        let age = recorder
            .gauge(DATABASE_AGE, &[("database", "location")])
            .expect("age gauge set at load");
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .expect("clock after 1970")
            .as_secs_f64();
        let expected = now - TEST_BUILD_EPOCH as f64;
        assert!(
            (age - expected).abs() < 60.0,
            "age {age}, expected about {expected}"
        );
        assert!(
            recorder
                .gauge(DATABASE_AGE, &[("database", "asn")])
                .is_some()
        );

        let allowed_outcomes = [
            "found",
            "not_found",
            "invalid",
            "no_database",
            "ok",
            "failed",
        ];
        for id in recorder.keys() {
            assert!(
                !id.contains("81.2") && !id.contains("2001:") && !id.contains("9.9"),
                "{id}"
            );
            let labels = id
                .split_once('{')
                .map(|(_, labels)| labels.trim_end_matches('}'))
                .unwrap_or_default();
            for label in labels.split(',').filter(|label| !label.is_empty()) {
                let allowed = match label.split_once('=') {
                    Some(("database", value)) => ["location", "asn"].contains(&value),
                    Some(("outcome", value)) => allowed_outcomes.contains(&value),
                    _ => false,
                };
                assert!(allowed, "unexpected label {label} in {id}");
            }
        }
    }

    #[test]
    fn unusable_files_are_refused_at_start_up() {
        let temp = TempDir::new("startup");
        let missing = temp.0.join("missing.mmdb");
        let garbage = temp.replace_atomically("garbage.mmdb", b"this is not a maxmind database");
        let city = read_testdata("geoip2-city-test.mmdb");
        let truncated = temp.replace_atomically("truncated.mmdb", &city[..city.len() / 2]);
        let empty = temp.replace_atomically("empty.mmdb", b"");
        // Sparse: refused on its size before a byte is read.
        let huge = temp.0.join("huge.mmdb");
        File::create(&huge)
            .and_then(|file| file.set_len(MAX_DATABASE_BYTES + 1))
            .expect("create sparse file");

        let open_location = |path: &Path| {
            GeoIp::open(&GeoIpPaths {
                location: Some(path.to_owned()),
                asn: None,
            })
        };
        assert!(matches!(
            open_location(&missing),
            Err(GeoIpError::Read { .. })
        ));
        assert!(matches!(
            open_location(&temp.0),
            Err(GeoIpError::NotAFile { .. })
        ));
        assert!(matches!(
            open_location(&garbage),
            Err(GeoIpError::Invalid { .. })
        ));
        assert!(matches!(
            open_location(&truncated),
            Err(GeoIpError::Invalid { .. })
        ));
        assert!(matches!(
            open_location(&empty),
            Err(GeoIpError::Invalid { .. })
        ));
        assert!(matches!(
            open_location(&huge),
            Err(GeoIpError::TooLarge { .. })
        ));

        // Valid files in the wrong role.
        let asn_as_location = open_location(&testdata("asn-test.mmdb"));
        let Err(error) = asn_as_location else {
            panic!("an ASN database is not a location database");
        };
        assert!(matches!(
            error,
            GeoIpError::WrongLayout {
                field: "country",
                ..
            }
        ));
        let message = error.to_string();
        assert!(
            message.starts_with("the location geoip database "),
            "{message}"
        );
        assert!(message.contains("no usable `country`"), "{message}");
        let location_as_asn = GeoIp::open(&paths(None, Some("dbip-country-test.mmdb")));
        assert!(matches!(
            location_as_asn,
            Err(GeoIpError::WrongLayout {
                database: DatabaseKind::Asn,
                ..
            })
        ));
    }

    #[test]
    fn reload_swaps_a_replaced_file_and_keeps_serving_through_a_broken_one() {
        let temp = TempDir::new("reload");
        let path =
            temp.replace_atomically("location.mmdb", &read_testdata("geoip2-city-test.mmdb"));
        let (geoip, recorder) = open_recorded(&GeoIpPaths {
            location: Some(path),
            asn: None,
        });
        let london = address("81.2.69.142");
        let australia = address("1.0.0.1");
        assert_eq!(geoip.lookup(london), info("GB", "England", "London", 0));
        assert_eq!(geoip.lookup(australia), GeoInfo::default());
        assert_eq!(geoip.reload_if_changed().location, ReloadStatus::Unchanged);

        temp.replace_atomically("location.mmdb", &read_testdata("dbip-country-test.mmdb"));
        let report = geoip.reload_if_changed();
        assert_eq!(report.location, ReloadStatus::Reloaded);
        assert_eq!(report.asn, ReloadStatus::NotConfigured);
        assert_eq!(geoip.lookup(london), info("GB", "", "", 0));
        assert_eq!(geoip.lookup(australia), info("AU", "", "", 0));
        assert_eq!(recorder.reloads("location", "ok"), 1);
        assert_eq!(geoip.reload_if_changed().location, ReloadStatus::Unchanged);

        temp.replace_atomically("location.mmdb", b"\x00garbage, not an mmdb file");
        assert_eq!(geoip.reload_if_changed().location, ReloadStatus::Failed);
        assert_eq!(
            geoip.lookup(australia),
            info("AU", "", "", 0),
            "old database kept"
        );
        assert_eq!(recorder.reloads("location", "failed"), 1);
        // The broken file is reported once, not at every check.
        assert_eq!(geoip.reload_if_changed().location, ReloadStatus::Unchanged);
        assert_eq!(recorder.reloads("location", "failed"), 1);

        // A valid file in the wrong role is refused the same way.
        temp.replace_atomically("location.mmdb", &read_testdata("asn-test.mmdb"));
        assert_eq!(geoip.reload_if_changed().location, ReloadStatus::Failed);
        assert_eq!(geoip.lookup(australia), info("AU", "", "", 0));
        assert_eq!(recorder.reloads("location", "failed"), 2);

        // A good file after a bad one is picked up.
        temp.replace_atomically("location.mmdb", &read_testdata("dbip-city-test.mmdb"));
        assert_eq!(geoip.reload_if_changed().location, ReloadStatus::Reloaded);
        assert_eq!(geoip.lookup(london), info("GB", "England", "London", 0));
        assert_eq!(recorder.reloads("location", "ok"), 2);
    }

    #[test]
    fn reload_keeps_the_database_when_the_file_disappears() {
        let temp = TempDir::new("vanish");
        let path = temp.replace_atomically("asn.mmdb", &read_testdata("asn-test.mmdb"));
        let (geoip, recorder) = open_recorded(&GeoIpPaths {
            location: None,
            asn: Some(path.clone()),
        });
        fs::remove_file(&path).expect("remove database file");
        assert_eq!(geoip.reload_if_changed().asn, ReloadStatus::Failed);
        assert_eq!(geoip.reload_if_changed().asn, ReloadStatus::Unchanged);
        assert_eq!(recorder.reloads("asn", "failed"), 1);
        assert_eq!(geoip.lookup(address("1.1.1.1")).asn, 13335);

        temp.replace_atomically("asn.mmdb", &read_testdata("asn-test.mmdb"));
        assert_eq!(geoip.reload_if_changed().asn, ReloadStatus::Reloaded);
        assert_eq!(geoip.lookup(address("8.8.8.8")).asn, 15169);
    }

    #[test]
    fn reloader_thread_picks_up_a_replaced_file_and_stops_when_dropped() {
        let temp = TempDir::new("thread");
        let path =
            temp.replace_atomically("location.mmdb", &read_testdata("geoip2-city-test.mmdb"));
        let geoip = Arc::new(open(&GeoIpPaths {
            location: Some(path),
            asn: None,
        }));
        let reloader = GeoIpReloader::spawn(&geoip, Duration::ZERO).expect("spawn reloader");
        let australia = address("1.0.0.1");
        assert_eq!(geoip.lookup(australia), GeoInfo::default());

        temp.replace_atomically("location.mmdb", &read_testdata("dbip-country-test.mmdb"));
        // Polls for the outcome rather than sleeping a fixed time; the interval is 100 ms.
        let deadline = Instant::now() + Duration::from_secs(20);
        while geoip.lookup(australia).country.is_none() {
            assert!(
                Instant::now() < deadline,
                "reloader did not pick up the new file"
            );
            std::thread::sleep(MIN_RELOAD_INTERVAL / 4);
        }
        assert_eq!(geoip.lookup(australia), info("AU", "", "", 0));

        let stopping = Instant::now();
        drop(reloader);
        assert!(
            stopping.elapsed() < Duration::from_secs(5),
            "drop stops the thread promptly"
        );

        let nothing = Arc::new(GeoIp::disabled());
        let idle = GeoIpReloader::spawn(&nothing, DEFAULT_RELOAD_INTERVAL).expect("no-op reloader");
        assert!(idle.thread.is_none(), "no thread without a database");
    }
}
