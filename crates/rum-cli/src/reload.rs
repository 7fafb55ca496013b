//! Hot reload of `rum standalone`, `rum collector` and `rum aggregator`: on SIGHUP, and when the
//! config file's contents change (checked every [`POLL_INTERVAL`]), the file is loaded and
//! validated again. A config that validates swaps in new sites (keys, origins, per-site enrichment
//! and rates), trusted proxies, client-IP source, GeoIP paths (where a collector runs) and alert
//! rules (where stage 2 runs); requests in flight finish with the rules they started with. One that does not is refused with its key named in the log,
//! and the running config stays. `rum_config_reload_total{outcome}` counts both.
//!
//! Sections that need a restart (listeners, sink, Kafka, spool, limits, aggregator) are compared
//! with the running ones: a change there is logged as such and not applied.

use std::path::PathBuf;
use std::time::Duration;

use metrics::{Counter, counter, describe_counter};
use rum_aggregator::settings::AggregatorSettings;
use rum_alerts::{AlertSettings, SharedRules};
use rum_collector::Reloader;
use rum_config::Config;
use tokio::sync::mpsc;

/// How often the config file is read for changes.
pub(crate) const POLL_INTERVAL: Duration = Duration::from_secs(2);
const RELOADS: &str = "rum_config_reload_total";

struct ReloadCounters {
    ok: Counter,
    invalid: Counter,
}

impl ReloadCounters {
    fn register() -> Self {
        describe_counter!(
            RELOADS,
            "Config reloads (SIGHUP or file change) by outcome: ok, or invalid (refused; the running config stays)."
        );
        Self {
            ok: counter!(RELOADS, "outcome" => "ok"),
            invalid: counter!(RELOADS, "outcome" => "invalid"),
        }
    }
}

/// What a reload updates.
pub(crate) struct ReloadTargets {
    /// The collector's sites and enrichment (`rum collector`, `rum standalone`).
    pub collector: Option<Reloader>,
    /// The alert evaluators, with the aggregator settings the rules are checked against.
    pub alerts: Option<(AlertTarget, AggregatorSettings)>,
}

/// Where new alert rules go.
pub(crate) enum AlertTarget {
    /// Standalone's one evaluator task.
    Evaluator(mpsc::Sender<AlertSettings>),
    /// A stage-2 worker's evaluators, one per owned partials partition.
    Workers(SharedRules),
}

/// Watches for SIGHUP and file changes until the task is aborted. `load` reads the file with the
/// same environment overrides and flags as at start.
pub(crate) async fn watch(
    path: Option<PathBuf>,
    running: Config,
    load: impl Fn() -> anyhow::Result<Config> + Send + 'static,
    targets: ReloadTargets,
) {
    let counters = ReloadCounters::register();
    let mut running = running;
    let mut contents = path.as_ref().and_then(|path| std::fs::read(path).ok());
    let mut hangup = hangup_signal();
    let mut poll = tokio::time::interval(POLL_INTERVAL);
    poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let trigger = tokio::select! {
            _ = recv(&mut hangup) => "SIGHUP",
            _ = poll.tick() => {
                let Some(path) = &path else { continue };
                let now = std::fs::read(path).ok();
                if now.is_none() || now == contents {
                    continue;
                }
                contents = now;
                "file change"
            }
        };
        if trigger == "SIGHUP" {
            contents = path.as_ref().and_then(|path| std::fs::read(path).ok());
        }
        match reload(&load, &running, &targets).await {
            Ok(config) => {
                counters.ok.increment(1);
                running = config;
            }
            Err(error) => {
                counters.invalid.increment(1);
                tracing::error!(trigger, error = %format!("{error:#}"), "config reload refused; the running config stays");
            }
        }
    }
}

async fn reload(
    load: &impl Fn() -> anyhow::Result<Config>,
    running: &Config,
    targets: &ReloadTargets,
) -> anyhow::Result<Config> {
    let config = load()?;
    let alerts = match &targets.alerts {
        Some((_, aggregator)) => Some(AlertSettings::from_config(&config.alerts, aggregator)?),
        None => None,
    };
    let summary = match targets.collector.clone() {
        Some(collector) => {
            let for_collector = config.clone();
            Some(tokio::task::spawn_blocking(move || collector.reload(&for_collector)).await??)
        }
        None => None,
    };
    let rules = alerts.as_ref().map(|alerts| alerts.rules.len());
    match (&targets.alerts, alerts) {
        // The evaluator ends only with the process; a closed channel means it is gone already.
        (Some((AlertTarget::Evaluator(sender), _)), Some(alerts)) => {
            let _ = sender.send(alerts).await;
        }
        (Some((AlertTarget::Workers(shared), _)), Some(alerts)) => shared.replace(alerts),
        _ => {}
    }
    let needs_restart = sections_needing_restart(running, &config);
    if !needs_restart.is_empty() {
        tracing::warn!(
            sections = needs_restart.join(", "),
            "changed in the config file but applied only at the next start"
        );
    }
    match summary {
        Some(summary) => tracing::info!(
            sites = summary.sites,
            keys = summary.keys,
            alert_rules = rules,
            "config reloaded: sites, enrichment and alert rules swapped in"
        ),
        None => tracing::info!(
            alert_rules = rules,
            "config reloaded: alert rules swapped in"
        ),
    }
    Ok(config)
}

/// The sections a reload does not apply, where the new config differs from the running one.
fn sections_needing_restart(running: &Config, next: &Config) -> Vec<&'static str> {
    let mut changed = Vec::new();
    let mut check = |name, differs: bool| {
        if differs {
            changed.push(name);
        }
    };
    check("[collector]", running.collector != next.collector);
    check("[sink]", running.sink != next.sink);
    check("[kafka]", running.kafka != next.kafka);
    check("[spool]", running.spool != next.spool);
    check("[limits]", running.limits != next.limits);
    check("[topics]", running.topics != next.topics);
    check("[aggregator]", running.aggregator != next.aggregator);
    changed
}

#[cfg(unix)]
type Hangup = Option<tokio::signal::unix::Signal>;
#[cfg(not(unix))]
type Hangup = Option<()>;

fn hangup_signal() -> Hangup {
    #[cfg(unix)]
    {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) {
            Ok(signal) => Some(signal),
            Err(error) => {
                tracing::error!(%error, "cannot listen for SIGHUP; reload by editing the file");
                None
            }
        }
    }
    #[cfg(not(unix))]
    None
}

async fn recv(hangup: &mut Hangup) {
    #[cfg(unix)]
    if let Some(signal) = hangup {
        signal.recv().await;
        return;
    }
    let _ = hangup;
    std::future::pending::<()>().await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn restart_sections_are_named() {
        let running = Config::default();
        let mut next = running.clone();
        assert!(sections_needing_restart(&running, &next).is_empty());
        next.sites[0].keys.push("another".into());
        assert!(sections_needing_restart(&running, &next).is_empty());
        next.kafka.topic = "other".into();
        next.limits.site_rate = 5.0;
        assert_eq!(
            sections_needing_restart(&running, &next),
            vec!["[kafka]", "[limits]"]
        );
    }
}
