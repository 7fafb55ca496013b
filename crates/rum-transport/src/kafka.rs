//! The Kafka sink: one idempotent producer (acks=all, lz4, small linger), one message per beacon.
//!
//! `try_send` hands the record to librdkafka's bounded queue and returns; a background thread polls
//! delivery reports, which feed the delivered / failed counters and the latency histogram. A second
//! thread checks every few seconds that the topic's metadata can be fetched: that is readiness.
//!
//! With a [`Spool`]: in overflow mode a record the producer cannot take (broker not ready, queue
//! full) goes to the spool instead, and so does one the producer gives back (retries ran out, or
//! purged at shutdown); in write-ahead mode every record goes to the spool first. A replay thread
//! feeds the spool to the producer, in order, whenever the broker is ready; each replayed record's
//! delivery report acks its place in the spool.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use metrics::gauge;
use rdkafka::ClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::Message;
use rdkafka::producer::{
    BaseRecord, DeliveryResult, Producer, ProducerContext, PurgeConfig, ThreadedProducer,
};
use rdkafka::statistics::Statistics;
use rum_config::{ConfigError, KafkaConfig};

use crate::metrics::{KAFKA_BROKERS_UP, KAFKA_IDEMPOTENT, SinkLoss, SinkMetrics};
use crate::spool::{AppendError, Position, Spool, SpoolCause, SpoolMode};
use crate::{BeaconSink, Receipt, SinkError, SinkRecord};

/// How often the readiness thread fetches the topic's metadata.
const READINESS_INTERVAL: Duration = Duration::from_secs(2);
/// How long one metadata fetch may take.
const METADATA_TIMEOUT: Duration = Duration::from_secs(3);
/// At most one delivery-failure line per this interval; the rest are counted in the line.
static DELIVERY_ERROR_LOG: rum_ledger::LogLimiter =
    rum_ledger::LogLimiter::new(Duration::from_secs(10));
/// librdkafka statistics cadence (queue depth, broker state, idempotence state).
const STATISTICS_INTERVAL_MS: &str = "1000";

#[derive(Debug, thiserror::Error)]
pub enum KafkaSinkError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("cannot create kafka producer: {0}")]
    Create(#[from] KafkaError),
}

/// How many spooled records the replay thread takes at once.
const REPLAY_BATCH: usize = 512;

/// Called by librdkafka's threads: delivery reports and statistics.
struct SinkContext {
    metrics: SinkMetrics,
    spool: Option<Arc<Spool>>,
}

/// What rides with each message to its delivery report.
struct Delivery {
    enqueued_at: Instant,
    /// Its place in the spool, when it came from there.
    spooled: Option<Position>,
}

/// Failures after which a record is worth keeping for later (the broker or network was away, or
/// shutdown purged it), as opposed to ones that would fail again (too large, not authorized).
fn retriable(code: RDKafkaErrorCode) -> bool {
    use RDKafkaErrorCode::*;
    matches!(
        code,
        MessageTimedOut
            | PurgeQueue
            | PurgeInflight
            | AllBrokersDown
            | BrokerTransportFailure
            | NetworkException
            | RequestTimedOut
            | OperationTimedOut
            | LeaderNotAvailable
            | NotLeaderForPartition
            | NotEnoughReplicas
            | NotEnoughReplicasAfterAppend
            | UnknownTopicOrPartition
    )
}

impl ClientContext for SinkContext {
    fn stats(&self, statistics: Statistics) {
        let brokers_up = statistics
            .brokers
            .values()
            .filter(|broker| broker.nodeid >= 0 && broker.state == "UP")
            .count();
        gauge!(KAFKA_BROKERS_UP).set(brokers_up as f64);
        let assigned = statistics
            .eos
            .as_ref()
            .is_some_and(|eos| eos.idemp_state == "Assigned" && eos.producer_id >= 0);
        gauge!(KAFKA_IDEMPOTENT).set(if assigned { 1.0 } else { 0.0 });
    }
}

impl ProducerContext for SinkContext {
    type DeliveryOpaque = Box<Delivery>;

