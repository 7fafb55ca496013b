//! GeoIP: the country, region, city and autonomous system of a client address, read from MaxMind DB
//! (`.mmdb`) files.
//!
//! Two optional databases. The *location* database may be GeoIP2/GeoLite2 City or Country
//! (nested `country.iso_code`, `subdivisions[0]`, `city.names.en`) or the flat DB-IP Lite layout
//! published by ip-location-db (`country_code`, and `state1`/`city` in its city database); one
//! record decoder reads both, so nobody has to say which layout a file uses. The *ASN* database
//! (GeoLite2-ASN or ip-location-db `asn-mmdb`) gives `autonomous_system_number`.
//!
//! Files are memory-mapped (the only `unsafe` in the workspace, in `map_file`): lookups read the
//! page cache, shared by every process on the host, and a reload never holds two heap copies of a
//! 100 MB city database. Mapping is safe only while nobody modifies the file in place, so files must
//! be replaced atomically (write a temporary file, then rename), as geoipupdate and
//! `scripts/fetch-geoip-db` do. [`GeoIp::reload_if_changed`], driven by a [`GeoIpReloader`] thread,
//! notices a replaced file, loads and validates it off the request path and swaps it in; a file that
//! fails validation leaves the previous database serving.
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
//!
//! Here: opening, validating and looking up the databases. `record.rs` decodes the maxminddb
//! records of both layouts; `reload.rs` holds the reload thread and the file stamps.

mod record;
mod reload;
#[cfg(test)]
mod tests;

use std::fmt;
use std::fs::File;
use std::io;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use maxminddb::Mmap;
use maxminddb::{MaxMindDbError, Reader, WithinOptions};
use metrics::{Counter, Gauge, counter, describe_counter, describe_gauge, gauge};
use tracing::{info, warn};

use self::record::{AsnRecord, Decoded, LocationRecord, Record, decode_answer};
use self::reload::FileStamp;
pub use self::reload::{GeoIpReloader, ReloadReport, ReloadStatus};

/// How often a [`GeoIpReloader`] checks the files when the caller has no opinion:
/// `enrich.geoip_reload_interval`'s default, [`rum_config::DEFAULT_GEOIP_RELOAD_INTERVAL_SECS`].
pub const DEFAULT_RELOAD_INTERVAL: Duration =
    Duration::from_secs(rum_config::DEFAULT_GEOIP_RELOAD_INTERVAL_SECS);

/// Shortest reload interval a [`GeoIpReloader`] accepts: a zero interval would spin.
pub const MIN_RELOAD_INTERVAL: Duration = Duration::from_millis(100);

/// Largest file accepted as a database (real ones are 5-150 MB). A larger file, or a device such as
/// `/dev/zero` configured by mistake, is refused instead of exhausting memory.
pub const MAX_DATABASE_BYTES: u64 = 2 * 1024 * 1024 * 1024;

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
