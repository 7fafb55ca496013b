//! `rum aggregator`: stage 1 and/or stage 2 as Kafka consumer-group workers, each on a thread of
//! its own, with an admin listener for `/metrics` (this worker's segments and health), `/healthz`
//! and `/readyz` (ready once every owned partition's state is rebuilt).

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::Context;
use clap::{Args, ValueEnum};
use rum_aggregator::settings::AggregatorSettings;
use rum_aggregator::worker::Topics;
use rum_aggregator::worker::health::StageHealth;
use rum_aggregator::worker::stage1::{Stage1Worker, Stage1WorkerSettings};
use rum_aggregator::worker::stage2::{
    ObserverFactory, SegmentObserver, Stage2Worker, Stage2WorkerSettings,
};
use rum_alerts::{AlertObserver, AlertSettings, Notifier, Receiver, SharedRules};
use rum_collector::{AdminServer, AdminState, MetricsExposition};
use rum_config::Config;
use rum_transport::log::{LogError, StartFrom};
use rum_transport::{
    GroupTimeouts, KafkaClientSettings, KafkaGroupConsumer, KafkaLogProducer, KafkaPartitionReader,
};

/// Which stages this process runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum StageChoice {
    #[value(name = "1")]
    One,
    #[value(name = "2")]
    Two,
    Both,
}

#[derive(Args)]
pub struct AggregatorArgs {
    /// Kafka bootstrap servers, host:port[,host:port] [default: kafka.brokers of the config].
    #[arg(long)]
    brokers: Option<String>,
    /// TOML config file (views, windows, alert rules, topics). RUM_SECTION__KEY variables
    /// override it; flags override both.
    #[arg(long, short = 'c', env = "RUM_CONFIG")]
    config: Option<PathBuf>,
    /// Admin listener for /metrics, /healthz, /readyz [default 127.0.0.1:9101].
    #[arg(long, alias = "admin-listen")]
    listen_admin: Option<String>,
    /// Run stage 1 (beacons -> partials), stage 2 (partials -> windows, exposition, alerts), or both.
    #[arg(long, value_enum, default_value = "both")]
    stage: StageChoice,
}

fn load_config(args: &AggregatorArgs) -> anyhow::Result<Config> {
    let mut overrides: Vec<(String, String)> = std::env::vars().collect();
    // The flag overrides the config file and the environment, as in `rum collector`.
    if let Some(brokers) = &args.brokers {
        overrides.push(("RUM_KAFKA__BROKERS".into(), format!("{brokers:?}")));
    }
    if let Some(listen) = &args.listen_admin {
        overrides.push(("RUM_AGGREGATOR__ADMIN_LISTEN".into(), format!("{listen:?}")));
    }
    Ok(rum_config::load(args.config.as_deref(), overrides)?)
}

pub fn run(args: AggregatorArgs) -> anyhow::Result<()> {
    let config = load_config(&args)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .context("starting the tokio runtime")?;
    runtime.block_on(serve(config, args))
}

