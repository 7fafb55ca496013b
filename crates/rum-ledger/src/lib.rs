//! The drop ledger: one metric family, `rum_dropped_total{stage, reason, item}`, that every place
//! refusing, dropping or losing a beacon, an event or a partial increments where the decision is
//! made (like Sentry Relay's outcomes and Vector's `ComponentEventsDropped`).
//!
//! The identities an operator can check on `/metrics` at any time (see docs/operations.md):
//!
//! ```text
//! rum_collector_beacons_received_total = rum_collector_beacons_accepted_total
//!                                      + rum_dropped_total{item="beacon", stage=~"edge|enrich"}
//! rum_collector_beacons_accepted_total = rum_sink_delivered_total + rum_sink_queue_depth
//!                                      + rum_dropped_total{item="beacon", stage="sink"}
//! ```
//!
//! Reasons are enums declared with [`drop_reasons!`], which generates their `ALL` list from the
//! same declaration, so a new reason cannot exist without a pre-registered counter; counters are
//! registered once ([`DropCounters`]) so counting is an atomic add. This crate must never hold a
//! label value that is not one of these closed sets.

#![forbid(unsafe_code)]

use std::marker::PhantomData;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use metrics::{Counter, counter, describe_counter};

/// The ledger's family.
pub const DROPPED: &str = "rum_dropped_total";

/// Where along the path the decision was made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Stage {
    /// The collector refused the request (4xx/5xx): limits, key, origin, body, decoding, overload.
    Edge,
    /// Valid, answered 202, deliberately not forwarded (a bot).
    Enrich,
    /// Accepted, then lost before the destination acknowledged it.
    Sink,
    /// Delivered, then not aggregated (undecodable, late, unknown view or metric).
    Aggregator,
}

impl Stage {
    pub const ALL: [Stage; 4] = [Stage::Edge, Stage::Enrich, Stage::Sink, Stage::Aggregator];

    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Edge => "edge",
            Stage::Enrich => "enrich",
            Stage::Sink => "sink",
            Stage::Aggregator => "aggregator",
        }
    }
}

/// What was dropped: the identities above hold for beacons; events are the ones refused inside an
/// accepted beacon; partials are stage 1's pre-aggregates that stage 2 could not use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Item {
    Beacon,
    Event,
    Partial,
}

impl Item {
    pub fn as_str(self) -> &'static str {
        match self {
            Item::Beacon => "beacon",
            Item::Event => "event",
            Item::Partial => "partial",
        }
    }
}

/// A closed set of reasons of one stage, declared with [`drop_reasons!`].
pub trait Reason: Copy + 'static {
    const STAGE: Stage;
    /// Every reason, in declaration order (`all()[r.index()] == r`).
    fn all() -> &'static [Self];
    /// The stable, snake_case label value.
    fn as_str(self) -> &'static str;
    /// The position in [`all`](Reason::all).
    fn index(self) -> usize;
}

