//! Remembers what each page view already reported, so a metric re-sent with the same page view and
//! id counts once, with its latest value, and a page view counts once however many beacons it sends.
//!
//! One entry per page view (keyed by a seeded hash of site and page-view id; the seed is random
//! when a table is created, so keys cannot be steered into collisions, and travels with the
//! table's snapshot so a restored table keys page views the same way), holding up to
//! [`METRICS_PER_PAGE_VIEW`] metric ids inline: one map operation per beacon instead of one per
//! metric, which was a third of stage 1's time. Memory is bounded by `capacity` page views;
//! entries also expire after `horizon_minutes` (past that their window is gone and a retraction is
//! moot). Expiry and eviction depend only on the minutes it is given, never on a clock.
//!
//! Which value of a re-sent metric wins: the one from the beacon with the higher sequence number
//! (`seq`, the page view's send order), whatever order the beacons arrive in. Leaving a page sends
//! two beacons a few milliseconds apart (`pagehide`, then `visibilitychange` with the final CLS and
//! INP), and two requests can swap in flight. Beacons without a sequence (older scripts) keep the
//! arrival rule: the later arrival wins.

use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasher, Hasher};

use rum_schema::proto::DedupeEntry;

/// Metric ids remembered per page view: the five vitals, navigation timing and headroom. A page view
/// reporting more distinct ids has the extra ones counted without dedupe (and counted as overflow).
pub const METRICS_PER_PAGE_VIEW: usize = 8;

/// What the dedupe table knew about a metric before this observation.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Seen {
    /// First time: count it.
    New,
    /// Same value again: nothing to do.
    Unchanged,
    /// A new value for a metric counted before, in the window of `minute` (where that metric was
    /// first counted): retract `previous` there and count the new value in that same window.
    Replaced { previous: f64, minute: i64 },
    /// A value from an earlier beacon (lower sequence) than the one already counted: ignored.
    Stale,
    /// The page view already holds [`METRICS_PER_PAGE_VIEW`] ids: counted as new, not remembered.
    Overflow,
}

#[derive(Debug, Clone, Copy, PartialEq)]
struct Entry {
    minute: i64,
    len: u8,
    /// (hash of the metric id, latest value, minute it is counted in, relative to `minute`, and the
    /// sequence of the beacon that sent it).
    metrics: [Metric; METRICS_PER_PAGE_VIEW],
}

#[derive(Debug, Clone, Copy, PartialEq)]
struct Metric {
    id: u32,
    /// Minutes after the entry's: within the dedupe horizon, far inside `i16`.
    minute_offset: i16,
    /// The sending beacon's sequence plus one (saturating), 0 when it had none: 16 bytes a metric,
    /// as before sequences existed.
    sequence: u16,
    value: f64,
}

const NO_METRIC: Metric = Metric {
    id: 0,
    minute_offset: 0,
    sequence: NO_SEQUENCE,
    value: 0.0,
};

const NO_SEQUENCE: u16 = 0;

/// A beacon's sequence as stored: plus one, so that 0 means none; past `u16::MAX - 1` beacons a
/// page view's sequences all compare equal (the arrival rule then decides).
fn stored_sequence(sequence: Option<u32>) -> u16 {
    sequence.map_or(NO_SEQUENCE, |sequence| {
        u16::try_from(sequence.saturating_add(1)).unwrap_or(u16::MAX)
    })
}

fn minute_offset(minute: i64, entry_minute: i64) -> i16 {
    i16::try_from(minute - entry_minute).unwrap_or(0)
}

/// One page view's entry, for observing its metrics.
pub struct PageView<'a> {
    entry: &'a mut Entry,
}

impl PageView<'_> {
    /// Records `value` for `metric_id`, counted (if new) in `minute`, sent by the beacon with
    /// `sequence` (`None`: an older script that sends none).
    pub fn observe(
        &mut self,
        metric_id: &[u8],
        value: f64,
        minute: i64,
        sequence: Option<u32>,
    ) -> Seen {
        let id = metric_id_hash(metric_id);
        let sequence = stored_sequence(sequence);
        let len = usize::from(self.entry.len);
        let entry_minute = self.entry.minute;
        if let Some(slot) = self.entry.metrics[..len]
            .iter_mut()
            .find(|known| known.id == id)
        {
            if sequence != NO_SEQUENCE && sequence < slot.sequence {
                return Seen::Stale;
            }
            slot.sequence = slot.sequence.max(sequence);
            if slot.value == value {
                return Seen::Unchanged;
            }
            let previous = slot.value;
            slot.value = value;
            return Seen::Replaced {
                previous,
                minute: entry_minute + i64::from(slot.minute_offset),
            };
        }
        if len == METRICS_PER_PAGE_VIEW {
            return Seen::Overflow;
        }
        // Minutes of one page view's beacons lie within the dedupe horizon of each other.
        self.entry.metrics[len] = Metric {
            id,
            minute_offset: minute_offset(minute, entry_minute),
            sequence,
            value,
        };
        self.entry.len += 1;
        Seen::New
    }

    /// The minute this page view was first seen in.
    pub fn minute(&self) -> i64 {
        self.entry.minute
    }
}

