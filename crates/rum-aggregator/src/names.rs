//! Counters by name: user actions (count, frustration signals, loading time), business events
//! (count, value sum), failed fetch/XHR calls (count, time sum), every call (duration histogram
//! with its latest traced call as exemplar), the script time of long animation frames and the
//! resources by origin, of one segment, for views with `actions = true`. A call's name is its
//! group: method, endpoint template and status class ([`request_name`]); a script's or a
//! resource's is its origin ([`origin_name`]).
//!
//! Names are labels, so they are bounded like dimension values: stage 1 by its per-chunk bound,
//! stage 2 by a per-site top-N table per [`NameKind`] (`aggregator.top_names`), the rest folded
//! into `__other__` and counted in `rum_aggregator_folded_total{dimension="action"|"event"|
//! "request"|"origin"}`.
//! Sums are integers (millionths), so merging partials in any order gives the same totals.

use std::collections::BTreeMap;
use std::sync::Arc;

use rum_schema::proto;

use crate::FastMap;
use crate::exact::to_micros;
use crate::exemplar::Exemplar;

/// What a name names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameKind {
    Action,
    Event,
    /// A call's group (see [`request_name`]): of failed calls and of all calls, one table.
    FailedRequest,
    /// An origin: of scripts that ran in long animation frames, or of the resources a page loaded
    /// (see [`origin_name`]). One table for both, so an origin keeps one label whichever it is.
    /// Last: snapshots written before it hold the other three name tables in this order.
    Origin,
}

/// Number of [`NameKind`]s.
pub const NAME_KIND_COUNT: usize = 4;

impl NameKind {
    pub const ALL: [NameKind; NAME_KIND_COUNT] = [
        NameKind::Action,
        NameKind::Event,
        NameKind::FailedRequest,
        NameKind::Origin,
    ];

    pub fn index(self) -> usize {
        self as usize
    }

    /// The label the name is exported under, and the fold counter's `dimension`.
    pub fn label(self) -> &'static str {
        match self {
            NameKind::Action => "action",
            NameKind::Event => "event",
            NameKind::FailedRequest => "request",
            NameKind::Origin => "origin",
        }
    }
}

/// The origin label of scripts of the page's own origin.
pub const FIRST_PARTY: &str = "first-party";

/// The name an origin is counted under: [`FIRST_PARTY`] when it is the page's own origin
/// (`page_url` starts with it, followed by the path), `unknown` when the browser gave none (a
/// script without a source URL: `eval`, some handlers), else the origin as sent
/// (`https://cdn.example`).
pub fn origin_name<'a>(origin: &'a [u8], page_url: &[u8]) -> &'a [u8] {
    if origin.is_empty() {
        return crate::view::UNKNOWN.as_bytes();
    }
    let same = page_url
        .strip_prefix(origin)
        .is_some_and(|rest| matches!(rest.first(), None | Some(b'/' | b'?' | b'#')));
    if same { FIRST_PARTY.as_bytes() } else { origin }
}

/// Methods kept as they are; any other is `OTHER` (the label stays bounded).
const METHODS: [&str; 7] = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"];

/// The group of a call: `METHOD endpoint class`, one string so it is bounded and folded like any
/// name, split into the `method`, `endpoint` and `status` labels when exported
/// ([`split_failed_request`]). The class is `network` (status 0: no response, or an opaque one),
/// `1xx` .. `5xx` (`other` past 599); an endpoint the edge did not name is `unknown`. Spaces
/// cannot occur in an endpoint (the edge's template encodes them), so the split is unambiguous.
/// Failed calls and all calls share the names (one table: an endpoint keeps one label).
pub fn request_name(method: &[u8], endpoint: &[u8], status: u32) -> String {
    let mut name = String::new();
    request_name_into(&mut name, method, endpoint, status);
    name
}

