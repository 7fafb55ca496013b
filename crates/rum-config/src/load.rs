//! Reading the file, applying `RUM_` environment overrides, and turning serde's errors into ones that
//! name the key.

use std::path::Path;

use crate::Config;

/// Environment variables starting with this override config keys: `RUM_KAFKA__BROKERS=host:9092`
/// sets `kafka.brokers` (sections and keys separated by a double underscore, case-insensitive).
/// `RUM_*` names without a double underscore (`RUM_CONFIG`) are not overrides and are ignored.
pub const ENV_PREFIX: &str = "RUM_";

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("config {origin}: {message}")]
    Parse { origin: String, message: String },
    #[error("config key `{key}` {message}")]
    Invalid { key: String, message: String },
}

impl ConfigError {
    /// A value that is wrong, naming its key (`sites[0].route_rules[1]`): what every crate that
    /// turns a section into its own settings returns.
    pub fn invalid(key: impl Into<String>, message: impl Into<String>) -> Self {
        ConfigError::Invalid {
            key: key.into(),
            message: message.into(),
        }
    }
}

/// Loads the config from `path` (or the defaults when `None`), applies environment overrides from
/// `environment`, and validates the result.
pub fn load(
    path: Option<&Path>,
    environment: impl IntoIterator<Item = (String, String)>,
) -> Result<Config, ConfigError> {
    let text = match path {
        Some(path) => std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.display().to_string(),
            source,
        })?,
        None => String::new(),
    };
    let origin = path.map_or_else(|| "defaults".to_owned(), |path| path.display().to_string());
    load_str(&text, &origin, environment)
}

/// [`load`] from a string; `origin` names it in errors.
pub fn load_str(
    text: &str,
    origin: &str,
    environment: impl IntoIterator<Item = (String, String)>,
) -> Result<Config, ConfigError> {
    let mut table: toml::Table =
        text.parse()
            .map_err(|error: toml::de::Error| ConfigError::Parse {
                origin: origin.to_owned(),
                message: error.to_string(),
            })?;
    for (name, value) in environment {
        // Only `RUM_SECTION__KEY` names are overrides; other `RUM_*` names (`RUM_CONFIG`, a
        // user's `RUM_BIN`) belong to someone else.
        let Some(path) = name
            .strip_prefix(ENV_PREFIX)
            .filter(|path| path.contains("__"))
        else {
            continue;
        };
        apply_override(&mut table, &name, path, &value)?;
    }
    let config: Config = table
        .try_into()
        .map_err(|error: toml::de::Error| ConfigError::Parse {
            origin: origin.to_owned(),
            message: error.to_string().trim_end().replace('\n', " "),
        })?;
    config.validate()?;
    Ok(config)
}

fn apply_override(
    table: &mut toml::Table,
    variable: &str,
    path: &str,
    raw_value: &str,
) -> Result<(), ConfigError> {
    let keys: Vec<String> = path.split("__").map(str::to_ascii_lowercase).collect();
    if keys.iter().any(String::is_empty) {
        return Err(ConfigError::Invalid {
            key: variable.to_owned(),
            message: "must look like RUM_SECTION__KEY (double underscore between levels)".into(),
        });
    }
    let (leaf, sections) = keys.split_last().expect("split yields at least one key");
    let mut current = table;
    for section in sections {
        let entry = current
            .entry(section.clone())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        current = entry.as_table_mut().ok_or_else(|| ConfigError::Invalid {
            key: variable.to_owned(),
            message: format!("cannot override inside `{section}`, which is not a table"),
        })?;
    }
    current.insert(leaf.clone(), env_value(raw_value));
    Ok(())
}

