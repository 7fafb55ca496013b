//! Remembers what each page view already reported, so a metric re-sent with the same page view and
//! id counts once, with its latest value, and a page view counts once however many beacons it sends.
//!
//! One entry per page view (keyed by a seeded hash of site and page-view id; the seed is random
//! when a table is created, so keys cannot be steered into collisions, and travels with the
//! table's snapshot so a restored table keys page views the same way), holding up to
//! [`METRICS_PER_PAGE_VIEW`] metric ids: one table lookup per beacon instead of one per metric,
//! which was a third of stage 1's time. Memory is bounded by `capacity` page views; entries also
//! expire after `horizon_minutes` (past that their window is gone and a retraction is moot).
//! Expiry and eviction depend only on the minutes it is given, never on a clock.
//!
//! Layout (issue 20: ~222 bytes per page view accounted before, 242 of RSS; 112 + 8 now): the
//! entries live in one ring of fixed-size slots in insertion order, so the oldest is always at the
//! head and eviction is exact FIFO, as with the hash map and queue it replaces (a set-associative
//! table was tried and not kept because its eviction was approximate). A slot holds the key, the
//! first minute and [`INLINE_METRICS`] metrics (the five vitals and the navigation timing of a
//! page view of the native script); the rare ids past those spill into a shared pool of small
//! blocks. An open-addressing index of `u32` cells (ring position and a few key bits, linear
//! probing at half load, backward-shift deletion) finds a page view's slot. Values are kept as the
//! exact `f64` they were counted with: a retraction takes back exactly what was recorded (its HDR
//! bucket, its exact-count bucket and its sum all derive from the raw value).
//!
//! Which value of a re-sent metric wins: the one from the beacon with the higher sequence number
//! (`seq`, the page view's send order), whatever order the beacons arrive in. Leaving a page sends
//! two beacons a few milliseconds apart (`pagehide`, then `visibilitychange` with the final CLS and
//! INP), and two requests can swap in flight. Beacons without a sequence (older scripts) keep the
//! arrival rule: the later arrival wins.
//!
//! Forgotten page views: a beacon with `seq > 0` says its page view sent earlier beacons. If the
//! table does not hold the page view while it is evicting page views for capacity before their
//! horizon, those earlier beacons were most likely counted and then forgotten, and this beacon's
//! metrics count again (as does the page view). They are counted as [`Dedupe::take_forgotten`]
//! (`rum_aggregator_dedupe_total{outcome="forgotten"}`): the sign that `dedupe_capacity` is too
//! small for the traffic. A page view missing for another reason (it expired past the horizon, its first
//! beacon was lost, the process restarted without the table) is not counted: with no capacity
//! eviction inside the horizon, a bigger table would not have remembered it either.

use std::hash::{BuildHasher, Hasher};

use rum_schema::proto::DedupeEntry;

/// Metric ids remembered per page view: the five vitals, navigation timing and headroom. A page view
/// reporting more distinct ids has the extra ones counted without dedupe (and counted as overflow).
pub const METRICS_PER_PAGE_VIEW: usize = 8;

/// Metric ids held in the page view's own slot; the others spill into a shared block.
pub const INLINE_METRICS: usize = 6;
const SPILLED_METRICS: usize = METRICS_PER_PAGE_VIEW - INLINE_METRICS;

/// Page views a table can be sized for: ring positions and key bits share a `u32` index cell.
const MAX_CAPACITY: usize = 1 << 30;

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
    /// The page view already holds [`METRICS_PER_PAGE_VIEW`] ids, or the metric was counted more
    /// than 127 minutes from its page view's first minute (past the horizon, so only when the clock
    /// jumps): counted as new, not remembered.
    Overflow,
}

/// One page view: 112 bytes. Metrics are stored by field (ids together) so the id scan reads one
/// short run of memory.
#[derive(Debug, Clone, Copy)]
struct Slot {
    key: u64,
    minute: i64,
    /// Per metric: the latest value, exactly as counted.
    values: [f64; INLINE_METRICS],
    /// Per metric: the hash of its id.
    ids: [u32; INLINE_METRICS],
    /// This page view's block in `Dedupe::spills` once it has more than [`INLINE_METRICS`] ids.
    spill: u32,
    /// Per metric: the sending beacon's sequence plus one (saturating), 0 when it had none.
    sequences: [u16; INLINE_METRICS],
    /// Per metric: the minute it is counted in, relative to `minute` (within the horizon).
    offsets: [i8; INLINE_METRICS],
    len: u8,
}

const NO_SPILL: u32 = u32::MAX;

