//! JavaScript errors grouped by cause: a fingerprint per error ([`fingerprint`]), and per site the
//! heavy hitters among the fingerprints with their occurrences, affected sessions, routes, first and
//! last seen and one sample ([`sketch`] has the summaries).
//!
//! Stage 1 groups a chunk's errors per site ([`ChunkErrors`], distinct fingerprints per site and
//! chunk bounded by the chunk bound, the rest folded into one `__other__` group, counted); the
//! groups travel in the partials of the first view. Stage 2 keeps a weighted Space-Saving table per
//! site ([`SiteErrors`], `aggregator.error_groups` entries): every fingerprint seen more than
//! `total / capacity` times is in it, and each count over-estimates by at most its entry's
//! `error`, itself at most `total / capacity`. Everything is deterministic (FNV fingerprints and
//! session hashes, ties broken by key), so a replay behind Kafka yields the same tables.

pub mod fingerprint;
pub mod sketch;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use rum_schema::proto;

use self::sketch::{Counted, HyperLogLog, SpaceSaving, mix};
use crate::view::OTHER;

/// Session hashes a group keeps exactly before it switches to a HyperLogLog.
const EXACT_SESSIONS: usize = 64;
/// Routes a group keeps by name; the rest count under `__other__`.
pub const MAX_ROUTES: usize = 5;
/// Sample sizes (bytes): the message and the stack as the browser sent them.
const MAX_SAMPLE_MESSAGE_BYTES: usize = 512;
const MAX_SAMPLE_STACK_BYTES: usize = 2048;
/// The fingerprint of the group that folded fingerprints count in.
pub const OTHER_FINGERPRINT: u64 = 0;

/// Distinct sessions of a group: exact while few, a HyperLogLog past [`EXACT_SESSIONS`].
#[derive(Debug, Clone, PartialEq)]
pub enum Sessions {
    Few(Vec<u64>),
    Many(HyperLogLog),
}

impl Default for Sessions {
    fn default() -> Self {
        Sessions::Few(Vec::new())
    }
}

impl Sessions {
    pub fn insert(&mut self, hash: u64) {
        match self {
            Sessions::Few(hashes) => {
                if let Err(position) = hashes.binary_search(&hash) {
                    hashes.insert(position, hash);
                    if hashes.len() > EXACT_SESSIONS {
                        let mut sketch = HyperLogLog::default();
                        for hash in hashes.iter() {
                            sketch.insert(*hash);
                        }
                        *self = Sessions::Many(sketch);
                    }
                }
            }
            Sessions::Many(sketch) => sketch.insert(hash),
        }
    }

    pub fn merge(&mut self, other: &Sessions) {
        match other {
            Sessions::Few(hashes) => {
                for hash in hashes {
                    self.insert(*hash);
                }
            }
            Sessions::Many(theirs) => {
                let mut sketch = theirs.clone();
                match self {
                    Sessions::Few(hashes) => {
                        for hash in hashes.iter() {
                            sketch.insert(*hash);
                        }
                    }
                    Sessions::Many(mine) => sketch.merge(mine),
                }
                *self = Sessions::Many(sketch);
            }
        }
    }

    /// Distinct sessions (exact while few, within ~3% past that).
    pub fn count(&self) -> u64 {
        match self {
            Sessions::Few(hashes) => hashes.len() as u64,
            Sessions::Many(sketch) => sketch.estimate(),
        }
    }

    fn bytes(&self) -> usize {
        match self {
            Sessions::Few(hashes) => hashes.capacity() * 8,
            Sessions::Many(_) => sketch::HLL_REGISTERS,
        }
    }

    fn to_proto(&self) -> (Vec<u64>, Vec<u8>) {
        match self {
            Sessions::Few(hashes) => (hashes.clone(), Vec::new()),
            Sessions::Many(sketch) => (Vec::new(), sketch.registers().to_vec()),
        }
    }

