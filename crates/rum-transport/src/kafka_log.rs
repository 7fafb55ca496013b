//! The Kafka implementations of [`crate::log`]: a group consumer whose rebalances become
//! [`Assignment`] events, a producer to explicit partitions with delivery reports, and a reader of
//! one partition for snapshots.
//!
//! Settings chosen for exactness on every broker the project supports (Apache Kafka, Redpanda,
//! tansu): manual commits only; the producer without idempotence (tansu 0.6.0 cannot bump a
//! producer epoch) but with one request in flight per connection, so a retry never reorders a
//! partition's messages; duplicates a retry may write are skipped downstream by position.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance};
use rdkafka::error::KafkaError;
use rdkafka::producer::{BaseRecord, DeliveryResult, Producer, ProducerContext, ThreadedProducer};
use rdkafka::{ClientContext, Message, Offset, TopicPartitionList};

use crate::log::{
    Assignment, Delivery, GroupConsumer, LogError, LogProducer, LogRecord, PartitionReader, Polled,
    StartFrom,
};

/// How long a metadata, watermark or committed-offset request may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

fn kafka(error: KafkaError) -> LogError {
    LogError::Kafka(error.to_string())
}

/// What every client of the workers shares: where the brokers are and the operator's
/// pass-through properties (TLS, SASL).
#[derive(Debug, Clone)]
pub struct KafkaClientSettings {
    pub brokers: String,
    pub client_id: String,
    pub properties: BTreeMap<String, String>,
}

impl KafkaClientSettings {
    fn config(&self) -> ClientConfig {
        let mut config = ClientConfig::new();
        for (key, value) in &self.properties {
            config.set(key, value);
        }
        config
            .set("bootstrap.servers", &self.brokers)
            .set("client.id", &self.client_id);
        config
    }
}

/// Group-membership tuning.
#[derive(Debug, Clone, Copy)]
pub struct GroupTimeouts {
    /// A member silent this long is removed and its partitions move.
    pub session: Duration,
}

struct GroupContext {
    topic: String,
    events: Mutex<VecDeque<Assignment>>,
}

impl ClientContext for GroupContext {}

impl GroupContext {
    fn partitions(&self, list: &TopicPartitionList) -> Vec<i32> {
        list.elements_for_topic(&self.topic)
            .iter()
            .map(|element| element.partition())
            .collect()
    }

    fn push(&self, event: Assignment) {
        self.events
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
            .push_back(event);
    }
}

impl ConsumerContext for GroupContext {
    fn pre_rebalance(&self, _consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Revoke(list) = rebalance {
            self.push(Assignment::Revoked(self.partitions(list)));
        }
    }

    fn post_rebalance(&self, _consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        match rebalance {
            Rebalance::Assign(list) => self.push(Assignment::Assigned(self.partitions(list))),
            Rebalance::Revoke(_) => {}
            Rebalance::Error(error) => tracing::warn!(%error, "consumer group rebalance failed"),
        }
    }
}

/// A member of a consumer group on one topic (rdkafka `BaseConsumer`).
pub struct KafkaGroupConsumer {
    consumer: BaseConsumer<GroupContext>,
    topic: String,
    config: ClientConfig,
}

impl KafkaGroupConsumer {
    pub fn new(
        client: &KafkaClientSettings,
        group: &str,
        topic: &str,
        start: StartFrom,
        timeouts: GroupTimeouts,
    ) -> Result<Self, LogError> {
        let config = Self::config(client, group, start, timeouts);
        let consumer = Self::subscribed(&config, topic)?;
        Ok(Self {
            consumer,
            topic: topic.to_owned(),
            config,
        })
    }

    fn subscribed(
        config: &ClientConfig,
        topic: &str,
    ) -> Result<BaseConsumer<GroupContext>, LogError> {
        let context = GroupContext {
            topic: topic.to_owned(),
            events: Mutex::new(VecDeque::new()),
        };
        let consumer: BaseConsumer<GroupContext> =
            config.create_with_context(context).map_err(kafka)?;
        consumer.subscribe(&[topic]).map_err(kafka)?;
        Ok(consumer)
    }

    fn config(
        client: &KafkaClientSettings,
        group: &str,
        start: StartFrom,
        timeouts: GroupTimeouts,
    ) -> ClientConfig {
        let session_ms = timeouts.session.as_millis().max(1000);
        let mut config = client.config();
        config
            .set("group.id", group)
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false")
            .set("enable.partition.eof", "false")
            .set(
                "auto.offset.reset",
                match start {
                    StartFrom::Earliest => "earliest",
                    StartFrom::Latest => "latest",
                },
            )
            .set("session.timeout.ms", session_ms.to_string())
            .set(
                "heartbeat.interval.ms",
                (session_ms / 4).max(250).to_string(),
            )
            // A fetch returns as soon as data is there; tansu's fetch waits about half of this.
            .set("fetch.wait.max.ms", "50");
        config
    }

