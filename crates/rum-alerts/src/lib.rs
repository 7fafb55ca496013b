//! Alerting on the aggregator's windows: rules typed from `[alerts]`, an evaluator with
//! Prometheus' semantics (`for`, `keep_firing_for`, resends, `endsAt`), and delivery to
//! Alertmanager API v2 and plain webhooks (optionally HMAC-signed) with retries and jittered
//! backoff.
//!
//! The aggregator stays data only (beacons in, windows and exposition out); this crate reads its
//! windows through [`rum_aggregator::pipeline::AggregatorHandle::query`], which runs on the
//! aggregator's stage-2 thread. It must never evaluate on a collector worker, never hold stage 2
//! between evaluations, and never let a slow receiver delay an evaluation: deliveries run in their
//! own tasks, and every delivery that fails after its retries is counted.

#![forbid(unsafe_code)]

mod evaluator;
mod notify;
mod observer;
mod rule;

use std::time::Duration;

use rum_aggregator::settings::AggregatorSettings;
use rum_aggregator::view::Dimension;
use rum_config::{AlertsConfig, ConfigError};

pub use evaluator::{ActiveAlert, AlertStatus, Evaluator, OutgoingAlert, run, run_reloadable};
pub use notify::{
    Notifier, Receiver, ReceiverKind, RetryPolicy, SIGNATURE_HEADER, alertmanager_body,
    hmac_signature, webhook_body,
};
pub use observer::{AlertObserver, SharedRules};
pub use rule::{AlertRule, Comparison, RuleKind, Statistic};

/// The settings of the evaluator, from `[alerts]`.
#[derive(Debug, Clone)]
pub struct AlertSettings {
    pub rules: Vec<AlertRule>,
    pub evaluation_interval: Duration,
    pub resend_interval: Duration,
    pub external_url: String,
    /// What an operator should know about the rules (e.g. built-in rules that found no view to
    /// watch); the binary logs them at start and `rum check-config` prints them.
    pub notices: Vec<String>,
}

