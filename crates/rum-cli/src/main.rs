//! `rum`: the one binary. `rum standalone` runs everything in one process on the embedded default
//! (in-process channel); `rum collector` runs the edge against Kafka; `rum aggregator` runs the
//! aggregation stages as Kafka consumer-group workers; `rum topics` creates and checks the topics;
//! `rum tail` prints what is on the beacon topic; `rum check-config` validates a config file.

mod aggregator;
mod alerts_api;
mod reload;
mod topics;

use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use rum_aggregator::pipeline::{Aggregator, Clock};
use rum_aggregator::settings::AggregatorSettings;
use rum_alerts::{AlertSettings, Evaluator, Notifier, Receiver};
use rum_collector::{Collector, CollectorSettings, MetricsExposition};
use rum_config::{Config, HumanDuration, SinkKind};
use rum_transport::spool::{Spool, SpoolSettings};
use rum_transport::{BeaconSink, ChannelSink, ChannelSource, KafkaSink, KafkaTail, TailStart};

/// mimalloc instead of the system allocator: a beacon's path allocates a few dozen short-lived
/// strings and buffers on one thread and frees them on the same thread, the case mimalloc's
/// thread-local free lists serve in a fraction of glibc malloc's instructions (benches/README.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "rum",
    version,
    about = "Real User Monitoring: beacon collector and pipeline"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Collector and pipeline in one process over in-process channels (the embedded default).
    /// Without --config it accepts the site key `demo` from any origin.
    Standalone(ServeArgs),
    /// The edge collector alone, writing beacons to the sink of the config (Kafka with --brokers).
    Collector(ServeArgs),
    /// Aggregation stages as Kafka consumer-group workers: stage 1 on the beacon topic, stage 2
    /// on the partials topic; /metrics serves this worker's segments.
    Aggregator(aggregator::AggregatorArgs),
    /// Create or check the beacon, partials and state topics.
    Topics(topics::TopicsArgs),
    /// Print each beacon on a Kafka topic as one JSON line (an operator's debugging tool).
    Tail(TailArgs),
    /// Validate a config file; errors name the offending key.
    CheckConfig {
        /// The TOML file to check.
        file: PathBuf,
    },
}

#[derive(Args)]
struct ServeArgs {
    /// TOML config file (see deploy/rum.example.toml). RUM_SECTION__KEY environment variables
    /// override it; these flags override both.
    #[arg(long, short = 'c', env = "RUM_CONFIG")]
    config: Option<PathBuf>,
    /// Public listener for beacons [default 127.0.0.1:8080].
    #[arg(long)]
    listen: Option<String>,
    /// Admin listener for /metrics, /healthz, /readyz [default 127.0.0.1:9100].
    #[arg(long)]
    admin_listen: Option<String>,
    /// Kafka bootstrap servers; implies the Kafka sink (`rum collector` only).
    #[arg(long)]
    brokers: Option<String>,
    /// Kafka topic for beacons [default rum.beacons].
    #[arg(long)]
    topic: Option<String>,
}

#[derive(Args)]
struct TailArgs {
    /// Kafka bootstrap servers, host:port[,host:port].
    #[arg(long)]
    brokers: String,
    /// Topic to read [default rum.beacons].
    #[arg(long, default_value = rum_config::DEFAULT_KAFKA_TOPIC)]
    topic: String,
    /// Start at the oldest message instead of only new ones.
    #[arg(long)]
    from_beginning: bool,
    /// Exit after printing this many beacons.
    #[arg(long)]
    max_messages: Option<u64>,
    /// Exit when no beacon arrived for this long (e.g. "10s"); default: run until interrupted.
    #[arg(long)]
    idle_timeout: Option<HumanDuration>,
    /// Extra librdkafka consumer property KEY=VALUE (TLS, SASL); repeatable.
    #[arg(long = "property", short = 'X', value_parser = parse_property)]
    properties: Vec<(String, String)>,
}

fn parse_property(text: &str) -> Result<(String, String), String> {
    text.split_once('=')
        .map(|(key, value)| (key.to_owned(), value.to_owned()))
        .ok_or_else(|| format!("{text:?} is not KEY=VALUE"))
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    match cli.command {
        Command::Standalone(args) => serve(args, Mode::Standalone),
        Command::Collector(args) => serve(args, Mode::Collector),
        Command::Aggregator(args) => aggregator::run(args),
        Command::Topics(args) => topics::run(args),
        Command::Tail(args) => tail(args),
        Command::CheckConfig { file } => check_config(&file),
    }
}

