//! Reading the beacon topic back: `rum tail`, and tests that check what reached Kafka.

use std::time::{Duration, Instant};

use prost::Message as _;
use rdkafka::Message;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rum_schema::proto;

/// Where a new tail starts reading.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TailStart {
    /// The oldest message still on the topic.
    Beginning,
    /// Only messages produced from now on.
    End,
}

#[derive(Debug, thiserror::Error)]
pub enum TailError {
    #[error("kafka: {0}")]
    Kafka(#[from] KafkaError),
    #[error("message at partition {partition} offset {offset} is not a rum.v1.Beacon: {source}")]
    Decode {
        partition: i32,
        offset: i64,
        source: prost::DecodeError,
    },
}

/// One beacon read from the topic, with where it was.
#[derive(Debug, Clone)]
pub struct TailedBeacon {
    pub partition: i32,
    pub offset: i64,
    pub key: Option<Vec<u8>>,
    pub beacon: proto::Beacon,
    /// The message exactly as it is on the topic, for checks of the wire form (e.g. that no client
    /// address is in it).
    pub payload: Vec<u8>,
}

/// A consumer in a throwaway group (nothing committed), so tailing never disturbs real consumers.
pub struct KafkaTail {
    consumer: BaseConsumer,
}

impl KafkaTail {
    pub fn new(
        brokers: &str,
        topic: &str,
        start: TailStart,
        extra_properties: &std::collections::BTreeMap<String, String>,
    ) -> Result<Self, TailError> {
        let mut config = ClientConfig::new();
        for (key, value) in extra_properties {
            config.set(key, value);
        }
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|elapsed| elapsed.as_nanos())
            .unwrap_or_default();
        let consumer: BaseConsumer = config
            .set("bootstrap.servers", brokers)
            .set(
                "group.id",
                format!("rum-tail-{}-{nanos}", std::process::id()),
            )
            .set("client.id", "rum-tail")
            .set("enable.auto.commit", "false")
            .set(
                "auto.offset.reset",
                match start {
                    TailStart::Beginning => "earliest",
                    TailStart::End => "latest",
                },
            )
            .create()?;
        consumer.subscribe(&[topic])?;
        Ok(Self { consumer })
    }

    /// Waits up to `timeout` for the next beacon. `Ok(None)` when none arrived in time.
    pub fn next_beacon(&self, timeout: Duration) -> Result<Option<TailedBeacon>, TailError> {
        let deadline = Instant::now() + timeout;
        loop {
            let remaining = deadline.saturating_duration_since(Instant::now());
            // poll() also returns None right after handling a non-message event (a rebalance),
            // so only the deadline means "nothing arrived".
            let Some(result) = self.consumer.poll(remaining) else {
                if Instant::now() >= deadline {
                    return Ok(None);
                }
                continue;
            };
            let message = result?;
            if message.key() == Some(crate::TICK_KEY) {
                // The aggregator's clock records, not beacons.
                if Instant::now() >= deadline {
                    return Ok(None);
                }
                continue;
            }
            let Some(payload) = message.payload() else {
                // Tombstones carry no beacon.
                if Instant::now() >= deadline {
                    return Ok(None);
                }
                continue;
            };
            let beacon = proto::Beacon::decode(payload).map_err(|source| TailError::Decode {
                partition: message.partition(),
                offset: message.offset(),
                source,
            })?;
            return Ok(Some(TailedBeacon {
                partition: message.partition(),
                offset: message.offset(),
                key: message.key().map(<[u8]>::to_vec),
                beacon,
                payload: payload.to_vec(),
            }));
        }
    }
}
