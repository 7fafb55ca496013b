//! What a worker's `/readyz` answers from: each running stage says how many partitions it owns
//! and how many of them are not yet usable (stage 1: state not restored; stage 2: not caught up).

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

/// Shared between a stage's thread (writer) and the admin listener (reader).
#[derive(Debug, Default)]
pub struct StageHealth {
    running: AtomicBool,
    owned: AtomicUsize,
    not_ready: AtomicUsize,
    /// Set when the stage's consumer or producer fails in a way it cannot recover from.
    failed: AtomicBool,
}

impl StageHealth {
    pub fn set_running(&self, running: bool) {
        self.running.store(running, Ordering::Relaxed);
    }

    pub fn set_partitions(&self, owned: usize, not_ready: usize) {
        self.owned.store(owned, Ordering::Relaxed);
        self.not_ready.store(not_ready, Ordering::Relaxed);
    }

    pub fn set_failed(&self) {
        self.failed.store(true, Ordering::Relaxed);
    }

    /// `Err(why)` while the stage cannot be relied on.
    pub fn check(&self, stage: &str) -> Result<(), String> {
        if self.failed.load(Ordering::Relaxed) {
            return Err(format!("{stage} failed (see the log)"));
        }
        if !self.running.load(Ordering::Relaxed) {
            return Err(format!("{stage} not running"));
        }
        let not_ready = self.not_ready.load(Ordering::Relaxed);
        if not_ready > 0 {
            return Err(format!(
                "{stage}: {not_ready} of {} partitions still being restored",
                self.owned.load(Ordering::Relaxed)
            ));
        }
        Ok(())
    }

    pub fn owned(&self) -> usize {
        self.owned.load(Ordering::Relaxed)
    }
}