    fn next_event(&self) -> Option<Assignment> {
        self.consumer
            .context()
            .events
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
            .pop_front()
    }
}

impl GroupConsumer for KafkaGroupConsumer {
    fn poll(&mut self, timeout: Duration) -> Result<Polled, LogError> {
        if let Some(event) = self.next_event() {
            return Ok(Polled::Assignment(event));
        }
        // A rebalance is handled inside poll (our context queues it), which then returns None.
        match self.consumer.poll(timeout) {
            Some(Ok(message)) => Ok(Polled::Record(owned(&message))),
            Some(Err(error)) => Err(kafka(error)),
            None => Ok(self.next_event().map_or(Polled::Idle, Polled::Assignment)),
        }
    }

    fn seek(&mut self, partition: i32, offset: i64) -> Result<(), LogError> {
        self.consumer
            .seek(
                &self.topic,
                partition,
                Offset::Offset(offset),
                REQUEST_TIMEOUT,
            )
            .map_err(kafka)
    }

    fn commit(&mut self, offsets: &[(&str, i32, i64)]) -> Result<(), LogError> {
        let mut list = TopicPartitionList::new();
        for (topic, partition, offset) in offsets {
            list.add_partition_offset(topic, *partition, Offset::Offset(*offset))
                .map_err(kafka)?;
        }
        self.consumer.commit(&list, CommitMode::Sync).map_err(kafka)
    }

    fn committed(&mut self, topic: &str, partition: i32) -> Result<Option<i64>, LogError> {
        let mut list = TopicPartitionList::new();
        list.add_partition(topic, partition);
        let committed = self
            .consumer
            .committed_offsets(list, REQUEST_TIMEOUT)
            .map_err(kafka)?;
        Ok(committed
            .find_partition(topic, partition)
            .and_then(|element| match element.offset() {
                Offset::Offset(offset) if offset >= 0 => Some(offset),
                _ => None,
            }))
    }

    fn watermarks(&mut self, partition: i32) -> Result<(i64, i64), LogError> {
        self.consumer
            .fetch_watermarks(&self.topic, partition, REQUEST_TIMEOUT)
            .map_err(kafka)
    }

    fn partition_count(&mut self, topic: &str) -> Result<usize, LogError> {
        partition_count(self.consumer.client(), topic)
    }

    fn rejoin(&mut self) -> Result<(), LogError> {
        // A new consumer is a new member (a fresh member id); dropping the old one closes it,
        // which leaves the group.
        let fresh = Self::subscribed(&self.config, &self.topic)?;
        let old = std::mem::replace(&mut self.consumer, fresh);
        drop(old);
        Ok(())
    }
}

fn partition_count<C: ClientContext>(
    client: &rdkafka::client::Client<C>,
    topic: &str,
) -> Result<usize, LogError> {
    let metadata = client
        .fetch_metadata(Some(topic), REQUEST_TIMEOUT)
        .map_err(kafka)?;
    let topic_metadata = metadata
        .topics()
        .iter()
        .find(|known| known.name() == topic)
        .ok_or_else(|| LogError::Invalid(format!("topic {topic} does not exist")))?;
    if let Some(error) = topic_metadata.error() {
        return Err(LogError::Kafka(format!("topic {topic}: {error:?}")));
    }
    Ok(topic_metadata.partitions().len())
}

fn owned(message: &rdkafka::message::BorrowedMessage<'_>) -> LogRecord {
    LogRecord {
        partition: message.partition(),
        offset: message.offset(),
        key: message.key().map(<[u8]>::to_vec),
        payload: message.payload().unwrap_or_default().to_vec(),
    }
}

struct DeliveryContext {
    reports: Arc<Mutex<Vec<Delivery>>>,
}

impl ClientContext for DeliveryContext {}

impl ProducerContext for DeliveryContext {
    type DeliveryOpaque = Box<u64>;

    fn delivery(&self, result: &DeliveryResult<'_>, ticket: Self::DeliveryOpaque) {
        let result = match result {
            Ok(message) => Ok(message.offset()),
            Err((error, _)) => Err(LogError::Kafka(error.to_string())),
        };
        self.reports
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
            .push(Delivery {
                ticket: *ticket,
                result,
            });
    }
}

/// A producer to explicit partitions (rdkafka `ThreadedProducer`).
pub struct KafkaLogProducer {
    producer: ThreadedProducer<DeliveryContext>,
    reports: Arc<Mutex<Vec<Delivery>>>,
}

