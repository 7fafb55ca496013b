//! The collector's disk spool: accepted beacons the broker cannot take now, kept in order on disk
//! until it can, across restarts.
//!
//! Layout: a directory holding `LOCK` (one collector per spool), `cursor` (where replay stands)
//! and append-only segment files `{id:020}-{created_ms}.seg` of framed, checksummed records
//! ([`record`]). Segments roll at a size and an age; the whole spool is capped in bytes (a full
//! spool refuses appends: the edge answers 503) and in age (older segments are dropped, counted
//! `spool_expired`).
//!
//! Two modes ([`SpoolMode`]): *overflow* takes records only when the producer cannot (broker down,
//! queue full, delivery failed, shutdown), and fsyncs every `fsync_interval` (power loss loses at
//! most that window of spooled records; a killed process loses none of them, they are in the page
//! cache). *Write-ahead* takes every record first and answers 202 only after a group-committed
//! fsync; the producer then reads everything from the spool, so even SIGKILL or power loss after a
//! 202 loses nothing (a crash may deliver the records after the saved cursor twice, with the same
//! ids).
//!
//! Replay hands records out in order ([`Spool::take`]); each is in flight until the producer's
//! delivery report [`ack`](Spool::ack)s it. The cursor is the first record still in flight (or
//! the read position), saved every second and at shutdown; segments wholly before it are deleted.
//! A delivery that fails re-appends the record at the tail before its old place is acked, so a
//! record is always in the spool, in the producer, delivered, or counted lost.

mod record;

use std::collections::{BTreeSet, VecDeque};
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, Weak};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use metrics::{Counter, Gauge, counter, describe_counter, describe_gauge, gauge};
use rum_ledger::{DropCounters, Item};
use tokio::sync::watch;

use crate::SinkRecord;
use crate::metrics::SinkLoss;

pub use rum_config::SpoolMode;

/// How much of a segment one read brings in.
const READ_CHUNK_BYTES: usize = 256 << 10;
/// How often the cursor is saved and the age cap applied.
const HOUSEKEEPING_INTERVAL: Duration = Duration::from_secs(1);
const SEGMENT_EXTENSION: &str = "seg";

pub(crate) const SPOOL_RECORDS: &str = "rum_spool_records";
pub(crate) const SPOOL_BYTES: &str = "rum_spool_bytes";
pub(crate) const SPOOL_SEGMENTS: &str = "rum_spool_segments";
pub(crate) const SPOOL_OLDEST_AGE: &str = "rum_spool_oldest_age_seconds";
pub(crate) const SPOOL_CAPACITY_BYTES: &str = "rum_spool_capacity_bytes";
pub(crate) const SPOOL_APPENDED: &str = "rum_spool_appended_total";
pub(crate) const SPOOL_REPLAYED: &str = "rum_spool_replayed_total";
pub(crate) const SPOOL_RECOVERED: &str = "rum_spool_recovered_total";
pub(crate) const SPOOL_CORRUPT_BYTES: &str = "rum_spool_corrupt_bytes_total";
pub(crate) const SPOOL_FSYNCS: &str = "rum_spool_fsyncs_total";

/// Why a record went to the spool: the `cause` label of `rum_spool_appended_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpoolCause {
    /// Write-ahead mode: every record.
    WriteAhead,
    /// The broker was not reachable.
    BrokerDown,
    /// The producer's queue was full.
    QueueFull,
    /// The producer gave the record back (retries ran out, or its replay failed).
    DeliveryFailed,
    /// Still in the producer at shutdown.
    Shutdown,
}

impl SpoolCause {
    const ALL: [SpoolCause; 5] = [
        SpoolCause::WriteAhead,
        SpoolCause::BrokerDown,
        SpoolCause::QueueFull,
        SpoolCause::DeliveryFailed,
        SpoolCause::Shutdown,
    ];

    fn as_str(self) -> &'static str {
        match self {
            SpoolCause::WriteAhead => "write_ahead",
            SpoolCause::BrokerDown => "broker_down",
            SpoolCause::QueueFull => "queue_full",
            SpoolCause::DeliveryFailed => "delivery_failed",
            SpoolCause::Shutdown => "shutdown",
        }
    }
}