impl AlertSettings {
    /// Types `[alerts]` against the aggregator's views. Errors name the key
    /// (`alerts.rules[0].view`).
    pub fn from_config(
        config: &AlertsConfig,
        aggregator: &AggregatorSettings,
    ) -> Result<Self, ConfigError> {
        let mut rules = Vec::with_capacity(config.rules.len());
        let mut identities = std::collections::HashSet::new();
        for (index, rule) in config.rules.iter().enumerate() {
            let rule = AlertRule::from_config(rule, index, &aggregator.views)?;
            if !identities.insert((rule.name.clone(), rule.view.clone(), rule.labels.clone())) {
                return Err(ConfigError::invalid(
                    format!("alerts.rules[{index}].name"),
                    "another rule has the same name, view and labels",
                ));
            }
            rules.push(rule);
        }
        let mut notices = Vec::new();
        if config.default_rules {
            // The defaults watch the per-site view: the view whose only dimension is the site.
            match aggregator
                .views
                .iter()
                .find(|view| view.dimensions == [Dimension::Site])
            {
                Some(site_view) => rules.extend(AlertRule::defaults(&site_view.name)),
                None => notices.push(
                    "alerts.default_rules is on, but no view groups by the site alone \
                     (dimensions = [\"site\"]): the built-in Core Web Vitals rules are not evaluated"
                        .to_owned(),
                ),
            }
            // The release defaults watch a view of site and release, where one is configured.
            if let Some(release_view) = aggregator
                .views
                .iter()
                .find(|view| view.dimensions == [Dimension::Site, Dimension::Release])
            {
                rules.extend(AlertRule::release_defaults(release_view));
            }
        }
        Ok(Self {
            rules,
            evaluation_interval: config.evaluation_interval.0,
            resend_interval: config.resend_interval.0,
            external_url: config.external_url.clone(),
            notices,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(toml: &str) -> Result<AlertSettings, String> {
        let config =
            rum_config::load_str(toml, "test.toml", Vec::new()).map_err(|e| e.to_string())?;
        let aggregator =
            AggregatorSettings::from_config(&config.aggregator).map_err(|e| e.to_string())?;
        AlertSettings::from_config(&config.alerts, &aggregator).map_err(|e| e.to_string())
    }

    const RULE: &str = "[[alerts.rules]]\nname = \"r\"\nmetric = \"lcp\"\nstatistic = \"p75\"\nop = \">\"\nthreshold = 4.0\nview = \"site\"\n";

    #[test]
    fn rule_errors_name_the_key() {
        let cases = [
            (
                RULE.replace("view = \"site\"", "view = \"nope\""),
                "alerts.rules[0].view",
            ),
            (
                RULE.replace("\"p75\"", "\"median\""),
                "alerts.rules[0].statistic",
            ),
            (
                RULE.replace("op = \">\"", "op = \"=>\""),
                "alerts.rules[0].op",
            ),
            (RULE.replace("\"lcp\"", "\"fid\""), "alerts.rules[0].metric"),
            (
                RULE.replace("\"lcp\"", "\"nav_dns\""),
                "alerts.rules[0].metric",
            ),
            (format!("{RULE}window = \"2m\"\n"), "alerts.rules[0].window"),
            (
                RULE.replace("name = \"r\"", "name = \"1r\""),
                "alerts.rules[0].name",
            ),
            (format!("{RULE}{RULE}"), "alerts.rules[1].name"),
            (
                format!("{RULE}labels = {{ \"bad-label\" = \"x\" }}\n"),
                "alerts.rules[0].labels",
            ),
        ];
        for (toml, key) in cases {
            let error = settings(&toml).expect_err("invalid rule");
            assert!(error.contains(key), "{error} should name {key}");
        }
    }

    #[test]
    fn default_rules_watch_the_site_view_or_say_why_not() {
        let with_site_view = settings("").expect("defaults are valid");
        assert_eq!(with_site_view.rules.len(), 5);
        assert!(with_site_view.rules.iter().all(|rule| rule.view == "site"));
        assert!(with_site_view.notices.is_empty());
        let without = settings(
            "[[aggregator.views]]\nname = \"by_route\"\ndimensions = [\"site\", \"route\"]\n",
        )
        .expect("valid");
        assert!(without.rules.is_empty());
        assert_eq!(without.notices.len(), 1, "{:?}", without.notices);
        assert!(without.notices[0].contains("default_rules"));
        let off = settings(
            "[alerts]\ndefault_rules = false\n[[aggregator.views]]\nname = \"by_route\"\ndimensions = [\"site\", \"route\"]\n",
        )
        .expect("valid");
        assert!(off.notices.is_empty());
    }

    #[test]
    fn release_rules_need_a_release_view() {
        let release_rule = RULE.replace(
            "name = \"r\"",
            "name = \"r\"\nkind = \"release_regression\"",
        );
        let error = settings(&release_rule).expect_err("the site view has no release");
        assert!(error.contains("alerts.rules[0].view"), "{error}");
        let views = "[[aggregator.views]]\nname = \"site\"\ndimensions = [\"site\"]\n[[aggregator.views]]\nname = \"site_release\"\ndimensions = [\"site\", \"release\"]\n";
        let on_release = release_rule.replace("view = \"site\"", "view = \"site_release\"");
        let typed = settings(&format!("{views}{on_release}min_delta = 0.1\n")).expect("valid");
        assert!(matches!(
            typed.rules[0].kind,
            RuleKind::ReleaseRegression { release: 1, min_delta } if min_delta == 0.1
        ));
        // The built-in release rules come with such a view: five, one per vital.
        let defaults: Vec<_> = typed
            .rules
            .iter()
            .filter(|rule| rule.name.ends_with("ReleaseRegression"))
            .collect();
        assert_eq!(defaults.len(), 5);
        assert!(defaults.iter().all(|rule| rule.view == "site_release"));
        for (toml, key) in [
            (
                format!("{views}{on_release}min_delta = -1.0\n"),
                "alerts.rules[0].min_delta",
            ),
            (
                format!("{RULE}min_delta = 0.1\n"),
                "alerts.rules[0].min_delta",
            ),
            (
                RULE.replace("name = \"r\"", "name = \"r\"\nkind = \"ratio\""),
                "alerts.rules[0].kind",
            ),
        ] {
            let error = settings(&toml).expect_err("invalid rule");
            assert!(error.contains(key), "{error} should name {key}");
        }
    }

    #[test]
    fn a_valid_rule_is_typed() {
        let settings = settings(&format!(
            "{RULE}window = \"15m\"\nmin_samples = 10\nfor = \"5m\"\nkeep_firing_for = \"1m\"\n"
        ))
        .expect("valid");
        let rule = &settings.rules[0];
        assert_eq!(rule.metric, rum_aggregator::metric::MetricKind::Lcp);
        assert_eq!(rule.statistic, Statistic::Quantile(0.75));
        assert_eq!(rule.comparison, Comparison::Above);
        assert_eq!(rule.for_duration, Duration::from_secs(300));
        assert_eq!(rule.keep_firing_for, Duration::from_secs(60));
    }
}