impl KafkaLogProducer {
    /// `message_timeout`: how long librdkafka retries a message before reporting it failed.
    pub fn new(client: &KafkaClientSettings, message_timeout: Duration) -> Result<Self, LogError> {
        let reports = Arc::new(Mutex::new(Vec::new()));
        let mut config = client.config();
        config
            .set("acks", "all")
            .set("enable.idempotence", "false")
            .set("max.in.flight.requests.per.connection", "1")
            .set("compression.type", "lz4")
            .set("linger.ms", "5")
            .set(
                "message.timeout.ms",
                message_timeout.as_millis().max(1000).to_string(),
            )
            .set("message.max.bytes", (8 << 20).to_string());
        let producer = config
            .create_with_context(DeliveryContext {
                reports: Arc::clone(&reports),
            })
            .map_err(kafka)?;
        Ok(Self { producer, reports })
    }
}

impl LogProducer for KafkaLogProducer {
    fn send(
        &mut self,
        topic: &str,
        partition: i32,
        key: Option<&[u8]>,
        payload: &[u8],
        ticket: u64,
    ) -> Result<(), LogError> {
        let mut record = BaseRecord::with_opaque_to(topic, Box::new(ticket))
            .partition(partition)
            .payload(payload);
        if let Some(key) = key {
            record = record.key(key);
        }
        let mut pending = record;
        // A full local queue drains by itself (the producer thread delivers): wait a moment.
        let deadline = Instant::now() + REQUEST_TIMEOUT;
        loop {
            match self.producer.send(pending) {
                Ok(()) => return Ok(()),
                Err((
                    KafkaError::MessageProduction(rdkafka::types::RDKafkaErrorCode::QueueFull),
                    back,
                )) if Instant::now() < deadline => {
                    pending = back;
                    std::thread::sleep(Duration::from_millis(10));
                }
                Err((error, _)) => return Err(kafka(error)),
            }
        }
    }

    fn deliveries(&mut self, reports: &mut Vec<Delivery>) {
        reports.append(
            &mut self
                .reports
                .lock()
                .unwrap_or_else(|poison| poison.into_inner()),
        );
    }

    fn flush(&mut self, timeout: Duration) -> usize {
        if let Err(error) = self.producer.flush(timeout) {
            tracing::warn!(%error, "producer flush did not complete");
        }
        usize::try_from(self.producer.in_flight_count()).unwrap_or(0)
    }

    fn partition_count(&mut self, topic: &str) -> Result<usize, LogError> {
        partition_count(self.producer.client(), topic)
    }
}

/// Reads one partition from an offset, in a throwaway group that commits nothing.
pub struct KafkaPartitionReader {
    consumer: BaseConsumer,
}

impl KafkaPartitionReader {
    pub fn new(client: &KafkaClientSettings) -> Result<Self, LogError> {
        let mut config = client.config();
        let consumer = config
            .set("group.id", format!("rum-reader-{}", std::process::id()))
            .set("enable.auto.commit", "false")
            .set("enable.partition.eof", "false")
            .set("fetch.wait.max.ms", "50")
            .create()
            .map_err(kafka)?;
        Ok(Self { consumer })
    }
}

impl PartitionReader for KafkaPartitionReader {
    fn read(
        &mut self,
        topic: &str,
        partition: i32,
        offset: i64,
        timeout: Duration,
        take: &mut dyn FnMut(LogRecord) -> bool,
    ) -> Result<(), LogError> {
        let (_, end) = self
            .consumer
            .fetch_watermarks(topic, partition, REQUEST_TIMEOUT)
            .map_err(kafka)?;
        if offset >= end {
            return Ok(());
        }
        let mut list = TopicPartitionList::new();
        list.add_partition_offset(topic, partition, Offset::Offset(offset))
            .map_err(kafka)?;
        self.consumer.assign(&list).map_err(kafka)?;
        let deadline = Instant::now() + timeout;
        let outcome = loop {
            let remaining = deadline.saturating_duration_since(Instant::now());
            if remaining.is_zero() {
                break Err(LogError::Timeout(timeout));
            }
            match self
                .consumer
                .poll(remaining.min(Duration::from_millis(200)))
            {
                None => continue,
                Some(Err(error)) => break Err(kafka(error)),
                Some(Ok(message)) => {
                    let record = owned(&message);
                    let at = record.offset;
                    if !take(record) || at + 1 >= end {
                        break Ok(());
                    }
                }
            }
        };
        if let Err(error) = self.consumer.unassign() {
            tracing::debug!(%error, "reader unassign failed");
        }
        outcome
    }
}