/// [`request_name`] written into `name` (cleared first): stage 1 names every call group of every
/// beacon, and `format!` cost ~1,500 instructions a name where pushing three parts costs ~100.
pub fn request_name_into(name: &mut String, method: &[u8], endpoint: &[u8], status: u32) {
    let method = METHODS
        .iter()
        .find(|known| known.as_bytes().eq_ignore_ascii_case(method))
        .copied()
        .unwrap_or("OTHER");
    let endpoint = std::str::from_utf8(endpoint)
        .ok()
        .filter(|endpoint| !endpoint.is_empty() && !endpoint.contains(' '))
        .unwrap_or("unknown");
    let class = STATUS_CLASSES[status_class(status)];
    name.clear();
    name.reserve(method.len() + endpoint.len() + class.len() + 2);
    name.push_str(method);
    name.push(' ');
    name.push_str(endpoint);
    name.push(' ');
    name.push_str(class);
}

/// The status classes of [`request_name`], by [`status_class`].
const STATUS_CLASSES: [&str; STATUS_CLASS_COUNT] =
    ["network", "1xx", "2xx", "3xx", "4xx", "5xx", "other"];

/// Number of status classes.
pub const STATUS_CLASS_COUNT: usize = 7;

/// The class of a call's status as [`request_name`] names it: 0 `network`, 1 .. 5 `1xx` ..
/// `5xx`, 6 `other` (1 .. 99 and past 599). Stage 1 tallies and caches call groups by it.
pub fn status_class(status: u32) -> usize {
    match status {
        0 => 0,
        100..=599 => (status / 100) as usize,
        _ => 6,
    }
}

/// `(method, endpoint, status class)` of a [`request_name`]; `__other__` (folded) gives
/// `__other__` for all three.
pub fn split_failed_request(name: &str) -> (&str, &str, &str) {
    let mut parts = name.splitn(2, ' ');
    let method = parts.next().unwrap_or_default();
    match parts.next().and_then(|rest| rest.rsplit_once(' ')) {
        Some((endpoint, class)) => (method, endpoint, class),
        None => (name, name, name),
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

/// Upper bounds (ms) of the resource-duration buckets; a last bucket holds the rest. Exported as
/// `rum_resource_duration_seconds` with `le` in seconds.
pub const RESOURCE_BOUNDS_MS: [f64; 8] =
    [50.0, 100.0, 250.0, 500.0, 1000.0, 2500.0, 5000.0, 10000.0];

/// Resource buckets: the bounds, then the rest.
pub const RESOURCE_BUCKETS: usize = RESOURCE_BOUNDS_MS.len() + 1;

/// The resources of one origin.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ResourceTally {
    pub count: u64,
    /// Cross-origin resources without `Timing-Allow-Origin`.
    pub untimed: u64,
    pub transfer_bytes: u64,
    /// Sum of the durations (millionths of a ms).
    pub duration_micros: u64,
    /// Resources per duration bucket (not cumulative).
    pub buckets: [u64; RESOURCE_BUCKETS],
}

impl ResourceTally {
    /// One beacon's resources of the origin.
    pub fn record(
        &mut self,
        durations_ms: impl Iterator<Item = f64>,
        untimed: u32,
        transfer_bytes: u64,
    ) {
        self.untimed += u64::from(untimed);
        self.transfer_bytes = self.transfer_bytes.saturating_add(transfer_bytes);
        for duration in durations_ms {
            self.count += 1;
            let duration = duration.max(0.0);
            self.duration_micros = self.duration_micros.saturating_add(micros(duration));
            let bucket = RESOURCE_BOUNDS_MS
                .iter()
                .position(|bound| duration <= *bound)
                .unwrap_or(RESOURCE_BOUNDS_MS.len());
            self.buckets[bucket] += 1;
        }
    }

    pub fn merge(&mut self, other: &ResourceTally) {
        self.count += other.count;
        self.untimed += other.untimed;
        self.transfer_bytes = self.transfer_bytes.saturating_add(other.transfer_bytes);
        self.duration_micros = self.duration_micros.saturating_add(other.duration_micros);
        for (bucket, count) in self.buckets.iter_mut().zip(other.buckets) {
            *bucket += count;
        }
    }

    pub fn to_proto(self, name: &str) -> proto::ResourceTally {
        proto::ResourceTally {
            name: name.to_owned(),
            count: self.count,
            untimed: self.untimed,
            transfer_bytes: self.transfer_bytes,
            duration_micros: self.duration_micros,
            buckets: self.buckets.to_vec(),
        }
    }

    /// A tally as sent; buckets past this build's are added to the last one (a build with other
    /// bounds would be a new field, so this only guards against a malformed partial).
    pub fn from_proto(tally: &proto::ResourceTally) -> Self {
        Self {
            count: tally.count,
            untimed: tally.untimed,
            transfer_bytes: tally.transfer_bytes,
            duration_micros: tally.duration_micros,
            buckets: fixed_buckets(&tally.buckets),
        }
    }
}

/// Upper bounds (ms) of the call-duration buckets; a last bucket holds the rest. Exported as
/// `rum_request_duration_seconds` with `le` in seconds (finer than resources' at the low end: an
/// API answers in tens of milliseconds).
pub const CALL_BOUNDS_MS: [f64; 10] = [
    25.0, 50.0, 100.0, 250.0, 500.0, 1000.0, 2500.0, 5000.0, 10000.0, 30000.0,
];

/// Call buckets: the bounds, then the rest.
pub const CALL_BUCKETS: usize = CALL_BOUNDS_MS.len() + 1;

/// The fetch/XHR calls of one group (method, endpoint and status class, see [`request_name`]).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct CallTally {
    pub count: u64,
    /// Sum of the durations (millionths of a ms).
    pub duration_micros: u64,
    /// Calls per duration bucket (not cumulative).
    pub buckets: [u64; CALL_BUCKETS],
    /// The latest traced call: an exemplar on its bucket.
    pub exemplar: Option<Exemplar>,
}

