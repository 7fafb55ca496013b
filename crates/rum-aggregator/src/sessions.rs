//! Sessions and funnels: what a visitor did across page views.
//!
//! A session's beacons are spread over beacon partitions (they are keyed by page view), but every
//! partial of a site goes to one stage-2 owner, so stage 1 sends each chunk's session activity per
//! site with the site's first partial of the first view ([`ChunkSessions`]) and the owner merges
//! it by session id ([`Sessions`]): step sets meet in stage 2, whatever worker saw which beacon.
//!
//! Time is the beacons' edge receive time. An occurrence is final once it is older than the
//! allowed lateness (no beacon of that minute can still arrive), so funnels read a session's
//! occurrences in time order only then: the outcome does not depend on the order chunks of
//! different partitions arrived in, and a replay gives the same counts. A session ends when it was
//! idle for `aggregator.sessions.idle` (the script starts a new session id after that long) before
//! that same point; its duration, page views, bounce, entry and exit route are counted then.
//!
//! Bounds: at most `aggregator.sessions.capacity` sessions are tracked (past it the least recently
//! active ends early, counted in `rum_aggregator_sessions_evicted_total`), a session holds at most
//! [`MAX_PENDING`] occurrences not yet final (more are dropped, counted), and entry and exit
//! routes are kept per site up to `aggregator.top_n` (the rest under `__other__`, counted).

pub mod funnel;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use rum_schema::proto;

use self::funnel::{Funnel, Progress};

/// Occurrences a session may hold before they are final; more are dropped (counted).
pub const MAX_PENDING: usize = 256;
/// Upper bounds (ms) of the session-duration buckets; the last bucket is everything above.
pub const DURATION_BOUNDS_MS: [u64; 10] = [
    10_000, 30_000, 60_000, 120_000, 300_000, 600_000, 1_800_000, 3_600_000, 7_200_000, 14_400_000,
];
/// Upper bounds (ms) of the time-to-step buckets (from the funnel's first step).
pub const STEP_BOUNDS_MS: [u64; 10] = [
    1_000, 5_000, 10_000, 30_000, 60_000, 120_000, 300_000, 600_000, 1_200_000, 1_800_000,
];

/// `[aggregator.sessions]` and the funnels, typed.
#[derive(Debug, Clone, PartialEq)]
pub struct SessionSettings {
    pub enabled: bool,
    pub capacity: usize,
    pub idle_ms: i64,
    pub funnels: Arc<[Funnel]>,
}