    fn delivery(&self, result: &DeliveryResult<'_>, delivery: Self::DeliveryOpaque) {
        match result {
            Ok(_) => {
                self.metrics.delivered.increment(1);
                self.metrics
                    .produce_latency
                    .record(delivery.enqueued_at.elapsed().as_secs_f64());
            }
            Err((error, message)) => {
                let code = error.rdkafka_error_code();
                let respooled = match (&self.spool, code) {
                    (Some(spool), Some(code)) if retriable(code) => {
                        let cause = if matches!(
                            code,
                            RDKafkaErrorCode::PurgeQueue | RDKafkaErrorCode::PurgeInflight
                        ) {
                            SpoolCause::Shutdown
                        } else {
                            SpoolCause::DeliveryFailed
                        };
                        let record = SinkRecord {
                            key: message.key().unwrap_or_default().to_vec(),
                            payload: message.payload().unwrap_or_default().to_vec(),
                        };
                        match spool.append(&record, cause) {
                            Ok(_) => true,
                            Err(append) => {
                                if let Some(suppressed) = DELIVERY_ERROR_LOG.admit() {
                                    tracing::error!(%error, spool = %append, suppressed, "kafka delivery failed and the spool cannot take the beacon; lost");
                                }
                                spool.count_lost(&append);
                                // Counted as the spool's loss, not again as a delivery failure.
                                if let Some(position) = delivery.spooled {
                                    spool.ack(position);
                                }
                                return;
                            }
                        }
                    }
                    _ => false,
                };
                if !respooled {
                    let reason =
                        code.map_or_else(|| "unknown".to_owned(), |code| format!("{code:?}"));
                    // Counted every time; logged once per interval (an outage fails every message).
                    if let Some(suppressed) = DELIVERY_ERROR_LOG.admit() {
                        tracing::error!(%error, reason, suppressed, "kafka delivery failed; beacon lost");
                    }
                    self.metrics.delivery_error(reason);
                }
            }
        }
        // Delivered, re-appended at the tail or counted lost: its old place is done with.
        if let (Some(spool), Some(position)) = (&self.spool, delivery.spooled) {
            spool.ack(position);
        }
    }
}

struct Shared {
    producer: ThreadedProducer<SinkContext>,
    topic: String,
    ready: AtomicBool,
}

/// An idempotent Kafka producer behind [`BeaconSink`], with an optional disk [`Spool`].
pub struct KafkaSink {
    shared: Arc<Shared>,
    capacity: usize,
    metrics: SinkMetrics,
    spool: Option<Arc<Spool>>,
    replay: Mutex<Option<JoinHandle<()>>>,
}

impl KafkaSink {
    /// Creates the producer and starts its readiness checks (and the spool's replay thread).
    /// Does not wait for the broker.
    pub fn new(config: &KafkaConfig, spool: Option<Arc<Spool>>) -> Result<Self, KafkaSinkError> {
        check_pass_through(config)?;
        let metrics = SinkMetrics::register("kafka", config.queue_messages);
        let context = SinkContext {
            metrics: metrics.clone(),
            spool: spool.clone(),
        };
        let producer: ThreadedProducer<SinkContext> =
            producer_config(config).create_with_context(context)?;
        let shared = Arc::new(Shared {
            producer,
            topic: config.topic.clone(),
            ready: AtomicBool::new(false),
        });
        spawn_readiness_checks(Arc::downgrade(&shared));
        let replay = match &spool {
            Some(spool) => {
                let (weak, spool, lost) =
                    (Arc::downgrade(&shared), Arc::clone(spool), metrics.clone());
                Some(
                    std::thread::Builder::new()
                        .name("rum-spool-replay".into())
                        .spawn(move || run_replay(weak, spool, lost))
                        .map_err(|error| {
                            KafkaSinkError::Config(ConfigError::invalid(
                                "spool",
                                format!("cannot start the replay thread: {error}"),
                            ))
                        })?,
                )
            }
            None => None,
        };
        Ok(Self {
            shared,
            capacity: config.queue_messages,
            metrics,
            spool,
            replay: Mutex::new(replay),
        })
    }