impl CallTally {
    /// The bucket of a duration (ms).
    pub fn bucket(duration_ms: f64) -> usize {
        CALL_BOUNDS_MS
            .iter()
            .position(|bound| duration_ms <= *bound)
            .unwrap_or(CALL_BOUNDS_MS.len())
    }

    /// One call.
    pub fn record(&mut self, duration_ms: f64) {
        let duration = duration_ms.max(0.0);
        self.count += 1;
        self.duration_micros = self.duration_micros.saturating_add(micros(duration));
        self.buckets[Self::bucket(duration)] += 1;
    }

    /// Keeps `exemplar` unless the one held is newer.
    pub fn offer(&mut self, exemplar: Exemplar) {
        if self
            .exemplar
            .is_none_or(|held| held.unix_ms <= exemplar.unix_ms)
        {
            self.exemplar = Some(exemplar);
        }
    }

    pub fn merge(&mut self, other: &CallTally) {
        self.count += other.count;
        self.duration_micros = self.duration_micros.saturating_add(other.duration_micros);
        for (bucket, count) in self.buckets.iter_mut().zip(other.buckets) {
            *bucket += count;
        }
        if let Some(exemplar) = other.exemplar {
            self.offer(exemplar);
        }
    }

    pub fn to_proto(self, name: &str) -> proto::CallTally {
        proto::CallTally {
            name: name.to_owned(),
            count: self.count,
            duration_micros: self.duration_micros,
            buckets: self.buckets.to_vec(),
            exemplar: self.exemplar.map(|exemplar| proto::Exemplar {
                trace_id: exemplar.trace_id.to_vec(),
                // In ms, as the calls were measured.
                value: exemplar.value * 1000.0,
                at_ms: exemplar.unix_ms,
                metric: String::new(),
            }),
        }
    }

    /// A tally as sent; buckets past this build's are added to the last one, and an exemplar
    /// whose trace id is not 16 bytes is left out.
    pub fn from_proto(tally: &proto::CallTally) -> Self {
        Self {
            count: tally.count,
            duration_micros: tally.duration_micros,
            buckets: fixed_buckets(&tally.buckets),
            exemplar: tally.exemplar.as_ref().and_then(|exemplar| {
                Some(Exemplar {
                    trace_id: exemplar.trace_id.as_slice().try_into().ok()?,
                    value: exemplar.value / 1000.0,
                    unix_ms: exemplar.at_ms,
                })
            }),
        }
    }
}

