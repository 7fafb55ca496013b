//! The two summaries error groups need: a weighted Space-Saving table (the heavy hitters among
//! unboundedly many keys, in bounded memory) and a HyperLogLog (distinct sessions per group).

use std::collections::HashMap;
use std::hash::Hash;

/// Space-Saving (Metwally, Agrawal, El Abbadi 2005), weighted: at most `capacity` entries. A new
/// key arriving at a full table takes the place of the entry with the smallest count and starts
/// from that count (remembered as its `error`). Guarantees, whatever the order of the stream:
/// an entry's `count` is at least its true weight and over-estimates it by at most its `error`,
/// which is at most `total / capacity`; every key whose true weight exceeds `total / capacity`
/// is in the table.
#[derive(Debug, Clone)]
pub struct SpaceSaving<K, V> {
    capacity: usize,
    entries: HashMap<K, Counted<V>>,
    total: u64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Counted<V> {
    pub count: u64,
    /// How much of `count` may belong to keys this entry replaced.
    pub error: u64,
    pub value: V,
}

impl<K: Hash + Eq + Clone + Ord, V> SpaceSaving<K, V> {
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity: capacity.max(1),
            entries: HashMap::new(),
            total: 0,
        }
    }

    /// Adds `weight` for `key`. `fresh` builds the value of a key that (re)enters the table;
    /// `update` then merges into it. Returns the key's entry.
    pub fn add(
        &mut self,
        key: K,
        weight: u64,
        fresh: impl FnOnce() -> V,
        update: impl FnOnce(&mut V),
    ) -> &mut Counted<V> {
        self.total = self.total.saturating_add(weight);
        if !self.entries.contains_key(&key) {
            let floor = if self.entries.len() >= self.capacity {
                // Evict the smallest count (ties: the smallest key, so every replica evicts the
                // same entry).
                let victim = self
                    .entries
                    .iter()
                    .min_by(|a, b| a.1.count.cmp(&b.1.count).then_with(|| a.0.cmp(b.0)))
                    .map(|(key, counted)| (key.clone(), counted.count))
                    .expect("full, so not empty");
                self.entries.remove(&victim.0);
                victim.1
            } else {
                0
            };
            self.entries.insert(
                key.clone(),
                Counted {
                    count: floor,
                    error: floor,
                    value: fresh(),
                },
            );
        }
        let entry = self.entries.get_mut(&key).expect("inserted above");
        entry.count = entry.count.saturating_add(weight);
        update(&mut entry.value);
        entry
    }

    /// Weight seen so far (the bound on errors is `total / capacity`).
    pub fn total(&self) -> u64 {
        self.total
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The `limit` entries with the highest counts, highest first (ties by key).
    pub fn top(&self, limit: usize) -> Vec<(&K, &Counted<V>)> {
        let mut ranked: Vec<(&K, &Counted<V>)> = self.entries.iter().collect();
        ranked.sort_by(|a, b| b.1.count.cmp(&a.1.count).then_with(|| a.0.cmp(b.0)));
        ranked.truncate(limit);
        ranked
    }

    pub fn get(&self, key: &K) -> Option<&Counted<V>> {
        self.entries.get(key)
    }

    /// Every entry, in key order (snapshots).
    pub fn entries(&self) -> Vec<(&K, &Counted<V>)> {
        let mut all: Vec<(&K, &Counted<V>)> = self.entries.iter().collect();
        all.sort_by(|a, b| a.0.cmp(b.0));
        all
    }

    /// A table holding what [`entries`](Self::entries) and [`total`](Self::total) described.
    pub fn restore(
        capacity: usize,
        total: u64,
        entries: impl IntoIterator<Item = (K, Counted<V>)>,
    ) -> Self {
        let mut table = Self::new(capacity);
        table.total = total;
        for (key, counted) in entries.into_iter().take(table.capacity) {
            table.entries.insert(key, counted);
        }
        table
    }
}

/// HyperLogLog with 2^10 registers (1 KiB): distinct counts within about 3.3% (one standard error,
/// 1.04 / sqrt(1024)), exact-ish below ~2.5 x 1024 by linear counting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HyperLogLog {
    registers: Box<[u8; HLL_REGISTERS]>,
}

const HLL_BITS: u32 = 10;
pub const HLL_REGISTERS: usize = 1 << HLL_BITS;

impl Default for HyperLogLog {
    fn default() -> Self {
        Self {
            registers: Box::new([0; HLL_REGISTERS]),
        }
    }
}

impl HyperLogLog {
    /// Adds a 64-bit hash (already well mixed: see [`mix`]).
    pub fn insert(&mut self, hash: u64) {
        let index = (hash >> (64 - HLL_BITS)) as usize;
        let rest = hash << HLL_BITS | (1 << (HLL_BITS - 1));
        let rank = rest.leading_zeros() as u8 + 1;
        if rank > self.registers[index] {
            self.registers[index] = rank;
        }
    }

    pub fn merge(&mut self, other: &HyperLogLog) {
        for (mine, theirs) in self.registers.iter_mut().zip(other.registers.iter()) {
            *mine = (*mine).max(*theirs);
        }
    }

    /// The registers (snapshots, partials).
    pub fn registers(&self) -> &[u8] {
        &self.registers[..]
    }