    /// Hands one record to the producer; `Err(true)` when its queue is full.
    fn produce(&self, record: &SinkRecord) -> Result<(), Result<bool, String>> {
        produce(&self.shared, record, None).map_err(|error| match error {
            KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull) => Ok(true),
            other => Err(other.to_string()),
        })
    }

    fn spool_or_full(
        &self,
        spool: &Spool,
        record: SinkRecord,
        cause: SpoolCause,
    ) -> Result<Receipt, SinkError> {
        match spool.append(&record, cause) {
            Ok(_) => Ok(Receipt::queued()),
            Err(AppendError::Full) => Err(SinkError::Full(record)),
            Err(AppendError::Failed(reason)) => Err(SinkError::Rejected { reason, record }),
        }
    }

    /// The topic this sink writes to.
    pub fn topic(&self) -> &str {
        &self.shared.topic
    }
}

/// Every librdkafka property the producer sets itself, with the `[kafka]` key an operator uses
/// instead (`None`: not configurable, a guarantee or an internal). The one list both
/// [`producer_config`] and [`check_pass_through`] read, so a property rum sets can never be
/// silently overwritten by `[kafka.librdkafka]`.
const PRODUCER_PROPERTIES: [ProducerProperty; 8] = [
    ("bootstrap.servers", Some("kafka.brokers"), |c| {
        c.brokers.clone()
    }),
    ("client.id", None, |_| "rum-collector".to_owned()),
    ("enable.idempotence", None, |_| "true".to_owned()),
    ("acks", None, |_| "all".to_owned()),
    ("compression.type", None, |_| "lz4".to_owned()),
    ("linger.ms", Some("kafka.linger"), |c| {
        c.linger.0.as_millis().to_string()
    }),
    ("message.timeout.ms", Some("kafka.message_timeout"), |c| {
        c.message_timeout.0.as_millis().to_string()
    }),
    (
        "queue.buffering.max.messages",
        Some("kafka.queue_messages"),
        |c| c.queue_messages.to_string(),
    ),
];
/// A property rum sets: its name, the `[kafka]` key to use instead, and its value.
type ProducerProperty = (
    &'static str,
    Option<&'static str>,
    fn(&KafkaConfig) -> String,
);
/// Set too, but operators may tune how often statistics come (nothing depends on the cadence).
const STATISTICS_INTERVAL: &str = "statistics.interval.ms";

/// Refuses `[kafka.librdkafka]` properties the producer sets itself, naming the key to use
/// instead: an operator's `linger.ms` must not be silently overwritten.
pub fn check_pass_through(config: &KafkaConfig) -> Result<(), ConfigError> {
    for key in config.librdkafka.keys() {
        let Some((_, instead, _)) = PRODUCER_PROPERTIES
            .iter()
            .find(|(property, _, _)| property.eq_ignore_ascii_case(key))
        else {
            continue;
        };
        let advice = match instead {
            Some(instead) => format!("is set by rum itself; use {instead} instead"),
            None => "is set by rum itself and cannot be changed (delivery guarantees)".to_owned(),
        };
        return Err(ConfigError::invalid(
            format!("kafka.librdkafka.\"{key}\""),
            advice,
        ));
    }
    Ok(())
}

/// The producer's settings: the operator's pass-through properties (which
/// [`check_pass_through`] keeps clear of what rum sets), then rum's own.
pub(crate) fn producer_config(config: &KafkaConfig) -> ClientConfig {
    let mut client = ClientConfig::new();
    client.set(STATISTICS_INTERVAL, STATISTICS_INTERVAL_MS);
    for (key, value) in &config.librdkafka {
        client.set(key, value);
    }
    for (property, _, value) in PRODUCER_PROPERTIES {
        client.set(property, value(config));
    }
    client
}

fn produce(
    shared: &Shared,
    record: &SinkRecord,
    spooled: Option<Position>,
) -> Result<(), KafkaError> {
    let delivery = Box::new(Delivery {
        enqueued_at: Instant::now(),
        spooled,
    });
    let base = BaseRecord::with_opaque_to(&shared.topic, delivery)
        .key(&record.key)
        .payload(&record.payload);
    shared.producer.send(base).map_err(|(error, _)| error)
}

