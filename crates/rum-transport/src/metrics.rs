//! Sink metrics, shared by both sinks so dashboards do not care which one runs.
//!
//! - `rum_sink_queue_depth` (gauge): records accepted and not yet delivered, sampled at each scrape.
//! - `rum_sink_queue_capacity` (gauge): the bound behind 503s.
//! - `rum_sink_delivered_total{sink}`: records the destination acknowledged.
//! - `rum_sink_delivery_errors_total{sink, reason}`: accepted records that failed, by librdkafka
//!   error code (a bounded set): the detail behind `rum_dropped_total{stage="sink",
//!   reason="delivery_failed"}`, which counts the same records in the ledger.
//!
//! A record refused at enqueue is answered 503 or 500 and counted by the collector's ledger entry
//! (`overloaded`, `sink_closed`, `sink_rejected`); this crate does not count it a second time.
//! - `rum_sink_produce_latency_seconds{sink}` (histogram): enqueue to broker acknowledgement.
//! - `rum_sink_kafka_brokers_up` (gauge), `rum_sink_kafka_idempotent_producer_assigned` (gauge, 1 when
//!   the broker assigned a producer id, i.e. idempotence is in force).

use rum_ledger::{DropCounters, Item};

use metrics::{
    Counter, Gauge, Histogram, counter, describe_counter, describe_gauge, describe_histogram,
    gauge, histogram,
};

pub(crate) const QUEUE_DEPTH: &str = "rum_sink_queue_depth";
pub(crate) const QUEUE_CAPACITY: &str = "rum_sink_queue_capacity";
pub(crate) const DELIVERED: &str = "rum_sink_delivered_total";
pub(crate) const DELIVERY_ERRORS: &str = "rum_sink_delivery_errors_total";
pub(crate) const PRODUCE_LATENCY: &str = "rum_sink_produce_latency_seconds";
pub(crate) const KAFKA_BROKERS_UP: &str = "rum_sink_kafka_brokers_up";
pub(crate) const KAFKA_IDEMPOTENT: &str = "rum_sink_kafka_idempotent_producer_assigned";

/// Handles registered once per sink so the hot path does no key lookups.
#[derive(Clone)]
pub(crate) struct SinkMetrics {
    pub(crate) sink: &'static str,
    pub(crate) queue_depth: Gauge,
    pub(crate) delivered: Counter,
    pub(crate) produce_latency: Histogram,
    pub(crate) lost: DropCounters<SinkLoss>,
}

rum_ledger::drop_reasons! {
    /// Why a record the sink accepted never reached its destination: the `reason` of
    /// `rum_dropped_total{stage="sink"}`.
    pub enum SinkLoss in Sink {
        /// The destination refused it, or retries ran out (`kafka.message_timeout`); the error code
        /// is in `rum_sink_delivery_errors_total{reason}`.
        DeliveryFailed = "delivery_failed",
        /// Still queued when the shutdown grace period ran out (and no spool took it).
        UndeliveredAtShutdown = "undelivered_at_shutdown",
        /// The producer could not take it and the disk spool was full (`spool.max_bytes`).
        SpoolFull = "spool_full",
        /// Waited in the spool longer than `spool.max_age`.
        SpoolExpired = "spool_expired",
        /// Damaged or torn in the spool (counted once per damaged region at recovery).
        SpoolCorrupt = "spool_corrupt",
        /// The spool could not write it (disk error).
        SpoolWriteFailed = "spool_write_failed",
    }
}

impl SinkMetrics {
    pub(crate) fn register(sink: &'static str, capacity: usize) -> Self {
        describe_gauge!(
            QUEUE_DEPTH,
            "Beacons accepted by the sink and not yet delivered."
        );
        describe_gauge!(
            QUEUE_CAPACITY,
            "Beacons the sink queue holds before the collector answers 503."
        );
        describe_counter!(DELIVERED, "Beacons the destination acknowledged.");
        describe_counter!(
            DELIVERY_ERRORS,
            "Accepted beacons whose delivery failed, by reason."
        );
        describe_histogram!(
            PRODUCE_LATENCY,
            metrics::Unit::Seconds,
            "Time from enqueue to broker acknowledgement."
        );
        gauge!(QUEUE_CAPACITY, "sink" => sink).set(capacity as f64);
        Self {
            sink,
            queue_depth: gauge!(QUEUE_DEPTH, "sink" => sink),
            delivered: counter!(DELIVERED, "sink" => sink),
            produce_latency: histogram!(PRODUCE_LATENCY, "sink" => sink),
            lost: DropCounters::register(Item::Beacon),
        }
    }

    pub(crate) fn delivery_error(&self, reason: String) {
        counter!(DELIVERY_ERRORS, "sink" => self.sink, "reason" => reason).increment(1);
        self.lost.count(SinkLoss::DeliveryFailed);
    }
}