/// Bucket counts as sent, in this build's `N` buckets: counts past the last are added to it (a
/// build with other bounds would be a new field, so this only guards against a malformed
/// partial).
fn fixed_buckets<const N: usize>(sent: &[u64]) -> [u64; N] {
    let mut buckets = [0; N];
    for (index, count) in sent.iter().enumerate() {
        buckets[index.min(N - 1)] += count;
    }
    buckets
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
    /// Failed calls by group; the tally's value is the calls' duration (ms).
    pub failed_requests: BTreeMap<Arc<str>, EventTally>,
    /// Long-frame script time by origin; count: loaf events naming it, value: script time (ms).
    pub script_origins: BTreeMap<Arc<str>, EventTally>,
    /// Resources by origin (the same origin names).
    pub resource_origins: BTreeMap<Arc<str>, ResourceTally>,
    /// Every fetch/XHR call by group (the failed calls' names, all classes).
    pub calls: BTreeMap<Arc<str>, CallTally>,
}

/// The named counters of one stage-1 builder: [`NamedCounts`] keyed by the chunk's name ids
/// (stage 1 numbers each distinct label of a chunk once, in a table that lives until the flush),
/// so recording a name hashes a number where a `BTreeMap` entry compared strings and touched the
/// name's reference count (~130 instructions a call group and view). [`to_proto`](Self::to_proto)
/// looks the names up and sorts by them: the same fields as [`NamedCounts::to_proto`].
#[derive(Debug, Default)]
pub struct ChunkNamedCounts {
    actions: FastMap<u32, ActionTally>,
    events: FastMap<u32, EventTally>,
    failed_requests: FastMap<u32, EventTally>,
    script_origins: FastMap<u32, EventTally>,
    resource_origins: FastMap<u32, ResourceTally>,
    calls: FastMap<u32, CallTally>,
}

impl ChunkNamedCounts {
    pub fn action(&mut self, name: u32) -> &mut ActionTally {
        self.actions.entry(name).or_default()
    }

    pub fn event(&mut self, name: u32) -> &mut EventTally {
        self.events.entry(name).or_default()
    }

    pub fn failed_request(&mut self, name: u32) -> &mut EventTally {
        self.failed_requests.entry(name).or_default()
    }

    pub fn script_origin(&mut self, name: u32) -> &mut EventTally {
        self.script_origins.entry(name).or_default()
    }

    pub fn resource_origin(&mut self, name: u32) -> &mut ResourceTally {
        self.resource_origins.entry(name).or_default()
    }

    pub fn call(&mut self, name: u32) -> &mut CallTally {
        self.calls.entry(name).or_default()
    }

    /// The tallies as partial fields, in name order; `labels[id]` is the name of id `id` (ids
    /// stand for distinct names, so no two tallies of a map share one).
    pub fn to_proto(&self, labels: &[Arc<str>]) -> NamedProto {
        fn by_name<T: Copy, P>(
            tallies: &FastMap<u32, T>,
            labels: &[Arc<str>],
            to_proto: impl Fn(T, &str) -> P,
        ) -> Vec<P> {
            let mut named: Vec<(&str, T)> = tallies
                .iter()
                .map(|(id, tally)| (&*labels[*id as usize], *tally))
                .collect();
            named.sort_unstable_by(|a, b| a.0.cmp(b.0));
            named
                .into_iter()
                .map(|(name, tally)| to_proto(tally, name))
                .collect()
        }
        NamedProto {
            actions: by_name(&self.actions, labels, ActionTally::to_proto),
            events: by_name(&self.events, labels, EventTally::to_proto),
            failed_requests: by_name(&self.failed_requests, labels, EventTally::to_proto),
            script_origins: by_name(&self.script_origins, labels, EventTally::to_proto),
            resource_origins: by_name(&self.resource_origins, labels, ResourceTally::to_proto),
            calls: by_name(&self.calls, labels, CallTally::to_proto),
        }
    }
}

/// [`NamedCounts`] as partial or snapshot fields.
#[derive(Debug, Default)]
pub struct NamedProto {
    pub actions: Vec<proto::ActionTally>,
    pub events: Vec<proto::EventTally>,
    pub failed_requests: Vec<proto::EventTally>,
    pub script_origins: Vec<proto::EventTally>,
    pub resource_origins: Vec<proto::ResourceTally>,
    pub calls: Vec<proto::CallTally>,
}

impl NamedCounts {
    pub fn is_empty(&self) -> bool {
        self.actions.is_empty()
            && self.events.is_empty()
            && self.failed_requests.is_empty()
            && self.script_origins.is_empty()
            && self.resource_origins.is_empty()
            && self.calls.is_empty()
    }

