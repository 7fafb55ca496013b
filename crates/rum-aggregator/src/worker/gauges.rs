//! The per-partition gauges both stages keep: lag, snapshot age and snapshot size, labelled by
//! stage and partition (bounded by the topic's partition count).

use std::time::Instant;

use metrics::gauge;
use rum_transport::log::GroupConsumer;

pub(crate) struct PartitionGauges {
    stage: &'static str,
}

impl PartitionGauges {
    pub(crate) fn new(stage: &'static str) -> Self {
        Self { stage }
    }

    /// For each owned partition (number, next offset to read, last snapshot committed): the
    /// records left to read, from the broker's watermark, and the snapshot's age.
    pub(crate) fn report(
        &self,
        consumer: &mut impl GroupConsumer,
        owned: Vec<(i32, i64, Instant)>,
    ) {
        for (number, expected, snapshot_at) in owned {
            let partition = number.to_string();
            if let Ok((_, end)) = consumer.watermarks(number) {
                gauge!("rum_aggregator_consumer_lag", "stage" => self.stage, "partition" => partition.clone())
                    .set((end - expected).max(0) as f64);
            }
            gauge!("rum_aggregator_snapshot_age_seconds", "stage" => self.stage, "partition" => partition)
                .set(snapshot_at.elapsed().as_secs_f64());
        }
    }

    pub(crate) fn snapshot_committed(&self, number: i32, bytes: usize) {
        gauge!("rum_aggregator_snapshot_bytes", "stage" => self.stage, "partition" => number.to_string())
            .set(bytes as f64);
    }

    /// A revoked partition's series go to 0: another worker reports them now.
    pub(crate) fn revoked(&self, number: i32) {
        let partition = number.to_string();
        gauge!("rum_aggregator_consumer_lag", "stage" => self.stage, "partition" => partition.clone())
            .set(0.0);
        gauge!("rum_aggregator_snapshot_bytes", "stage" => self.stage, "partition" => partition)
            .set(0.0);
    }
}
