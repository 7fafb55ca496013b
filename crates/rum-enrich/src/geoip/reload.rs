//! Reloading: noticing that a database file was replaced, and swapping the new one in without
//! dropping a lookup. A [`GeoIpReloader`] thread calls [`GeoIp::reload_if_changed`] every interval;
//! each database compares the file's [`FileStamp`] (size, modification time, and on Unix the
//! inode) with the last one it tried.
//!
//! A reload must never happen on the request path or hold the lookup lock while reading a file: the
//! new database is opened and validated first, then swapped in under a write lock that only guards
//! a move, and the old one is freed after the lock is released. A file that fails is reported once
//! and not retried until it changes again; the previous database keeps serving meanwhile.

use std::fmt;
use std::fs::{self, Metadata};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, PoisonError, Weak};
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime};

use tracing::{info, warn};

use super::{Database, GeoIp, GeoIpError, MIN_RELOAD_INTERVAL, load};

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

/// A thread that calls [`GeoIp::reload_if_changed`] every interval. Dropping it stops the thread
/// (and waits for a reload in progress to finish).
pub struct GeoIpReloader {
    stop: Option<mpsc::Sender<()>>,
    /// `None` when nothing is configured (the tests check that no thread was started).
    pub(super) thread: Option<JoinHandle<()>>,
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

/// Enough of a file's metadata to notice it was replaced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct FileStamp {
    len: u64,
    modified: Option<SystemTime>,
    /// (device, inode) on Unix: an atomic rename always changes it, even within one mtime tick.
    file_id: (u64, u64),
}

impl FileStamp {
    pub(super) fn of(metadata: &Metadata) -> Self {
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

impl GeoIp {
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

impl Database {
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