/// Loads the file and types every section with the code that runs it: the collector (sites,
/// enrichment, limits), the Kafka producer's pass-through properties, the aggregator and the alert
/// rules. Prints what an operator should know; the first error names its key.
fn check_config(file: &std::path::Path) -> anyhow::Result<()> {
    let config = rum_config::load(Some(file), std::env::vars())?;
    CollectorSettings::from_config(&config)?;
    rum_transport::check_pass_through(&config.kafka)?;
    let aggregator = AggregatorSettings::from_config(&config.aggregator)?;
    let alerts = AlertSettings::from_config(&config.alerts, &aggregator)?;
    let mut stdout = std::io::stdout().lock();
    for notice in &alerts.notices {
        writeln!(stdout, "{}: note: {notice}", file.display())?;
    }
    writeln!(
        stdout,
        "{}: note: user agent rules: {}",
        file.display(),
        rum_enrich::vendored::summary()
    )?;
    for (data, age) in rum_enrich::vendored::stale_data(std::time::SystemTime::now()) {
        writeln!(
            stdout,
            "{}: warning: {data} is {age} days old: new browsers and crawlers are misread; \
             build a release with fresher rules (docs/enrichment.md, Refreshing the rules)",
            file.display()
        )?;
    }
    writeln!(
        stdout,
        "{}: ok ({} site(s), sink {:?}, listen {}, admin {}, {} view(s), {} alert rule(s))",
        file.display(),
        config.sites.len(),
        config.sink.kind,
        config.collector.listen,
        config.collector.admin_listen,
        aggregator.views.len(),
        alerts.rules.len(),
    )?;
    Ok(())
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Standalone,
    Collector,
}

/// The config file, then `RUM_*` variables, then flags (each overriding the one before).
fn load_config(args: &ServeArgs, mode: Mode) -> anyhow::Result<Config> {
    let mut overrides: Vec<(String, String)> = Vec::new();
    if mode == Mode::Standalone && args.config.is_none() {
        // The laptop default keeps its windows across a restart; `RUM_AGGREGATOR__STATE_DIR=`
        // (empty) turns it off, and a config file decides for itself.
        overrides.push((
            "RUM_AGGREGATOR__STATE_DIR".into(),
            rum_config::ZERO_CONFIG_STATE_DIR.into(),
        ));
    }
    overrides.extend(std::env::vars());
    let mut flag = |name: &str, value: &Option<String>| {
        if let Some(value) = value {
            overrides.push((name.to_owned(), format!("{value:?}")));
        }
    };
    flag("RUM_COLLECTOR__LISTEN", &args.listen);
    flag("RUM_COLLECTOR__ADMIN_LISTEN", &args.admin_listen);
    flag("RUM_KAFKA__BROKERS", &args.brokers);
    flag("RUM_KAFKA__TOPIC", &args.topic);
    match mode {
        Mode::Standalone if args.brokers.is_some() => {
            anyhow::bail!(
                "--brokers is for `rum collector`; `rum standalone` uses in-process channels"
            )
        }
        Mode::Standalone => overrides.push(("RUM_SINK__KIND".into(), "channel".into())),
        Mode::Collector if args.brokers.is_some() => {
            overrides.push(("RUM_SINK__KIND".into(), "kafka".into()))
        }
        Mode::Collector => {}
    }
    let config = rum_config::load(args.config.as_deref(), overrides)?;
    if args.config.is_none() {
        tracing::warn!(
            "no config file given: accepting site key `demo` from any origin; \
             pass --config (see deploy/rum.example.toml) for real sites"
        );
    }
    Ok(config)
}

/// The aggregator's rendering of the format `/metrics` negotiated (OpenMetrics when the scraper
/// asked for it, with exemplars; Prometheus text 0.0.4 otherwise).
pub(crate) fn exposition_format(openmetrics: bool) -> rum_aggregator::exposition::Format {
    if openmetrics {
        rum_aggregator::exposition::Format::OpenMetrics
    } else {
        rum_aggregator::exposition::Format::Prometheus
    }
}

pub(crate) fn install_prometheus() -> anyhow::Result<PrometheusHandle> {
    let latency_buckets = [
        0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
    ];
    let size_buckets = [
        256.0, 512.0, 1024.0, 2048.0, 4096.0, 8192.0, 16384.0, 32768.0, 65536.0,
    ];
    PrometheusBuilder::new()
        .set_buckets_for_metric(
            Matcher::Full("rum_sink_produce_latency_seconds".into()),
            &latency_buckets,
        )?
        .set_buckets_for_metric(
            Matcher::Full("rum_collector_request_body_bytes".into()),
            &size_buckets,
        )?
        .set_buckets_for_metric(
            Matcher::Full("rum_aggregator_edge_to_stage2_seconds".into()),
            &latency_buckets,
        )?
        .set_buckets_for_metric(
            Matcher::Full("rum_aggregator_chunk_ack_seconds".into()),
            &latency_buckets,
        )?
        .set_buckets_for_metric(
            Matcher::Full("rum_aggregator_chunk_records".into()),
            &[1.0, 10.0, 100.0, 500.0, 1000.0, 2000.0, 5000.0, 10000.0],
        )?
        .install_recorder()
        .context("installing the metrics recorder")
        .inspect(|handle| spawn_metrics_upkeep(handle.clone()))
}

