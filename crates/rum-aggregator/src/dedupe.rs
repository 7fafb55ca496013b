//! Remembers what each page view already reported, so a metric re-sent with the same page view and
//! id counts once, with its latest value, and a page view counts once however many beacons it sends.
//!
//! Keys are 64-bit hashes of (site, page view id, metric id): a collision needs ~4 billion live
//! entries to become likely, far above the capacity. Memory is bounded by `capacity`; entries also
//! expire after `horizon_minutes` (past that their window is gone and a retraction is moot).

use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasher, Hasher};

/// What the dedupe table knew about a key before this observation.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Seen {
    /// First time: count it.
    New,
    /// Same value again: nothing to do.
    Unchanged,
    /// A new value for a metric counted before, in the window of `minute`: retract `previous`
    /// there and count the new value in that same window.
    Replaced { previous: f64, minute: i64 },
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    value: f64,
    minute: i64,
}

#[derive(Debug)]
pub struct Dedupe {
    entries: HashMap<u64, Entry>,
    /// Insertion order, for expiry and capacity eviction.
    order: VecDeque<(i64, u64)>,
    capacity: usize,
    horizon_minutes: i64,
    hasher: std::collections::hash_map::RandomState,
    evicted: u64,
}

impl Dedupe {
    pub fn new(capacity: usize, horizon_minutes: i64) -> Self {
        Self {
            entries: HashMap::with_capacity(capacity.min(1 << 16)),
            order: VecDeque::new(),
            capacity,
            horizon_minutes,
            hasher: std::collections::hash_map::RandomState::new(),
            evicted: 0,
        }
    }

    pub fn key(&self, site: &str, page_view: &str, metric_id: &str) -> u64 {
        let mut hasher = self.hasher.build_hasher();
        hasher.write(site.as_bytes());
        hasher.write_u8(0xff);
        hasher.write(page_view.as_bytes());
        hasher.write_u8(0xff);
        hasher.write(metric_id.as_bytes());
        hasher.finish()
    }

    /// Records `value` for `key`, first seen in `minute`.
    pub fn observe(&mut self, key: u64, value: f64, minute: i64) -> Seen {
        if let Some(entry) = self.entries.get_mut(&key) {
            if entry.value == value {
                return Seen::Unchanged;
            }
            let previous = entry.value;
            entry.value = value;
            return Seen::Replaced {
                previous,
                minute: entry.minute,
            };
        }
        while self.entries.len() >= self.capacity {
            if !self.evict_oldest() {
                break;
            }
        }
        self.entries.insert(key, Entry { value, minute });
        self.order.push_back((minute, key));
        Seen::New
    }

    /// Forgets entries whose window is older than the horizon.
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

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Entries dropped for capacity or age since start.
    pub fn evicted(&self) -> u64 {
        self.evicted
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaced_value_reports_the_original_window() {
        let mut dedupe = Dedupe::new(10, 60);
        let key = dedupe.key("shop", "pv1", "v1");
        assert_eq!(dedupe.observe(key, 0.1, 100), Seen::New);
        assert_eq!(dedupe.observe(key, 0.1, 101), Seen::Unchanged);
        assert_eq!(
            dedupe.observe(key, 0.3, 102),
            Seen::Replaced {
                previous: 0.1,
                minute: 100
            }
        );
    }

    #[test]
    fn capacity_and_horizon_bound_memory() {
        let mut dedupe = Dedupe::new(3, 60);
        for index in 0..10 {
            let key = dedupe.key("shop", &format!("pv{index}"), "v");
            dedupe.observe(key, 1.0, 100);
        }
        assert_eq!(dedupe.len(), 3);
        dedupe.expire(160);
        assert!(dedupe.is_empty());
        assert_eq!(dedupe.evicted(), 10);
    }

    #[test]
    fn keys_separate_fields() {
        let dedupe = Dedupe::new(3, 60);
        assert_ne!(dedupe.key("a", "bc", "d"), dedupe.key("ab", "c", "d"));
    }
}
