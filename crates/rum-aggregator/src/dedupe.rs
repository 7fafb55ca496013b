//! Remembers what each page view already reported, so a metric re-sent with the same page view and
//! id counts once, with its latest value, and a page view counts once however many beacons it sends.
//!
//! One entry per page view (keyed by a per-process random SipHash of site and page-view id, so keys
//! cannot be steered into collisions), holding up to [`METRICS_PER_PAGE_VIEW`] metric ids inline: one
//! map operation per beacon instead of one per metric, which was a third of stage 1's time. Memory is
//! bounded by `capacity` page views; entries also expire after `horizon_minutes` (past that their
//! window is gone and a retraction is moot).

use std::collections::hash_map::RandomState;
use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasher, Hasher};

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
    /// The page view already holds [`METRICS_PER_PAGE_VIEW`] ids: counted as new, not remembered.
    Overflow,
}

#[derive(Debug, Clone, Copy, PartialEq)]
struct Entry {
    minute: i64,
    len: u8,
    /// (hash of the metric id, latest value, minute it is counted in, relative to `minute`).
    metrics: [Metric; METRICS_PER_PAGE_VIEW],
}

#[derive(Debug, Clone, Copy, PartialEq)]
struct Metric {
    id: u32,
    minute_offset: i32,
    value: f64,
}

const NO_METRIC: Metric = Metric {
    id: 0,
    minute_offset: 0,
    value: 0.0,
};

/// One page view's entry, for observing its metrics.
pub struct PageView<'a> {
    entry: &'a mut Entry,
}

impl PageView<'_> {
    /// Records `value` for `metric_id`, counted (if new) in `minute`.
    pub fn observe(&mut self, metric_id: &[u8], value: f64, minute: i64) -> Seen {
        let id = metric_id_hash(metric_id);
        let len = usize::from(self.entry.len);
        let entry_minute = self.entry.minute;
        if let Some(slot) = self.entry.metrics[..len]
            .iter_mut()
            .find(|known| known.id == id)
        {
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
        let minute_offset = i32::try_from(minute - entry_minute).unwrap_or(0);
        self.entry.metrics[len] = Metric {
            id,
            minute_offset,
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
    hasher: RandomState,
    evicted: u64,
}

impl Dedupe {
    /// Remembers at most `capacity` page views, each for at most `horizon_minutes`.
    pub fn new(capacity: usize, horizon_minutes: i64) -> Self {
        Self {
            // Grown on demand: sizing it for the capacity up front would cost its full memory even
            // on a quiet laptop.
            entries: HashMap::default(),
            order: VecDeque::new(),
            capacity,
            horizon_minutes,
            hasher: RandomState::new(),
            evicted: 0,
        }
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
        assert_eq!(page_view.observe(b"v1", 0.1, 100), Seen::New);
        let (is_new, mut page_view) = dedupe.page_view("shop", b"pv1", 101);
        assert!(!is_new);
        assert_eq!(page_view.observe(b"v1", 0.1, 101), Seen::Unchanged);
        assert_eq!(
            page_view.observe(b"v1", 0.3, 101),
            Seen::Replaced {
                previous: 0.1,
                minute: 100
            }
        );
        // A metric first counted in a later minute is replaced in that minute, not the page
        // view's first.
        assert_eq!(page_view.observe(b"v2", 0.3, 101), Seen::New);
        let (_, mut page_view) = dedupe.page_view("shop", b"pv1", 103);
        assert_eq!(
            page_view.observe(b"v2", 0.5, 103),
            Seen::Replaced {
                previous: 0.3,
                minute: 101
            }
        );
    }

    #[test]
    fn a_page_view_remembers_a_bounded_number_of_ids() {
        let mut dedupe = Dedupe::new(10, 60);
        let (_, mut page_view) = dedupe.page_view("shop", b"pv1", 100);
        for index in 0..METRICS_PER_PAGE_VIEW {
            assert_eq!(
                page_view.observe(format!("m{index}").as_bytes(), 1.0, 100),
                Seen::New
            );
        }
        assert_eq!(page_view.observe(b"one-more", 1.0, 100), Seen::Overflow);
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
    fn keys_separate_fields() {
        let dedupe = Dedupe::new(3, 60);
        assert_ne!(dedupe.key("a", b"bc"), dedupe.key("ab", b"c"));
    }
}
