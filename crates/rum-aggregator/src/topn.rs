//! Top-N admission per (site, dimension): the values that become label values; the rest fold into
//! `__other__`.
//!
//! The first N distinct values seen are admitted at once (so a fresh install shows its routes
//! immediately). Once full, other values fold and are counted as candidates; every minute the
//! admitted set is re-ranked against the candidates by their counts (halved each minute so the
//! ranking follows current traffic) and the top N stay. Memory per (site, dimension) is bounded by
//! N admitted plus `CANDIDATE_FACTOR x N` candidates, whatever the input: a flood of distinct URLs
//! fills the candidate table, then folds without growing anything.
//!
//! Releases are bounded by recency instead ([`TopN::resolve_recent`], `aggregator.releases` per
//! site): a new release is admitted at once and the oldest admitted one leaves, so a deploy shows
//! up beside the one before it; a release that left folds from then on (it is remembered, bounded,
//! so an old tab's beacons cannot push a current release out).

use std::cell::Cell;
use std::sync::Arc;

use rum_schema::proto::{AdmissionSnapshot, CountedValue, SiteAdmissionSnapshot, TopNSnapshot};

use crate::names::{NAME_KIND_COUNT, NameKind};
use crate::view::{DIMENSION_COUNT, Dimension, OTHER, bounded_label};

/// Tables per site: one per dimension, then one per name kind (actions, business events).
const TABLES: usize = DIMENSION_COUNT + NAME_KIND_COUNT;

/// How the per-site tables of a snapshot are laid out: 1 = every dimension (releases included),
/// then the name kinds; 0 (older snapshots) = seven dimensions, then the name kinds.
const TABLE_LAYOUT: u32 = 1;

/// Candidates tracked per admitted slot.
pub const CANDIDATE_FACTOR: usize = 4;

/// Why a value was folded into `__other__`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fold {
    /// Not among the top N values of its dimension for its site.
    TopN,
}

use crate::FastMap;

#[derive(Debug, Default)]
struct TopN {
    /// Counts in a `Cell` so one lookup both finds the interned key and counts the hit.
    admitted: FastMap<Arc<str>, Cell<u64>>,
    candidates: FastMap<Arc<str>, u64>,
}

impl TopN {
    /// Resolves `value`, counting `hits` for it (the beacons it stands for).
    fn resolve(&mut self, value: &str, limit: usize, hits: u64) -> Result<Arc<str>, Fold> {
        if let Some((key, count)) = self.admitted.get_key_value(value) {
            count.set(count.get() + hits);
            return Ok(key.clone());
        }
        if self.admitted.len() < limit {
            let key: Arc<str> = Arc::from(value);
            self.admitted.insert(key.clone(), Cell::new(hits));
            return Ok(key);
        }
        if let Some(count) = self.candidates.get_mut(value) {
            *count += hits;
        } else if self.candidates.len() < limit * CANDIDATE_FACTOR {
            self.candidates.insert(Arc::from(value), hits);
        }
        Err(Fold::TopN)
    }

    /// Resolves `value` by recency: admitted ones resolve, a value never seen is admitted (the
    /// oldest admitted leaving when `limit` are), one that left before folds. The admitted
    /// counts hold the order of admission, the candidates the order of leaving.
    fn resolve_recent(&mut self, value: &str, limit: usize) -> Result<Arc<str>, Fold> {
        if let Some((key, _)) = self.admitted.get_key_value(value) {
            return Ok(key.clone());
        }
        if self.candidates.contains_key(value) {
            return Err(Fold::TopN);
        }
        let next = self
            .admitted
            .values()
            .map(Cell::get)
            .chain(self.candidates.values().copied())
            .max()
            .map_or(0, |newest| newest + 1);
        if self.admitted.len() >= limit {
            let oldest = self
                .admitted
                .iter()
                .min_by(|a, b| a.1.get().cmp(&b.1.get()).then_with(|| a.0.cmp(b.0)))
                .map(|(key, _)| key.clone());
            if let Some(oldest) = oldest {
                self.admitted.remove(&oldest);
                if self.candidates.len() >= limit * CANDIDATE_FACTOR {
                    let forgotten = self
                        .candidates
                        .iter()
                        .min_by(|a, b| a.1.cmp(b.1).then_with(|| a.0.cmp(b.0)))
                        .map(|(key, _)| key.clone());
                    if let Some(forgotten) = forgotten {
                        self.candidates.remove(&forgotten);
                    }
                }
                self.candidates.insert(oldest, next);
            }
        }
        let key: Arc<str> = Arc::from(value);
        self.admitted.insert(key.clone(), Cell::new(next + 1));
        Ok(key)
    }