    /// From [`registers`](Self::registers); `None` for a payload of the wrong length.
    pub fn from_registers(bytes: &[u8]) -> Option<Self> {
        let registers: [u8; HLL_REGISTERS] = bytes.try_into().ok()?;
        Some(Self {
            registers: Box::new(registers),
        })
    }

    pub fn estimate(&self) -> u64 {
        let m = HLL_REGISTERS as f64;
        let alpha = 0.7213 / (1.0 + 1.079 / m);
        let mut sum = 0.0;
        let mut zeros = 0usize;
        for &register in self.registers.iter() {
            sum += 2f64.powi(-i32::from(register));
            zeros += usize::from(register == 0);
        }
        let raw = alpha * m * m / sum;
        let estimate = if raw <= 2.5 * m && zeros > 0 {
            m * (m / zeros as f64).ln()
        } else {
            raw
        };
        estimate.round() as u64
    }
}

/// A 64-bit finaliser (splitmix64): spreads an FNV hash's bits so HyperLogLog's registers and
/// ranks are uniform.
pub fn mix(mut value: u64) -> u64 {
    value ^= value >> 30;
    value = value.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    value ^= value >> 27;
    value = value.wrapping_mul(0x94d0_49bb_1331_11eb);
    value ^ (value >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn add(table: &mut SpaceSaving<u64, ()>, key: u64, weight: u64) {
        table.add(key, weight, || (), |_| {});
    }

    #[test]
    fn heavy_hitters_are_kept_and_counts_are_bounded_under_an_adversarial_stream() {
        // 10 heavy keys, then a flood of 100k distinct one-off keys interleaved to evict them as
        // often as possible: each heavy key still has more than total / capacity and so stays,
        // and every count over-estimates by at most its error <= total / capacity.
        let capacity = 50;
        let mut table = SpaceSaving::new(capacity);
        let mut truth = std::collections::HashMap::new();
        let mut next_unique = 1_000_000u64;
        for round in 0..10_000u64 {
            for heavy in 0..10u64 {
                if round % (heavy + 1) == 0 {
                    add(&mut table, heavy, 1);
                    *truth.entry(heavy).or_insert(0u64) += 1;
                }
            }
            for _ in 0..10 {
                add(&mut table, next_unique, 1);
                *truth.entry(next_unique).or_insert(0u64) += 1;
                next_unique += 1;
            }
        }
        let bound = table.total() / capacity as u64;
        assert!(table.len() <= capacity);
        for (key, counted) in table.entries() {
            let real = truth[key];
            assert!(counted.count >= real, "never under-counts");
            assert!(
                counted.count - real <= counted.error,
                "over by at most its error"
            );
            assert!(
                counted.error <= bound,
                "error {} over total/capacity {bound}",
                counted.error
            );
        }
        for heavy in 0..10u64 {
            if truth[&heavy] > bound {
                assert!(
                    table.get(&heavy).is_some(),
                    "heavy key {heavy} with {} > {bound}",
                    truth[&heavy]
                );
            }
        }
        let top: Vec<u64> = table.top(3).into_iter().map(|(key, _)| *key).collect();
        assert_eq!(top, vec![0, 1, 2]);
    }

    #[test]
    fn weights_count_like_repeated_adds_and_restore_round_trips() {
        let mut weighted = SpaceSaving::new(2);
        let mut repeated = SpaceSaving::new(2);
        for (key, weight) in [(1u64, 5u64), (2, 3), (3, 4), (1, 1)] {
            add(&mut weighted, key, weight);
            for _ in 0..weight {
                add(&mut repeated, key, 1);
            }
        }
        assert_eq!(weighted.total(), 13);
        assert_eq!(weighted.get(&1).map(|c| c.count), Some(6));
        let entries: Vec<(u64, Counted<()>)> = weighted
            .entries()
            .into_iter()
            .map(|(key, counted)| (*key, counted.clone()))
            .collect();
        let restored = SpaceSaving::restore(2, weighted.total(), entries);
        assert_eq!(restored.top(2).len(), 2);
        assert_eq!(restored.get(&1), weighted.get(&1));
    }

    #[test]
    fn hyperloglog_estimates_within_its_error_and_merges() {
        for distinct in [1u64, 10, 100, 1_000, 10_000, 100_000] {
            let mut sketch = HyperLogLog::default();
            for value in 0..distinct {
                sketch.insert(mix(value));
                sketch.insert(mix(value)); // repeats do not count
            }
            let estimate = sketch.estimate() as f64;
            let tolerance = (distinct as f64 * 0.1).max(1.0);
            assert!(
                (estimate - distinct as f64).abs() <= tolerance,
                "{distinct}: estimated {estimate}"
            );
        }
        let mut left = HyperLogLog::default();
        let mut right = HyperLogLog::default();
        for value in 0..500 {
            left.insert(mix(value));
            right.insert(mix(value + 250));
        }
        left.merge(&right);
        let estimate = left.estimate() as f64;
        assert!((estimate - 750.0).abs() <= 40.0, "{estimate}");
        assert_eq!(HyperLogLog::from_registers(left.registers()), Some(left));
        assert_eq!(HyperLogLog::from_registers(&[0; 3]), None);
    }
}
