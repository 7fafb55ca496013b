//! Metrics in unit tests: metrics-util's `DebuggingRecorder` records what the code really emits,
//! and [`TestMetrics`] reads it back by name and labels.
//!
//! A snapshot of the debugging recorder drains it (counters and gauges read as zero until written
//! again), while tests read one counter before and after an action. So every read takes a snapshot
//! and folds it into running values: counters add up (the drained amounts sum to the total), and a
//! gauge keeps the last value a snapshot saw written. A gauge set to exactly zero after an earlier
//! read would therefore still show its old value; this crate's one gauge is a database age, in
//! seconds since the file was built.

use std::collections::HashMap;
use std::sync::Mutex;

use metrics_util::debugging::{DebugValue, DebuggingRecorder, Snapshotter};

/// What one series has read so far.
#[derive(Clone, Copy, Debug)]
enum Reading {
    Counter(u64),
    Gauge(f64),
    Histogram,
}

pub(crate) struct TestMetrics {
    recorder: DebuggingRecorder,
    snapshotter: Snapshotter,
    /// Every series seen, `name{label=value,...}` (labels sorted) -> its reading so far.
    readings: Mutex<HashMap<String, Reading>>,
}

impl Default for TestMetrics {
    fn default() -> Self {
        let recorder = DebuggingRecorder::new();
        let snapshotter = recorder.snapshotter();
        Self {
            recorder,
            snapshotter,
            readings: Mutex::new(HashMap::new()),
        }
    }
}

impl TestMetrics {
    /// Runs `work` with this recorder as the thread's recorder: handles registered inside it (at
    /// construction, as the crate does) keep reporting here afterwards.
    pub(crate) fn record<T>(&self, work: impl FnOnce() -> T) -> T {
        metrics::with_local_recorder(&self.recorder, work)
    }

    fn id(name: &str, labels: &[(&str, &str)]) -> String {
        let mut labels: Vec<String> = labels
            .iter()
            .map(|(key, value)| format!("{key}={value}"))
            .collect();
        labels.sort();
        format!("{name}{{{}}}", labels.join(","))
    }

    /// Folds a fresh snapshot into the readings and returns them, still locked.
    fn read(&self) -> std::sync::MutexGuard<'_, HashMap<String, Reading>> {
        let mut readings = self.readings.lock().expect("test metrics lock");
        for (key, _, _, value) in self.snapshotter.snapshot().into_vec() {
            let labels: Vec<(&str, &str)> = key
                .key()
                .labels()
                .map(|label| (label.key(), label.value()))
                .collect();
            let id = Self::id(key.key().name(), &labels);
            let previous = readings.get(&id).copied();
            let reading = match (value, previous) {
                (DebugValue::Counter(drained), Some(Reading::Counter(total))) => {
                    Reading::Counter(total + drained)
                }
                (DebugValue::Counter(drained), _) => Reading::Counter(drained),
                (DebugValue::Gauge(value), Some(Reading::Gauge(last))) if value.0 == 0.0 => {
                    Reading::Gauge(last)
                }
                (DebugValue::Gauge(value), _) => Reading::Gauge(value.0),
                (DebugValue::Histogram(_), _) => Reading::Histogram,
            };
            readings.insert(id, reading);
        }
        readings
    }

    /// A counter's value (0 if never registered).
    pub(crate) fn counter(&self, name: &str, labels: &[(&str, &str)]) -> u64 {
        match self.read().get(&Self::id(name, labels)) {
            Some(Reading::Counter(total)) => *total,
            _ => 0,
        }
    }

    /// A gauge's value, if registered.
    pub(crate) fn gauge(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        match self.read().get(&Self::id(name, labels)) {
            Some(Reading::Gauge(value)) => Some(*value),
            _ => None,
        }
    }

    /// Every registered series, `name{label=value,...}`: to prove no address or URL became a label.
    pub(crate) fn keys(&self) -> Vec<String> {
        self.read().keys().cloned().collect()
    }
}
