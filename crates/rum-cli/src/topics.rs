//! `rum topics create|check`: the beacon, partials and state topics from config, created
//! explicitly (nothing auto-creates them) and compared with what the brokers have.

use std::io::Write;
use std::path::PathBuf;

use clap::{Args, Subcommand};
use rum_transport::topics::{self, Created};

#[derive(Args)]
pub struct TopicsArgs {
    #[command(subcommand)]
    action: TopicsAction,
}

#[derive(Subcommand)]
enum TopicsAction {
    /// Create every topic that does not exist, with the partitions, replication, retention and
    /// cleanup policy of `[topics]` (existing ones are left as they are: see `check`).
    Create(TopicsTarget),
    /// Say how the topics on the brokers differ from `[topics]`; exits 1 if they do.
    Check(TopicsTarget),
}

#[derive(Args)]
struct TopicsTarget {
    /// Kafka bootstrap servers, host:port[,host:port] [default: kafka.brokers of the config].
    #[arg(long)]
    brokers: Option<String>,
    /// TOML config file (`[kafka]` topic names, `[topics]` sizes).
    #[arg(long, short = 'c', env = "RUM_CONFIG")]
    config: Option<PathBuf>,
}

pub fn run(args: TopicsArgs) -> anyhow::Result<()> {
    let (target, create) = match &args.action {
        TopicsAction::Create(target) => (target, true),
        TopicsAction::Check(target) => (target, false),
    };
    let mut overrides: Vec<(String, String)> = std::env::vars().collect();
    // The flag overrides the config file and the environment, as in `rum collector`.
    if let Some(brokers) = &target.brokers {
        overrides.push(("RUM_KAFKA__BROKERS".into(), format!("{brokers:?}")));
    }
    let config = rum_config::load(target.config.as_deref(), overrides)?;
    let specs = topics::specs(&config.kafka, &config.topics);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let mut stdout = std::io::stdout().lock();
    if create {
        let created = runtime.block_on(topics::create(
            &config.kafka.brokers,
            &config.kafka.librdkafka,
            &specs,
        ))?;
        for (name, outcome) in created {
            let spec = specs.iter().find(|spec| spec.name == name);
            match (outcome, spec) {
                (Created::Created, Some(spec)) => writeln!(
                    stdout,
                    "created {name}: {} partitions, replication {}, {}",
                    spec.partitions,
                    spec.replication,
                    describe(&spec.configs)
                )?,
                (Created::Created, None) => writeln!(stdout, "created {name}")?,
                (Created::AlreadyExists, _) => writeln!(
                    stdout,
                    "{name} exists (left as it is; `rum topics check` compares)"
                )?,
            }
        }
        return Ok(());
    }
    let differences = runtime.block_on(topics::check(
        &config.kafka.brokers,
        &config.kafka.librdkafka,
        &specs,
    ))?;
    if differences.is_empty() {
        writeln!(stdout, "all {} topics are as configured", specs.len())?;
        return Ok(());
    }
    for difference in &differences {
        writeln!(
            stdout,
            "{}: {} is {}, configured {}",
            difference.topic, difference.what, difference.actual, difference.expected
        )?;
    }
    stdout.flush()?;
    std::process::exit(1);
}

fn describe(configs: &std::collections::BTreeMap<String, String>) -> String {
    configs
        .iter()
        .map(|(key, value)| format!("{key}={value}"))
        .collect::<Vec<_>>()
        .join(", ")
}
