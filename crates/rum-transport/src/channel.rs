//! The in-process sink: a bounded channel from the collector to the aggregator in the same process.

use std::time::{Duration, Instant};

use tokio::sync::mpsc;

use crate::metrics::{SinkLoss, SinkMetrics};
use crate::{BeaconSink, Receipt, SinkError, SinkRecord};

/// How often a blocking flush re-checks the queue.
const FLUSH_POLL: Duration = Duration::from_millis(5);

/// The sending half, held by the collector.
pub struct ChannelSink {
    sender: mpsc::Sender<SinkRecord>,
    capacity: usize,
    metrics: SinkMetrics,
}

/// The receiving half, held by the consumer (the aggregator in `rum standalone`).
pub struct ChannelSource {
    receiver: mpsc::Receiver<SinkRecord>,
    metrics: SinkMetrics,
}

impl ChannelSink {
    /// A channel holding at most `capacity` records.
    pub fn new(capacity: usize) -> (ChannelSink, ChannelSource) {
        let (sender, receiver) = mpsc::channel(capacity);
        let metrics = SinkMetrics::register("channel", capacity);
        let source = ChannelSource {
            receiver,
            metrics: metrics.clone(),
        };
        (
            ChannelSink {
                sender,
                capacity,
                metrics,
            },
            source,
        )
    }
}

impl BeaconSink for ChannelSink {
    fn try_send(&self, record: SinkRecord) -> Result<Receipt, SinkError> {
        match self.sender.try_send(record) {
            Ok(()) => Ok(Receipt::queued()),
            Err(mpsc::error::TrySendError::Full(record)) => Err(SinkError::Full(record)),
            Err(mpsc::error::TrySendError::Closed(record)) => Err(SinkError::Closed(record)),
        }
    }

    fn is_ready(&self) -> bool {
        !self.sender.is_closed() && self.sender.capacity() > 0
    }

    fn queue_depth(&self) -> usize {
        self.capacity - self.sender.capacity()
    }

    fn queue_capacity(&self) -> usize {
        self.capacity
    }

    fn refresh_metrics(&self) {
        self.metrics.queue_depth.set(self.queue_depth() as f64);
    }

    fn flush(&self, timeout: Duration) -> usize {
        let deadline = Instant::now() + timeout;
        // A closed channel (consumer gone) will never drain: report what is left at once.
        while self.queue_depth() > 0 && !self.sender.is_closed() && Instant::now() < deadline {
            std::thread::sleep(FLUSH_POLL);
        }
        let undelivered = self.queue_depth();
        self.metrics
            .lost
            .count_many(SinkLoss::UndeliveredAtShutdown, undelivered as u64);
        undelivered
    }
}

impl ChannelSource {
    /// Waits for at least one record, then moves up to `limit` queued records into `records`;
    /// returns how many, 0 once every sender is dropped and the queue is empty.
    pub async fn recv_many(&mut self, records: &mut Vec<SinkRecord>, limit: usize) -> usize {
        let received = self.receiver.recv_many(records, limit).await;
        self.metrics.delivered.increment(received as u64);
        received
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(n: u8) -> SinkRecord {
        SinkRecord {
            key: vec![n],
            payload: vec![n; 3],
        }
    }

    #[tokio::test]
    async fn full_and_closed_hand_the_record_back() {
        let (sink, mut source) = ChannelSink::new(2);
        sink.try_send(record(1)).unwrap();
        sink.try_send(record(2)).unwrap();
        assert_eq!(sink.queue_depth(), 2);
        assert!(!sink.is_ready());
        match sink.try_send(record(3)) {
            Err(SinkError::Full(returned)) => assert_eq!(returned, record(3)),
            other => panic!("expected Full, got {other:?}"),
        }
        let mut received = Vec::new();
        assert_eq!(source.recv_many(&mut received, 1).await, 1);
        assert_eq!(received, vec![record(1)]);
        sink.try_send(record(3)).unwrap();
        received.clear();
        assert_eq!(source.recv_many(&mut received, 8).await, 2);
        assert_eq!(received, vec![record(2), record(3)]);
        assert_eq!(sink.flush(Duration::from_millis(10)), 0);
        drop(source);
        assert!(matches!(
            sink.try_send(record(4)),
            Err(SinkError::Closed(_))
        ));
    }
}