/// The spool's settings (`[spool]`, resolved).
#[derive(Debug, Clone)]
pub struct SpoolSettings {
    pub dir: PathBuf,
    pub mode: SpoolMode,
    /// Appends beyond this are refused (the edge answers 503).
    pub max_bytes: u64,
    /// Segments older than this are dropped unreplayed (`spool_expired`).
    pub max_age: Duration,
    /// A segment rolls at this size...
    pub segment_bytes: u64,
    /// ...or this age, so the age cap drops little at a time.
    pub segment_age: Duration,
    /// Overflow mode: how often written records are fsynced (the power-loss window).
    pub fsync_interval: Duration,
}

impl SpoolSettings {
    pub fn from_config(config: &rum_config::SpoolConfig) -> Option<Self> {
        let dir = config.dir.clone()?;
        if config.mode == SpoolMode::Off {
            return None;
        }
        Some(Self {
            dir,
            mode: config.mode,
            max_bytes: config.max_bytes.0,
            max_age: config.max_age.0,
            segment_bytes: config.segment_bytes.0,
            segment_age: config.segment_age.0,
            fsync_interval: config.fsync_interval.0,
        })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SpoolError {
    #[error("spool {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("spool {dir} is in use by another collector (its LOCK is held)")]
    Locked { dir: PathBuf },
}

fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> SpoolError + '_ {
    move |source| SpoolError::Io {
        path: path.to_owned(),
        source,
    }
}

/// Why an append did not happen.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AppendError {
    #[error("spool is full")]
    Full,
    #[error("spool cannot write: {0}")]
    Failed(String),
}

/// Where a record lies: segment id, then byte offset (ordered the way the spool is read).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Position {
    segment: u64,
    offset: u64,
}

/// A record handed to the producer by [`Spool::take`]: in flight until acked.
#[derive(Debug)]
pub struct Taken {
    pub position: Position,
    pub record: SinkRecord,
}

/// Resolves once a write-ahead append is on disk.
#[derive(Debug)]
pub struct SyncTicket {
    sequence: u64,
    synced: watch::Receiver<SyncState>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct SyncState {
    synced: u64,
    failure: Option<String>,
}

impl SyncTicket {
    /// Waits for the group commit that covers this record.
    pub async fn wait(mut self) -> Result<(), AppendError> {
        let sequence = self.sequence;
        match self
            .synced
            .wait_for(|state| state.synced >= sequence || state.failure.is_some())
            .await
        {
            Ok(state) if state.synced >= sequence => Ok(()),
            Ok(state) => Err(AppendError::Failed(
                state.failure.clone().unwrap_or_default(),
            )),
            Err(_closed) => Err(AppendError::Failed("spool closed".into())),
        }
    }
}

/// What `/readyz` and the gauges show.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SpoolStats {
    /// Records waiting for replay (not yet handed to the producer).
    pub records: u64,
    pub bytes: u64,
    pub segments: usize,
    pub oldest_age: Duration,
    pub capacity_bytes: u64,
}

struct Segment {
    id: u64,
    created_ms: i64,
    path: PathBuf,
    /// Valid bytes (the write position).
    bytes: u64,
    /// Records not yet handed out.
    unread: u64,
}

struct Inner {
    segments: VecDeque<Segment>,
    /// The append handle of the last segment while it takes writes; `None` after a roll.
    active: Option<File>,
    next_id: u64,
    read: Position,
    reader: Option<(u64, File)>,
    in_flight: BTreeSet<Position>,
    pending: u64,
    bytes: u64,
    written: u64,
    dirty: bool,
    saved_cursor: Option<Position>,
    failure: Option<String>,
    closed: bool,
}

impl Inner {
    fn cursor(&self) -> Position {
        self.in_flight.first().copied().unwrap_or(self.read)
    }

    fn segment_mut(&mut self, id: u64) -> Option<&mut Segment> {
        self.segments.iter_mut().find(|segment| segment.id == id)
    }
}

struct SpoolMetrics {
    records: Gauge,
    bytes: Gauge,
    segments: Gauge,
    oldest_age: Gauge,
    appended: [Counter; SpoolCause::ALL.len()],
    replayed: Counter,
    recovered: Counter,
    corrupt_bytes: Counter,
    fsyncs: Counter,
    lost: DropCounters<SinkLoss>,
}

