//! Where accepted beacons go, behind one interface: [`BeaconSink`].
//!
//! Two implementations sit side by side: [`ChannelSink`] (the in-process channel of `rum standalone`,
//! read by the aggregator through [`ChannelSource`]) and [`KafkaSink`] (an idempotent rdkafka producer).
//! [`KafkaTail`] reads the beacon topic back (`rum tail`, tests). [`log`] is what the aggregator's
//! Kafka workers need of a partitioned log (a group consumer, a producer to explicit partitions, a
//! reader for snapshots), with the Kafka implementations beside it; [`topics`] creates and checks
//! the topics.
//!
//! This is the only crate that imports rdkafka. A sink must never block or await a delivery on the
//! caller's path: `try_send` enqueues or fails at once (full / closed), and every record it accepted is
//! either delivered or counted as a delivery failure.

#![forbid(unsafe_code)]

mod channel;
mod kafka;
mod kafka_log;
pub mod log;
mod metrics;
pub mod spool;
mod tail;
pub mod topics;

use std::time::Duration;

pub use crate::metrics::SinkLoss;
pub use channel::{ChannelSink, ChannelSource};
pub use kafka::{KafkaSink, KafkaSinkError, check_pass_through};
pub use kafka_log::{
    GroupTimeouts, KafkaClientSettings, KafkaGroupConsumer, KafkaLogProducer, KafkaPartitionReader,
};
pub use tail::{KafkaTail, TailError, TailStart, TailedBeacon};

/// The key of tick records on the beacon topic (`rum.v1.Tick`, written by the aggregator's stage-1
/// workers): no site id starts with a NUL byte, so no beacon has it. Readers of beacons skip them.
pub const TICK_KEY: &[u8] = b"\0rum-tick";

/// One beacon on its way out: the partition key and the encoded `rum.v1.Beacon`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SinkRecord {
    /// Keeps one page view's beacons together (one partition, in order).
    pub key: Vec<u8>,
    pub payload: Vec<u8>,
}

/// Why a record was not taken. The record is handed back so nothing is lost silently.
#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    /// The queue is at capacity: shed load (503 + Retry-After) and let the client retry.
    #[error("sink queue is full")]
    Full(SinkRecord),
    /// The sink is shutting down or its consumer is gone.
    #[error("sink is closed")]
    Closed(SinkRecord),
    /// The sink refused this record for good (e.g. larger than the broker accepts).
    #[error("sink rejected the record: {reason}")]
    Rejected { reason: String, record: SinkRecord },
}

/// What a sink gives back for a record it took.
#[derive(Debug)]
pub struct Receipt(Option<spool::SyncTicket>);

impl Receipt {
    /// Taken; nothing to wait for.
    pub fn queued() -> Self {
        Self(None)
    }

    /// Taken into the write-ahead spool; [`durable`](Self::durable) waits for its fsync.
    pub fn syncing(ticket: spool::SyncTicket) -> Self {
        Self(Some(ticket))
    }

    /// Resolves when the record is as safe as the sink makes it (on disk in write-ahead mode,
    /// at once otherwise).
    pub async fn durable(self) -> Result<(), spool::AppendError> {
        match self.0 {
            None => Ok(()),
            Some(ticket) => ticket.wait().await,
        }
    }
}

/// A destination for beacons.
pub trait BeaconSink: Send + Sync + 'static {
    /// Enqueues without blocking; never waits for delivery. The receipt says whether the caller
    /// must wait for the record to be durable before answering (write-ahead spool).
    fn try_send(&self, record: SinkRecord) -> Result<Receipt, SinkError>;
    /// Whether the sink can take data now (drives `/readyz`).
    fn is_ready(&self) -> bool;
    /// A line for `/readyz` about what the sink holds (the spool), if anything.
    fn status(&self) -> Option<String> {
        None
    }
    /// Records accepted but not yet delivered.
    fn queue_depth(&self) -> usize;
    /// Maximum records the queue holds before `try_send` answers `Full`.
    fn queue_capacity(&self) -> usize;
    /// Sets the sampled gauges (`rum_sink_queue_depth`) from the sink's own state; called before
    /// each scrape, so the request path never touches them.
    fn refresh_metrics(&self);
    /// Blocks until everything accepted is delivered or `timeout` passes; returns how many records
    /// were still undelivered (0 on a clean flush) and counts them in the drop ledger
    /// (`undelivered_at_shutdown`).
    fn flush(&self, timeout: Duration) -> usize;
}