    /// Re-ranks admitted values against candidates; keeps the top `limit`.
    fn rebalance(&mut self, limit: usize) {
        if self.candidates.is_empty() {
            for count in self.admitted.values_mut() {
                count.set(count.get() / 2);
            }
            return;
        }
        let mut ranked: Vec<(Arc<str>, u64)> = self
            .admitted
            .drain()
            .map(|(value, count)| (value, count.get()))
            .chain(self.candidates.drain())
            .collect();
        // Highest count first; ties keep a stable, deterministic order.
        ranked.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        ranked.truncate(limit);
        self.admitted = ranked
            .into_iter()
            .map(|(value, count)| (value, Cell::new(count / 2)))
            .collect();
    }

    fn memory_entries(&self) -> usize {
        self.admitted.len() + self.candidates.len()
    }

    fn export(&self) -> TopNSnapshot {
        let counted = |value: &Arc<str>, count: u64| CountedValue {
            value: value.to_string(),
            count,
        };
        let mut admitted: Vec<CountedValue> = self
            .admitted
            .iter()
            .map(|(value, count)| counted(value, count.get()))
            .collect();
        let mut candidates: Vec<CountedValue> = self
            .candidates
            .iter()
            .map(|(value, count)| counted(value, *count))
            .collect();
        // Map order is random per process; a snapshot's bytes should not be.
        admitted.sort_by(|a, b| a.value.cmp(&b.value));
        candidates.sort_by(|a, b| a.value.cmp(&b.value));
        TopNSnapshot {
            admitted,
            candidates,
        }
    }

    fn import(saved: &TopNSnapshot) -> Self {
        Self {
            admitted: saved
                .admitted
                .iter()
                .map(|entry| (Arc::from(entry.value.as_str()), Cell::new(entry.count)))
                .collect(),
            candidates: saved
                .candidates
                .iter()
                .map(|entry| (Arc::from(entry.value.as_str()), entry.count))
                .collect(),
        }
    }
}

/// One site's top-N tables (see [`Admission::site_tables`]).
pub struct SiteAdmission<'a> {
    tables: &'a mut [TopN; TABLES],
    limit: usize,
    other: &'a Arc<str>,
}

impl SiteAdmission<'_> {
    /// The label value for `dimension`, or `__other__` with the reason; `hits` beacons count
    /// for it.
    pub fn value(
        &mut self,
        dimension: Dimension,
        raw_value: &str,
        hits: u64,
    ) -> Result<Arc<str>, (Arc<str>, Fold)> {
        self.tables[dimension.index()]
            .resolve(bounded_label(raw_value), self.limit, hits)
            .map_err(|fold| (self.other.clone(), fold))
    }
}

/// All top-N tables: sites (bounded by `max_sites`), then per site one per other dimension
/// (`top_n` values each) and one per name kind (`top_names` names each).
#[derive(Debug)]
pub struct Admission {
    top_n: usize,
    top_names: usize,
    /// Releases kept per site, the most recent.
    releases: usize,
    max_sites: usize,
    sites: TopN,
    per_site: FastMap<Arc<str>, [TopN; TABLES]>,
    other: Arc<str>,
}

impl Admission {
    pub fn new(top_n: usize, max_sites: usize) -> Self {
        Self {
            top_n,
            top_names: top_n,
            releases: top_n,
            max_sites,
            sites: TopN::default(),
            per_site: FastMap::default(),
            other: Arc::from(OTHER),
        }
    }

    /// The same tables with `top_names` names per site and name kind.
    pub fn with_top_names(mut self, top_names: usize) -> Self {
        self.top_names = top_names;
        self
    }

    /// The same tables keeping the `releases` most recent releases per site.
    pub fn with_releases(mut self, releases: usize) -> Self {
        self.releases = releases;
        self
    }

    /// The label for an action or event name of `site` (an admitted site label); `hits`
    /// occurrences count for it.
    pub fn name(
        &mut self,
        site: &Arc<str>,
        kind: NameKind,
        raw_name: &str,
        hits: u64,
    ) -> Result<Arc<str>, (Arc<str>, Fold)> {
        let limit = self.top_names;
        let tables = self.per_site.entry(site.clone()).or_default();
        tables[DIMENSION_COUNT + kind.index()]
            .resolve(bounded_label(raw_name), limit, hits)
            .map_err(|fold| (self.other.clone(), fold))
    }

    /// The label value for a site; `hits` beacons count for it.
    pub fn site(&mut self, site: &str, hits: u64) -> Result<Arc<str>, (Arc<str>, Fold)> {
        let limit = self.max_sites;
        self.sites
            .resolve(bounded_label(site), limit, hits)
            .map_err(|fold| (self.other.clone(), fold))
    }

