//! Counters by name: user actions (count, frustration signals, loading time) and business events
//! (count, value sum) of one segment, for views with `actions = true`.
//!
//! Names are labels, so they are bounded like dimension values: stage 1 by its per-chunk bound,
//! stage 2 by a per-site top-N table per [`NameKind`] (`aggregator.top_names`), the rest folded
//! into `__other__` and counted in `rum_aggregator_folded_total{dimension="action"|"event"}`.
//! Sums are integers (millionths), so merging partials in any order gives the same totals.

use std::collections::BTreeMap;
use std::sync::Arc;

use rum_schema::proto;

use crate::exact::to_micros;

/// What a name names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameKind {
    Action,
    Event,
}

/// Number of [`NameKind`]s.
pub const NAME_KIND_COUNT: usize = 2;

impl NameKind {
    pub const ALL: [NameKind; NAME_KIND_COUNT] = [NameKind::Action, NameKind::Event];

    pub fn index(self) -> usize {
        self as usize
    }

    /// The label the name is exported under, and the fold counter's `dimension`.
    pub fn label(self) -> &'static str {
        match self {
            NameKind::Action => "action",
            NameKind::Event => "event",
        }
    }
}

/// The actions of one name.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ActionTally {
    pub count: u64,
    pub rage: u64,
    pub dead: u64,
    pub error_clicks: u64,
    /// Actions with a loading time, and the sum of those times (millionths of a ms).
    pub timed: u64,
    pub time_micros: u64,
}

impl ActionTally {
    /// One action.
    pub fn record(&mut self, duration_ms: Option<f64>, rage: bool, dead: bool, error_click: bool) {
        self.count += 1;
        self.rage += u64::from(rage);
        self.dead += u64::from(dead);
        self.error_clicks += u64::from(error_click);
        if let Some(duration) = duration_ms {
            self.timed += 1;
            self.time_micros = self.time_micros.saturating_add(micros(duration));
        }
    }

    pub fn merge(&mut self, other: &ActionTally) {
        self.count += other.count;
        self.rage += other.rage;
        self.dead += other.dead;
        self.error_clicks += other.error_clicks;
        self.timed += other.timed;
        self.time_micros = self.time_micros.saturating_add(other.time_micros);
    }

    pub fn to_proto(self, name: &str) -> proto::ActionTally {
        proto::ActionTally {
            name: name.to_owned(),
            count: self.count,
            rage: self.rage,
            dead: self.dead,
            error_clicks: self.error_clicks,
            timed: self.timed,
            time_micros: self.time_micros,
        }
    }

    pub fn from_proto(tally: &proto::ActionTally) -> Self {
        Self {
            count: tally.count,
            rage: tally.rage,
            dead: tally.dead,
            error_clicks: tally.error_clicks,
            timed: tally.timed,
            time_micros: tally.time_micros,
        }
    }
}

/// The business events of one name.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EventTally {
    pub count: u64,
    /// Sum of the values (millionths).
    pub value_micros: u64,
}

impl EventTally {
    pub fn record(&mut self, value: Option<f64>) {
        self.count += 1;
        if let Some(value) = value {
            self.value_micros = self.value_micros.saturating_add(micros(value));
        }
    }

    pub fn merge(&mut self, other: &EventTally) {
        self.count += other.count;
        self.value_micros = self.value_micros.saturating_add(other.value_micros);
    }

    pub fn to_proto(self, name: &str) -> proto::EventTally {
        proto::EventTally {
            name: name.to_owned(),
            count: self.count,
            value_micros: self.value_micros,
        }
    }

    pub fn from_proto(tally: &proto::EventTally) -> Self {
        Self {
            count: tally.count,
            value_micros: tally.value_micros,
        }
    }
}

/// A non-negative value in integer millionths (the decoder refuses negative ones; a producer that
/// sends one anyway adds nothing).
fn micros(value: f64) -> u64 {
    u64::try_from(to_micros(value)).unwrap_or(0)
}

/// The named counters of one segment (stage 2, cumulative) or one builder (stage 1).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NamedCounts {
    pub actions: BTreeMap<Arc<str>, ActionTally>,
    pub events: BTreeMap<Arc<str>, EventTally>,
}

impl NamedCounts {
    pub fn is_empty(&self) -> bool {
        self.actions.is_empty() && self.events.is_empty()
    }

    /// Entries held (for memory accounting).
    pub fn len(&self) -> usize {
        self.actions.len() + self.events.len()
    }

    /// Approximate bytes held: map nodes, tallies and name strings.
    pub fn bytes(&self) -> usize {
        const NODE_OVERHEAD: usize = 32;
        let actions: usize = self
            .actions
            .keys()
            .map(|name| name.len() + NODE_OVERHEAD + std::mem::size_of::<ActionTally>())
            .sum();
        let events: usize = self
            .events
            .keys()
            .map(|name| name.len() + NODE_OVERHEAD + std::mem::size_of::<EventTally>())
            .sum();
        actions + events
    }

    pub fn action(&mut self, name: &Arc<str>) -> &mut ActionTally {
        self.actions.entry(name.clone()).or_default()
    }

    pub fn event(&mut self, name: &Arc<str>) -> &mut EventTally {
        self.events.entry(name.clone()).or_default()
    }

    /// The tallies as partial or snapshot fields, in name order.
    pub fn to_proto(&self) -> (Vec<proto::ActionTally>, Vec<proto::EventTally>) {
        (
            self.actions
                .iter()
                .map(|(name, tally)| tally.to_proto(name))
                .collect(),
            self.events
                .iter()
                .map(|(name, tally)| tally.to_proto(name))
                .collect(),
        )
    }
}

#[cfg(test)]
mod tests;