impl SessionSettings {
    pub fn from_config(
        config: &rum_config::AggregatorConfig,
    ) -> Result<Self, rum_config::ConfigError> {
        let funnels = config
            .funnels
            .iter()
            .map(Funnel::from_config)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self {
            enabled: config.sessions.enabled,
            capacity: config.sessions.capacity,
            idle_ms: i64::try_from(config.sessions.idle.0.as_millis()).unwrap_or(i64::MAX),
            funnels: funnels.into(),
        })
    }

    /// Whether a funnel has a step on this action name (or business-event name): only those
    /// travel from stage 1.
    pub fn names_action(&self, name: &[u8]) -> bool {
        self.funnels.iter().any(|funnel| {
            funnel
                .steps
                .iter()
                .any(|step| matches!(step, funnel::Step::Action(n) if n.as_bytes() == name))
        })
    }

    pub fn names_event(&self, name: &[u8]) -> bool {
        self.funnels.iter().any(|funnel| {
            funnel
                .steps
                .iter()
                .any(|step| matches!(step, funnel::Step::Event(n) if n.as_bytes() == name))
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum OccurrenceKind {
    PageView,
    Action,
    Event,
}

impl OccurrenceKind {
    fn from_proto(kind: i32) -> Self {
        match proto::SessionOccurrenceKind::try_from(kind) {
            Ok(proto::SessionOccurrenceKind::Action) => OccurrenceKind::Action,
            Ok(proto::SessionOccurrenceKind::Event) => OccurrenceKind::Event,
            _ => OccurrenceKind::PageView,
        }
    }

    fn to_proto(self) -> proto::SessionOccurrenceKind {
        match self {
            OccurrenceKind::PageView => proto::SessionOccurrenceKind::PageView,
            OccurrenceKind::Action => proto::SessionOccurrenceKind::Action,
            OccurrenceKind::Event => proto::SessionOccurrenceKind::Event,
        }
    }
}

/// A page view (named by its route), action or business event of a session. Ordered by time,
/// then place in the beacon, then kind and name: a total order that does not depend on arrival.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Occurrence {
    pub at_ms: i64,
    pub order: u32,
    pub kind: OccurrenceKind,
    pub name: Arc<str>,
}

impl Occurrence {
    fn from_proto(occurrence: &proto::SessionOccurrence) -> Self {
        Self {
            at_ms: occurrence.at_ms,
            order: occurrence.order,
            kind: OccurrenceKind::from_proto(occurrence.kind),
            name: Arc::from(crate::view::bounded_label(&occurrence.name)),
        }
    }

    fn to_proto(&self) -> proto::SessionOccurrence {
        proto::SessionOccurrence {
            at_ms: self.at_ms,
            order: self.order,
            kind: self.kind.to_proto() as i32,
            name: self.name.to_string(),
        }
    }
}

/// FNV-1a of a session id: the same on every worker.
pub fn session_key(session_id: &[u8]) -> u64 {
    rum_schema::stable_hash::fnv1a(session_id)
}

use crate::FastMap;

/// One site's sessions in one chunk, as stage 1 gathers them: each session's first and last
/// receive time, and every occurrence in one vector (names shared with the labels stage 1 already
/// resolved). [`ChunkSessions::take`] groups them into the partial's form at the flush.
#[derive(Debug, Default)]
pub struct SiteChunk {
    spans: FastMap<u64, (i64, i64)>,
    occurrences: Vec<(u64, i64, u32, OccurrenceKind, Arc<str>)>,
}

impl SiteChunk {
    /// One occurrence of `session` (a beacon [`ChunkSessions::beacon`] noted).
    pub fn push(
        &mut self,
        session: u64,
        at_ms: i64,
        order: u32,
        kind: OccurrenceKind,
        name: Arc<str>,
    ) {
        self.occurrences.push((session, at_ms, order, kind, name));
    }
}

/// Stage 1: one chunk's session activity, per site. Per beacon one map lookup and no string copy:
/// the proto form is built once per session at the flush.
#[derive(Debug, Default)]
pub struct ChunkSessions {
    sites: FastMap<Arc<str>, SiteChunk>,
}

impl ChunkSessions {
    /// Notes a beacon of `session` at `at_ms`; its occurrences go into the returned site chunk.
    pub fn beacon(&mut self, site: &Arc<str>, session: u64, at_ms: i64) -> &mut SiteChunk {
        if !self.sites.contains_key(site) {
            self.sites.insert(site.clone(), SiteChunk::default());
        }
        let chunk = self.sites.get_mut(site).expect("inserted above");
        let span = chunk.spans.entry(session).or_insert((at_ms, at_ms));
        span.0 = span.0.min(at_ms);
        span.1 = span.1.max(at_ms);
        chunk
    }

    /// The site's activity, in session order (it leaves with the site's first partial).
    pub fn take(&mut self, site: &str) -> Vec<proto::SessionActivity> {
        let Some(chunk) = self.sites.remove(site) else {
            return Vec::new();
        };
        let mut by_session: BTreeMap<u64, proto::SessionActivity> = chunk
            .spans
            .into_iter()
            .map(|(session, (first_ms, last_ms))| {
                (
                    session,
                    proto::SessionActivity {
                        session,
                        first_ms,
                        last_ms,
                        occurrences: Vec::new(),
                    },
                )
            })
            .collect();
        for (session, at_ms, order, kind, name) in chunk.occurrences {
            if let Some(activity) = by_session.get_mut(&session) {
                activity.occurrences.push(proto::SessionOccurrence {
                    at_ms,
                    order,
                    kind: kind.to_proto() as i32,
                    name: name.to_string(),
                });
            }
        }
        by_session.into_values().collect()
    }

    pub fn clear(&mut self) {
        self.sites.clear();
    }
}

/// Non-cumulative counts at fixed bounds, and the sum (ms).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Buckets {
    pub counts: Vec<u64>,
    pub sum_ms: u64,
}

impl Buckets {
    fn new(bounds: &[u64]) -> Self {
        Self {
            counts: vec![0; bounds.len() + 1],
            sum_ms: 0,
        }
    }

    fn record(&mut self, bounds: &[u64], value_ms: i64) {
        let value = u64::try_from(value_ms).unwrap_or(0);
        let bucket = bounds
            .iter()
            .position(|bound| value <= *bound)
            .unwrap_or(bounds.len());
        self.counts[bucket] += 1;
        self.sum_ms = self.sum_ms.saturating_add(value);
    }

    pub fn count(&self) -> u64 {
        self.counts.iter().sum()
    }

    fn restore(bounds: &[u64], counts: &[u64], sum_ms: u64) -> Self {
        let mut buckets = Self::new(bounds);
        for (slot, count) in buckets.counts.iter_mut().zip(counts) {
            *slot = *count;
        }
        buckets.sum_ms = sum_ms;
        buckets
    }
}

/// Counts by route, at most `limit` routes; the rest under `__other__`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RouteCounts {
    pub counts: BTreeMap<Arc<str>, u64>,
}