    fn from_proto(hashes: &[u64], registers: &[u8]) -> Self {
        let mut sessions = match HyperLogLog::from_registers(registers) {
            Some(sketch) => Sessions::Many(sketch),
            None => Sessions::default(),
        };
        for hash in hashes.iter().take(EXACT_SESSIONS * 16) {
            sessions.insert(*hash);
        }
        sessions
    }
}

/// What a group knows besides its count.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Group {
    pub kind: String,
    pub message: String,
    pub frame: String,
    pub sample_message: String,
    pub sample_stack: String,
    pub sessions: Sessions,
    /// At most [`MAX_ROUTES`] routes plus `__other__`.
    pub routes: BTreeMap<String, u64>,
    pub first_ms: i64,
    pub last_ms: i64,
}

impl Group {
    fn add_route(&mut self, route: &str, count: u64) {
        crate::view::count_bounded(&mut self.routes, route, MAX_ROUTES, count);
    }

    /// Adds another partial's view of the same fingerprint (the sample stays the first one).
    fn merge(&mut self, other: &Group) {
        if self.message.is_empty() {
            self.kind.clone_from(&other.kind);
            self.message.clone_from(&other.message);
            self.frame.clone_from(&other.frame);
            self.sample_message.clone_from(&other.sample_message);
            self.sample_stack.clone_from(&other.sample_stack);
            self.first_ms = other.first_ms;
        }
        self.sessions.merge(&other.sessions);
        for (route, count) in &other.routes {
            self.add_route(route, *count);
        }
        self.first_ms = self.first_ms.min(other.first_ms);
        self.last_ms = self.last_ms.max(other.last_ms);
    }

    fn bytes(&self) -> usize {
        std::mem::size_of::<Group>()
            + self.kind.len()
            + self.message.len()
            + self.frame.len()
            + self.sample_message.len()
            + self.sample_stack.len()
            + self.sessions.bytes()
            + self
                .routes
                .keys()
                .map(|route| route.len() + 40)
                .sum::<usize>()
    }

    pub fn to_proto(&self, fingerprint: u64, count: u64) -> proto::ErrorGroupPartial {
        let (sessions, session_registers) = self.sessions.to_proto();
        proto::ErrorGroupPartial {
            fingerprint,
            kind: self.kind.clone(),
            message: self.message.clone(),
            frame: self.frame.clone(),
            sample_message: self.sample_message.clone(),
            sample_stack: self.sample_stack.clone(),
            count,
            sessions,
            session_registers,
            routes: self
                .routes
                .iter()
                .map(|(route, count)| proto::RouteCount {
                    route: route.clone(),
                    count: *count,
                })
                .collect(),
            first_ms: self.first_ms,
            last_ms: self.last_ms,
        }
    }

    /// A group from a partial or snapshot, with every field bounded again (the input may come
    /// from another process).
    pub fn from_proto(partial: &proto::ErrorGroupPartial) -> Self {
        let mut group = Group {
            kind: bounded(&partial.kind, 32),
            message: bounded(&partial.message, fingerprint::MAX_NORMALISED_BYTES),
            frame: bounded(&partial.frame, 256),
            sample_message: bounded(&partial.sample_message, MAX_SAMPLE_MESSAGE_BYTES),
            sample_stack: bounded(&partial.sample_stack, MAX_SAMPLE_STACK_BYTES),
            sessions: Sessions::from_proto(&partial.sessions, &partial.session_registers),
            routes: BTreeMap::new(),
            first_ms: partial.first_ms,
            last_ms: partial.last_ms,
        };
        for route in &partial.routes {
            group.add_route(crate::view::bounded_label(&route.route), route.count);
        }
        group
    }
}

fn bounded(text: &str, max_bytes: usize) -> String {
    let mut end = text.len().min(max_bytes);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text[..end].to_owned()
}

/// One error as stage 1 sees it.
pub struct ErrorOccurrence<'a> {
    pub kind: &'a str,
    pub message: &'a str,
    pub stack: &'a str,
    /// The page's host, to tell in-app stack frames from others.
    pub page_host: &'a str,
    pub route: &'a str,
    pub session_hash: u64,
    pub received_ms: i64,
}