/// Declares a reason enum of one stage, its `ALL` list and its labels in one place:
///
/// ```
/// rum_ledger::drop_reasons! {
///     /// Why a thing was dropped.
///     pub enum ExampleReason in Sink {
///         /// The queue was full.
///         QueueFull = "queue_full",
///     }
/// }
/// assert_eq!(ExampleReason::ALL, &[ExampleReason::QueueFull]);
/// assert_eq!(ExampleReason::QueueFull.as_str(), "queue_full");
/// ```
#[macro_export]
macro_rules! drop_reasons {
    (
        $(#[$meta:meta])*
        $vis:vis enum $name:ident in $stage:ident {
            $( $(#[$variant_meta:meta])* $variant:ident = $label:literal, )+
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        $vis enum $name {
            $( $(#[$variant_meta])* $variant, )+
        }

        impl $name {
            /// Every reason, in declaration order (index = `self as usize`).
            pub const ALL: &'static [$name] = &[ $( $name::$variant, )+ ];

            /// The snake_case name used in responses and metric labels.
            pub fn as_str(self) -> &'static str {
                match self {
                    $( $name::$variant => $label, )+
                }
            }
        }

        impl $crate::Reason for $name {
            const STAGE: $crate::Stage = $crate::Stage::$stage;
            fn all() -> &'static [Self] {
                Self::ALL
            }
            fn as_str(self) -> &'static str {
                $name::as_str(self)
            }
            fn index(self) -> usize {
                self as usize
            }
        }
    };
}

/// One pre-registered counter per reason of `R`, for one kind of item.
pub struct DropCounters<R: Reason> {
    counters: Box<[Counter]>,
    reason: PhantomData<R>,
}

impl<R: Reason> Clone for DropCounters<R> {
    fn clone(&self) -> Self {
        Self {
            counters: self.counters.clone(),
            reason: PhantomData,
        }
    }
}

impl<R: Reason> DropCounters<R> {
    /// Registers `rum_dropped_total{stage, reason, item}` for every reason of `R` (so each shows 0
    /// before its first drop). Install the metrics recorder first.
    pub fn register(item: Item) -> Self {
        describe_counter!(
            DROPPED,
            "Beacons, events and partials refused, dropped or lost, by stage and reason."
        );
        let counters = R::all()
            .iter()
            .map(|reason| {
                counter!(
                    DROPPED,
                    "stage" => R::STAGE.as_str(),
                    "reason" => reason.as_str(),
                    "item" => item.as_str(),
                )
            })
            .collect();
        Self {
            counters,
            reason: PhantomData,
        }
    }

    /// Counts one drop.
    pub fn count(&self, reason: R) {
        self.counters[reason.index()].increment(1);
    }

    /// Counts `count` drops at once.
    pub fn count_many(&self, reason: R, count: u64) {
        if count > 0 {
            self.counters[reason.index()].increment(count);
        }
    }
}

/// Lets one log line through per interval and says how many were held back in between, so a
/// failure that repeats per message (a broker outage) logs a line every few seconds, not one per
/// beacon. The ledger counts every occurrence; the log only has to say that it is happening.
#[derive(Debug)]
pub struct LogLimiter {
    interval: Duration,
    state: Mutex<(Option<Instant>, u64)>,
}

impl LogLimiter {
    pub const fn new(interval: Duration) -> Self {
        Self {
            interval,
            state: Mutex::new((None, 0)),
        }
    }

    /// `Some(suppressed)` when this occurrence should be logged (with the count held back since the
    /// last logged one), `None` when it should not.
    pub fn admit(&self) -> Option<u64> {
        self.admit_at(Instant::now())
    }

    fn admit_at(&self, now: Instant) -> Option<u64> {
        let mut state = self
            .state
            .lock()
            .unwrap_or_else(|poison| poison.into_inner());
        let (last, suppressed) = &mut *state;
        if last.is_some_and(|last| now.duration_since(last) < self.interval) {
            *suppressed += 1;
            return None;
        }
        *last = Some(now);
        Some(std::mem::take(suppressed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    drop_reasons! {
        /// Test reasons.
        enum TestReason in Aggregator {
            First = "first",
            /// Documented.
            Second = "second",
            Third = "third",
        }
    }

    #[test]
    fn all_follows_the_declaration_and_indexes_by_discriminant() {
        assert_eq!(
            TestReason::ALL,
            &[TestReason::First, TestReason::Second, TestReason::Third]
        );
        for (position, reason) in TestReason::ALL.iter().enumerate() {
            assert_eq!(Reason::index(*reason), position);
        }
        assert_eq!(TestReason::Second.as_str(), "second");
        assert_eq!(<TestReason as Reason>::STAGE, Stage::Aggregator);
    }

    #[test]
    fn counters_are_registered_for_every_reason_and_count() {
        let recorder = metrics_util::debugging::DebuggingRecorder::new();
        let snapshotter = recorder.snapshotter();
        metrics::with_local_recorder(&recorder, || {
            let counters = DropCounters::<TestReason>::register(Item::Event);
            counters.count(TestReason::Second);
            counters.count_many(TestReason::Third, 5);
            counters.count_many(TestReason::Third, 0);
        });
        let mut seen: Vec<(String, u64)> = snapshotter
            .snapshot()
            .into_vec()
            .into_iter()
            .map(|(key, _, _, value)| {
                let labels: Vec<String> = key
                    .key()
                    .labels()
                    .map(|label| format!("{}={}", label.key(), label.value()))
                    .collect();
                let count = match value {
                    metrics_util::debugging::DebugValue::Counter(count) => count,
                    other => panic!("not a counter: {other:?}"),
                };
                (
                    format!("{}{{{}}}", key.key().name(), labels.join(",")),
                    count,
                )
            })
            .collect();
        seen.sort();
        assert_eq!(
            seen,
            vec![
                (
                    "rum_dropped_total{stage=aggregator,reason=first,item=event}".to_owned(),
                    0
                ),
                (
                    "rum_dropped_total{stage=aggregator,reason=second,item=event}".to_owned(),
                    1
                ),
                (
                    "rum_dropped_total{stage=aggregator,reason=third,item=event}".to_owned(),
                    5
                ),
            ]
        );
    }

    #[test]
    fn the_log_limiter_admits_one_line_per_interval_and_counts_the_rest() {
        let limiter = LogLimiter::new(Duration::from_secs(10));
        let start = Instant::now();
        assert_eq!(limiter.admit_at(start), Some(0));
        assert_eq!(limiter.admit_at(start + Duration::from_secs(1)), None);
        assert_eq!(limiter.admit_at(start + Duration::from_secs(9)), None);
        assert_eq!(limiter.admit_at(start + Duration::from_secs(10)), Some(2));
        assert_eq!(limiter.admit_at(start + Duration::from_secs(11)), None);
        assert_eq!(limiter.admit_at(start + Duration::from_secs(25)), Some(1));
    }
}