impl RouteCounts {
    /// Counts `route`; returns whether it folded.
    fn add(&mut self, route: &Arc<str>, limit: usize) -> bool {
        crate::view::count_bounded(&mut self.counts, route, limit, 1)
    }

    fn to_proto(&self) -> Vec<proto::RouteCount> {
        self.counts
            .iter()
            .map(|(route, count)| proto::RouteCount {
                route: route.to_string(),
                count: *count,
            })
            .collect()
    }

    fn from_proto(routes: &[proto::RouteCount]) -> Self {
        Self {
            counts: routes
                .iter()
                .map(|route| (Arc::from(route.route.as_str()), route.count))
                .collect(),
        }
    }
}

/// One funnel's counts in one site.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FunnelStats {
    /// Sessions that reached each step.
    pub reached: Vec<u64>,
    /// Time from the first step to each.
    pub times: Vec<Buckets>,
}

impl FunnelStats {
    fn new(steps: usize) -> Self {
        Self {
            reached: vec![0; steps],
            times: (0..steps).map(|_| Buckets::new(&STEP_BOUNDS_MS)).collect(),
        }
    }
}

/// What ended sessions of a site add up to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ended {
    pub sessions: u64,
    pub bounces: u64,
    pub page_views: u64,
    pub duration: Buckets,
    pub entries: RouteCounts,
    pub exits: RouteCounts,
}