impl Slot {
    const EMPTY: Slot = Slot {
        key: 0,
        minute: 0,
        values: [0.0; INLINE_METRICS],
        ids: [0; INLINE_METRICS],
        spill: NO_SPILL,
        sequences: [NO_SEQUENCE; INLINE_METRICS],
        offsets: [0; INLINE_METRICS],
        len: 0,
    };
}

/// Metrics past [`INLINE_METRICS`] of one page view (32 bytes).
#[derive(Debug, Clone, Copy)]
struct Spill {
    values: [f64; SPILLED_METRICS],
    ids: [u32; SPILLED_METRICS],
    sequences: [u16; SPILLED_METRICS],
    offsets: [i8; SPILLED_METRICS],
}

const EMPTY_SPILL: Spill = Spill {
    values: [0.0; SPILLED_METRICS],
    ids: [0; SPILLED_METRICS],
    sequences: [NO_SEQUENCE; SPILLED_METRICS],
    offsets: [0; SPILLED_METRICS],
};

/// One remembered metric, as exported and imported.
#[derive(Debug, Clone, Copy)]
struct Metric {
    id: u32,
    value: f64,
    sequence: u16,
    offset: i8,
}

const NO_SEQUENCE: u16 = 0;

/// A beacon's sequence as stored: plus one, so that 0 means none; past `u16::MAX - 1` beacons a
/// page view's sequences all compare equal (the arrival rule then decides).
fn stored_sequence(sequence: Option<u32>) -> u16 {
    sequence.map_or(NO_SEQUENCE, |sequence| {
        u16::try_from(sequence.saturating_add(1)).unwrap_or(u16::MAX)
    })
}

/// What a metric already remembered says about a new observation of it (and the update).
fn observe_known(
    stored_value: &mut f64,
    stored_sequence: &mut u16,
    counted_minute: i64,
    value: f64,
    sequence: u16,
) -> Seen {
    if sequence != NO_SEQUENCE && sequence < *stored_sequence {
        return Seen::Stale;
    }
    *stored_sequence = (*stored_sequence).max(sequence);
    if *stored_value == value {
        return Seen::Unchanged;
    }
    let previous = *stored_value;
    *stored_value = value;
    Seen::Replaced {
        previous,
        minute: counted_minute,
    }
}

/// One page view's entry, for observing its metrics.
pub struct PageView<'a> {
    table: &'a mut Dedupe,
    position: usize,
    /// A later beacon (`seq > 0`) of a page view the table did not hold while it was evicting
    /// page views for capacity: its new metrics count as forgotten.
    forgotten: bool,
}

impl PageView<'_> {
    /// Records `value` for `metric_id`, counted (if new) in `minute`, sent by the beacon with
    /// `sequence` (`None`: an older script that sends none).
    // Inlined into stage 1's event loop, as the smaller function it replaced was: as a call (which
    // `#[inline]` alone left it) each metric cost 16 more instructions of register saves.
    #[inline(always)]
    pub fn observe(
        &mut self,
        metric_id: &[u8],
        value: f64,
        minute: i64,
        sequence: Option<u32>,
    ) -> Seen {
        let id = metric_id_hash(metric_id);
        let sequence = stored_sequence(sequence);
        let Dedupe {
            slots,
            spills,
            free_spills,
            forgotten,
            ..
        } = &mut *self.table;
        let slot = &mut slots[self.position];
        let len = usize::from(slot.len);
        let inline_len = len.min(INLINE_METRICS);
        if let Some(index) = slot.ids[..inline_len].iter().position(|known| *known == id) {
            let counted_minute = slot.minute + i64::from(slot.offsets[index]);
            return observe_known(
                &mut slot.values[index],
                &mut slot.sequences[index],
                counted_minute,
                value,
                sequence,
            );
        }
        if len > INLINE_METRICS {
            let spill = &mut spills[slot.spill as usize];
            if let Some(index) = spill.ids[..len - INLINE_METRICS]
                .iter()
                .position(|known| *known == id)
            {
                let counted_minute = slot.minute + i64::from(spill.offsets[index]);
                return observe_known(
                    &mut spill.values[index],
                    &mut spill.sequences[index],
                    counted_minute,
                    value,
                    sequence,
                );
            }
        }
        if len == METRICS_PER_PAGE_VIEW {
            return Seen::Overflow;
        }
        // Minutes of one page view's beacons lie within the dedupe horizon of each other, far
        // inside `i8`, unless the clock jumps.
        let Ok(offset) = i8::try_from(minute - slot.minute) else {
            return Seen::Overflow;
        };
        push_metric(
            slot,
            spills,
            free_spills,
            Metric {
                id,
                value,
                sequence,
                offset,
            },
        );
        if self.forgotten {
            *forgotten += 1;
        }
        Seen::New
    }

    /// The minute this page view was first seen in.
    pub fn minute(&self) -> i64 {
        self.table.slots[self.position].minute
    }
}

