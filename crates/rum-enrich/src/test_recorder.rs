//! A metrics recorder for unit tests: counters and gauges kept in memory under
//! `name{label=value,...}`, so tests read the metrics the code really emits.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use metrics::{Counter, Gauge, Histogram, Key, KeyName, Metadata, Recorder, SharedString, Unit};

#[derive(Default)]
pub(crate) struct TestRecorder {
    values: Mutex<HashMap<String, Arc<AtomicU64>>>,
}

impl TestRecorder {
    fn id(name: &str, labels: &[(&str, &str)]) -> String {
        let mut labels: Vec<String> = labels
            .iter()
            .map(|(key, value)| format!("{key}={value}"))
            .collect();
        labels.sort();
        format!("{name}{{{}}}", labels.join(","))
    }

    fn handle(&self, key: &Key) -> Arc<AtomicU64> {
        let labels: Vec<(&str, &str)> = key
            .labels()
            .map(|label| (label.key(), label.value()))
            .collect();
        let id = Self::id(key.name(), &labels);
        let mut values = self.values.lock().expect("test recorder lock");
        Arc::clone(values.entry(id).or_default())
    }

    fn raw(&self, name: &str, labels: &[(&str, &str)]) -> Option<u64> {
        let values = self.values.lock().expect("test recorder lock");
        values
            .get(&Self::id(name, labels))
            .map(|value| value.load(Ordering::Acquire))
    }

    /// A counter's value (0 if never registered).
    pub(crate) fn counter(&self, name: &str, labels: &[(&str, &str)]) -> u64 {
        self.raw(name, labels).unwrap_or(0)
    }

    /// A gauge's value, if registered.
    pub(crate) fn gauge(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        self.raw(name, labels).map(f64::from_bits)
    }

    /// Every registered series, `name{label=value,...}`: to prove no address or URL became a label.
    pub(crate) fn keys(&self) -> Vec<String> {
        let values = self.values.lock().expect("test recorder lock");
        values.keys().cloned().collect()
    }
}

impl Recorder for TestRecorder {
    fn describe_counter(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_gauge(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_histogram(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}

    fn register_counter(&self, key: &Key, _: &Metadata<'_>) -> Counter {
        Counter::from_arc(self.handle(key))
    }

    fn register_gauge(&self, key: &Key, _: &Metadata<'_>) -> Gauge {
        Gauge::from_arc(self.handle(key))
    }

    fn register_histogram(&self, _: &Key, _: &Metadata<'_>) -> Histogram {
        Histogram::noop()
    }
}