impl Default for Ended {
    fn default() -> Self {
        Self {
            sessions: 0,
            bounces: 0,
            page_views: 0,
            duration: Buckets::new(&DURATION_BOUNDS_MS),
            entries: RouteCounts::default(),
            exits: RouteCounts::default(),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
struct Session {
    first_ms: i64,
    last_ms: i64,
    page_views: u32,
    entry: Option<Occurrence>,
    exit: Option<Occurrence>,
    /// Occurrences not yet final, unordered.
    pending: Vec<Occurrence>,
    /// Per configured funnel (those that do not apply to the site stay at 0).
    progress: Vec<Progress>,
}

/// One site's sessions: those tracked, and the counts of those ended.
#[derive(Debug, Clone, PartialEq)]
pub struct SiteSessions {
    tracked: HashMap<u64, Session>,
    pub ended: Ended,
    /// Per configured funnel.
    pub funnels: Vec<FunnelStats>,
}

impl SiteSessions {
    fn new(funnels: &[Funnel]) -> Self {
        Self {
            tracked: HashMap::new(),
            ended: Ended::default(),
            funnels: funnels
                .iter()
                .map(|funnel| FunnelStats::new(funnel.steps.len()))
                .collect(),
        }
    }

    /// Sessions tracked (not ended).
    pub fn active(&self) -> usize {
        self.tracked.len()
    }
}

/// Stage 2: the sessions of the sites this stage 2 owns.
#[derive(Debug)]
pub struct Sessions {
    settings: SessionSettings,
    /// Entry and exit routes kept per site.
    route_limit: usize,
    sites: BTreeMap<Arc<str>, SiteSessions>,
    /// Every tracked session by last activity: idle ones end from the front, and the front is the
    /// one evicted when the table is full.
    by_activity: BTreeSet<(i64, Arc<str>, u64)>,
    /// Everything before this instant (ms) is final and was read.
    settled_ms: i64,
    evicted: u64,
    dropped_occurrences: u64,
    route_folds: u64,
}

impl Sessions {
    pub fn new(settings: SessionSettings, route_limit: usize) -> Self {
        Self {
            settings,
            route_limit,
            sites: BTreeMap::new(),
            by_activity: BTreeSet::new(),
            settled_ms: i64::MIN,
            evicted: 0,
            dropped_occurrences: 0,
            route_folds: 0,
        }
    }

    pub fn enabled(&self) -> bool {
        self.settings.enabled
    }

    pub fn funnels(&self) -> &[Funnel] {
        &self.settings.funnels
    }

    pub fn sites(&self) -> impl Iterator<Item = (&Arc<str>, &SiteSessions)> {
        self.sites.iter()
    }

    /// Sessions tracked now, over every site.
    pub fn tracked(&self) -> usize {
        self.by_activity.len()
    }

    /// Sessions ended early because the table was full, since start (or the snapshot).
    pub fn evicted(&self) -> u64 {
        self.evicted
    }

    /// Occurrences dropped because their session held [`MAX_PENDING`] not yet final.
    pub fn dropped_occurrences(&self) -> u64 {
        self.dropped_occurrences
    }

    /// Entry and exit routes folded into `__other__`.
    pub fn route_folds(&self) -> u64 {
        self.route_folds
    }

    /// Approximate bytes held: per tracked session its entry, the activity index and pending
    /// occurrences; per site its counters.
    pub fn bytes(&self) -> usize {
        const PER_SESSION: usize = std::mem::size_of::<(u64, Session)>()
            + std::mem::size_of::<(i64, Arc<str>, u64)>()
            + 32;
        let pending: usize = self
            .sites
            .values()
            .flat_map(|site| site.tracked.values())
            .map(|session| {
                session.pending.capacity() * std::mem::size_of::<Occurrence>()
                    + session.progress.capacity() * std::mem::size_of::<Progress>()
            })
            .sum();
        self.by_activity.len() * PER_SESSION + pending + self.sites.len() * 1024
    }

    /// Merges one chunk's activity of one session of `site`.
    pub fn apply(&mut self, site: &Arc<str>, activity: &proto::SessionActivity) {
        if !self.settings.enabled {
            return;
        }
        let key = activity.session;
        let known = self
            .sites
            .get(site)
            .is_some_and(|sessions| sessions.tracked.contains_key(&key));
        if !known {
            while self.by_activity.len() >= self.settings.capacity {
                self.evict_least_recent();
            }
        }
        let funnels = self.settings.funnels.clone();
        let follows_funnels = funnels.iter().any(|funnel| funnel.applies_to(site));
        let sessions = self
            .sites
            .entry(site.clone())
            .or_insert_with(|| SiteSessions::new(&funnels));
        let session = sessions.tracked.entry(key).or_insert_with(|| Session {
            first_ms: activity.first_ms,
            last_ms: activity.last_ms,
            page_views: 0,
            entry: None,
            exit: None,
            pending: Vec::new(),
            progress: vec![Progress::default(); funnels.len()],
        });
        if known {
            self.by_activity
                .remove(&(session.last_ms, site.clone(), key));
        }
        session.first_ms = session.first_ms.min(activity.first_ms);
        session.last_ms = session.last_ms.max(activity.last_ms);
        self.by_activity
            .insert((session.last_ms, site.clone(), key));
        for occurrence in &activity.occurrences {
            let occurrence = Occurrence::from_proto(occurrence);
            if occurrence.kind == OccurrenceKind::PageView {
                session.page_views = session.page_views.saturating_add(1);
                if session
                    .entry
                    .as_ref()
                    .is_none_or(|entry| occurrence < *entry)
                {
                    session.entry = Some(occurrence.clone());
                }
                if session.exit.as_ref().is_none_or(|exit| occurrence > *exit) {
                    session.exit = Some(occurrence.clone());
                }
            }
            if !follows_funnels {
                continue;
            }
            if session.pending.len() >= MAX_PENDING {
                self.dropped_occurrences += 1;
                continue;
            }
            session.pending.push(occurrence);
        }
    }

    /// Moves the final point to `settled_ms` (the start of the oldest minute that can still
    /// receive beacons): funnels read what became final, and sessions idle since before it end.
    pub fn settle(&mut self, settled_ms: i64) {
        if !self.settings.enabled || settled_ms <= self.settled_ms {
            return;
        }
        self.settled_ms = settled_ms;
        let funnels = self.settings.funnels.clone();
        for (site, sessions) in &mut self.sites {
            let SiteSessions {
                tracked,
                funnels: stats,
                ..
            } = sessions;
            for session in tracked.values_mut() {
                if !session.pending.is_empty() {
                    read_final(site, session, &funnels, stats, Some(settled_ms));
                }
            }
        }
        while let Some((last_ms, _, _)) = self.by_activity.first() {
            if last_ms.saturating_add(self.settings.idle_ms) >= settled_ms {
                break;
            }
            let (_, site, key) = self.by_activity.pop_first().expect("checked above");
            self.end(&site, key);
        }
    }

    fn evict_least_recent(&mut self) {
        let Some((_, site, key)) = self.by_activity.pop_first() else {
            return;
        };
        self.evicted += 1;
        self.end(&site, key);
    }

    /// Ends a session no longer in `by_activity`: what it still held is read as final.
    fn end(&mut self, site: &Arc<str>, key: u64) {
        let funnels = self.settings.funnels.clone();
        let route_limit = self.route_limit;
        let Some(sessions) = self.sites.get_mut(site) else {
            return;
        };
        let Some(mut session) = sessions.tracked.remove(&key) else {
            return;
        };
        read_final(site, &mut session, &funnels, &mut sessions.funnels, None);
        if session.page_views == 0 {
            return;
        }
        let ended = &mut sessions.ended;
        ended.sessions += 1;
        ended.bounces += u64::from(session.page_views == 1);
        ended.page_views += u64::from(session.page_views);
        ended
            .duration
            .record(&DURATION_BOUNDS_MS, session.last_ms - session.first_ms);
        let mut folds = 0;
        if let Some(entry) = &session.entry {
            folds += u64::from(ended.entries.add(&entry.name, route_limit));
        }
        if let Some(exit) = &session.exit {
            folds += u64::from(ended.exits.add(&exit.name, route_limit));
        }
        self.route_folds += folds;
    }

    /// The snapshot fields of every site, in site order (sessions in key order).
    pub fn export(&self) -> Vec<proto::SiteSessionsSnapshot> {
        self.sites
            .iter()
            .map(|(site, sessions)| {
                let mut tracked: Vec<(&u64, &Session)> = sessions.tracked.iter().collect();
                tracked.sort_by_key(|(key, _)| **key);
                proto::SiteSessionsSnapshot {
                    site: site.to_string(),
                    tracked: tracked
                        .into_iter()
                        .map(|(key, session)| {
                            let mut pending = session.pending.clone();
                            pending.sort();
                            proto::TrackedSession {
                                session: *key,
                                first_ms: session.first_ms,
                                last_ms: session.last_ms,
                                page_views: session.page_views,
                                entry: session.entry.as_ref().map(Occurrence::to_proto),
                                exit: session.exit.as_ref().map(Occurrence::to_proto),
                                pending: pending.iter().map(Occurrence::to_proto).collect(),
                                funnels: self
                                    .settings
                                    .funnels
                                    .iter()
                                    .zip(&session.progress)
                                    .filter(|(_, progress)| progress.reached > 0)
                                    .map(|(funnel, progress)| proto::FunnelProgress {
                                        funnel: funnel.name.to_string(),
                                        reached: progress.reached,
                                        start_ms: progress.start_ms,
                                    })
                                    .collect(),
                            }
                        })
                        .collect(),
                    sessions: sessions.ended.sessions,
                    bounces: sessions.ended.bounces,
                    page_views: sessions.ended.page_views,
                    duration_buckets: sessions.ended.duration.counts.clone(),
                    duration_ms_sum: sessions.ended.duration.sum_ms,
                    entries: sessions.ended.entries.to_proto(),
                    exits: sessions.ended.exits.to_proto(),
                    funnels: self
                        .settings
                        .funnels
                        .iter()
                        .zip(&sessions.funnels)
                        .map(|(funnel, stats)| proto::FunnelSnapshot {
                            funnel: funnel.name.to_string(),
                            reached: stats.reached.clone(),
                            times: stats
                                .times
                                .iter()
                                .map(|times| proto::StepTimes {
                                    buckets: times.counts.clone(),
                                    sum_ms: times.sum_ms,
                                })
                                .collect(),
                        })
                        .collect(),
                }
            })
            .collect()
    }

    /// Restores what [`export`](Self::export) wrote. Funnels are matched by name: a funnel no
    /// longer configured is dropped, a new one starts empty, one whose step count changed restarts.
    pub fn import(&mut self, saved: &[proto::SiteSessionsSnapshot], evicted: u64, settled_ms: i64) {
        self.evicted = evicted;
        self.settled_ms = settled_ms;
        let funnels = self.settings.funnels.clone();
        for site_saved in saved {
            let site: Arc<str> = Arc::from(site_saved.site.as_str());
            let mut sessions = SiteSessions::new(&funnels);
            sessions.ended = Ended {
                sessions: site_saved.sessions,
                bounces: site_saved.bounces,
                page_views: site_saved.page_views,
                duration: Buckets::restore(
                    &DURATION_BOUNDS_MS,
                    &site_saved.duration_buckets,
                    site_saved.duration_ms_sum,
                ),
                entries: RouteCounts::from_proto(&site_saved.entries),
                exits: RouteCounts::from_proto(&site_saved.exits),
            };
            for saved_funnel in &site_saved.funnels {
                let Some(index) = funnels
                    .iter()
                    .position(|funnel| *funnel.name == *saved_funnel.funnel)
                else {
                    continue;
                };
                if saved_funnel.reached.len() != funnels[index].steps.len() {
                    continue;
                }
                let stats = &mut sessions.funnels[index];
                stats.reached.clone_from(&saved_funnel.reached);
                for (times, saved_times) in stats.times.iter_mut().zip(&saved_funnel.times) {
                    *times =
                        Buckets::restore(&STEP_BOUNDS_MS, &saved_times.buckets, saved_times.sum_ms);
                }
            }
            for tracked in &site_saved.tracked {
                let mut progress = vec![Progress::default(); funnels.len()];
                for saved_progress in &tracked.funnels {
                    if let Some(index) = funnels
                        .iter()
                        .position(|funnel| *funnel.name == *saved_progress.funnel)
                        && (saved_progress.reached as usize) <= funnels[index].steps.len()
                    {
                        progress[index] = Progress {
                            reached: saved_progress.reached,
                            start_ms: saved_progress.start_ms,
                        };
                    }
                }
                let session = Session {
                    first_ms: tracked.first_ms,
                    last_ms: tracked.last_ms,
                    page_views: tracked.page_views,
                    entry: tracked.entry.as_ref().map(Occurrence::from_proto),
                    exit: tracked.exit.as_ref().map(Occurrence::from_proto),
                    pending: tracked.pending.iter().map(Occurrence::from_proto).collect(),
                    progress,
                };
                self.by_activity
                    .insert((session.last_ms, site.clone(), tracked.session));
                sessions.tracked.insert(tracked.session, session);
            }
            self.sites.insert(site, sessions);
        }
    }
}

/// Reads a session's pending occurrences before `before` (all of them with `None`) in order
/// through every funnel that applies to its site.
fn read_final(
    site: &str,
    session: &mut Session,
    funnels: &[Funnel],
    stats: &mut [FunnelStats],
    before: Option<i64>,
) {
    session.pending.sort();
    let final_count = match before {
        Some(before) => session
            .pending
            .partition_point(|occurrence| occurrence.at_ms < before),
        None => session.pending.len(),
    };
    if final_count == 0 {
        return;
    }
    let pending = std::mem::take(&mut session.pending);
    let mut occurrences = pending.into_iter();
    for occurrence in occurrences.by_ref().take(final_count) {
        for ((funnel, progress), stats) in
            funnels.iter().zip(&mut session.progress).zip(&mut *stats)
        {
            if !funnel.applies_to(site) {
                continue;
            }
            if let Some((step, since_first)) = progress.advance(funnel, &occurrence) {
                stats.reached[step] += 1;
                stats.times[step].record(&STEP_BOUNDS_MS, since_first);
            }
        }
    }
    // What is left, in a buffer of its size: a session that waits holds no spare capacity.
    session.pending = occurrences.collect();
}

#[cfg(test)]
mod tests;
