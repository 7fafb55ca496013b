//! The user agent cache: a bounded LRU keyed by the (capped) UA string, in front of the uap-core
//! parse that costs 10-40 us.
//!
//! It is split into shards, each behind its own mutex and picked by a randomly seeded hash, so
//! neither concurrent collector threads nor a crafted set of UAs pile onto one lock. The cache must
//! never grow past its configured capacity (the shard capacities add up to exactly it) and never
//! hold a shard lock while parsing.

use std::hash::BuildHasher;
use std::num::NonZeroUsize;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use lru::LruCache;
use metrics::{Counter, counter, describe_counter};

use super::ParsedUa;

/// Cache shards: each is an independent LRU behind its own mutex, so concurrent collector threads
/// rarely wait on each other. More shards than cores is enough.
const CACHE_SHARDS: usize = 16;

pub(super) const CACHE_LOOKUPS: &str = "rum_enrich_ua_cache_lookups_total";

/// Cache counters, for tests and diagnostics (the same numbers go to
/// `rum_enrich_ua_cache_lookups_total`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UaCacheStats {
    pub hits: u64,
    pub misses: u64,
    pub entries: usize,
    pub capacity: usize,
}

type Shard = Mutex<LruCache<Box<str>, Arc<ParsedUa>>>;

/// A bounded LRU keyed by the (capped) UA string, split into independently locked shards chosen by a
/// randomly seeded hash, so neither concurrency nor a crafted UA set piles onto one lock. Eviction is
/// least-recently-used within a shard, which over many keys is close to a global LRU.
pub(super) struct UaCache {
    shards: Box<[Shard]>,
    shard_hasher: foldhash::fast::RandomState,
    capacity: usize,
    hits: AtomicU64,
    misses: AtomicU64,
    hit_counter: Counter,
    miss_counter: Counter,
}

impl std::fmt::Debug for UaCache {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("UaCache")
            .field("shards", &self.shards.len())
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

impl UaCache {
    pub(super) fn new(capacity: NonZeroUsize) -> Self {
        describe_counter!(
            CACHE_LOOKUPS,
            "User agent cache lookups, by outcome (hit, miss); a miss costs a uap-core parse."
        );
        let capacity = capacity.get();
        // Shard capacities add up to exactly `capacity`, so the bound is the configured one.
        let shard_count = CACHE_SHARDS.min(capacity);
        let shards = (0..shard_count)
            .map(|shard| {
                let shard_capacity =
                    capacity / shard_count + usize::from(shard < capacity % shard_count);
                let shard_capacity =
                    NonZeroUsize::new(shard_capacity).expect("each shard gets at least one entry");
                Mutex::new(LruCache::new(shard_capacity))
            })
            .collect();
        Self {
            shards,
            shard_hasher: foldhash::fast::RandomState::default(),
            capacity,
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
            hit_counter: counter!(CACHE_LOOKUPS, "outcome" => "hit"),
            miss_counter: counter!(CACHE_LOOKUPS, "outcome" => "miss"),
        }
    }

    pub(super) fn get_or_insert_with(
        &self,
        user_agent: &str,
        parse: impl FnOnce(&str) -> ParsedUa,
    ) -> Arc<ParsedUa> {
        let shard = &self.shards[self.shard_index(user_agent)];
        if let Some(hit) = lock(shard).get(user_agent) {
            self.hits.fetch_add(1, Ordering::Relaxed);
            self.hit_counter.increment(1);
            return Arc::clone(hit);
        }
        self.misses.fetch_add(1, Ordering::Relaxed);
        self.miss_counter.increment(1);
        // Parse without the lock (it is the slow part). Two threads missing on the same UA both
        // parse it; the results are equal and the second insert replaces the first.
        let parsed = Arc::new(parse(user_agent));
        lock(shard).put(user_agent.into(), Arc::clone(&parsed));
        parsed
    }

    fn shard_index(&self, user_agent: &str) -> usize {
        // Truncating the 64-bit hash is fine: only its low bits pick the shard.
        (self.shard_hasher.hash_one(user_agent) as usize) % self.shards.len()
    }

    pub(super) fn stats(&self) -> UaCacheStats {
        UaCacheStats {
            hits: self.hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
            entries: self.shards.iter().map(|shard| lock(shard).len()).sum(),
            capacity: self.capacity,
        }
    }
}

/// A panic while holding a shard lock cannot leave the LRU half-updated in a way that matters (at
/// worst one entry is missing), so a poisoned lock is used as it is.
fn lock(shard: &Shard) -> MutexGuard<'_, LruCache<Box<str>, Arc<ParsedUa>>> {
    shard.lock().unwrap_or_else(PoisonError::into_inner)
}