impl SpoolMetrics {
    fn register(capacity: u64) -> Self {
        describe_gauge!(
            SPOOL_RECORDS,
            "Beacons in the disk spool waiting for replay."
        );
        describe_gauge!(SPOOL_BYTES, "Bytes of the disk spool's segment files.");
        describe_gauge!(SPOOL_SEGMENTS, "Segment files in the disk spool.");
        describe_gauge!(
            SPOOL_OLDEST_AGE,
            metrics::Unit::Seconds,
            "Age of the oldest spool segment (0 when empty)."
        );
        describe_gauge!(
            SPOOL_CAPACITY_BYTES,
            "Bytes the spool holds before the collector answers 503."
        );
        describe_counter!(SPOOL_APPENDED, "Beacons written to the spool, by cause.");
        describe_counter!(
            SPOOL_REPLAYED,
            "Beacons the spool handed to the producer (replay)."
        );
        describe_counter!(
            SPOOL_RECOVERED,
            "Beacons found in the spool at start, waiting for replay."
        );
        describe_counter!(
            SPOOL_CORRUPT_BYTES,
            "Bytes of damaged or torn spool records dropped at recovery."
        );
        describe_counter!(SPOOL_FSYNCS, "fsyncs of spool segments.");
        gauge!(SPOOL_CAPACITY_BYTES).set(capacity as f64);
        Self {
            records: gauge!(SPOOL_RECORDS),
            bytes: gauge!(SPOOL_BYTES),
            segments: gauge!(SPOOL_SEGMENTS),
            oldest_age: gauge!(SPOOL_OLDEST_AGE),
            appended: SpoolCause::ALL
                .map(|cause| counter!(SPOOL_APPENDED, "cause" => cause.as_str())),
            replayed: counter!(SPOOL_REPLAYED),
            recovered: counter!(SPOOL_RECOVERED),
            corrupt_bytes: counter!(SPOOL_CORRUPT_BYTES),
            fsyncs: counter!(SPOOL_FSYNCS),
            lost: DropCounters::register(Item::Beacon),
        }
    }
}

/// The disk spool (see the module docs). Shared by the edge (appends), the producer's delivery
/// reports (re-appends, acks) and the replay thread (takes).
pub struct Spool {
    settings: SpoolSettings,
    inner: Mutex<Inner>,
    /// Signalled on every append: wakes the replay thread and, in write-ahead mode, the syncer.
    appended: Condvar,
    synced: watch::Sender<SyncState>,
    metrics: SpoolMetrics,
    stopping: AtomicBool,
    /// Held for the spool's lifetime: a second collector on the same directory is refused.
    lock_file: File,
}

/// What [`Spool::open`] found on disk.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Recovery {
    /// Good records waiting for replay.
    pub records: u64,
    /// Damaged regions dropped (each counted one `spool_corrupt` beacon).
    pub corrupt: u64,
    pub corrupt_bytes: u64,
}