/// The host of an absolute URL (`https://shop.example.com/x` -> `shop.example.com`).
pub fn host_of(url: &str) -> &str {
    let after_scheme = url.find("://").map_or(url, |index| &url[index + 3..]);
    let end = after_scheme
        .find(['/', '?', '#'])
        .unwrap_or(after_scheme.len());
    let authority = &after_scheme[..end];
    let host = authority.rsplit('@').next().unwrap_or(authority);
    host.split(':').next().unwrap_or(host)
}

/// A stable hash of (site, session id), so the same session counts once on every worker.
pub fn session_hash(site: &str, session_id: &[u8]) -> u64 {
    mix(fingerprint::fingerprint(
        site,
        &String::from_utf8_lossy(session_id),
        "",
    ))
}

/// The error groups of one chunk of stage 1, per site.
#[derive(Debug, Default)]
pub struct ChunkErrors {
    sites: HashMap<Arc<str>, BTreeMap<u64, (u64, Group)>>,
}

impl ChunkErrors {
    /// Records one error for `site`; `admit` decides whether a new fingerprint gets its own group
    /// this chunk (the chunk bound) or folds into `__other__`. Returns whether it folded.
    pub fn record(
        &mut self,
        site: &Arc<str>,
        error: &ErrorOccurrence,
        admit: impl FnOnce(usize) -> bool,
    ) -> bool {
        let message = fingerprint::normalise_message(error.message);
        let frame = fingerprint::top_frame(error.stack, error.page_host).unwrap_or_default();
        let kind = bounded(error.kind, 32);
        let mut key = fingerprint::fingerprint(&kind, &message, &frame);
        if key == OTHER_FINGERPRINT {
            key = 1;
        }
        let groups = self.sites.entry(site.clone()).or_default();
        let mut folded = false;
        if !groups.contains_key(&key) && !admit(groups.len()) {
            key = OTHER_FINGERPRINT;
            folded = true;
        }
        let (count, group) = groups.entry(key).or_insert_with(|| {
            let (kind, message, frame) = if folded {
                (String::from("other"), OTHER.to_owned(), String::new())
            } else {
                (kind, message, frame)
            };
            (
                0,
                Group {
                    kind,
                    message,
                    frame,
                    sample_message: bounded(error.message, MAX_SAMPLE_MESSAGE_BYTES),
                    sample_stack: bounded(error.stack, MAX_SAMPLE_STACK_BYTES),
                    first_ms: error.received_ms,
                    last_ms: error.received_ms,
                    ..Group::default()
                },
            )
        });
        *count += 1;
        group.sessions.insert(error.session_hash);
        group.add_route(error.route, 1);
        group.first_ms = group.first_ms.min(error.received_ms);
        group.last_ms = group.last_ms.max(error.received_ms);
        folded
    }

    /// The groups of `site` as partial fields (and forgets them).
    pub fn take(&mut self, site: &str) -> Vec<proto::ErrorGroupPartial> {
        self.sites
            .remove(site)
            .map(|groups| {
                groups
                    .into_iter()
                    .map(|(fingerprint, (count, group))| group.to_proto(fingerprint, count))
                    .collect()
            })
            .unwrap_or_default()
    }

    pub fn clear(&mut self) {
        self.sites.clear();
    }
}

/// One site's error groups in stage 2.
#[derive(Debug, Clone)]
pub struct SiteErrors {
    table: SpaceSaving<u64, Group>,
}

impl SiteErrors {
    pub fn new(capacity: usize) -> Self {
        Self {
            table: SpaceSaving::new(capacity),
        }
    }

    pub fn apply(&mut self, partial: &proto::ErrorGroupPartial) {
        let incoming = Group::from_proto(partial);
        self.table.add(
            partial.fingerprint,
            partial.count,
            Group::default,
            |group| group.merge(&incoming),
        );
    }