/// Environment values are TOML scalars when they parse as one (`42`, `true`) and TOML arrays
/// when they parse as one (`["10.0.0.0/8", "192.168.0.0/16"]`, `[{ id = "shop", keys = ["k"] }]`
/// for an array of tables such as `sites`), strings otherwise. An inline table (`{ ... }`) stays a
/// string: it would replace a whole section, which a per-key override should not do by accident.
fn env_value(raw: &str) -> toml::Value {
    format!("value = {raw}")
        .parse::<toml::Table>()
        .ok()
        .and_then(|mut parsed| parsed.remove("value"))
        .filter(|value| !value.is_table())
        .unwrap_or_else(|| toml::Value::String(raw.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SinkKind;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(name, value)| (name.to_string(), value.to_string()))
            .collect()
    }

    #[test]
    fn defaults_accept_the_demo_site() {
        let config = load_str("", "defaults", env(&[])).unwrap();
        assert_eq!(config.sites[0].keys, vec!["demo"]);
        assert_eq!(config.collector.listen.to_string(), "127.0.0.1:8080");
    }

    #[test]
    fn the_example_file_is_valid() {
        let text = include_str!("../../../deploy/rum.example.toml");
        let config = load_str(text, "rum.example.toml", env(&[])).unwrap();
        assert_eq!(config.sink.kind, SinkKind::Kafka);
    }

    #[test]
    fn environment_overrides_win() {
        let config = load_str(
            "[kafka]\nbrokers = \"a:1\"",
            "test",
            env(&[
                ("RUM_KAFKA__BROKERS", "b:2"),
                ("RUM_COLLECTOR__WORKER_THREADS", "1"),
                ("RUM_SINK__KIND", "kafka"),
                ("UNRELATED", "x"),
                ("RUM_CONFIG", "/etc/rum.toml"),
                ("RUM_BIN", "target/release/rum"),
            ]),
        )
        .unwrap();
        assert_eq!(config.kafka.brokers, "b:2");
        assert_eq!(config.collector.worker_threads, 1);
        assert_eq!(config.sink.kind, SinkKind::Kafka);
    }

    #[test]
    fn environment_overrides_take_toml_arrays() {
        let config = load_str(
            "",
            "test",
            env(&[
                (
                    "RUM_ENRICH__TRUSTED_PROXIES",
                    r#"["10.0.0.0/8", "192.168.0.0/16"]"#,
                ),
                (
                    "RUM_SITES",
                    "ignored: a single-level name is not an override (no double underscore)",
                ),
            ]),
        )
        .unwrap();
        assert_eq!(
            config.enrich.trusted_proxies,
            ["10.0.0.0/8", "192.168.0.0/16"]
        );
        // An array of tables replaces the file's (the views here), and leaves the rest alone.
        let config = load_str(
            "[[sites]]\nid = \"old\"\nkeys = [\"k\"]",
            "test",
            env(&[(
                "RUM_AGGREGATOR__VIEWS",
                r#"[{ name = "by_page", dimensions = ["site", "route"] }]"#,
            )]),
        )
        .unwrap();
        assert_eq!(config.sites[0].id, "old");
        assert_eq!(config.aggregator.views.len(), 1);
        assert_eq!(config.aggregator.views[0].name, "by_page");
        assert_eq!(config.aggregator.views[0].dimensions, ["site", "route"]);
        // Not an array of the right type: the key is named.
        let wrong = load_str(
            "",
            "test",
            env(&[("RUM_ENRICH__TRUSTED_PROXIES", "[1, 2]")]),
        )
        .unwrap_err();
        assert!(wrong.to_string().contains("trusted_proxies"), "{wrong}");
        // Text that is not TOML stays a string, as before.
        let config = load_str(
            "",
            "test",
            env(&[("RUM_KAFKA__BROKERS", "[broker-1]:9092")]),
        )
        .unwrap();
        assert_eq!(config.kafka.brokers, "[broker-1]:9092");
    }

    #[test]
    fn errors_name_the_key() {
        let unknown = load_str("[collector]\nlisten_port = 1", "f.toml", env(&[])).unwrap_err();
        assert!(unknown.to_string().contains("listen_port"), "{unknown}");
        let bad_unit = load_str(
            "[collector]\nmax_body_bytes = \"64 parsecs\"",
            "f.toml",
            env(&[]),
        )
        .unwrap_err();
        assert!(
            bad_unit.to_string().contains("max_body_bytes"),
            "{bad_unit}"
        );
        let same_port = load_str(
            "[collector]\nlisten = \"127.0.0.1:1\"\nadmin_listen = \"127.0.0.1:1\"",
            "f.toml",
            env(&[]),
        )
        .unwrap_err();
        assert!(
            same_port.to_string().contains("collector.admin_listen"),
            "{same_port}"
        );
        // Pass-through properties rum sets itself (`acks`, ...) are refused by rum-transport,
        // which owns that list: see kafka::tests::properties_rum_sets_are_refused_naming_the_key_to_use.
        let bad_env = load_str("", "f.toml", env(&[("RUM_COLLECTOR__NOPE", "1")])).unwrap_err();
        assert!(
            bad_env.to_string().contains("NOPE") || bad_env.to_string().contains("nope"),
            "{bad_env}"
        );
        let origin = load_str(
            "[[sites]]\nid = \"s\"\nkeys = [\"k\"]\nallowed_origins = [\"shop.example.com\"]",
            "f.toml",
            env(&[]),
        )
        .unwrap_err();
        assert!(
            origin.to_string().contains("sites[0].allowed_origins"),
            "{origin}"
        );
    }
}