/// How often histogram samples are folded into their buckets when nobody scrapes.
const METRICS_UPKEEP_INTERVAL: Duration = Duration::from_secs(5);

/// The exporter keeps every histogram sample until a render or an upkeep folds it in; without a
/// scraper (a laptop, a stopped Prometheus) that is two samples per beacon held forever. The soak
/// (benches/load/soak.py) found it as RSS growing by ~10 MiB a minute.
fn spawn_metrics_upkeep(handle: PrometheusHandle) {
    let spawned = std::thread::Builder::new()
        .name("rum-metrics-upkeep".into())
        .spawn(move || {
            loop {
                std::thread::sleep(METRICS_UPKEEP_INTERVAL);
                handle.run_upkeep();
            }
        });
    if let Err(error) = spawned {
        tracing::error!(%error, "cannot start the metrics upkeep thread; histograms are folded in only when scraped");
    }
}

fn serve(args: ServeArgs, mode: Mode) -> anyhow::Result<()> {
    let config = load_config(&args, mode)?;
    let mut runtime = tokio::runtime::Builder::new_multi_thread();
    runtime.enable_all();
    if config.collector.worker_threads > 0 {
        runtime.worker_threads(config.collector.worker_threads);
    }
    let runtime = runtime.build().context("starting the tokio runtime")?;
    runtime.block_on(async move {
        let prometheus = install_prometheus()?;
        let (sink, channel_source): (Arc<dyn BeaconSink>, Option<ChannelSource>) = match config
            .sink
            .kind
        {
            SinkKind::Channel => {
                if config.spool.dir.is_some() {
                    tracing::warn!(
                        "[spool] is for the Kafka sink; the in-process channel has none"
                    );
                }
                let (sink, source) = ChannelSink::new(config.sink.channel_capacity);
                (Arc::new(sink), Some(source))
            }
            SinkKind::Kafka => {
                let spool = open_spool(&config)?;
                let sink =
                    KafkaSink::new(&config.kafka, spool).context("creating the kafka sink")?;
                tracing::info!(brokers = %config.kafka.brokers, topic = sink.topic(), "kafka sink");
                (Arc::new(sink), None)
            }
        };
        let mut exposition =
            MetricsExposition::new(prometheus.clone()).with_api(alerts_api::handler(prometheus));
        let pipeline = match channel_source {
            Some(source) => {
                let pipeline = start_pipeline(&config, source)?;
                let handle = pipeline.aggregator.handle.clone();
                let api_handle = handle.clone();
                exposition = exposition
                    .with_extra(move |format| {
                        let handle = handle.clone();
                        let format = exposition_format(format.is_openmetrics());
                        async move {
                            handle
                                .query(move |stage2| {
                                    rum_aggregator::exposition::render_in(stage2, format)
                                })
                                .await
                                .unwrap_or_default()
                        }
                    })
                    .with_api(Arc::new(move |path, query| {
                        let handle = api_handle.clone();
                        Box::pin(async move { handle.api(path, query).await })
                    }));
                Some(pipeline)
            }
            None => None,
        };
        let settings = CollectorSettings::from_config(&config)?;
        let collector = Collector::bind(settings, sink, exposition)
            .await
            .context("starting the collector")?;
        tracing::info!(
            listen = %collector.public_addr()?,
            admin = %collector.admin_addr()?,
            script = collector.script_path(),
            sites = config.sites.len(),
            "rum collector listening"
        );
        let targets = reload::ReloadTargets {
            collector: Some(collector.reloader()),
            alerts: pipeline.as_ref().map(|pipeline| {
                (
                    reload::AlertTarget::Evaluator(pipeline.alert_rules.clone()),
                    pipeline.aggregator_settings.clone(),
                )
            }),
        };
        let config_path = args.config.clone();
        let reloads = tokio::spawn(reload::watch(
            config_path,
            config.clone(),
            move || load_config(&args, mode),
            targets,
        ));
        let report = collector.run(shutdown_signal()).await;
        reloads.abort();
        if let Some(pipeline) = pipeline {
            pipeline.alerts.abort();
            // The collector flushed into the channel; the aggregator reads what is left. Connections
            // still closing may hold the sink a moment longer, hence the bound.
            let grace = config.collector.shutdown_grace.0;
            if tokio::time::timeout(grace, pipeline.aggregator.finish())
                .await
                .is_err()
            {
                tracing::warn!("aggregator did not finish within the shutdown grace period");
            }
        }
        anyhow::ensure!(
            report.undelivered == 0,
            "{} accepted beacon(s) were not delivered before shutdown",
            report.undelivered
        );
        Ok(())
    })
}

