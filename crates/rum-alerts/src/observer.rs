//! Alerting behind Kafka: one evaluator per partials partition, run by the stage-2 worker that owns
//! it ([`rum_aggregator::worker::stage2::SegmentObserver`]), its instances saved in the partition's
//! snapshot and taken over by the next owner.

use std::time::Duration;

use prost::Message;
use rum_aggregator::stage2::Stage2;
use rum_aggregator::worker::stage2::SegmentObserver;
use rum_schema::proto::AlertsSnapshot;

use crate::{AlertSettings, Evaluator, Notifier};

/// The alert rules on one partials partition's segments.
pub struct AlertObserver {
    evaluator: Evaluator,
    notifier: Notifier,
}

impl AlertObserver {
    pub fn new(settings: AlertSettings, notifier: Notifier) -> Self {
        Self {
            evaluator: Evaluator::new(settings),
            notifier,
        }
    }
}

impl SegmentObserver for AlertObserver {
    fn interval(&self) -> Duration {
        self.evaluator.settings().evaluation_interval
    }

    fn observe(&mut self, stage2: &Stage2, now_ms: i64) {
        let due = self.evaluator.evaluate(stage2, now_ms);
        if !due.is_empty() {
            self.notifier.send(due);
        }
    }

    fn snapshot(&self) -> Vec<u8> {
        self.evaluator.snapshot().encode_to_vec()
    }

    fn restore(&mut self, bytes: &[u8]) {
        match AlertsSnapshot::decode(bytes) {
            Ok(snapshot) => self.evaluator.restore(&snapshot),
            Err(error) => {
                tracing::warn!(%error, "alert state in the snapshot does not decode; alerts start over")
            }
        }
    }
}