/// Feeds the spool to the producer, in order, while the broker is ready; ends at shutdown
/// (giving back what it took and could not hand over).
fn run_replay(shared: Weak<Shared>, spool: Arc<Spool>, metrics: SinkMetrics) {
    while !spool.is_stopping() {
        let Some(shared) = shared.upgrade() else {
            return;
        };
        if !shared.ready.load(Ordering::Relaxed) {
            drop(shared);
            std::thread::sleep(Duration::from_millis(100));
            continue;
        }
        let batch = spool.take(REPLAY_BATCH, Duration::from_millis(100));
        let mut unsent = Vec::new();
        for taken in batch {
            if !unsent.is_empty() {
                unsent.push(taken.position);
                continue;
            }
            loop {
                match produce(&shared, &taken.record, Some(taken.position)) {
                    Ok(()) => break,
                    Err(KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull)) => {
                        if spool.is_stopping() {
                            unsent.push(taken.position);
                            break;
                        }
                        std::thread::sleep(Duration::from_millis(5));
                    }
                    Err(error) => {
                        // Refused for good (e.g. larger than the broker takes): lost, counted.
                        if let Some(suppressed) = DELIVERY_ERROR_LOG.admit() {
                            tracing::error!(%error, suppressed, "kafka refused a spooled beacon; lost");
                        }
                        metrics.delivery_error("produce_refused".to_owned());
                        spool.ack(taken.position);
                        break;
                    }
                }
            }
        }
        spool.give_back(&unsent);
    }
}

fn spawn_readiness_checks(shared: Weak<Shared>) {
    let spawned = std::thread::Builder::new()
        .name("rum-kafka-readiness".into())
        .spawn(move || {
            while let Some(shared) = shared.upgrade() {
                let topic_ready = shared
                    .producer
                    .client()
                    .fetch_metadata(Some(&shared.topic), METADATA_TIMEOUT)
                    .map(|metadata| {
                        metadata.topics().iter().any(|topic| {
                            topic.name() == shared.topic
                                && topic.error().is_none()
                                && !topic.partitions().is_empty()
                        })
                    })
                    .unwrap_or(false);
                if topic_ready != shared.ready.swap(topic_ready, Ordering::Relaxed) {
                    tracing::info!(topic = %shared.topic, ready = topic_ready, "kafka sink readiness changed");
                }
                drop(shared);
                std::thread::sleep(READINESS_INTERVAL);
            }
        });
    if let Err(error) = spawned {
        tracing::error!(%error, "cannot start kafka readiness thread; /readyz will stay unready");
    }
}

impl BeaconSink for KafkaSink {
    fn try_send(&self, record: SinkRecord) -> Result<Receipt, SinkError> {
        let Some(spool) = &self.spool else {
            return match self.produce(&record) {
                Ok(()) => Ok(Receipt::queued()),
                Err(Ok(_full)) => Err(SinkError::Full(record)),
                Err(Err(reason)) => Err(SinkError::Rejected { reason, record }),
            };
        };
        if spool.mode() == SpoolMode::WriteAhead {
            return match spool.append(&record, SpoolCause::WriteAhead) {
                Ok(sequence) => Ok(Receipt::syncing(spool.ticket(sequence))),
                Err(AppendError::Full) => Err(SinkError::Full(record)),
                Err(AppendError::Failed(reason)) => Err(SinkError::Rejected { reason, record }),
            };
        }
        if !self.shared.ready.load(Ordering::Relaxed) {
            return self.spool_or_full(spool, record, SpoolCause::BrokerDown);
        }
        match self.produce(&record) {
            Ok(()) => Ok(Receipt::queued()),
            Err(Ok(_full)) => self.spool_or_full(spool, record, SpoolCause::QueueFull),
            Err(Err(reason)) => Err(SinkError::Rejected { reason, record }),
        }
    }

    fn is_ready(&self) -> bool {
        let producer_ready =
            self.shared.ready.load(Ordering::Relaxed) && self.queue_depth() < self.capacity;
        producer_ready || self.spool.as_ref().is_some_and(|spool| spool.has_room())
    }

    fn status(&self) -> Option<String> {
        let spool = self.spool.as_ref()?;
        let stats = spool.stats();
        Some(format!(
            "spool: {} beacon(s) waiting, {} of {} bytes, {} segment(s), oldest {:.0}s, broker {}",
            stats.records,
            stats.bytes,
            stats.capacity_bytes,
            stats.segments,
            stats.oldest_age.as_secs_f64(),
            if self.shared.ready.load(Ordering::Relaxed) {
                "ready"
            } else {
                "not ready"
            },
        ))
    }