    /// The label value for `dimension` of a beacon of `site` (an admitted site label); `hits`
    /// beacons count for it.
    pub fn value(
        &mut self,
        site: &Arc<str>,
        dimension: Dimension,
        raw_value: &str,
        hits: u64,
    ) -> Result<Arc<str>, (Arc<str>, Fold)> {
        let tables = self.per_site.entry(site.clone()).or_default();
        let table = &mut tables[dimension.index()];
        let resolved = if dimension == Dimension::Release {
            table.resolve_recent(bounded_label(raw_value), self.releases)
        } else {
            table.resolve(bounded_label(raw_value), self.top_n, hits)
        };
        resolved.map_err(|fold| (self.other.clone(), fold))
    }

    /// The tables of one (admitted) site, for resolving several dimensions of one beacon with one
    /// site lookup.
    pub fn site_tables(&mut self, site: &Arc<str>) -> SiteAdmission<'_> {
        if !self.per_site.contains_key(site) {
            self.per_site.insert(site.clone(), Default::default());
        }
        SiteAdmission {
            tables: self.per_site.get_mut(site).expect("inserted above"),
            limit: self.top_n,
            other: &self.other,
        }
    }

    /// Called once a minute.
    pub fn rebalance(&mut self) {
        self.sites.rebalance(self.max_sites);
        for tables in self.per_site.values_mut() {
            for (index, table) in tables.iter_mut().enumerate() {
                // Releases are kept by recency, not re-ranked by traffic.
                if index == Dimension::Release.index() {
                    continue;
                }
                let limit = if index < DIMENSION_COUNT {
                    self.top_n
                } else {
                    self.top_names
                };
                table.rebalance(limit);
            }
        }
        // Sites no longer admitted lose their tables (bounded by max_sites + candidates anyway).
        let sites = &self.sites;
        self.per_site
            .retain(|site, _| sites.admitted.contains_key(site) || &**site == OTHER);
    }

    /// The tables, for a snapshot.
    pub fn export(&self) -> AdmissionSnapshot {
        let mut per_site: Vec<SiteAdmissionSnapshot> = self
            .per_site
            .iter()
            .map(|(site, tables)| SiteAdmissionSnapshot {
                site: site.to_string(),
                dimensions: tables.iter().map(TopN::export).collect(),
                layout: TABLE_LAYOUT,
            })
            .collect();
        per_site.sort_by(|a, b| a.site.cmp(&b.site));
        AdmissionSnapshot {
            sites: Some(self.sites.export()),
            per_site,
        }
    }

    /// Tables as [`export`](Self::export) wrote them.
    pub fn import(top_n: usize, max_sites: usize, saved: &AdmissionSnapshot) -> Self {
        let mut admission = Self::new(top_n, max_sites);
        if let Some(sites) = &saved.sites {
            admission.sites = TopN::import(sites);
        }
        for site in &saved.per_site {
            // Snapshots written before the name tables have only the dimensions' tables; those
            // written before releases (layout 0) have seven dimensions, then the name tables.
            let mut tables: [TopN; TABLES] = Default::default();
            let dimensions = if site.layout >= 1 {
                DIMENSION_COUNT
            } else {
                Dimension::Release.index()
            };
            for (index, saved) in site.dimensions.iter().enumerate() {
                let position = if index < dimensions {
                    index
                } else {
                    DIMENSION_COUNT + (index - dimensions)
                };
                if let Some(table) = tables.get_mut(position) {
                    *table = TopN::import(saved);
                }
            }
            admission
                .per_site
                .insert(Arc::from(site.site.as_str()), tables);
        }
        admission
    }

    /// Values held (admitted + candidates), for the memory gauge and tests.
    pub fn entries(&self) -> usize {
        self.sites.memory_entries()
            + self
                .per_site
                .values()
                .flat_map(|tables| tables.iter())
                .map(TopN::memory_entries)
                .sum::<usize>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn releases_are_kept_by_recency_and_a_release_that_left_folds() {
        let mut admission = Admission::new(100, 10).with_releases(2);
        let site = admission.site("shop", 1).unwrap();
        let mut resolve = |release: &str, hits: u64| {
            admission
                .value(&site, Dimension::Release, release, hits)
                .map(|value| value.to_string())
                .map_err(|(other, _)| other.to_string())
        };
        assert_eq!(resolve("1.0", 1000), Ok("1.0".into()));
        assert_eq!(resolve("1.1", 1), Ok("1.1".into()));
        // A new deploy is admitted at once, however little traffic it has; the oldest leaves.
        assert_eq!(resolve("1.2", 1), Ok("1.2".into()));
        assert_eq!(
            resolve("1.0", 5000),
            Err(OTHER.into()),
            "1.0 left: it folds"
        );
        assert_eq!(resolve("1.1", 1), Ok("1.1".into()));
        assert_eq!(resolve("1.2", 1), Ok("1.2".into()));
        // Re-ranking by traffic leaves releases alone, and a snapshot keeps the order.
        admission.rebalance();
        let saved = admission.export();
        let mut restored = Admission::import(100, 10, &saved).with_releases(2);
        assert_eq!(
            restored
                .value(&site, Dimension::Release, "1.3", 1)
                .map(|value| value.to_string()),
            Ok("1.3".into())
        );
        assert!(
            restored.value(&site, Dimension::Release, "1.1", 1).is_err(),
            "1.1 was the oldest"
        );
        assert!(restored.value(&site, Dimension::Release, "1.2", 1).is_ok());
    }

    #[test]
    fn a_snapshot_from_before_releases_keeps_its_name_tables() {
        let mut admission = Admission::new(5, 10);
        let site: Arc<str> = Arc::from("shop");
        admission
            .name(&site, NameKind::Action, "Add to cart", 3)
            .unwrap();
        admission
            .value(&site, Dimension::Route, "/cart", 3)
            .unwrap();
        let mut saved = admission.export();
        // As an older build wrote it: seven dimensions (no release), then the name tables.
        for site in &mut saved.per_site {
            site.dimensions.remove(Dimension::Release.index());
            site.layout = 0;
        }
        let restored = Admission::import(5, 10, &saved);
        let tables = &restored.per_site[&site];
        assert!(
            tables[DIMENSION_COUNT + NameKind::Action.index()]
                .admitted
                .contains_key("Add to cart")
        );
        assert!(
            tables[Dimension::Route.index()]
                .admitted
                .contains_key("/cart")
        );
        assert!(tables[Dimension::Release.index()].admitted.is_empty());
    }

    #[test]
    fn first_values_are_admitted_then_others_fold() {
        let mut admission = Admission::new(2, 10);
        let site = admission.site("shop", 1).expect("admitted");
        assert!(admission.value(&site, Dimension::Route, "/a", 1).is_ok());
        assert!(admission.value(&site, Dimension::Route, "/b", 1).is_ok());
        let folded = admission.value(&site, Dimension::Route, "/c", 1);
        assert_eq!(
            folded.map_err(|(value, _)| value.to_string()),
            Err(OTHER.to_owned())
        );
        // Another dimension has its own table.
        assert!(admission.value(&site, Dimension::Country, "DE", 1).is_ok());
    }

    #[test]
    fn rebalance_promotes_a_hotter_candidate() {
        let mut admission = Admission::new(1, 10);
        let site = admission.site("shop", 1).expect("admitted");
        // The first value is admitted at once; the next one folds (the table holds one) but is a
        // candidate with more hits.
        assert!(admission.value(&site, Dimension::Route, "/cold", 1).is_ok());
        for _ in 0..10 {
            assert!(admission.value(&site, Dimension::Route, "/hot", 1).is_err());
        }
        admission.rebalance();
        assert_eq!(
            admission
                .value(&site, Dimension::Route, "/hot", 1)
                .map(|v| v.to_string()),
            Ok("/hot".to_owned())
        );
        assert!(
            admission
                .value(&site, Dimension::Route, "/cold", 1)
                .is_err()
        );
    }

    #[test]
    fn hits_weigh_a_value_by_the_beacons_it_stands_for() {
        let mut admission = Admission::new(1, 10);
        let site = admission.site("shop", 1).expect("admitted");
        assert!(admission.value(&site, Dimension::Route, "/many", 1).is_ok());
        // One partial of 40 beacons outweighs ten of one.
        for _ in 0..10 {
            assert!(admission.value(&site, Dimension::Route, "/a", 1).is_err());
        }
        assert!(admission.value(&site, Dimension::Route, "/b", 40).is_err());
        admission.rebalance();
        assert!(admission.value(&site, Dimension::Route, "/b", 1).is_ok());
    }

    #[test]
    fn a_flood_of_distinct_values_stays_bounded() {
        let mut admission = Admission::new(10, 10);
        let site = admission.site("shop", 1).expect("admitted");
        let mut admitted = 0;
        for index in 0..100_000 {
            if admission
                .value(&site, Dimension::Route, &format!("/u/{index}"), 1)
                .is_ok()
            {
                admitted += 1;
            }
        }
        assert_eq!(admitted, 10, "the first ten are admitted, the rest fold");
        assert!(admission.entries() <= 1 + 10 + 10 * CANDIDATE_FACTOR);
    }
}