/// Appends a metric to a slot that has room for it (`len < METRICS_PER_PAGE_VIEW`).
#[inline]
fn push_metric(
    slot: &mut Slot,
    spills: &mut Vec<Spill>,
    free_spills: &mut Vec<u32>,
    metric: Metric,
) {
    let len = usize::from(slot.len);
    debug_assert!(len < METRICS_PER_PAGE_VIEW);
    if len < INLINE_METRICS {
        slot.ids[len] = metric.id;
        slot.values[len] = metric.value;
        slot.sequences[len] = metric.sequence;
        slot.offsets[len] = metric.offset;
    } else {
        if len == INLINE_METRICS {
            slot.spill = match free_spills.pop() {
                Some(free) => free,
                None => {
                    spills.push(EMPTY_SPILL);
                    (spills.len() - 1) as u32
                }
            };
        }
        let spill = &mut spills[slot.spill as usize];
        let index = len - INLINE_METRICS;
        spill.ids[index] = metric.id;
        spill.values[index] = metric.value;
        spill.sequences[index] = metric.sequence;
        spill.offsets[index] = metric.offset;
    }
    slot.len += 1;
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

/// The index cell a key's probe starts at: its high 32 bits scaled to the index length (the key
/// is already a keyed, uniform hash).
fn home_cell(key: u64, cells: usize) -> usize {
    (((key >> 32) * cells as u64) >> 32) as usize
}

#[derive(Debug)]
pub struct Dedupe {
    /// The ring of page views in insertion order: `len` slots from `head`, wrapping. Grown on
    /// demand up to `capacity` (sizing it up front would cost its full memory even on a quiet
    /// laptop).
    slots: Vec<Slot>,
    head: usize,
    len: usize,
    /// Open addressing over the ring: 0 is empty, else the key's low 32 bits above
    /// `position_bits` (a tag that spares most probes a look at the slot) and the ring position
    /// plus one below. Two cells per slot: at two thirds load, evicting (a walk along the probe
    /// run) cost 2% more instructions per beacon at capacity than the hash map did.
    index: Vec<u32>,
    position_bits: u32,
    spills: Vec<Spill>,
    free_spills: Vec<u32>,
    capacity: usize,
    horizon_minutes: i64,
    /// The seed of `hasher` (kept for snapshots).
    seed: u64,
    hasher: foldhash::quality::FixedState,
    evicted: u64,
    /// Until this minute the table forgets page views before their horizon: the newest page view
    /// evicted for capacity would have been remembered until then.
    forgets_until_minute: i64,
    /// Metrics counted as new in forgotten page views, since the last [`Self::take_forgotten`].
    forgotten: u64,
}

impl Dedupe {
    /// Remembers at most `capacity` page views, each for at most `horizon_minutes`, keyed with a
    /// random seed.
    pub fn new(capacity: usize, horizon_minutes: i64) -> Self {
        Self::with_seed(capacity, horizon_minutes, random_seed())
    }

    /// The same, keyed with `seed` (a restored table keeps the seed it was created with).
    pub fn with_seed(capacity: usize, horizon_minutes: i64, seed: u64) -> Self {
        let capacity = capacity.clamp(1, MAX_CAPACITY);
        // Positions 1..=capacity (0 is an empty cell).
        let position_bits = usize::BITS - capacity.leading_zeros();
        Self {
            slots: Vec::new(),
            head: 0,
            len: 0,
            index: Vec::new(),
            position_bits,
            spills: Vec::new(),
            free_spills: Vec::new(),
            capacity,
            horizon_minutes,
            seed,
            hasher: foldhash::quality::FixedState::with_seed(seed),
            evicted: 0,
            forgets_until_minute: i64::MIN,
            forgotten: 0,
        }
    }

    /// The seed page views are keyed with.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    fn position(&self, nth: usize) -> usize {
        let position = self.head + nth;
        if position >= self.slots.len() {
            position - self.slots.len()
        } else {
            position
        }
    }

    fn metrics<'a>(&'a self, slot: &'a Slot) -> impl Iterator<Item = Metric> + 'a {
        let len = usize::from(slot.len);
        let inline = (0..len.min(INLINE_METRICS)).map(move |index| Metric {
            id: slot.ids[index],
            value: slot.values[index],
            sequence: slot.sequences[index],
            offset: slot.offsets[index],
        });
        let spill = (len > INLINE_METRICS).then(|| &self.spills[slot.spill as usize]);
        let spilled = (0..len.saturating_sub(INLINE_METRICS)).filter_map(move |index| {
            let spill = spill?;
            Some(Metric {
                id: spill.ids[index],
                value: spill.values[index],
                sequence: spill.sequences[index],
                offset: spill.offsets[index],
            })
        });
        inline.chain(spilled)
    }

    /// Every remembered page view, oldest first (the order eviction follows).
    pub fn export(&self) -> Vec<DedupeEntry> {
        (0..self.len)
            .map(|nth| {
                let slot = &self.slots[self.position(nth)];
                let metrics: Vec<Metric> = self.metrics(slot).collect();
                DedupeEntry {
                    key: slot.key,
                    minute: slot.minute,
                    metric_ids: metrics.iter().map(|metric| metric.id).collect(),
                    values: metrics.iter().map(|metric| metric.value).collect(),
                    minutes: metrics
                        .iter()
                        .map(|metric| slot.minute + i64::from(metric.offset))
                        .collect(),
                    sequences: metrics
                        .iter()
                        .map(|metric| u32::from(metric.sequence))
                        .collect(),
                }
            })
            .collect()
    }

    /// A table holding `entries` (as [`export`](Self::export) wrote them), keyed with `seed`.
    /// Malformed entries (mismatched lengths, a metric minute too far from the page view's) are
    /// skipped and counted in the answer. Past `capacity` the oldest entries are evicted, as the
    /// next new page view would have done.
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
            let offsets_ok = saved
                .minutes
                .iter()
                .all(|minute| i8::try_from(minute - saved.minute).is_ok());
            if count > METRICS_PER_PAGE_VIEW
                || saved.values.len() != count
                || saved.minutes.len() != count
                || !sequences_ok
                || !offsets_ok
                || table.find(saved.key).is_some()
            {
                skipped += 1;
                continue;
            }
            let position = table.insert(saved.key, saved.minute);
            let Dedupe {
                slots,
                spills,
                free_spills,
                ..
            } = &mut table;
            for (index, ((id, value), minute)) in saved
                .metric_ids
                .iter()
                .zip(&saved.values)
                .zip(&saved.minutes)
                .enumerate()
            {
                let metric = Metric {
                    id: *id,
                    value: *value,
                    sequence: saved.sequences.get(index).map_or(NO_SEQUENCE, |sequence| {
                        u16::try_from(*sequence).unwrap_or(u16::MAX)
                    }),
                    offset: i8::try_from(minute - saved.minute).expect("checked above"),
                };
                push_metric(&mut slots[position], spills, free_spills, metric);
            }
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

    fn position_mask(&self) -> u32 {
        u32::MAX >> (u32::BITS - self.position_bits)
    }

    /// The index cell and ring position of `key`, if the table holds it.
    fn find(&self, key: u64) -> Option<(usize, usize)> {
        if self.index.is_empty() {
            return None;
        }
        let mask = self.position_mask();
        let tag = key as u32 & !mask;
        let cells = self.index.len();
        let mut cell = home_cell(key, cells);
        loop {
            let value = self.index[cell];
            if value == 0 {
                return None;
            }
            if value & !mask == tag {
                let position = (value & mask) as usize - 1;
                if self.slots[position].key == key {
                    return Some((cell, position));
                }
            }
            cell += 1;
            if cell == cells {
                cell = 0;
            }
        }
    }

    /// Points the first empty cell of `key`'s probe at ring `position` (`key` is not indexed).
    fn index_insert(&mut self, key: u64, position: usize) {
        let mask = self.position_mask();
        let cells = self.index.len();
        let mut cell = home_cell(key, cells);
        while self.index[cell] != 0 {
            cell += 1;
            if cell == cells {
                cell = 0;
            }
        }
        self.index[cell] = (key as u32 & !mask) | (position as u32 + 1);
    }

    /// Empties `hole` and moves later cells of its probe run back, so no probe meets a gap
    /// (no tombstones, so probes never grow with churn).
    fn index_remove(&mut self, mut hole: usize) {
        let mask = self.position_mask();
        let cells = self.index.len();
        let mut cell = hole;
        loop {
            cell += 1;
            if cell == cells {
                cell = 0;
            }
            let value = self.index[cell];
            if value == 0 {
                break;
            }
            let home = home_cell(self.slots[(value & mask) as usize - 1].key, cells);
            // It may fill the hole if the hole lies between its home and its cell (distances
            // along the probe, which wraps; no `%`: a division per cell was a third of eviction).
            let distance = |from: usize| {
                if cell >= from {
                    cell - from
                } else {
                    cell + cells - from
                }
            };
            if distance(home) >= distance(hole) {
                self.index[hole] = value;
                hole = cell;
            }
        }
        self.index[hole] = 0;
    }

    /// A larger ring (doubling, at most `capacity`), unwrapped, and an index rebuilt for it.
    fn grow(&mut self) {
        let slots = (self.slots.len() * 2).max(64).min(self.capacity);
        self.slots.rotate_left(self.head);
        self.head = 0;
        self.slots.reserve_exact(slots - self.slots.len());
        self.slots.resize(slots, Slot::EMPTY);
        // Always one empty cell at least, where a probe for an absent key ends.
        self.index = vec![0; 2 * slots + 1];
        for position in 0..self.len {
            self.index_insert(self.slots[position].key, position);
        }
    }

    /// A new entry for `key` (not held) at the ring's tail, evicting the oldest at capacity.
    fn insert(&mut self, key: u64, minute: i64) -> usize {
        if self.len == self.capacity {
            self.evict_oldest(true);
        }
        if self.len == self.slots.len() {
            self.grow();
        }
        let position = self.position(self.len);
        self.len += 1;
        // Metrics past `len` are never read: only the header is reset.
        let slot = &mut self.slots[position];
        slot.key = key;
        slot.minute = minute;
        slot.spill = NO_SPILL;
        slot.len = 0;
        self.index_insert(key, position);
        position
    }

    /// The entry of one page view, created in `minute` if new; the flag says whether it was new.
    /// `sequence` is the beacon's (`seq`), which tells a forgotten page view from a new one.
    pub fn page_view(
        &mut self,
        site: &str,
        page_view: &[u8],
        minute: i64,
        sequence: Option<u32>,
    ) -> (bool, PageView<'_>) {
        let key = self.key(site, page_view);
        if let Some((_, position)) = self.find(key) {
            let page_view = PageView {
                table: self,
                position,
                forgotten: false,
            };
            return (false, page_view);
        }
        let position = self.insert(key, minute);
        let forgotten =
            sequence.is_some_and(|sequence| sequence > 0) && minute < self.forgets_until_minute;
        let page_view = PageView {
            table: self,
            position,
            forgotten,
        };
        (true, page_view)
    }

    /// Forgets page views first seen longer ago than the horizon.
    pub fn expire(&mut self, now_minute: i64) {
        while self.len > 0 && self.slots[self.head].minute <= now_minute - self.horizon_minutes {
            self.evict_oldest(false);
        }
    }

    fn evict_oldest(&mut self, for_capacity: bool) {
        debug_assert!(self.len > 0);
        let Slot {
            key,
            minute,
            spill,
            len,
            ..
        } = self.slots[self.head];
        // Its cell is the one on its probe that points at the head (no key to compare).
        let pointer = self.head as u32 + 1;
        let mask = self.position_mask();
        let cells = self.index.len();
        let mut cell = home_cell(key, cells);
        while self.index[cell] & mask != pointer {
            debug_assert_ne!(self.index[cell], 0, "every slot is indexed");
            cell += 1;
            if cell == cells {
                cell = 0;
            }
        }
        self.index_remove(cell);
        if usize::from(len) > INLINE_METRICS {
            self.free_spills.push(spill);
        }
        self.head = self.position(1);
        self.len -= 1;
        self.evicted += 1;
        if for_capacity {
            self.forgets_until_minute = self
                .forgets_until_minute
                .max(minute.saturating_add(self.horizon_minutes));
        }
    }

    /// Page views remembered.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Page views dropped for capacity or age since start.
    pub fn evicted(&self) -> u64 {
        self.evicted
    }

    /// Metrics counted as new since the last call although their page view's earlier beacons had
    /// been seen and forgotten for capacity (see the module documentation).
    pub fn take_forgotten(&mut self) -> u64 {
        std::mem::take(&mut self.forgotten)
    }

    /// Heap bytes the table holds (ring, index and spilled metrics), for the memory figures.
    pub fn allocated_bytes(&self) -> usize {
        self.slots.capacity() * std::mem::size_of::<Slot>()
            + self.index.capacity() * std::mem::size_of::<u32>()
            + self.spills.capacity() * std::mem::size_of::<Spill>()
            + self.free_spills.capacity() * std::mem::size_of::<u32>()
    }
}