impl Spool {
    /// Opens (or creates) the spool directory, recovers what a previous run left (repairing torn
    /// and damaged segments) and starts the syncer thread. Install the metrics recorder first.
    pub fn open(settings: SpoolSettings) -> Result<(Arc<Spool>, Recovery), SpoolError> {
        let dir = settings.dir.clone();
        std::fs::create_dir_all(&dir).map_err(io_error(&dir))?;
        let lock_path = dir.join("LOCK");
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(io_error(&lock_path))?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => return Err(SpoolError::Locked { dir }),
            Err(std::fs::TryLockError::Error(source)) => {
                return Err(SpoolError::Io {
                    path: lock_path,
                    source,
                });
            }
        }
        let metrics = SpoolMetrics::register(settings.max_bytes);
        let saved_cursor = read_cursor(&dir);
        let (segments, recovery, cursor) = recover_segments(&dir, saved_cursor, &metrics)?;
        let next_id = segments.back().map_or(0, |segment| segment.id + 1);
        let read = match (cursor, segments.front()) {
            (Some(cursor), Some(first)) if cursor.segment == first.id => cursor,
            (_, Some(first)) => Position {
                segment: first.id,
                offset: 0,
            },
            (_, None) => Position {
                segment: next_id,
                offset: 0,
            },
        };
        let bytes = segments.iter().map(|segment| segment.bytes).sum();
        let (synced, _) = watch::channel(SyncState {
            synced: 0,
            failure: None,
        });
        let spool = Arc::new(Spool {
            inner: Mutex::new(Inner {
                segments,
                active: None,
                next_id,
                read,
                reader: None,
                in_flight: BTreeSet::new(),
                pending: recovery.records,
                bytes,
                written: 0,
                dirty: false,
                saved_cursor,
                failure: None,
                closed: false,
            }),
            appended: Condvar::new(),
            synced,
            metrics,
            stopping: AtomicBool::new(false),
            lock_file: lock,
            settings,
        });
        spool.metrics.recovered.increment(recovery.records);
        spool.refresh_metrics();
        let weak = Arc::downgrade(&spool);
        std::thread::Builder::new()
            .name("rum-spool-sync".into())
            .spawn(move || run_syncer(weak))
            .map_err(io_error(&spool.settings.dir))?;
        Ok((spool, recovery))
    }

    pub fn mode(&self) -> SpoolMode {
        self.settings.mode
    }

    pub fn dir(&self) -> &Path {
        &self.settings.dir
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
    }

    /// Appends one record at the tail. Returns its write sequence (see [`ticket`](Self::ticket)).
    pub fn append(&self, record: &SinkRecord, cause: SpoolCause) -> Result<u64, AppendError> {
        let mut framed = Vec::new();
        if record::encode(&record.key, &record.payload, &mut framed).is_none() {
            return Err(AppendError::Failed("record too large for the spool".into()));
        }
        let mut inner = self.lock();
        if inner.closed {
            return Err(AppendError::Failed("spool closed".into()));
        }
        if let Some(failure) = &inner.failure {
            return Err(AppendError::Failed(failure.clone()));
        }
        if inner.bytes + framed.len() as u64 > self.settings.max_bytes {
            return Err(AppendError::Full);
        }
        if let Err(error) = self.write_framed(&mut inner, &framed) {
            let failure = error.to_string();
            inner.failure = Some(failure.clone());
            tracing::error!(%error, dir = %self.settings.dir.display(), "spool write failed; the spool refuses appends from now on");
            return Err(AppendError::Failed(failure));
        }
        inner.written += 1;
        inner.pending += 1;
        inner.dirty = true;
        let sequence = inner.written;
        drop(inner);
        self.metrics.appended[cause as usize].increment(1);
        self.appended.notify_all();
        Ok(sequence)
    }

    /// A ticket that resolves when the append with this sequence is fsynced.
    pub fn ticket(&self, sequence: u64) -> SyncTicket {
        SyncTicket {
            sequence,
            synced: self.synced.subscribe(),
        }
    }

    fn write_framed(&self, inner: &mut Inner, framed: &[u8]) -> std::io::Result<()> {
        let roll = inner.active.is_some()
            && inner.segments.back().is_some_and(|last| {
                last.bytes + framed.len() as u64 > self.settings.segment_bytes
                    || age_of(last.created_ms) > self.settings.segment_age
            });
        if roll {
            self.close_active(inner)?;
        }
        if inner.active.is_none() {
            let id = inner.next_id;
            inner.next_id += 1;
            let created_ms = now_ms();
            let path = self
                .settings
                .dir
                .join(format!("{id:020}-{created_ms}.{SEGMENT_EXTENSION}"));
            let file = OpenOptions::new()
                .create_new(true)
                .append(true)
                .open(&path)?;
            sync_dir(&self.settings.dir)?;
            inner.segments.push_back(Segment {
                id,
                created_ms,
                path,
                bytes: 0,
                unread: 0,
            });
            inner.active = Some(file);
        }
        let file = inner.active.as_mut().expect("opened above");
        file.write_all(framed)?;
        let last = inner.segments.back_mut().expect("active segment");
        last.bytes += framed.len() as u64;
        last.unread += 1;
        inner.bytes += framed.len() as u64;
        Ok(())
    }

    /// Seals the active segment: fsynced, so a rolled segment is always whole on disk.
    fn close_active(&self, inner: &mut Inner) -> std::io::Result<()> {
        if let Some(file) = inner.active.take() {
            file.sync_data()?;
            self.metrics.fsyncs.increment(1);
        }
        Ok(())
    }

    /// Hands out up to `max` records in spool order, waiting up to `wait` for one to arrive.
    /// Each stays in flight until [`ack`](Self::ack)ed or [`give_back`](Self::give_back)n.
    /// Never mixes segments in one batch.
    pub fn take(&self, max: usize, wait: Duration) -> Vec<Taken> {
        let mut inner = self.lock();
        let deadline = Instant::now() + wait;
        loop {
            self.advance_past_read_segments(&mut inner);
            if inner.pending > 0 || inner.closed || self.stopping.load(Ordering::Relaxed) {
                break;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Vec::new();
            }
            inner = self
                .appended
                .wait_timeout(inner, left)
                .unwrap_or_else(|poison| poison.into_inner())
                .0;
        }
        let read = inner.read;
        let Some(segment) = inner.segments.iter().find(|s| s.id == read.segment) else {
            return Vec::new();
        };
        let (segment_id, end, path) = (segment.id, segment.bytes, segment.path.clone());
        let start = read.offset;
        if start >= end {
            return Vec::new();
        }
        let mut length = ((end - start) as usize).min(READ_CHUNK_BYTES);
        let mut taken = Vec::new();
        let mut at = 0usize;
        let mut damaged = false;
        loop {
            let chunk = match read_at(&mut inner.reader, segment_id, &path, start, length) {
                Ok(chunk) => chunk,
                Err(error) => {
                    tracing::error!(%error, path = %path.display(), "cannot read spool segment; retrying");
                    return Vec::new();
                }
            };
            while taken.len() < max && at < chunk.len() {
                match record::parse(&chunk[at..]) {
                    record::Parsed::Record(decoded) => {
                        taken.push(Taken {
                            position: Position {
                                segment: segment_id,
                                offset: start + at as u64,
                            },
                            record: SinkRecord {
                                key: decoded.key.to_vec(),
                                payload: decoded.payload.to_vec(),
                            },
                        });
                        at += decoded.len;
                    }
                    // The chunk ends inside a record the segment holds whole.
                    record::Parsed::Incomplete if start + (chunk.len() as u64) < end => break,
                    _ => {
                        damaged = true;
                        break;
                    }
                }
            }
            let grow = taken.is_empty() && !damaged && length < (end - start) as usize;
            if !grow {
                break;
            }
            length = (length * 2).min((end - start) as usize);
        }
        let count = taken.len() as u64;
        if let Some(segment) = inner.segment_mut(segment_id) {
            segment.unread = segment.unread.saturating_sub(count);
        }
        inner.pending = inner.pending.saturating_sub(count);
        inner.read.offset = start + at as u64;
        if damaged {
            // Damaged after recovery checked it (the disk): the rest of this segment cannot be
            // framed. Counted, and replay goes on with the next segment.
            let lost = inner
                .segment_mut(segment_id)
                .map_or(0, |segment| std::mem::take(&mut segment.unread));
            tracing::error!(path = %path.display(), offset = inner.read.offset, lost, "spool segment damaged while replaying");
            self.metrics.lost.count_many(SinkLoss::SpoolCorrupt, lost);
            self.metrics
                .corrupt_bytes
                .increment(end - inner.read.offset);
            inner.pending = inner.pending.saturating_sub(lost);
            inner.read.offset = end;
        }
        for taken in &taken {
            inner.in_flight.insert(taken.position);
        }
        drop(inner);
        self.metrics.replayed.increment(count);
        taken
    }

    /// Moves the read position to the next segment once this one is read to its end and sealed.
    fn advance_past_read_segments(&self, inner: &mut Inner) {
        loop {
            let read = inner.read;
            let last_id = inner.segments.back().map(|segment| segment.id);
            let Some(segment) = inner.segments.iter().find(|s| s.id >= read.segment) else {
                return;
            };
            if segment.id > read.segment {
                inner.read = Position {
                    segment: segment.id,
                    offset: 0,
                };
                continue;
            }
            let sealed = Some(segment.id) != last_id || inner.active.is_none();
            let next = inner
                .segments
                .iter()
                .find(|s| s.id > read.segment)
                .map(|s| s.id);
            match next {
                Some(next) if sealed && read.offset >= segment.bytes => {
                    inner.read = Position {
                        segment: next,
                        offset: 0,
                    };
                }
                _ => return,
            }
        }
    }

    /// The producer has this record now, or has given it back and it was re-appended: its old
    /// place in the spool is done with.
    pub fn ack(&self, position: Position) {
        let mut inner = self.lock();
        inner.in_flight.remove(&position);
        self.prune(&mut inner);
    }

    /// Returns records taken but not sent (shutdown): they are read again from `positions[0]`.
    pub fn give_back(&self, positions: &[Position]) {
        let Some(first) = positions.iter().min().copied() else {
            return;
        };
        let mut inner = self.lock();
        for position in positions {
            inner.in_flight.remove(position);
        }
        let count = positions.len() as u64;
        if let Some(segment) = inner.segment_mut(first.segment) {
            segment.unread += count;
        }
        inner.pending += count;
        inner.read = first.min(inner.read);
    }

    /// Deletes sealed segments wholly before the cursor.
    fn prune(&self, inner: &mut Inner) {
        loop {
            let cursor = inner.cursor();
            let Some(first) = inner.segments.front() else {
                return;
            };
            let active = inner.active.is_some() && inner.segments.len() == 1;
            let done = first.id < cursor.segment
                || (first.id == cursor.segment && cursor.offset >= first.bytes);
            if active || !done {
                return;
            }
            let segment = inner.segments.pop_front().expect("checked");
            let id = segment.id;
            self.remove_segment(inner, segment);
            if inner.read.segment == id {
                inner.read = Position {
                    segment: inner.segments.front().map_or(inner.next_id, |s| s.id),
                    offset: 0,
                };
            }
        }
    }

    fn remove_segment(&self, inner: &mut Inner, segment: Segment) {
        inner.bytes = inner.bytes.saturating_sub(segment.bytes);
        if inner
            .reader
            .as_ref()
            .is_some_and(|(id, _)| *id == segment.id)
        {
            inner.reader = None;
        }
        if let Err(error) = std::fs::remove_file(&segment.path) {
            tracing::warn!(%error, path = %segment.path.display(), "cannot delete a replayed spool segment");
        }
    }

    /// Drops segments past the age cap (counted `spool_expired`) and rolls an old active one.
    fn expire(&self, inner: &mut Inner) {
        if inner.active.is_some()
            && inner
                .segments
                .back()
                .is_some_and(|last| age_of(last.created_ms) > self.settings.segment_age)
            && let Err(error) = self.close_active(inner)
        {
            inner.failure = Some(error.to_string());
        }
        let expired: Vec<u64> = inner
            .segments
            .iter()
            .filter(|segment| age_of(segment.created_ms) > self.settings.max_age)
            .filter(|segment| {
                inner.active.is_none() || Some(segment.id) != inner.segments.back().map(|s| s.id)
            })
            .map(|segment| segment.id)
            .collect();
        for id in expired {
            let Some(segment) = inner.segment_mut(id) else {
                continue;
            };
            let unread = std::mem::take(&mut segment.unread);
            let end = segment.bytes;
            if unread > 0 {
                tracing::warn!(
                    segment = id,
                    lost = unread,
                    "spool segment older than spool.max_age dropped unreplayed"
                );
            }
            self.metrics.lost.count_many(SinkLoss::SpoolExpired, unread);
            inner.pending = inner.pending.saturating_sub(unread);
            if inner.read.segment <= id {
                inner.read = Position {
                    segment: id,
                    offset: end,
                };
            }
        }
        self.advance_past_read_segments(inner);
        self.prune(inner);
    }

    /// Fsyncs what was written and saves the cursor (the syncer's work, also run at shutdown).
    pub fn sync(&self) {
        let (file, target, cursor) = {
            let inner = self.lock();
            let file = if inner.dirty {
                inner.active.as_ref().and_then(|file| file.try_clone().ok())
            } else {
                None
            };
            let cursor = Some(inner.cursor()).filter(|cursor| Some(*cursor) != inner.saved_cursor);
            (file, inner.written, cursor)
        };
        let mut failure = None;
        if let Some(file) = file {
            match file.sync_data() {
                Ok(()) => self.metrics.fsyncs.increment(1),
                Err(error) => failure = Some(error.to_string()),
            }
        }
        if let Some(cursor) = cursor
            && let Err(error) = write_cursor(&self.settings.dir, cursor)
        {
            tracing::warn!(%error, "cannot save the spool cursor (replay may repeat records after a restart)");
        }
        let mut inner = self.lock();
        if let Some(cursor) = cursor {
            inner.saved_cursor = Some(cursor);
        }
        if inner.written == target {
            inner.dirty = false;
        }
        if let Some(failure) = &failure {
            inner.failure = Some(failure.clone());
        }
        drop(inner);
        self.synced.send_modify(|state| {
            if failure.is_none() {
                state.synced = state.synced.max(target);
            }
            state.failure = state.failure.take().or(failure);
        });
    }

    /// Stops handing out records (shutdown) and wakes the replay thread.
    pub fn stop_replay(&self) {
        self.stopping.store(true, Ordering::Relaxed);
        self.appended.notify_all();
    }

    pub fn is_stopping(&self) -> bool {
        self.stopping.load(Ordering::Relaxed)
    }

    /// Syncs and refuses appends from now on; the syncer thread ends.
    pub fn close(&self) {
        self.stop_replay();
        {
            let mut inner = self.lock();
            if let Err(error) = self.close_active(&mut inner) {
                tracing::error!(%error, "spool fsync at shutdown failed");
            }
            inner.dirty = true;
            self.prune(&mut inner);
        }
        self.sync();
        self.lock().closed = true;
        self.appended.notify_all();
        self.refresh_metrics();
        // The next collector may open it now, even while this process lingers.
        if let Err(error) = self.lock_file.unlock() {
            tracing::warn!(%error, "cannot release the spool's LOCK");
        }
    }

    /// Whether an append of about this many bytes would fit.
    pub fn has_room(&self) -> bool {
        let inner = self.lock();
        !inner.closed
            && inner.failure.is_none()
            && inner.bytes + record::HEADER_BYTES as u64 + 4096 <= self.settings.max_bytes
    }

    /// Records handed out and not yet acked.
    pub fn in_flight(&self) -> usize {
        self.lock().in_flight.len()
    }

    pub fn stats(&self) -> SpoolStats {
        let inner = self.lock();
        SpoolStats {
            records: inner.pending,
            bytes: inner.bytes,
            segments: inner.segments.len(),
            oldest_age: inner
                .segments
                .front()
                .map_or(Duration::ZERO, |first| age_of(first.created_ms)),
            capacity_bytes: self.settings.max_bytes,
        }
    }

    /// Sets the gauges from the spool's state (before each scrape).
    pub fn refresh_metrics(&self) {
        let stats = self.stats();
        self.metrics.records.set(stats.records as f64);
        self.metrics.bytes.set(stats.bytes as f64);
        self.metrics.segments.set(stats.segments as f64);
        self.metrics.oldest_age.set(stats.oldest_age.as_secs_f64());
    }

    /// Counts a record that could not be spooled (the caller had no other place for it).
    pub(crate) fn count_lost(&self, error: &AppendError) {
        self.metrics.lost.count(match error {
            AppendError::Full => SinkLoss::SpoolFull,
            AppendError::Failed(_) => SinkLoss::SpoolWriteFailed,
        });
    }
}