/// The collector's disk spool, when `[spool]` names a directory (Kafka sink only).
fn open_spool(config: &Config) -> anyhow::Result<Option<Arc<Spool>>> {
    let Some(settings) = SpoolSettings::from_config(&config.spool) else {
        tracing::warn!(
            "no [spool] dir: beacons the broker cannot take within kafka.message_timeout \
             (or still queued at shutdown) are lost; see docs/operations.md"
        );
        return Ok(None);
    };
    let (spool, recovery) = Spool::open(settings).context("opening the spool")?;
    tracing::info!(
        dir = %spool.dir().display(),
        mode = ?spool.mode(),
        recovered = recovery.records,
        corrupt = recovery.corrupt,
        "disk spool open"
    );
    Ok(Some(spool))
}

/// The aggregator (both stages) and the alert evaluator of `rum standalone`.
struct Pipeline {
    aggregator: Aggregator,
    alerts: tokio::task::JoinHandle<()>,
    /// New alert rules for the evaluator (config reload).
    alert_rules: tokio::sync::mpsc::Sender<AlertSettings>,
    aggregator_settings: AggregatorSettings,
}

fn start_pipeline(config: &Config, source: ChannelSource) -> anyhow::Result<Pipeline> {
    let settings = AggregatorSettings::from_config(&config.aggregator)?;
    let alert_settings = AlertSettings::from_config(&config.alerts, &settings)?;
    for notice in &alert_settings.notices {
        tracing::warn!("{notice}");
    }
    let aggregator_settings = settings.clone();
    let aggregator = Aggregator::spawn_on_own_threads(settings, source, Clock::system())
        .context("starting the aggregator threads")?;
    let receivers = Receiver::from_config(&config.alerts);
    if receivers.is_empty() {
        tracing::info!(
            rules = alert_settings.rules.len(),
            "no alert receivers configured: alerts are evaluated (rum_alerts) but not sent"
        );
    }
    let notifier = Notifier::new(receivers, config.alerts.external_url.clone());
    let (alert_rules, updates) = tokio::sync::mpsc::channel(4);
    let alerts = tokio::spawn(rum_alerts::run_reloadable(
        Evaluator::new(alert_settings),
        aggregator.handle.clone(),
        notifier,
        updates,
    ));
    Ok(Pipeline {
        aggregator,
        alerts,
        alert_rules,
        aggregator_settings,
    })
}

pub(crate) async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut terminate =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(signal) => signal,
                Err(error) => {
                    tracing::error!(%error, "cannot listen for SIGTERM; only ctrl-c stops rum");
                    let _ = interrupt.await;
                    return;
                }
            };
        tokio::select! {
            _ = interrupt => {}
            _ = terminate.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = interrupt.await;
    tracing::info!("shutdown signal received");
}

fn tail(args: TailArgs) -> anyhow::Result<()> {
    let start = if args.from_beginning {
        TailStart::Beginning
    } else {
        TailStart::End
    };
    let properties = args.properties.into_iter().collect();
    let tail = KafkaTail::new(&args.brokers, &args.topic, start, &properties)?;
    let poll = args
        .idle_timeout
        .map_or(Duration::from_secs(3600), |timeout| timeout.0);
    let mut printed = 0u64;
    let mut stdout = std::io::stdout().lock();
    while args.max_messages.is_none_or(|max| printed < max) {
        match tail.next_beacon(poll) {
            Ok(Some(tailed)) => {
                let json = rum_schema::render::beacon_to_json(&tailed.beacon);
                writeln!(stdout, "{json}")?;
                stdout.flush()?;
                printed += 1;
            }
            Ok(None) if args.idle_timeout.is_some() => break,
            Ok(None) => {}
            // A message that is not a beacon is reported and skipped: one bad record never stops
            // an operator from reading the rest.
            Err(error @ rum_transport::TailError::Decode { .. }) => {
                tracing::warn!(%error, "skipping undecodable message")
            }
            Err(error) => return Err(error.into()),
        }
    }
    Ok(())
}