    fn queue_depth(&self) -> usize {
        usize::try_from(self.shared.producer.in_flight_count()).unwrap_or(0)
    }

    fn queue_capacity(&self) -> usize {
        self.capacity
    }

    fn refresh_metrics(&self) {
        self.metrics.queue_depth.set(self.queue_depth() as f64);
        if let Some(spool) = &self.spool {
            spool.refresh_metrics();
        }
    }

    fn flush(&self, timeout: Duration) -> usize {
        if let Some(spool) = &self.spool {
            spool.stop_replay();
            let replay = self
                .replay
                .lock()
                .unwrap_or_else(|poison| poison.into_inner())
                .take();
            if let Some(replay) = replay {
                let _ = replay.join();
            }
        }
        let flush_budget = if self.spool.is_some() {
            // Leave time to move the rest into the spool.
            timeout
                .saturating_sub(Duration::from_secs(2))
                .max(Duration::from_millis(500))
        } else {
            timeout
        };
        if let Err(error) = self.shared.producer.flush(flush_budget) {
            tracing::warn!(%error, undelivered = self.queue_depth(), "kafka flush did not complete");
        }
        if let Some(spool) = &self.spool {
            let held = self.queue_depth();
            if held > 0 {
                // Purged messages come back through their delivery reports, which spool them.
                self.shared
                    .producer
                    .purge(PurgeConfig::default().queue().inflight());
                let _ = self.shared.producer.flush(Duration::from_secs(2));
                tracing::info!(records = held, dir = %spool.dir().display(), "moved what the producer still held into the spool");
            }
            spool.close();
            let stats = spool.stats();
            if stats.records > 0 {
                tracing::info!(
                    records = stats.records,
                    "spool holds beacons for the next start"
                );
            }
        }
        let undelivered = self.queue_depth();
        self.metrics
            .lost
            .count_many(SinkLoss::UndeliveredAtShutdown, undelivered as u64);
        undelivered
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pass_through_properties_reach_the_producer_and_guarantees_hold() {
        let mut config = KafkaConfig::default();
        config
            .librdkafka
            .insert("security.protocol".into(), "SASL_SSL".into());
        config
            .librdkafka
            .insert("statistics.interval.ms".into(), "5000".into());
        check_pass_through(&config).expect("allowed");
        let client = producer_config(&config);
        assert_eq!(client.get("enable.idempotence"), Some("true"));
        assert_eq!(client.get("acks"), Some("all"));
        assert_eq!(client.get("compression.type"), Some("lz4"));
        assert_eq!(client.get("linger.ms"), Some("5"));
        assert_eq!(client.get("security.protocol"), Some("SASL_SSL"));
        assert_eq!(client.get("statistics.interval.ms"), Some("5000"));
    }

    #[test]
    fn properties_rum_sets_are_refused_naming_the_key_to_use() {
        for (property, advice) in [
            ("linger.ms", "use kafka.linger instead"),
            ("message.timeout.ms", "use kafka.message_timeout instead"),
            (
                "queue.buffering.max.messages",
                "use kafka.queue_messages instead",
            ),
            ("bootstrap.servers", "use kafka.brokers instead"),
            ("compression.type", "cannot be changed"),
            ("client.id", "cannot be changed"),
            ("acks", "cannot be changed"),
            ("Enable.Idempotence", "cannot be changed"),
        ] {
            let mut config = KafkaConfig::default();
            config.librdkafka.insert(property.into(), "x".into());
            let error = check_pass_through(&config)
                .expect_err("refused")
                .to_string();
            assert!(
                error.contains(&format!("kafka.librdkafka.\"{property}\"")),
                "{error}"
            );
            assert!(error.contains(advice), "{error}");
        }
    }

    #[test]
    fn every_property_rum_sets_reaches_the_client() {
        let client = producer_config(&KafkaConfig::default());
        for (property, _, _) in PRODUCER_PROPERTIES {
            assert!(client.get(property).is_some(), "{property}");
        }
    }
}
