//! What a worker's `/readyz` answers from: each running stage says how many partitions it owns
//! and how many of them are not yet usable (stage 1: state not restored; stage 2: not caught up).

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
}
