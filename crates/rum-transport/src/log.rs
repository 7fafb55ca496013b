//! Partitioned logs as the aggregator's Kafka workers use them, behind small interfaces so the
//! workers (rum-aggregator) never see rdkafka: a group consumer ([`GroupConsumer`]) that reports
//! assignment changes as events and reads records in order, a producer to explicit partitions
//! whose deliveries come back as reports ([`LogProducer`]), and a reader of one partition from an
//! offset ([`PartitionReader`], for snapshots).
//!
//! The Kafka implementations are in `kafka_log.rs`. Nothing here blocks longer than the timeout it
//! is given.

use std::time::Duration;

/// One record of a partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogRecord {
    pub partition: i32,
    pub offset: i64,
    pub key: Option<Vec<u8>>,
    pub payload: Vec<u8>,
}

/// A change of which partitions this member of the group owns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Assignment {
    /// These partitions are now this member's: restore their state, seek, then read.
    Assigned(Vec<i32>),
    /// These partitions are no longer this member's: stop using them at once.
    Revoked(Vec<i32>),
}

/// What one poll brought.
#[derive(Debug)]
pub enum Polled {
    Record(LogRecord),
    Assignment(Assignment),
    /// Nothing within the timeout.
    Idle,
}

#[derive(Debug, thiserror::Error)]
pub enum LogError {
    #[error("kafka: {0}")]
    Kafka(String),
    #[error("timed out after {0:?}")]
    Timeout(Duration),
    #[error("{0}")]
    Invalid(String),
}

/// Where a partition with no committed position starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartFrom {
    Earliest,
    Latest,
}

/// A member of a consumer group on one topic.
pub trait GroupConsumer: Send {
    /// The next record of an owned partition, or an assignment change, waiting up to `timeout`.
    fn poll(&mut self, timeout: Duration) -> Result<Polled, LogError>;
    /// Reads `partition` from `offset` on (an owned partition).
    fn seek(&mut self, partition: i32, offset: i64) -> Result<(), LogError>;
    /// Commits positions for this group, in one request: `(topic, partition, next offset)`.
    fn commit(&mut self, offsets: &[(&str, i32, i64)]) -> Result<(), LogError>;
    /// This group's committed position for `topic`/`partition`, if any.
    fn committed(&mut self, topic: &str, partition: i32) -> Result<Option<i64>, LogError>;
    /// The first and the next-to-be-written offsets of a partition of the consumed topic.
    fn watermarks(&mut self, partition: i32) -> Result<(i64, i64), LogError>;
    /// Partitions of `topic`.
    fn partition_count(&mut self, topic: &str) -> Result<usize, LogError>;
    /// Leaves the group and joins it again as a new member (a membership change makes the group
    /// rebalance). The caller has already given up every partition it owned; new assignments
    /// arrive through `poll`.
    fn rejoin(&mut self) -> Result<(), LogError>;
}

/// The outcome of one send, reported back to its sender with the ticket it gave.
#[derive(Debug)]
pub struct Delivery {
    pub ticket: u64,
    /// The offset it was written at, or why it was not.
    pub result: Result<i64, LogError>,
}

/// A producer to explicit partitions. Sends never block; each one's outcome is reported once
/// through [`deliveries`](LogProducer::deliveries).
pub trait LogProducer: Send {
    fn send(
        &mut self,
        topic: &str,
        partition: i32,
        key: Option<&[u8]>,
        payload: &[u8],
        ticket: u64,
    ) -> Result<(), LogError>;
    /// Delivery reports that arrived since the last call.
    fn deliveries(&mut self, reports: &mut Vec<Delivery>);
    /// Waits until everything sent is delivered or `timeout` passes; returns how many are left.
    fn flush(&mut self, timeout: Duration) -> usize;
    /// Partitions of `topic`.
    fn partition_count(&mut self, topic: &str) -> Result<usize, LogError>;
}

/// Reads one partition from an offset, outside any group (snapshots).
pub trait PartitionReader: Send {
    /// Records of `topic`/`partition` from `offset` on, handed to `take` until it returns false,
    /// the partition's end (as of the call) is reached, or `timeout` passes.
    fn read(
        &mut self,
        topic: &str,
        partition: i32,
        offset: i64,
        timeout: Duration,
        take: &mut dyn FnMut(LogRecord) -> bool,
    ) -> Result<(), LogError>;
}