fn random_seed() -> u64 {
    use std::collections::hash_map::RandomState;
    RandomState::new().build_hasher().finish()
}

/// FNV-1a: metric ids are short and only compared within one page view's entry.
fn metric_id_hash(metric_id: &[u8]) -> u32 {
    let mut hash: u32 = 0x811c_9dc5;
    for &byte in metric_id {
        hash ^= u32::from(byte);
        hash = hash.wrapping_mul(0x0100_0193);
    }
    hash
}

#[derive(Debug)]
pub struct Dedupe {
    /// Keys are already keyed, uniformly distributed hashes: the map itself needs only a fast hash.
    entries: HashMap<u64, Entry, foldhash::fast::RandomState>,
    /// Insertion order, for expiry and capacity eviction.
    order: VecDeque<(i64, u64)>,
    capacity: usize,
    horizon_minutes: i64,
    /// The seed of `hasher` (kept for snapshots).
    seed: u64,
    hasher: foldhash::quality::FixedState,
    evicted: u64,
}

impl Dedupe {
    /// Remembers at most `capacity` page views, each for at most `horizon_minutes`, keyed with a
    /// random seed.
    pub fn new(capacity: usize, horizon_minutes: i64) -> Self {
        Self::with_seed(capacity, horizon_minutes, random_seed())
    }

    /// The same, keyed with `seed` (a restored table keeps the seed it was created with).
    pub fn with_seed(capacity: usize, horizon_minutes: i64, seed: u64) -> Self {
        Self {
            // Grown on demand: sizing it for the capacity up front would cost its full memory even
            // on a quiet laptop.
            entries: HashMap::default(),
            order: VecDeque::new(),
            capacity,
            horizon_minutes,
            seed,
            hasher: foldhash::quality::FixedState::with_seed(seed),
            evicted: 0,
        }
    }

    /// The seed page views are keyed with.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// Every remembered page view, oldest first (the order eviction follows).
    pub fn export(&self) -> Vec<DedupeEntry> {
        self.order
            .iter()
            .filter_map(|(_, key)| {
                let entry = self.entries.get(key)?;
                let metrics = &entry.metrics[..usize::from(entry.len)];
                Some(DedupeEntry {
                    key: *key,
                    minute: entry.minute,
                    metric_ids: metrics.iter().map(|metric| metric.id).collect(),
                    values: metrics.iter().map(|metric| metric.value).collect(),
                    minutes: metrics
                        .iter()
                        .map(|metric| entry.minute + i64::from(metric.minute_offset))
                        .collect(),
                    sequences: metrics
                        .iter()
                        .map(|metric| u32::from(metric.sequence))
                        .collect(),
                })
            })
            .collect()
    }

    /// A table holding `entries` (as [`export`](Self::export) wrote them), keyed with `seed`.
    /// Malformed entries (mismatched lengths) are skipped and counted in the answer.
    pub fn import(
        capacity: usize,
        horizon_minutes: i64,
        seed: u64,
        entries: &[DedupeEntry],
        evicted: u64,
    ) -> (Self, usize) {
        let mut table = Self::with_seed(capacity, horizon_minutes, seed);
        table.evicted = evicted;
        let mut skipped = 0;
        for saved in entries {
            let count = saved.metric_ids.len();
            // Snapshots from before sequences existed have none: every metric reads as unsequenced.
            let sequences_ok = saved.sequences.is_empty() || saved.sequences.len() == count;
            if count > METRICS_PER_PAGE_VIEW
                || saved.values.len() != count
                || saved.minutes.len() != count
                || !sequences_ok
                || table.entries.contains_key(&saved.key)
            {
                skipped += 1;
                continue;
            }
            let mut entry = Entry {
                minute: saved.minute,
                len: count as u8,
                metrics: [NO_METRIC; METRICS_PER_PAGE_VIEW],
            };
            for (index, (slot, ((id, value), minute))) in entry
                .metrics
                .iter_mut()
                .zip(
                    saved
                        .metric_ids
                        .iter()
                        .zip(&saved.values)
                        .zip(&saved.minutes),
                )
                .enumerate()
            {
                *slot = Metric {
                    id: *id,
                    minute_offset: minute_offset(*minute, saved.minute),
                    sequence: saved.sequences.get(index).map_or(NO_SEQUENCE, |sequence| {
                        u16::try_from(*sequence).unwrap_or(u16::MAX)
                    }),
                    value: *value,
                };
            }
            table.entries.insert(saved.key, entry);
            table.order.push_back((saved.minute, saved.key));
        }
        (table, skipped)
    }

