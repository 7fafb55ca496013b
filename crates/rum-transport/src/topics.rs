//! The topics `rum` uses, created and checked from config (`rum topics create|check`): nothing
//! anywhere auto-creates them.
//!
//! - beacons (`kafka.topic`): one `rum.v1.Beacon` per message, key `SITE/PAGE_VIEW_ID`, plus tick
//!   records; `cleanup.policy=delete` with a retention.
//! - partials (`kafka.partials_topic`): stage 1's `PartialBatch`es, partitioned by site;
//!   `cleanup.policy=delete`.
//! - stage-1 state (`kafka.stage1_state_topic`): one partition per beacon partition; stage-2 state
//!   (`kafka.stage2_state_topic`): one per partials partition. Snapshot parts are keyed
//!   `PARTITION/PART`, so with `cleanup.policy=compact` each partition keeps about one snapshot.

use std::collections::BTreeMap;
use std::time::Duration;

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, ResourceSpecifier, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::error::RDKafkaErrorCode;
use rum_config::{KafkaConfig, TopicsConfig};

use crate::log::LogError;

const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// What one topic should be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicSpec {
    pub name: String,
    pub partitions: i32,
    pub replication: i32,
    /// Topic-level configs set at creation and compared by `check`.
    pub configs: BTreeMap<String, String>,
}

/// The four topics, from `[kafka]` (names) and `[topics]` (sizes, retention).
pub fn specs(kafka: &KafkaConfig, topics: &TopicsConfig) -> Vec<TopicSpec> {
    let delete = |retention: Duration| {
        BTreeMap::from([
            ("cleanup.policy".to_owned(), "delete".to_owned()),
            ("retention.ms".to_owned(), retention.as_millis().to_string()),
        ])
    };
    let compact = || {
        BTreeMap::from([
            ("cleanup.policy".to_owned(), "compact".to_owned()),
            // Kafka never compacts the active segment: roll it so old snapshots go.
            (
                "segment.ms".to_owned(),
                topics.state.segment.0.as_millis().to_string(),
            ),
        ])
    };
    vec![
        TopicSpec {
            name: kafka.topic.clone(),
            partitions: topics.beacons.partitions as i32,
            replication: topics.beacons.replication as i32,
            configs: delete(topics.beacons.retention.0),
        },
        TopicSpec {
            name: kafka.partials_topic.clone(),
            partitions: topics.partials.partitions as i32,
            replication: topics.partials.replication as i32,
            configs: delete(topics.partials.retention.0),
        },
        TopicSpec {
            name: kafka.stage1_state_topic.clone(),
            partitions: topics.beacons.partitions as i32,
            replication: topics.state.replication as i32,
            configs: compact(),
        },
        TopicSpec {
            name: kafka.stage2_state_topic.clone(),
            partitions: topics.partials.partitions as i32,
            replication: topics.state.replication as i32,
            configs: compact(),
        },
    ]
}

/// What `create` did with one topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Created {
    Created,
    AlreadyExists,
}

/// How an existing topic differs from its spec.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Difference {
    pub topic: String,
    pub what: String,
    pub expected: String,
    pub actual: String,
}

fn admin(
    brokers: &str,
    properties: &BTreeMap<String, String>,
) -> Result<AdminClient<DefaultClientContext>, LogError> {
    let mut config = ClientConfig::new();
    for (key, value) in properties {
        config.set(key, value);
    }
    config
        .set("bootstrap.servers", brokers)
        .set("client.id", "rum-topics")
        .create()
        .map_err(|error| LogError::Kafka(error.to_string()))
}

/// Creates every topic that does not exist; existing ones are left alone (see [`check`]).
pub async fn create(
    brokers: &str,
    properties: &BTreeMap<String, String>,
    specs: &[TopicSpec],
) -> Result<Vec<(String, Created)>, LogError> {
    let admin = admin(brokers, properties)?;
    let mut new_topics = Vec::with_capacity(specs.len());
    for spec in specs {
        let mut topic = NewTopic::new(
            &spec.name,
            spec.partitions,
            TopicReplication::Fixed(spec.replication),
        );
        for (key, value) in &spec.configs {
            topic = topic.set(key, value);
        }
        new_topics.push(topic);
    }
    let options = AdminOptions::new().operation_timeout(Some(REQUEST_TIMEOUT));
    let results = admin
        .create_topics(new_topics.iter(), &options)
        .await
        .map_err(|error| LogError::Kafka(error.to_string()))?;
    let mut outcome = Vec::with_capacity(results.len());
    for result in results {
        match result {
            Ok(name) => outcome.push((name, Created::Created)),
            Err((name, RDKafkaErrorCode::TopicAlreadyExists)) => {
                outcome.push((name, Created::AlreadyExists))
            }
            Err((name, code)) => {
                return Err(LogError::Kafka(format!("creating topic {name}: {code}")));
            }
        }
    }
    Ok(outcome)
}

/// What differs between the topics on the brokers and their specs (empty: all as configured).
/// A missing topic is a difference too.
pub async fn check(
    brokers: &str,
    properties: &BTreeMap<String, String>,
    specs: &[TopicSpec],
) -> Result<Vec<Difference>, LogError> {
    let admin = admin(brokers, properties)?;
    let metadata = admin
        .inner()
        .fetch_metadata(None, REQUEST_TIMEOUT)
        .map_err(|error| LogError::Kafka(error.to_string()))?;
    let mut differences = Vec::new();
    let mut existing = Vec::new();
    for spec in specs {
        let Some(topic) = metadata
            .topics()
            .iter()
            .find(|topic| topic.name() == spec.name && topic.error().is_none())
        else {
            differences.push(Difference {
                topic: spec.name.clone(),
                what: "exists".into(),
                expected: "yes".into(),
                actual: "no".into(),
            });
            continue;
        };
        existing.push(spec);
        let partitions = topic.partitions().len() as i32;
        if partitions != spec.partitions {
            differences.push(Difference {
                topic: spec.name.clone(),
                what: "partitions".into(),
                expected: spec.partitions.to_string(),
                actual: partitions.to_string(),
            });
        }
        if let Some(replicas) = topic.partitions().iter().map(|p| p.replicas().len()).min()
            && replicas as i32 != spec.replication
        {
            differences.push(Difference {
                topic: spec.name.clone(),
                what: "replication".into(),
                expected: spec.replication.to_string(),
                actual: replicas.to_string(),
            });
        }
    }
    if existing.is_empty() {
        return Ok(differences);
    }
    let resources: Vec<ResourceSpecifier<'_>> = existing
        .iter()
        .map(|spec| ResourceSpecifier::Topic(&spec.name))
        .collect();
    let options = AdminOptions::new().request_timeout(Some(REQUEST_TIMEOUT));
    let described = admin
        .describe_configs(resources.iter(), &options)
        .await
        .map_err(|error| LogError::Kafka(error.to_string()))?;
    for (spec, resource) in existing.iter().zip(described) {
        let resource = resource
            .map_err(|code| LogError::Kafka(format!("describing topic {}: {code}", spec.name)))?;
        for (key, expected) in &spec.configs {
            let actual = resource
                .get(key)
                .and_then(|entry| entry.value.clone())
                .unwrap_or_else(|| "(unset)".to_owned());
            if &actual != expected {
                differences.push(Difference {
                    topic: spec.name.clone(),
                    what: key.clone(),
                    expected: expected.clone(),
                    actual,
                });
            }
        }
    }
    Ok(differences)
}
