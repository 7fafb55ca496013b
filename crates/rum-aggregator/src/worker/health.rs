//! What a worker's `/readyz` answers from: each running stage says how many partitions it owns
//! and how many of them are not yet usable (stage 1: state not restored; stage 2: not caught up).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

/// Shared between a stage's thread (writer) and the admin listener (reader).
#[derive(Debug, Default)]
pub struct StageHealth {
    running: AtomicBool,
    /// The group has given this stage its first assignment (even an empty one): until then a
    /// just-started worker owns nothing only because it has not been told what it owns.
    joined: AtomicBool,
    owned: AtomicUsize,
    not_ready: AtomicUsize,
    /// Set when the stage's consumer or producer fails in a way it cannot recover from.
    failed: AtomicBool,
}

impl StageHealth {
    pub fn set_running(&self, running: bool) {
        self.running.store(running, Ordering::Relaxed);
    }

    pub fn set_joined(&self) {
        self.joined.store(true, Ordering::Relaxed);
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
        if !self.joined.load(Ordering::Relaxed) {
            return Err(format!(
                "{stage} waiting for its first assignment from the consumer group"
            ));
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

/// Marks the stage failed if its thread unwinds from a panic, so `/readyz` stops answering 200
/// for a stage that no longer runs (the process goes on serving what it has and its log says why).
pub(crate) struct FailedOnPanic(Arc<StageHealth>);

impl FailedOnPanic {
    pub(crate) fn new(health: Arc<StageHealth>) -> Self {
        Self(health)
    }
}

impl Drop for FailedOnPanic {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.0.set_failed();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::StageHealth;

    #[test]
    fn ready_only_once_joined_and_every_owned_partition_is_usable() {
        let health = StageHealth::default();
        assert!(health.check("stage 1").unwrap_err().contains("not running"));
        health.set_running(true);
        let waiting = health.check("stage 1").unwrap_err();
        assert!(waiting.contains("first assignment"), "{waiting}");
        // An empty assignment (more workers than partitions) is a real answer: ready.
        health.set_joined();
        assert_eq!(health.check("stage 1"), Ok(()));
        health.set_partitions(3, 2);
        let restoring = health.check("stage 1").unwrap_err();
        assert!(restoring.contains("2 of 3"), "{restoring}");
        health.set_partitions(3, 0);
        assert_eq!(health.check("stage 1"), Ok(()));
        health.set_failed();
        assert!(health.check("stage 1").unwrap_err().contains("failed"));
    }

    #[test]
    fn a_stage_thread_that_panics_is_reported_failed() {
        let health = std::sync::Arc::new(StageHealth::default());
        health.set_running(true);
        health.set_joined();
        let watched = std::sync::Arc::clone(&health);
        let outcome = std::thread::spawn(move || {
            let _panic = super::FailedOnPanic::new(watched);
            panic!("a bug in the stage");
        })
        .join();
        assert!(outcome.is_err());
        assert!(health.check("stage 2").unwrap_err().contains("failed"));
        // A stage that returns normally is not marked.
        let calm = std::sync::Arc::new(StageHealth::default());
        drop(super::FailedOnPanic::new(std::sync::Arc::clone(&calm)));
        assert!(!calm.check("stage 2").unwrap_err().contains("failed"));
    }
}
