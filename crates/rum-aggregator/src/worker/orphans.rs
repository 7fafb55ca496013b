//! Noticing partitions that no member of the group works on.
//!
//! On Apache Kafka and Redpanda a crashed member's partitions move to the others after the
//! session timeout. tansu 0.6.0 removes a silent member but hands the survivors their old
//! assignment back, so the dead member's partitions stay unowned until the membership changes
//! again (see docs/kafka.md). Every owner of a partition commits a new snapshot pointer every
//! snapshot interval; a partition whose pointer has not moved for much longer, and which this
//! worker does not own, has no owner making progress. The worker then leaves and rejoins the group
//! as a new member: that membership change makes the group assign every partition again. On a
//! broker that reassigns by itself this never fires.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use rum_transport::log::GroupConsumer;

/// How often the pointers are read.
const CHECK_INTERVAL: Duration = Duration::from_secs(5);

pub(crate) struct OrphanWatch {
    state_topic: String,
    partitions: usize,
    orphan_after: Duration,
    /// Per partition: the pointer last seen and since when.
    seen: HashMap<i32, (Option<i64>, Instant)>,
    last_check: Instant,
}

impl OrphanWatch {
    /// Watches the snapshot pointers of `partitions` partitions in `state_topic`; one that has not
    /// moved for `orphan_after` and is not this worker's is an orphan.
    pub(crate) fn new(state_topic: &str, partitions: usize, orphan_after: Duration) -> Self {
        Self {
            state_topic: state_topic.to_owned(),
            partitions,
            orphan_after,
            seen: HashMap::new(),
            last_check: Instant::now(),
        }
    }

    /// Whether some partition looks unowned now (then the caller rejoins and calls
    /// [`reset`](Self::reset)). Reads the pointers every few seconds; errors count as "moved".
    pub(crate) fn orphaned(
        &mut self,
        consumer: &mut dyn GroupConsumer,
        owned: &dyn Fn(i32) -> bool,
    ) -> Option<i32> {
        if self.last_check.elapsed() < CHECK_INTERVAL {
            return None;
        }
        self.last_check = Instant::now();
        let mut orphan = None;
        for partition in 0..self.partitions as i32 {
            let now = Instant::now();
            if owned(partition) {
                self.seen.insert(partition, (None, now));
                continue;
            }
            let Ok(pointer) = consumer.committed(&self.state_topic, partition) else {
                self.seen.insert(partition, (None, now));
                continue;
            };
            match self.seen.get(&partition) {
                Some((last, since)) if *last == pointer => {
                    if since.elapsed() >= self.orphan_after && orphan.is_none() {
                        orphan = Some(partition);
                    }
                }
                _ => {
                    self.seen.insert(partition, (pointer, now));
                }
            }
        }
        orphan
    }

    /// Starts every partition's clock again (after a rejoin).
    pub(crate) fn reset(&mut self) {
        self.seen.clear();
        self.last_check = Instant::now();
    }
}