// Fixed sizes are the memory figure of issue 20: a page view costs one slot plus two index cells.
const _: () = assert!(std::mem::size_of::<Slot>() == 112);
const _: () = assert!(std::mem::size_of::<Spill>() == 32);

#[cfg(test)]
mod tests {
    use std::collections::{HashMap, VecDeque};

    use proptest::prelude::*;

    use super::*;

    #[test]
    fn replaced_value_reports_the_page_views_window() {
        let mut dedupe = Dedupe::new(10, 60);
        let (is_new, mut page_view) = dedupe.page_view("shop", b"pv1", 100, None);
        assert!(is_new);
        assert_eq!(page_view.observe(b"v1", 0.1, 100, None), Seen::New);
        let (is_new, mut page_view) = dedupe.page_view("shop", b"pv1", 101, None);
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
        let (_, mut page_view) = dedupe.page_view("shop", b"pv1", 103, None);
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
        let (_, mut page_view) = dedupe.page_view("shop", b"pv1", 100, None);
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
        let (_, mut page_view) = restored.page_view("shop", b"pv1", 101, None);
        assert_eq!(page_view.observe(b"inp", 80.0, 101, Some(1)), Seen::Stale);
        let mut old = exported.clone();
        old[0].sequences.clear();
        let (mut restored, skipped) = Dedupe::import(10, 60, dedupe.seed(), &old, 0);
        assert_eq!(skipped, 0);
        let (_, mut page_view) = restored.page_view("shop", b"pv1", 101, None);
        assert!(matches!(
            page_view.observe(b"inp", 80.0, 101, Some(1)),
            Seen::Replaced { .. }
        ));
    }