    fn key(&self, site: &str, page_view: &[u8]) -> u64 {
        let mut hasher = self.hasher.build_hasher();
        hasher.write(site.as_bytes());
        hasher.write_u8(0xff);
        hasher.write(page_view);
        hasher.finish()
    }

    /// The entry of one page view, created in `minute` if new; the flag says whether it was new.
    pub fn page_view(&mut self, site: &str, page_view: &[u8], minute: i64) -> (bool, PageView<'_>) {
        let key = self.key(site, page_view);
        let is_new = !self.entries.contains_key(&key);
        if is_new {
            while self.entries.len() >= self.capacity {
                if !self.evict_oldest() {
                    break;
                }
            }
            self.order.push_back((minute, key));
        }
        let entry = self.entries.entry(key).or_insert(Entry {
            minute,
            len: 0,
            metrics: [NO_METRIC; METRICS_PER_PAGE_VIEW],
        });
        (is_new, PageView { entry })
    }

    /// Forgets page views first seen longer ago than the horizon.
    pub fn expire(&mut self, now_minute: i64) {
        while let Some(&(minute, _)) = self.order.front() {
            if minute > now_minute - self.horizon_minutes {
                break;
            }
            self.evict_oldest();
        }
    }

    fn evict_oldest(&mut self) -> bool {
        match self.order.pop_front() {
            Some((_, key)) => {
                if self.entries.remove(&key).is_some() {
                    self.evicted += 1;
                }
                true
            }
            None => false,
        }
    }