/// The syncer: group commit in write-ahead mode (an fsync as soon as anything was written, the
/// appends that arrive during one fsync share the next), a periodic fsync in overflow mode; the
/// cursor and the age cap every second in both.
fn run_syncer(weak: Weak<Spool>) {
    let mut housekeeping = Instant::now();
    while let Some(mut spool) = weak.upgrade() {
        if spool.settings.mode == SpoolMode::WriteAhead {
            let inner = spool.lock();
            if inner.closed {
                return;
            }
            if !inner.dirty {
                drop(
                    spool
                        .appended
                        .wait_timeout(inner, Duration::from_millis(100))
                        .unwrap_or_else(|poison| poison.into_inner()),
                );
            }
        } else {
            if spool.lock().closed {
                return;
            }
            // A sleep, not the append signal: overflow mode fsyncs on its interval only. The
            // spool is not held meanwhile, so dropping it ends this thread.
            let interval = spool.settings.fsync_interval.min(HOUSEKEEPING_INTERVAL);
            drop(spool);
            std::thread::sleep(interval);
            let Some(again) = weak.upgrade() else {
                return;
            };
            spool = again;
        }
        spool.sync();
        if housekeeping.elapsed() >= HOUSEKEEPING_INTERVAL {
            housekeeping = Instant::now();
            let mut inner = spool.lock();
            spool.expire(&mut inner);
        }
    }
}

