//! Alerting behind Kafka: one evaluator per partials partition, run by the stage-2 worker that owns
//! it ([`rum_aggregator::worker::stage2::SegmentObserver`]), its instances saved in the partition's
//! snapshot and taken over by the next owner. The rules are shared by every partition's evaluator
//! ([`SharedRules`]): a config reload replaces them, and each evaluator takes them up at its next
//! evaluation, keeping its alert instances.

use std::sync::{Arc, RwLock};
use std::time::Duration;

use prost::Message;
use rum_aggregator::stage2::Stage2;
use rum_aggregator::worker::stage2::SegmentObserver;
use rum_schema::proto::AlertsSnapshot;

use crate::{AlertSettings, Evaluator, Notifier};

/// The rules of a worker's evaluators, replaced as a whole by a config reload. A generation number
/// tells an evaluator its rules are out of date without comparing them.
#[derive(Clone)]
pub struct SharedRules {
    current: Arc<RwLock<(u64, AlertSettings)>>,
}

impl SharedRules {
    pub fn new(settings: AlertSettings) -> Self {
        Self {
            current: Arc::new(RwLock::new((0, settings))),
        }
    }

    /// Replaces the rules; every evaluator takes them up at its next evaluation.
    pub fn replace(&self, settings: AlertSettings) {
        let mut current = self
            .current
            .write()
            .unwrap_or_else(|poison| poison.into_inner());
        *current = (current.0 + 1, settings);
    }

    fn generation(&self) -> u64 {
        self.current
            .read()
            .unwrap_or_else(|poison| poison.into_inner())
            .0
    }

    fn get(&self) -> (u64, AlertSettings) {
        self.current
            .read()
            .unwrap_or_else(|poison| poison.into_inner())
            .clone()
    }
}

/// The alert rules on one partials partition's segments.
pub struct AlertObserver {
    evaluator: Evaluator,
    notifier: Notifier,
    rules: SharedRules,
    /// The generation of `rules` the evaluator was built from.
    generation: u64,
}

impl AlertObserver {
    pub fn new(rules: SharedRules, notifier: Notifier) -> Self {
        let (generation, settings) = rules.get();
        Self {
            evaluator: Evaluator::new(settings),
            notifier,
            rules,
            generation,
        }
    }

    /// Rebuilds the evaluator when the rules were replaced, keeping its alert instances (as
    /// standalone's reload does): a rule kept by name continues where it was.
    fn take_up_new_rules(&mut self) {
        if self.rules.generation() == self.generation {
            return;
        }
        let (generation, settings) = self.rules.get();
        let snapshot = self.evaluator.snapshot();
        let mut next = Evaluator::new(settings);
        next.restore(&snapshot);
        tracing::info!(rules = next.settings().rules.len(), "alert rules reloaded");
        // The old evaluator's drop takes its share out of the `rum_alerts` gauges.
        self.evaluator = next;
        self.generation = generation;
    }
}

impl SegmentObserver for AlertObserver {
    fn interval(&self) -> Duration {
        self.evaluator.settings().evaluation_interval
    }

    fn observe(&mut self, stage2: &Stage2, now_ms: i64) {
        self.take_up_new_rules();
        let due = self.evaluator.evaluate(stage2, now_ms);
        if !due.is_empty() {
            self.notifier.send(due);
        }
    }

    fn snapshot(&self) -> Vec<u8> {
        self.evaluator.snapshot().encode_to_vec()
    }

    fn restore(&mut self, bytes: &[u8]) {
        match AlertsSnapshot::decode(bytes) {
            Ok(snapshot) => self.evaluator.restore(&snapshot),
            Err(error) => {
                tracing::warn!(%error, "alert state in the snapshot does not decode; alerts start over")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use rum_aggregator::settings::AggregatorSettings;

    use super::*;

    fn settings(evaluation_interval: Duration) -> AlertSettings {
        AlertSettings {
            rules: Vec::new(),
            evaluation_interval,
            resend_interval: Duration::from_secs(60),
            external_url: String::new(),
            notices: Vec::new(),
        }
    }

    #[test]
    fn replaced_rules_reach_every_partitions_evaluator_at_its_next_evaluation() {
        let rules = SharedRules::new(settings(Duration::from_secs(15)));
        let notifier = Notifier::new(Vec::new(), String::new());
        let mut first = AlertObserver::new(rules.clone(), notifier.clone());
        let mut second = AlertObserver::new(rules.clone(), notifier.clone());
        rules.replace(settings(Duration::from_secs(5)));
        // Taken up when an evaluation runs, on the stage-2 thread that owns the partition.
        assert_eq!(first.interval(), Duration::from_secs(15));
        let stage2 = Stage2::new(AggregatorSettings::default());
        first.observe(&stage2, 0);
        assert_eq!(first.interval(), Duration::from_secs(5));
        second.observe(&stage2, 0);
        assert_eq!(second.interval(), Duration::from_secs(5));
        // A partition taken over later starts with the current rules.
        let later = AlertObserver::new(rules.clone(), notifier);
        assert_eq!(later.interval(), Duration::from_secs(5));
        // And a second replacement is taken up too.
        rules.replace(settings(Duration::from_secs(30)));
        first.observe(&stage2, 1_000);
        assert_eq!(first.interval(), Duration::from_secs(30));
    }
}