    /// Page views remembered.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Page views dropped for capacity or age since start.
    pub fn evicted(&self) -> u64 {
        self.evicted
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaced_value_reports_the_page_views_window() {
        let mut dedupe = Dedupe::new(10, 60);
        let (is_new, mut page_view) = dedupe.page_view("shop", b"pv1", 100);
        assert!(is_new);
        assert_eq!(page_view.observe(b"v1", 0.1, 100, None), Seen::New);
        let (is_new, mut page_view) = dedupe.page_view("shop", b"pv1", 101);
        assert!(!is_new);
        assert_eq!(page_view.observe(b"v1", 0.1, 101, None), Seen::Unchanged);
        assert_eq!(
            page_view.observe(b"v1", 0.3, 101, None),
            Seen::Replaced {
                previous: 0.1,
                minute: 100
            }
        );
        // A metric first counted in a later minute is replaced in that minute, not the page
        // view's first.
        assert_eq!(page_view.observe(b"v2", 0.3, 101, None), Seen::New);
        let (_, mut page_view) = dedupe.page_view("shop", b"pv1", 103);
        assert_eq!(
            page_view.observe(b"v2", 0.5, 103, None),
            Seen::Replaced {
                previous: 0.3,
                minute: 101
            }
        );
    }

    #[test]
    fn the_higher_sequence_wins_whatever_the_arrival_order() {
        let mut dedupe = Dedupe::new(10, 60);
        let (_, mut page_view) = dedupe.page_view("shop", b"pv1", 100);
        assert_eq!(page_view.observe(b"inp", 200.0, 100, Some(2)), Seen::New);
        assert_eq!(page_view.observe(b"inp", 80.0, 100, Some(1)), Seen::Stale);
        assert_eq!(
            page_view.observe(b"inp", 200.0, 100, Some(2)),
            Seen::Unchanged
        );
        assert_eq!(
            page_view.observe(b"inp", 240.0, 100, Some(3)),
            Seen::Replaced {
                previous: 200.0,
                minute: 100
            }
        );
        // No sequence: the arrival rule, for beacons of older scripts.
        assert_eq!(page_view.observe(b"cls", 0.3, 100, None), Seen::New);
        assert!(matches!(
            page_view.observe(b"cls", 0.1, 100, None),
            Seen::Replaced { previous, .. } if previous == 0.3
        ));
        // Sequences past u16 saturate and compare equal: the arrival rule again, never a panic.
        assert_eq!(
            page_view.observe(b"lcp", 1.0, 100, Some(u32::MAX)),
            Seen::New
        );
        assert!(matches!(
            page_view.observe(b"lcp", 2.0, 100, Some(70_000)),
            Seen::Replaced { .. }
        ));
        // Sequences survive a snapshot, and old snapshots without them import.
        let exported = dedupe.export();
        let (mut restored, skipped) = Dedupe::import(10, 60, dedupe.seed(), &exported, 0);
        assert_eq!(skipped, 0);
        let (_, mut page_view) = restored.page_view("shop", b"pv1", 101);
        assert_eq!(page_view.observe(b"inp", 80.0, 101, Some(1)), Seen::Stale);
        let mut old = exported.clone();
        old[0].sequences.clear();
        let (mut restored, skipped) = Dedupe::import(10, 60, dedupe.seed(), &old, 0);
        assert_eq!(skipped, 0);
        let (_, mut page_view) = restored.page_view("shop", b"pv1", 101);
        assert!(matches!(
            page_view.observe(b"inp", 80.0, 101, Some(1)),
            Seen::Replaced { .. }
        ));
    }

    #[test]
    fn a_page_view_remembers_a_bounded_number_of_ids() {
        let mut dedupe = Dedupe::new(10, 60);
        let (_, mut page_view) = dedupe.page_view("shop", b"pv1", 100);
        for index in 0..METRICS_PER_PAGE_VIEW {
            assert_eq!(
                page_view.observe(format!("m{index}").as_bytes(), 1.0, 100, None),
                Seen::New
            );
        }
        assert_eq!(
            page_view.observe(b"one-more", 1.0, 100, None),
            Seen::Overflow
        );
    }

    #[test]
    fn capacity_and_horizon_bound_memory() {
        let mut dedupe = Dedupe::new(3, 60);
        for index in 0..10 {
            dedupe.page_view("shop", format!("pv{index}").as_bytes(), 100);
        }
        assert_eq!(dedupe.len(), 3);
        dedupe.expire(160);
        assert!(dedupe.is_empty());
        assert_eq!(dedupe.evicted(), 10);
    }

    #[test]
    fn an_exported_table_imports_to_the_same_answers() {
        let mut dedupe = Dedupe::new(10, 60);
        let (_, mut page_view) = dedupe.page_view("shop", b"pv1", 100);
        page_view.observe(b"lcp", 1200.0, 100, None);
        let (_, mut page_view) = dedupe.page_view("shop", b"pv2", 101);
        page_view.observe(b"cls", 0.1, 101, None);
        page_view.observe(b"inp", 80.0, 102, None);
        let exported = dedupe.export();
        let (mut restored, skipped) =
            Dedupe::import(10, 60, dedupe.seed(), &exported, dedupe.evicted());
        assert_eq!(skipped, 0);
        assert_eq!(restored.export(), exported);
        let (is_new, mut page_view) = restored.page_view("shop", b"pv2", 103);
        assert!(!is_new, "the restored table knows pv2");
        assert_eq!(
            page_view.observe(b"inp", 90.0, 103, None),
            Seen::Replaced {
                previous: 80.0,
                minute: 102
            }
        );
        // Eviction follows the same order: pv1 (oldest) goes first.
        let (mut small, _) = Dedupe::import(2, 60, dedupe.seed(), &exported, 0);
        small.page_view("shop", b"pv3", 104);
        assert!(
            !small.page_view("shop", b"pv2", 104).0,
            "pv2 is still known"
        );
        assert!(small.page_view("shop", b"pv1", 104).0, "pv1 was evicted");
        // A malformed entry is skipped, not trusted.
        let mut bad = exported.clone();
        bad[0].values.clear();
        assert_eq!(Dedupe::import(10, 60, 1, &bad, 0).1, 1);
    }

    #[test]
    fn keys_separate_fields() {
        let dedupe = Dedupe::new(3, 60);
        assert_ne!(dedupe.key("a", b"bc"), dedupe.key("ab", b"c"));
    }
}