fn read_at(
    reader: &mut Option<(u64, File)>,
    segment: u64,
    path: &Path,
    offset: u64,
    length: usize,
) -> std::io::Result<Vec<u8>> {
    if reader.as_ref().is_none_or(|(id, _)| *id != segment) {
        *reader = Some((segment, File::open(path)?));
    }
    let (_, file) = reader.as_mut().expect("opened above");
    file.seek(SeekFrom::Start(offset))?;
    let mut chunk = vec![0; length];
    let mut filled = 0;
    while filled < length {
        match file.read(&mut chunk[filled..])? {
            0 => break,
            read => filled += read,
        }
    }
    chunk.truncate(filled);
    Ok(chunk)
}

/// Lists, scans and repairs the segments a previous run left; deletes those wholly before the
/// saved cursor.
fn recover_segments(
    dir: &Path,
    cursor: Option<Position>,
    metrics: &SpoolMetrics,
) -> Result<(VecDeque<Segment>, Recovery, Option<Position>), SpoolError> {
    let mut cursor = cursor;
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io_error(dir))? {
        let path = entry.map_err(io_error(dir))?.path();
        if path.extension().and_then(|e| e.to_str()) != Some(SEGMENT_EXTENSION) {
            continue;
        }
        let Some((id, created_ms)) = path
            .file_stem()
            .and_then(|stem| stem.to_str())
            .and_then(|stem| stem.split_once('-'))
            .and_then(|(id, created)| Some((id.parse().ok()?, created.parse().ok()?)))
        else {
            tracing::warn!(path = %path.display(), "ignoring a file in the spool that is not a segment");
            continue;
        };
        found.push((id, created_ms, path));
    }
    found.sort_by_key(|(id, _, _)| *id);
    let mut segments = VecDeque::new();
    let mut recovery = Recovery::default();
    for (id, created_ms, path) in found {
        if cursor.is_some_and(|cursor| id < cursor.segment) {
            std::fs::remove_file(&path).map_err(io_error(&path))?;
            continue;
        }
        let bytes = std::fs::read(&path).map_err(io_error(&path))?;
        let scan = record::scan(&bytes);
        let from = cursor
            .filter(|cursor| cursor.segment == id)
            .map_or(0, |cursor| cursor.offset as usize);
        let damaged = scan.corrupt_regions + u64::from(scan.torn_tail);
        if !scan.is_clean() {
            tracing::warn!(path = %path.display(), corrupt_regions = scan.corrupt_regions, torn_tail = scan.torn_tail, lost_bytes = scan.lost_bytes, kept = scan.records.len(), "spool segment damaged; keeping every good record");
            repair(&path, &bytes, &scan).map_err(io_error(&path))?;
        }
        // After a repair the records sit at new offsets; a cursor inside a repaired segment
        // can no longer be trusted, so the whole segment replays (at least once).
        let unread = if scan.is_clean() {
            scan.records.iter().filter(|r| r.start >= from).count() as u64
        } else {
            if cursor.is_some_and(|cursor| cursor.segment == id) {
                cursor = None;
            }
            scan.records.len() as u64
        };
        let valid: u64 = scan.records.iter().map(|r| (r.end - r.start) as u64).sum();
        recovery.records += unread;
        recovery.corrupt += damaged;
        recovery.corrupt_bytes += scan.lost_bytes;
        if valid == 0 {
            std::fs::remove_file(&path).map_err(io_error(&path))?;
            continue;
        }
        segments.push_back(Segment {
            id,
            created_ms,
            path,
            bytes: valid,
            unread,
        });
    }
    metrics
        .lost
        .count_many(SinkLoss::SpoolCorrupt, recovery.corrupt);
    metrics.corrupt_bytes.increment(recovery.corrupt_bytes);
    if recovery.records > 0 {
        tracing::info!(
            records = recovery.records,
            segments = segments.len(),
            "spool holds beacons from a previous run; replaying them when the broker is ready"
        );
    }
    Ok((segments, recovery, cursor))
}