    /// The `limit` groups with the most occurrences: (fingerprint, count, error bound, group).
    pub fn top(&self, limit: usize) -> Vec<(u64, &Counted<Group>)> {
        self.table
            .top(limit)
            .into_iter()
            .map(|(fingerprint, counted)| (*fingerprint, counted))
            .collect()
    }

    /// Occurrences seen (the table's error bound is `total / capacity`).
    pub fn total(&self) -> u64 {
        self.table.total()
    }

    pub fn capacity(&self) -> usize {
        self.table.capacity()
    }

    pub fn bytes(&self) -> usize {
        self.table
            .entries()
            .iter()
            .map(|(_, counted)| counted.value.bytes() + 32)
            .sum()
    }

    pub fn export(&self, site: &str) -> proto::SiteErrorGroups {
        proto::SiteErrorGroups {
            site: site.to_owned(),
            total: self.table.total(),
            groups: self
                .table
                .entries()
                .into_iter()
                .map(|(fingerprint, counted)| proto::ErrorGroupSnapshot {
                    group: Some(counted.value.to_proto(*fingerprint, counted.count)),
                    error: counted.error,
                })
                .collect(),
        }
    }

    pub fn import(capacity: usize, saved: &proto::SiteErrorGroups) -> Self {
        let entries = saved.groups.iter().filter_map(|entry| {
            let group = entry.group.as_ref()?;
            Some((
                group.fingerprint,
                Counted {
                    count: group.count,
                    error: entry.error,
                    value: Group::from_proto(group),
                },
            ))
        });
        Self {
            table: SpaceSaving::restore(capacity, saved.total, entries),
        }
    }
}

/// The `error` label of a group: the fingerprint's first 8 hex digits and the start of its
/// normalised message (already free of numbers, ids, URLs and quoted values).
pub fn label(fingerprint: u64, message: &str) -> String {
    const MESSAGE_CHARS: usize = 60;
    let short: String = message.chars().take(MESSAGE_CHARS).collect();
    format!("{:08x} {short}", fingerprint >> 32)
}

/// Most error groups one `/api/v1/errors` answer lists per site.
pub const MAX_API_LIMIT: usize = 1000;

/// The `/api/v1/errors` answer: per site (all, or the one asked for), the `limit` most frequent
/// groups with their counts, bounds, sessions, routes, first and last seen and sample.
pub fn errors_json(
    stages: &[&crate::stage2::Stage2],
    site: Option<&str>,
    limit: usize,
) -> serde_json::Value {
    use serde_json::json;
    let mut sites: Vec<(&Arc<str>, &SiteErrors)> = stages
        .iter()
        .flat_map(|stage2| stage2.error_groups())
        .filter(|(name, _)| site.is_none_or(|wanted| &***name == wanted))
        .collect();
    sites.sort_by(|a, b| a.0.cmp(b.0));
    let sites: Vec<serde_json::Value> = sites
        .into_iter()
        .map(|(name, errors)| {
            let groups: Vec<serde_json::Value> = errors
                .top(limit)
                .into_iter()
                .map(|(fingerprint, counted)| {
                    let group = &counted.value;
                    json!({
                        "fingerprint": format!("{fingerprint:016x}"),
                        "label": label(fingerprint, &group.message),
                        "kind": group.kind,
                        "message": group.message,
                        "frame": group.frame,
                        "occurrences": counted.count,
                        "occurrences_at_least": counted.count - counted.error,
                        "sessions": group.sessions.count(),
                        "routes": group.routes.iter().map(|(route, count)| json!({"route": route, "count": count})).collect::<Vec<_>>(),
                        "first_seen_ms": group.first_ms,
                        "last_seen_ms": group.last_ms,
                        "sample": { "message": group.sample_message, "stack": group.sample_stack },
                    })
                })
                .collect();
            json!({
                "site": &**name,
                "occurrences": errors.total(),
                "capacity": errors.capacity(),
                "error_bound": errors.total() / errors.capacity() as u64,
                "groups": groups,
            })
        })
        .collect();
    json!({ "sites": sites })
}

#[cfg(test)]
mod tests;