    /// Entries held (for memory accounting).
    pub fn len(&self) -> usize {
        self.actions.len()
            + self.events.len()
            + self.failed_requests.len()
            + self.script_origins.len()
            + self.resource_origins.len()
            + self.calls.len()
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
            .chain(self.failed_requests.keys())
            .chain(self.script_origins.keys())
            .map(|name| name.len() + NODE_OVERHEAD + std::mem::size_of::<EventTally>())
            .sum();
        let resources: usize = self
            .resource_origins
            .keys()
            .map(|name| name.len() + NODE_OVERHEAD + std::mem::size_of::<ResourceTally>())
            .sum();
        let calls: usize = self
            .calls
            .keys()
            .map(|name| name.len() + NODE_OVERHEAD + std::mem::size_of::<CallTally>())
            .sum();
        actions + events + resources + calls
    }

    pub fn action(&mut self, name: &Arc<str>) -> &mut ActionTally {
        self.actions.entry(name.clone()).or_default()
    }

    pub fn event(&mut self, name: &Arc<str>) -> &mut EventTally {
        self.events.entry(name.clone()).or_default()
    }

    pub fn failed_request(&mut self, name: &Arc<str>) -> &mut EventTally {
        self.failed_requests.entry(name.clone()).or_default()
    }

    pub fn script_origin(&mut self, name: &Arc<str>) -> &mut EventTally {
        self.script_origins.entry(name.clone()).or_default()
    }

    pub fn resource_origin(&mut self, name: &Arc<str>) -> &mut ResourceTally {
        self.resource_origins.entry(name.clone()).or_default()
    }

    pub fn call(&mut self, name: &Arc<str>) -> &mut CallTally {
        self.calls.entry(name.clone()).or_default()
    }

    /// The tallies as partial or snapshot fields, in name order.
    pub fn to_proto(&self) -> NamedProto {
        let events = |tallies: &BTreeMap<Arc<str>, EventTally>| {
            tallies
                .iter()
                .map(|(name, tally)| tally.to_proto(name))
                .collect()
        };
        NamedProto {
            actions: self
                .actions
                .iter()
                .map(|(name, tally)| tally.to_proto(name))
                .collect(),
            events: events(&self.events),
            failed_requests: events(&self.failed_requests),
            script_origins: events(&self.script_origins),
            resource_origins: self
                .resource_origins
                .iter()
                .map(|(name, tally)| tally.to_proto(name))
                .collect(),
            calls: self
                .calls
                .iter()
                .map(|(name, tally)| tally.to_proto(name))
                .collect(),
        }
    }

    /// The counters a snapshot saved.
    pub fn from_proto(
        actions: &[proto::ActionTally],
        events: &[proto::EventTally],
        failed_requests: &[proto::EventTally],
        script_origins: &[proto::EventTally],
        resource_origins: &[proto::ResourceTally],
        calls: &[proto::CallTally],
    ) -> Option<Self> {
        if actions.is_empty()
            && events.is_empty()
            && failed_requests.is_empty()
            && script_origins.is_empty()
            && resource_origins.is_empty()
            && calls.is_empty()
        {
            return None;
        }
        let mut names = NamedCounts::default();
        for tally in actions {
            names
                .action(&Arc::from(tally.name.as_str()))
                .merge(&ActionTally::from_proto(tally));
        }
        for tally in events {
            names
                .event(&Arc::from(tally.name.as_str()))
                .merge(&EventTally::from_proto(tally));
        }
        for tally in failed_requests {
            names
                .failed_request(&Arc::from(tally.name.as_str()))
                .merge(&EventTally::from_proto(tally));
        }
        for tally in script_origins {
            names
                .script_origin(&Arc::from(tally.name.as_str()))
                .merge(&EventTally::from_proto(tally));
        }
        for tally in resource_origins {
            names
                .resource_origin(&Arc::from(tally.name.as_str()))
                .merge(&ResourceTally::from_proto(tally));
        }
        for tally in calls {
            names
                .call(&Arc::from(tally.name.as_str()))
                .merge(&CallTally::from_proto(tally));
        }
        Some(names)
    }
}

#[cfg(test)]
mod tests;
