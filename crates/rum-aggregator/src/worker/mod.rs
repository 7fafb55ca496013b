//! `rum aggregator`: the two stages as workers in Kafka consumer groups, exact under crashes,
//! rebalances and broker restarts without Kafka transactions.
//!
//! - Stage 1 ([`stage1`]) owns beacon partitions. It cuts each partition's log into chunks whose
//!   boundaries come from the log itself (a tick record, or `chunk_records` records), so a replay
//!   cuts the same chunks; its output for a chunk is a function of the chunk and of its state
//!   (the partition's dedupe table) at the chunk's start, so whoever computes it writes the same
//!   partials. It writes them as [`PartialBatch`]es, one (or more parts) per partials partition,
//!   tagged with the chunk's source partition and offsets, and commits a position only after
//!   everything before it is acknowledged, together with a snapshot of its state.
//! - Stage 2 ([`stage2`]) owns partials partitions (all segments of a site are on one). It applies
//!   a chunk once: per source partition it remembers how far it has applied; a range already
//!   applied is skipped and counted, a gap is counted (it must stay 0). Its state, a function of the
//!   partials it applied, is snapshotted to its state topic; a new owner loads the latest snapshot,
//!   replays the partials after it, and exports once it has caught up.
//!
//! Snapshots ([`parts`]) are written in parts to a compacted state topic (partition = the input
//! partition); the group's committed offset for that state partition points at the snapshot's first
//! part, and is committed before the input position (so a crash between the two commits leaves a
//! snapshot ahead of the position, which only re-reads input the state already holds).
//!
//! Everything here talks to Kafka through `rum_transport::log`, never rdkafka.

mod gauges;
pub mod health;
mod orphans;
pub mod parts;
pub mod stage1;
pub mod stage2;

use rum_schema::proto::PartialBatch;

pub use rum_transport::TICK_KEY;

/// The partials partition a site's partials go to: every segment of a site has one owner.
/// FNV-1a, fixed: every stage-1 worker, of every version, must route a site the same way.
pub fn partials_partition(site: &str, partitions: usize) -> i32 {
    let hash = rum_schema::stable_hash::fnv1a(site.as_bytes());
    (hash % partitions.max(1) as u64) as i32
}

/// Where the workers read and write.
#[derive(Debug, Clone)]
pub struct Topics {
    pub beacons: String,
    pub partials: String,
    pub stage1_state: String,
    pub stage2_state: String,
}

/// Test-only kill points: when `RUM_TEST_KILL_POINT` names this point (optionally `NAME:N`, the
/// N-th time it is reached, default 1), the worker says so on stderr and stops making progress, so a
/// test can SIGKILL the process exactly there. Never set in production.
pub fn kill_point(name: &str) {
    use std::sync::Mutex;
    use std::sync::OnceLock;
    static WANTED: OnceLock<Option<(String, u64)>> = OnceLock::new();
    static REACHED: Mutex<u64> = Mutex::new(0);
    let wanted = WANTED.get_or_init(|| {
        let value = std::env::var("RUM_TEST_KILL_POINT").ok()?;
        let (point, count) = match value.split_once(':') {
            Some((point, count)) => (point.to_owned(), count.parse().unwrap_or(1)),
            None => (value, 1),
        };
        Some((point, count))
    });
    let Some((point, count)) = wanted else {
        return;
    };
    if point != name {
        return;
    }
    let mut reached = REACHED.lock().unwrap_or_else(|poison| poison.into_inner());
    *reached += 1;
    if *reached == *count {
        tracing::warn!(
            point = name,
            "test kill point reached; waiting to be killed"
        );
        eprintln!("RUM_TEST_KILL_POINT_REACHED {name}");
        loop {
            std::thread::sleep(std::time::Duration::from_secs(3600));
        }
    }
}

/// Describes the workers' metrics (docs/metrics.md has the table).
pub(crate) fn describe_metrics() {
    use metrics::{describe_counter, describe_gauge, describe_histogram};
    describe_gauge!(
        "rum_aggregator_partitions_owned",
        "Partitions this worker owns, by stage."
    );
    describe_gauge!(
        "rum_aggregator_consumer_lag",
        "Records of an owned partition not yet read, by stage and partition."
    );
    describe_counter!(
        "rum_aggregator_chunks_total",
        "Chunks produced (stage 1) and applied, skipped as duplicates or found after a gap (stage 2)."
    );
    describe_histogram!("rum_aggregator_chunk_records", "Records per chunk.");
    describe_counter!(
        "rum_aggregator_partial_bytes_total",
        metrics::Unit::Bytes,
        "Bytes of partial batches stage 1 handed to the producer (rum_aggregator_partials_total partials)."
    );
    describe_histogram!(
        "rum_aggregator_chunk_ack_seconds",
        metrics::Unit::Seconds,
        "From a chunk's end to all its partials acknowledged."
    );
    describe_counter!(
        "rum_aggregator_snapshots_total",
        "Snapshots committed, and snapshots a new owner could not read."
    );
    describe_gauge!(
        "rum_aggregator_snapshot_bytes",
        "Size of an owned partition's last committed snapshot, by stage and partition."
    );
    describe_gauge!(
        "rum_aggregator_snapshot_age_seconds",
        "Time since an owned partition's last committed snapshot."
    );
    describe_counter!(
        "rum_aggregator_rebalances_total",
        "Consumer-group rebalances seen, by stage and change."
    );
    describe_counter!(
        "rum_aggregator_rewinds_total",
        "Partitions rebuilt from their snapshot after partials could not be delivered."
    );
    describe_counter!(
        "rum_aggregator_orphan_rejoins_total",
        "Group rejoins because a partition had no working owner."
    );
    describe_histogram!(
        "rum_aggregator_edge_to_stage2_seconds",
        metrics::Unit::Seconds,
        "From a chunk's newest beacon's edge receipt to its merge in stage 2."
    );
}

/// The chunk a batch belongs to: (source partition, start, end).
pub(crate) fn chunk_of(batch: &PartialBatch) -> (i32, i64, i64) {
    (batch.source_partition, batch.start_offset, batch.end_offset)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sites_route_the_same_way_always() {
        // Pinned: a change here moves every site to another stage-2 partition.
        assert_eq!(
            partials_partition("shop", 12),
            partials_partition("shop", 12)
        );
        let spread: std::collections::HashSet<i32> = (0..200)
            .map(|index| partials_partition(&format!("site-{index}"), 12))
            .collect();
        assert_eq!(spread.len(), 12, "200 sites reach every partition");
        assert_eq!(partials_partition("shop", 1), 0);
        assert_eq!(partials_partition("anything", 0), 0);
        let fixed = [
            ("shop", partials_partition("shop", 1000)),
            ("demo", partials_partition("demo", 1000)),
        ];
        for (site, partition) in fixed {
            assert!((0..1000).contains(&partition), "{site}");
        }
    }
}