async fn serve(config: Config, args: AggregatorArgs) -> anyhow::Result<()> {
    let stages = args.stage;
    let prometheus = crate::install_prometheus()?;
    let aggregation = AggregatorSettings::from_config(&config.aggregator)?;
    let alert_settings = AlertSettings::from_config(&config.alerts, &aggregation)?;
    for notice in &alert_settings.notices {
        tracing::warn!("{notice}");
    }
    let shared_rules = SharedRules::new(alert_settings);
    rum_transport::check_pass_through(&config.kafka)?;
    let topics = Topics {
        beacons: config.kafka.topic.clone(),
        partials: config.kafka.partials_topic.clone(),
        stage1_state: config.kafka.stage1_state_topic.clone(),
        stage2_state: config.kafka.stage2_state_topic.clone(),
    };
    let client = |role: &str| KafkaClientSettings {
        brokers: config.kafka.brokers.clone(),
        client_id: format!("rum-aggregator-{role}"),
        properties: config.kafka.librdkafka.clone(),
    };
    let start_from = match config.aggregator.start_from {
        rum_config::StartFrom::Earliest => StartFrom::Earliest,
        rum_config::StartFrom::Latest => StartFrom::Latest,
    };
    let timeouts = GroupTimeouts {
        session: config.aggregator.session_timeout.0,
    };
    let group = &config.aggregator.consumer_group;
    let message_timeout = config.kafka.message_timeout.0;
    let stop = Arc::new(AtomicBool::new(false));
    let mut threads = Vec::new();
    let mut exposition =
        MetricsExposition::new(prometheus.clone()).with_api(crate::alerts_api::handler(prometheus));
    let mut readiness: Vec<(&'static str, Arc<StageHealth>)> = Vec::new();

    if stages != StageChoice::Two {
        let health = Arc::new(StageHealth::default());
        let settings = Stage1WorkerSettings {
            aggregation: aggregation.clone(),
            topics: topics.clone(),
            chunk_records: config.aggregator.chunk_records,
            tick_interval: config.aggregator.tick_interval.0,
            snapshot_interval: config.aggregator.stage1_snapshot_interval.0,
            start_from,
            orphan_after: orphan_after(
                config.aggregator.stage1_snapshot_interval.0,
                timeouts.session,
            ),
        };
        let consumer = KafkaGroupConsumer::new(
            &client("stage1"),
            &format!("{group}.stage1"),
            &topics.beacons,
            start_from,
            timeouts,
        )?;
        let producer = KafkaLogProducer::new(&client("stage1"), message_timeout)?;
        let reader = KafkaPartitionReader::new(&client("stage1-reader"))?;
        let worker = Stage1Worker::new(settings, consumer, producer, reader, Arc::clone(&health))
            .map_err(|error| startup_error(error, &topics, &config.kafka.brokers))?;
        let stop = Arc::clone(&stop);
        threads.push(
            std::thread::Builder::new()
                .name("rum-stage1".into())
                .spawn(move || worker.run(&stop))?,
        );
        readiness.push(("stage 1", health));
    }
    if stages != StageChoice::One {
        let health = Arc::new(StageHealth::default());
        let settings = Stage2WorkerSettings {
            aggregation: aggregation.clone(),
            topics: topics.clone(),
            snapshot_interval: config.aggregator.stage2_snapshot_interval.0,
            start_from,
            orphan_after: orphan_after(
                config.aggregator.stage2_snapshot_interval.0,
                timeouts.session,
            ),
        };
        let consumer = KafkaGroupConsumer::new(
            &client("stage2"),
            &format!("{group}.stage2"),
            &topics.partials,
            start_from,
            timeouts,
        )?;
        let producer = KafkaLogProducer::new(&client("stage2"), message_timeout)?;
        let reader = KafkaPartitionReader::new(&client("stage2-reader"))?;
        let receivers = Receiver::from_config(&config.alerts);
        let notifier = Notifier::new(receivers, config.alerts.external_url.clone());
        let rules = shared_rules.clone();
        let observers: ObserverFactory = Box::new(move |_partition| {
            Box::new(AlertObserver::new(rules.clone(), notifier.clone()))
                as Box<dyn SegmentObserver>
        });
        let (worker, handle) = Stage2Worker::new(
            settings,
            consumer,
            producer,
            reader,
            Some(observers),
            Arc::clone(&health),
        );
        let api_handle = handle.clone();
        exposition = exposition
            .with_extra(move |format| {
                let handle = handle.clone();
                let format = crate::exposition_format(format.is_openmetrics());
                async move {
                    tokio::task::spawn_blocking(move || handle.render(format))
                        .await
                        .unwrap_or_default()
                }
            })
            .with_api(Arc::new(move |path, query| {
                let handle = api_handle.clone();
                Box::pin(async move {
                    tokio::task::spawn_blocking(move || handle.api(path, query))
                        .await
                        .ok()
                        .flatten()
                })
            }));
        let stop = Arc::clone(&stop);
        threads.push(
            std::thread::Builder::new()
                .name("rum-stage2".into())
                .spawn(move || worker.run(&stop))?,
        );
        readiness.push(("stage 2", health));
    }

    let admin = AdminServer::bind(config.aggregator.admin_listen)
        .with_context(|| format!("cannot listen on {}", config.aggregator.admin_listen))?;
    let admin_address = admin.local_addr()?;
    let mut state = AdminState::new(exposition);
    for (stage, health) in readiness {
        state = state.with_readiness(Arc::new(move || health.check(stage)));
    }
    let admin = admin.spawn(state)?;
    // Stage 2's alert rules follow the config file (SIGHUP or a change of its contents), as in
    // standalone; nothing else of a worker can change without a restart.
    let reloads = (stages != StageChoice::One).then(|| {
        let targets = crate::reload::ReloadTargets {
            collector: None,
            alerts: Some((
                crate::reload::AlertTarget::Workers(shared_rules.clone()),
                aggregation.clone(),
            )),
        };
        tokio::spawn(crate::reload::watch(
            args.config.clone(),
            config.clone(),
            move || load_config(&args),
            targets,
        ))
    });
    tracing::info!(
        admin = %admin_address,
        stages = ?stages,
        brokers = %config.kafka.brokers,
        "rum aggregator running"
    );
    crate::shutdown_signal().await;
    if let Some(reloads) = reloads {
        reloads.abort();
    }
    stop.store(true, Ordering::Relaxed);
    let mut failed = false;
    for thread in threads {
        match tokio::task::spawn_blocking(move || thread.join()).await {
            Ok(Ok(Ok(()))) => {}
            Ok(Ok(Err(error))) => {
                tracing::error!(%error, "an aggregator stage stopped with an error");
                failed = true;
            }
            _ => {
                tracing::error!("an aggregator stage panicked");
                failed = true;
            }
        }
    }
    admin.stop();
    anyhow::ensure!(!failed, "an aggregator stage failed; see the log");
    Ok(())
}

/// Long enough that a live owner has committed several snapshots and a dead one has been removed
/// from the group by any broker.
fn orphan_after(
    snapshot_interval: std::time::Duration,
    session: std::time::Duration,
) -> std::time::Duration {
    snapshot_interval * 3 + session * 2
}

/// Why a worker could not read its topics' metadata, with what to do about it: a missing topic is
/// created with `rum topics create`; anything else (unreachable brokers, a timeout, refused
/// credentials) is the connection's, and saying "create the topics" then would send the operator
/// the wrong way.
fn startup_error(error: LogError, topics: &Topics, brokers: &str) -> anyhow::Error {
    let missing = matches!(&error, LogError::Invalid(reason) if reason.ends_with("does not exist"));
    let hint = if missing {
        format!(
            "cannot read the topics {}, {}, {} and {}: create them with `rum topics create`",
            topics.beacons, topics.partials, topics.stage1_state, topics.stage2_state
        )
    } else {
        format!(
            "cannot read the topics' metadata from the brokers {brokers}: check that they are \
             reachable from here (kafka.brokers) and the client settings (kafka.librdkafka)"
        )
    };
    anyhow::Error::new(error).context(hint)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn topics() -> Topics {
        Topics {
            beacons: "rum.beacons".into(),
            partials: "rum.partials".into(),
            stage1_state: "rum.state.stage1".into(),
            stage2_state: "rum.state.stage2".into(),
        }
    }

    #[test]
    fn a_missing_topic_says_create_it_and_unreachable_brokers_say_so() {
        let missing = startup_error(
            LogError::Invalid("topic rum.beacons does not exist".into()),
            &topics(),
            "kafka:9092",
        );
        assert!(
            format!("{missing:#}").contains("create them with `rum topics create`"),
            "{missing:#}"
        );
        let unreachable = startup_error(
            LogError::Kafka(
                "Meta data fetch error: BrokerTransportFailure (Local: Broker transport failure)"
                    .into(),
            ),
            &topics(),
            "kafka:9092",
        );
        let text = format!("{unreachable:#}");
        assert!(
            text.contains("from the brokers kafka:9092") && !text.contains("rum topics create"),
            "{text}"
        );
        assert!(
            text.contains("BrokerTransportFailure"),
            "the cause is kept: {text}"
        );
    }
}