    #[test]
    fn a_page_view_remembers_a_bounded_number_of_ids() {
        let mut dedupe = Dedupe::new(10, 60);
        let (_, mut page_view) = dedupe.page_view("shop", b"pv1", 100, None);
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
    fn spilled_ids_are_remembered_like_inline_ones_and_their_blocks_reused() {
        let mut dedupe = Dedupe::new(2, 60);
        for page_view_id in [&b"pv1"[..], b"pv2"] {
            let (_, mut page_view) = dedupe.page_view("shop", page_view_id, 100, None);
            for index in 0..METRICS_PER_PAGE_VIEW {
                let minute = 100 + index as i64;
                let id = format!("m{index}");
                assert_eq!(
                    page_view.observe(id.as_bytes(), 1.0, minute, Some(1)),
                    Seen::New
                );
            }
        }
        let (_, mut page_view) = dedupe.page_view("shop", b"pv2", 110, None);
        assert_eq!(
            page_view.observe(b"m7", 2.0, 110, Some(2)),
            Seen::Replaced {
                previous: 1.0,
                minute: 107
            }
        );
        assert_eq!(page_view.observe(b"m6", 1.0, 110, Some(0)), Seen::Stale);
        let exported = dedupe.export();
        assert_eq!(exported[1].minutes, (100..108).collect::<Vec<i64>>());
        let (restored, skipped) = Dedupe::import(2, 60, dedupe.seed(), &exported, 0);
        assert_eq!(skipped, 0);
        assert_eq!(restored.export(), exported);
        // New page views evict pv1 and pv2 and take over their spilled blocks: two in all.
        for index in 3..10 {
            let page_view_id = format!("pv{index}");
            let (_, mut page_view) = dedupe.page_view("shop", page_view_id.as_bytes(), 111, None);
            for metric in 0..METRICS_PER_PAGE_VIEW {
                page_view.observe(format!("m{metric}").as_bytes(), 1.0, 111, None);
            }
        }
        assert_eq!(dedupe.spills.len(), 2);
    }

    #[test]
    fn capacity_and_horizon_bound_memory() {
        let mut dedupe = Dedupe::new(3, 60);
        for index in 0..10 {
            dedupe.page_view("shop", format!("pv{index}").as_bytes(), 100, None);
        }
        assert_eq!(dedupe.len(), 3);
        dedupe.expire(160);
        assert!(dedupe.is_empty());
        assert_eq!(dedupe.evicted(), 10);
    }

    #[test]
    fn a_full_table_costs_one_slot_and_two_cells_per_page_view() {
        let capacity = 50_000;
        let mut dedupe = Dedupe::new(capacity, 60);
        for index in 0..capacity * 2 {
            let page_view_id = format!("pv{index}");
            let (_, mut page_view) = dedupe.page_view("shop", page_view_id.as_bytes(), 100, None);
            for metric in [&b"lcp"[..], b"inp", b"cls", b"fcp", b"ttfb", b"#nav"] {
                page_view.observe(metric, 1.0, 100, Some(0));
            }
        }
        assert_eq!(dedupe.len(), capacity);
        let per_page_view = dedupe.allocated_bytes() as f64 / capacity as f64;
        assert!(
            per_page_view <= 120.1,
            "{per_page_view} bytes per page view"
        );
    }

    #[test]
    fn later_beacons_of_page_views_evicted_for_capacity_count_as_forgotten() {
        let mut dedupe = Dedupe::new(2, 60);
        for page_view_id in [&b"pv1"[..], b"pv2", b"pv3"] {
            let (_, mut page_view) = dedupe.page_view("shop", page_view_id, 100, Some(0));
            page_view.observe(b"lcp", 1.0, 100, Some(0));
        }
        // pv1 was evicted for capacity within its horizon: its second beacon's metrics count as
        // forgotten (the LCP again, and the CLS it may or may not have sent before).
        let (is_new, mut page_view) = dedupe.page_view("shop", b"pv1", 101, Some(1));
        assert!(is_new);
        assert_eq!(page_view.observe(b"lcp", 1.5, 101, Some(1)), Seen::New);
        assert_eq!(page_view.observe(b"cls", 0.1, 101, Some(1)), Seen::New);
        assert_eq!(
            page_view.observe(b"cls", 0.1, 101, Some(1)),
            Seen::Unchanged
        );
        assert_eq!(dedupe.take_forgotten(), 2);
        assert_eq!(dedupe.take_forgotten(), 0);
        // A first beacon (seq 0) and one without a sequence are new page views, not forgotten.
        dedupe
            .page_view("shop", b"pv4", 101, Some(0))
            .1
            .observe(b"lcp", 1.0, 101, Some(0));
        dedupe
            .page_view("shop", b"pv5", 101, None)
            .1
            .observe(b"lcp", 1.0, 101, None);
        assert_eq!(dedupe.take_forgotten(), 0);
        // Past the horizon of everything evicted for capacity, a missing page view expired (or
        // was never seen): a bigger table would not have held it either.
        let (_, mut page_view) = dedupe.page_view("shop", b"pv9", 161, Some(3));
        assert_eq!(page_view.observe(b"lcp", 1.0, 161, Some(3)), Seen::New);
        assert_eq!(dedupe.take_forgotten(), 0);
    }

    #[test]
    fn page_views_that_expired_are_not_forgotten() {
        let mut dedupe = Dedupe::new(10, 60);
        dedupe
            .page_view("shop", b"pv1", 100, Some(0))
            .1
            .observe(b"lcp", 1.0, 100, Some(0));
        dedupe.expire(160);
        assert!(dedupe.is_empty());
        let (is_new, mut page_view) = dedupe.page_view("shop", b"pv1", 160, Some(1));
        assert!(is_new);
        assert_eq!(page_view.observe(b"cls", 0.1, 160, Some(1)), Seen::New);
        assert_eq!(dedupe.take_forgotten(), 0);
    }

    #[test]
    fn an_exported_table_imports_to_the_same_answers() {
        let mut dedupe = Dedupe::new(10, 60);
        let (_, mut page_view) = dedupe.page_view("shop", b"pv1", 100, None);
        page_view.observe(b"lcp", 1200.0, 100, None);
        let (_, mut page_view) = dedupe.page_view("shop", b"pv2", 101, None);
        page_view.observe(b"cls", 0.1, 101, None);
        page_view.observe(b"inp", 80.0, 102, None);
        let exported = dedupe.export();
        let (mut restored, skipped) =
            Dedupe::import(10, 60, dedupe.seed(), &exported, dedupe.evicted());
        assert_eq!(skipped, 0);
        assert_eq!(restored.export(), exported);
        let (is_new, mut page_view) = restored.page_view("shop", b"pv2", 103, None);
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
        small.page_view("shop", b"pv3", 104, None);
        assert!(
            !small.page_view("shop", b"pv2", 104, None).0,
            "pv2 is still known"
        );
        assert!(
            small.page_view("shop", b"pv1", 104, None).0,
            "pv1 was evicted"
        );
        // A malformed entry is skipped, not trusted.
        let mut bad = exported.clone();
        bad[0].values.clear();
        assert_eq!(Dedupe::import(10, 60, 1, &bad, 0).1, 1);
        let mut far = exported.clone();
        far[0].minutes[0] = far[0].minute + 200;
        assert_eq!(Dedupe::import(10, 60, 1, &far, 0).1, 1);
        // A snapshot larger than the capacity keeps its newest entries.
        let (smaller, skipped) = Dedupe::import(1, 60, dedupe.seed(), &exported, 0);
        assert_eq!((skipped, smaller.len()), (0, 1));
        assert_eq!(smaller.export()[0], exported[1]);
    }

    #[test]
    fn keys_separate_fields() {
        let dedupe = Dedupe::new(3, 60);
        assert_ne!(dedupe.key("a", b"bc"), dedupe.key("ab", b"c"));
    }

    /// A remembered metric in the reference: id hash, value, minute counted in, sequence.
    type ReferenceMetric = (u32, f64, i64, u16);

    /// The hash map and insertion queue this table replaced, as the behaviour to keep.
    struct Reference {
        entries: HashMap<u64, (i64, Vec<ReferenceMetric>)>,
        order: VecDeque<(i64, u64)>,
        capacity: usize,
        horizon_minutes: i64,
    }

    impl Reference {
        fn page_view(&mut self, key: u64, minute: i64) -> bool {
            if self.entries.contains_key(&key) {
                return false;
            }
            while self.entries.len() >= self.capacity {
                let (_, oldest) = self.order.pop_front().expect("not empty");
                self.entries.remove(&oldest);
            }
            self.order.push_back((minute, key));
            self.entries.insert(key, (minute, Vec::new()));
            true
        }

        fn observe(
            &mut self,
            key: u64,
            id: &[u8],
            value: f64,
            minute: i64,
            sequence: Option<u32>,
        ) -> Seen {
            let id = metric_id_hash(id);
            let sequence = stored_sequence(sequence);
            let (_, metrics) = self
                .entries
                .get_mut(&key)
                .expect("observed after page_view");
            if let Some(known) = metrics.iter_mut().find(|known| known.0 == id) {
                if sequence != NO_SEQUENCE && sequence < known.3 {
                    return Seen::Stale;
                }
                known.3 = known.3.max(sequence);
                if known.1 == value {
                    return Seen::Unchanged;
                }
                let previous = known.1;
                known.1 = value;
                return Seen::Replaced {
                    previous,
                    minute: known.2,
                };
            }
            if metrics.len() == METRICS_PER_PAGE_VIEW {
                return Seen::Overflow;
            }
            metrics.push((id, value, minute, sequence));
            Seen::New
        }

        fn expire(&mut self, now_minute: i64) {
            while let Some(&(minute, key)) = self.order.front() {
                if minute > now_minute - self.horizon_minutes {
                    break;
                }
                self.order.pop_front();
                self.entries.remove(&key);
            }
        }

        fn export(&self) -> Vec<DedupeEntry> {
            self.order
                .iter()
                .map(|(_, key)| {
                    let (minute, metrics) = &self.entries[key];
                    DedupeEntry {
                        key: *key,
                        minute: *minute,
                        metric_ids: metrics.iter().map(|metric| metric.0).collect(),
                        values: metrics.iter().map(|metric| metric.1).collect(),
                        minutes: metrics.iter().map(|metric| metric.2).collect(),
                        sequences: metrics.iter().map(|metric| u32::from(metric.3)).collect(),
                    }
                })
                .collect()
        }
    }

    #[derive(Debug, Clone)]
    enum Operation {
        /// A beacon: page view, minute step, metrics (id, value, sequence).
        Beacon(u8, i64, Vec<(u8, u8, Option<u32>)>),
        Expire,
        Snapshot,
    }

    fn operation() -> impl Strategy<Value = Operation> {
        prop_oneof![
            8 => (
                0u8..40,
                0i64..2,
                proptest::collection::vec((0u8..10, 0u8..3, proptest::option::of(0u32..4)), 0..6)
            )
                .prop_map(|(page_view, step, metrics)| Operation::Beacon(page_view, step, metrics)),
            1 => Just(Operation::Expire),
            1 => Just(Operation::Snapshot),
        ]
    }

    proptest! {
        /// Whatever the beacons, the ring and its index answer as the hash map and queue did:
        /// the same new page views, outcomes, evictions (exact FIFO) and snapshots.
        #[test]
        fn answers_as_the_hash_map_and_queue_did(
            capacity in 1usize..24,
            operations in proptest::collection::vec(operation(), 1..300),
        ) {
            let horizon_minutes = 5;
            let mut table = Dedupe::new(capacity, horizon_minutes);
            let mut reference = Reference {
                entries: HashMap::new(),
                order: VecDeque::new(),
                capacity,
                horizon_minutes,
            };
            let mut minute = 100;
            for operation in operations {
                match operation {
                    Operation::Beacon(page_view_id, step, metrics) => {
                        minute += step;
                        let page_view_id = format!("pv{page_view_id}");
                        let key = table.key("shop", page_view_id.as_bytes());
                        let (is_new, mut page_view) =
                            table.page_view("shop", page_view_id.as_bytes(), minute, Some(1));
                        prop_assert_eq!(is_new, reference.page_view(key, minute));
                        for (id, value, sequence) in metrics {
                            let id = format!("m{id}");
                            let value = f64::from(value) / 10.0;
                            prop_assert_eq!(
                                page_view.observe(id.as_bytes(), value, minute, sequence),
                                reference.observe(key, id.as_bytes(), value, minute, sequence)
                            );
                        }
                    }
                    Operation::Expire => {
                        table.expire(minute);
                        reference.expire(minute);
                    }
                    Operation::Snapshot => {
                        let exported = table.export();
                        prop_assert_eq!(&exported, &reference.export());
                        let (restored, skipped) = Dedupe::import(
                            capacity,
                            horizon_minutes,
                            table.seed(),
                            &exported,
                            table.evicted(),
                        );
                        prop_assert_eq!(skipped, 0);
                        table = restored;
                    }
                }
                prop_assert_eq!(table.len(), reference.entries.len());
            }
            prop_assert_eq!(table.export(), reference.export());
        }
    }
}