/// Rewrites a damaged segment with only its good records (a new file renamed over the old one).
fn repair(path: &Path, bytes: &[u8], scan: &record::Scan) -> std::io::Result<()> {
    let repaired = path.with_extension("repair");
    let mut file = File::create(&repaired)?;
    for range in &scan.records {
        file.write_all(&bytes[range.clone()])?;
    }
    file.sync_all()?;
    std::fs::rename(&repaired, path)?;
    if let Some(dir) = path.parent() {
        sync_dir(dir)?;
    }
    Ok(())
}

fn read_cursor(dir: &Path) -> Option<Position> {
    let text = std::fs::read_to_string(dir.join("cursor")).ok()?;
    let mut parts = text.split_whitespace();
    let segment = parts.next()?.parse().ok()?;
    let offset = parts.next()?.parse().ok()?;
    Some(Position { segment, offset })
}

fn write_cursor(dir: &Path, cursor: Position) -> std::io::Result<()> {
    let temporary = dir.join("cursor.tmp");
    let mut file = File::create(&temporary)?;
    writeln!(file, "{} {}", cursor.segment, cursor.offset)?;
    file.sync_all()?;
    std::fs::rename(&temporary, dir.join("cursor"))?;
    sync_dir(dir)
}

fn sync_dir(dir: &Path) -> std::io::Result<()> {
    File::open(dir)?.sync_all()
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_millis() as i64)
}

fn age_of(created_ms: i64) -> Duration {
    Duration::from_millis(now_ms().saturating_sub(created_ms).max(0) as u64)
}

#[cfg(test)]
mod tests;
