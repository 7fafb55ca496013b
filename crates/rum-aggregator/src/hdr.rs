//! HDR histogram helpers: construction at the configured precision, and the V2 serialization that
//! partials carry and closed windows are stored in.
//!
//! Counter widths (measured, see benches/README.md): stage 1 records into `u32` histograms (one flush
//! interval of one segment never nears 4 billion samples); merges across windows use `u64` so an hour
//! of a busy segment cannot overflow. Stored windows are V2 bytes, whose size follows the number of
//! non-empty buckets rather than the value range, so the range costs nothing at rest.

use hdrhistogram::serialization::{Deserializer, Serializer, V2Serializer};
use hdrhistogram::{Counter, Histogram};

use crate::metric::MetricKind;

/// A fresh histogram for `kind` at `significant_digits` precision.
pub fn new_histogram<T: Counter>(kind: MetricKind, significant_digits: u8) -> Histogram<T> {
    // 1..=max with 1-3 significant digits is always a valid HDR configuration; the clamp keeps a
    // bad config value from panicking (config validation rejects it first).
    Histogram::new_with_bounds(1, kind.max_recorded(), significant_digits.clamp(1, 3))
        .expect("valid HDR bounds")
}

/// Serializes to HdrHistogram V2 (uncompressed).
pub fn encode<T: Counter>(histogram: &Histogram<T>) -> Vec<u8> {
    encode_with(&mut V2Serializer::new(), histogram)
}

/// Serializes with a reused serializer: its internal buffer is sized for the dense worst case
/// (~18 KiB), and allocating it per call fragmented the heap.
pub fn encode_with<T: Counter>(serializer: &mut V2Serializer, histogram: &Histogram<T>) -> Vec<u8> {
    let mut bytes = Vec::new();
    serializer
        .serialize(histogram, &mut bytes)
        .expect("writing to a Vec cannot fail");
    bytes
}

/// Reads V2 bytes; `None` when they are not a histogram this build can read.
pub fn decode(bytes: &[u8]) -> Option<Histogram<u64>> {
    Deserializer::new().deserialize(&mut &bytes[..]).ok()
}

/// The V2 cookie (uncompressed; base 0x1c849303 with the word-size bits 0x10), big-endian.
const V2_COOKIE: u32 = 0x1c84_9313;
const V2_HEADER_BYTES: usize = 40;

/// One V2 histogram, read without building a dense copy: the (value, count) of every non-empty
/// bucket, in order. Stage 2 adds these into a reused scratch histogram; the crate's deserializer
/// allocates a dense histogram per call, whose churn fragmented the heap (RSS twice the data).
pub fn v2_buckets(bytes: &[u8]) -> Option<Vec<(u64, u64)>> {
    let header = bytes.get(..V2_HEADER_BYTES)?;
    let word = |at: usize| u32::from_be_bytes(header[at..at + 4].try_into().expect("4 bytes"));
    if word(0) != V2_COOKIE {
        return None;
    }
    let payload_len = word(4) as usize;
    let normalizing_offset = word(8);
    let digits = word(12);
    let lowest = u64::from_be_bytes(header[16..24].try_into().expect("8 bytes"));
    if normalizing_offset != 0 || !(1..=5).contains(&digits) || lowest == 0 {
        return None;
    }
    let mut payload = bytes.get(V2_HEADER_BYTES..V2_HEADER_BYTES.checked_add(payload_len)?)?;
    let layout = BucketLayout::new(digits, lowest);
    let mut buckets = Vec::new();
    let mut index = 0u64;
    while !payload.is_empty() {
        let count = zigzag_decode(read_v2_varint(&mut payload)?);
        if count < 0 {
            index = index.checked_add(count.unsigned_abs())?;
        } else {
            if count > 0 {
                buckets.push((layout.value_of(index)?, count as u64));
            }
            index += 1;
        }
    }
    Some(buckets)
}

/// HdrHistogram's bucket layout for a precision and lowest value: which counts index a value falls
/// in and the lowest value of an index (the crate keeps both private). Slots store indexes, which
/// are small and dense where values are not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BucketLayout {
    half_magnitude: u32,
    unit_magnitude: u32,
}

impl BucketLayout {
    /// The layout of a histogram of `digits` significant digits whose lowest trackable value is
    /// `lowest` (at least 1).
    pub fn new(digits: u32, lowest: u64) -> Self {
        let largest_single_unit = 2 * 10u64.pow(digits);
        let sub_bucket_count_magnitude = (largest_single_unit as f64).log2().ceil() as u32;
        Self {
            half_magnitude: sub_bucket_count_magnitude.max(1) - 1,
            unit_magnitude: (lowest.max(1) as f64).log2().floor() as u32,
        }
    }

    /// The layout of the histograms [`new_histogram`] builds at `digits`.
    pub fn of_digits(digits: u8) -> Self {
        Self::new(u32::from(digits.clamp(1, 3)), 1)
    }

    /// The counts index `value` is recorded at (value_from_index's inverse).
    pub fn index_of(&self, value: u64) -> u64 {
        let sub_bucket_mask = (1u64 << (self.half_magnitude + 1)) - 1;
        let leading_zero_count_base = 64 - self.unit_magnitude - self.half_magnitude - 1;
        let bucket = leading_zero_count_base
            - ((value | (sub_bucket_mask << self.unit_magnitude)).leading_zeros());
        let sub_bucket = value >> (bucket + self.unit_magnitude);
        (u64::from(bucket + 1) << self.half_magnitude) + sub_bucket - (1 << self.half_magnitude)
    }

    /// The lowest value of counts index `index`; `None` past what a u64 holds.
    pub fn value_of(&self, index: u64) -> Option<u64> {
        let half_count = 1u64 << self.half_magnitude;
        let bucket = (index >> self.half_magnitude) as i64 - 1;
        let mut sub_bucket = (index & (half_count - 1)) + half_count;
        let bucket = if bucket < 0 {
            sub_bucket -= half_count;
            0
        } else {
            u32::try_from(bucket).ok()?
        };
        let shift = bucket.checked_add(self.unit_magnitude)?;
        let value = sub_bucket.checked_shl(shift)?;
        // checked_shl only refuses shifts of 64 or more; bits shifted out are lost silently.
        (value >> shift == sub_bucket).then_some(value)
    }
}

/// Stage 1's histograms: HDR counts recorded by their counts index ([`BucketLayout::index_of`],
/// which stage 1 works out once per sample for all its views), serialized to exactly the V2 bytes
/// `hdrhistogram` writes for a `Histogram<u32>` of the same configuration holding the same
/// samples (a test compares them). Recording is an index and a saturating increment: the crate's
/// `saturating_record` (index arithmetic, range checks, minimum, maximum and total) was ~45
/// instructions, once per sample and view. Resetting clears only the counts up to the highest
/// index recorded, not the whole array.
pub struct IndexHistogram {
    counts: Vec<u32>,
    /// The highest index recorded (0 before any): V2 carries the counts up to it, as the crate
    /// carries them up to its highest value's index.
    max_index: usize,
    digits: u8,
    lowest: u64,
    highest: u64,
}

impl IndexHistogram {
    /// An empty histogram laid out as [`new_histogram`] lays out `kind`'s at `significant_digits`.
    pub fn new(kind: MetricKind, significant_digits: u8) -> Self {
        let template = new_histogram::<u32>(kind, significant_digits);
        Self {
            counts: vec![0; template.distinct_values()],
            max_index: 0,
            digits: template.sigfig(),
            lowest: template.low(),
            highest: template.high(),
        }
    }

    /// Counts one sample at `index` (the [`BucketLayout::index_of`] of a value the histogram
    /// tracks: at most its highest, which [`MetricKind::to_recorded`] guarantees).
    #[inline]
    pub fn record_index(&mut self, index: usize) {
        let count = &mut self.counts[index];
        *count = count.saturating_add(1);
        self.max_index = self.max_index.max(index);
    }

    /// The V2 bytes (uncompressed), built in `scratch` (reused: no growth per histogram).
    pub fn encode_with(&self, scratch: &mut Vec<u8>) -> Vec<u8> {
        scratch.clear();
        scratch.extend_from_slice(&V2_COOKIE.to_be_bytes());
        // The payload's length, written below.
        scratch.extend_from_slice(&0u32.to_be_bytes());
        // The normalizing index offset.
        scratch.extend_from_slice(&0u32.to_be_bytes());
        scratch.extend_from_slice(&u32::from(self.digits).to_be_bytes());
        scratch.extend_from_slice(&self.lowest.to_be_bytes());
        scratch.extend_from_slice(&self.highest.to_be_bytes());
        // The integer-to-double conversion ratio.
        scratch.extend_from_slice(&1.0f64.to_be_bytes());
        let counts = &self.counts[..=self.max_index];
        let mut index = 0;
        while index < counts.len() {
            let count = counts[index];
            index += 1;
            // A run of zeros longer than one is written as its negated length.
            let count_or_zeros = if count == 0 {
                let more_zeros = counts[index..]
                    .iter()
                    .position(|count| *count != 0)
                    .unwrap_or(counts.len() - index);
                index += more_zeros;
                if more_zeros > 0 {
                    -(more_zeros as i64 + 1)
                } else {
                    0
                }
            } else {
                i64::from(count)
            };
            write_v2_varint(zigzag_encode(count_or_zeros), scratch);
        }
        let payload_len = u32::try_from(scratch.len() - V2_HEADER_BYTES).expect("bounded counts");
        scratch[4..8].copy_from_slice(&payload_len.to_be_bytes());
        scratch.as_slice().to_vec()
    }

    /// Empties the histogram for reuse.
    pub fn reset(&mut self) {
        self.counts[..=self.max_index].fill(0);
        self.max_index = 0;
    }
}

/// HdrHistogram's LEB128 variant ([`read_v2_varint`]'s inverse).
fn write_v2_varint(value: u64, bytes: &mut Vec<u8>) {
    let mut rest = value;
    for _ in 0..8 {
        if rest >> 7 == 0 {
            bytes.push(rest as u8);
            return;
        }
        bytes.push(0x80 | (rest & 0x7f) as u8);
        rest >>= 7;
    }
    bytes.push(rest as u8);
}

fn zigzag_encode(value: i64) -> u64 {
    ((value << 1) ^ (value >> 63)) as u64
}

/// HdrHistogram's LEB128 variant: at most 9 bytes, the ninth contributing all 8 bits.
fn read_v2_varint(bytes: &mut &[u8]) -> Option<u64> {
    let mut value = 0u64;
    for position in 0..9 {
        let (&byte, rest) = bytes.split_first()?;
        *bytes = rest;
        if position == 8 {
            return Some(value | (u64::from(byte) << 56));
        }
        value |= u64::from(byte & 0x7f) << (7 * position);
        if byte & 0x80 == 0 {
            return Some(value);
        }
    }
    None
}

fn zigzag_decode(value: u64) -> i64 {
    ((value >> 1) as i64) ^ -((value & 1) as i64)
}

/// Adds the V2 histogram in `bytes` into `into`. Returns false (and adds nothing) on bad bytes.
pub fn add_encoded(into: &mut Histogram<u64>, bytes: &[u8]) -> bool {
    let Some(buckets) = v2_buckets(bytes) else {
        return false;
    };
    buckets
        .into_iter()
        .all(|(value, count)| into.record_n(value, count).is_ok())
}

/// Subtracts the V2 histogram in `bytes` from `from`, bucket by bucket. False (with `from` possibly
/// partly changed) when a bucket would go below zero or the bytes are bad.
pub fn subtract_encoded(from: &mut Histogram<u64>, bytes: &[u8]) -> bool {
    let Some(buckets) = v2_buckets(bytes) else {
        return false;
    };
    let mut removed = Histogram::<u64>::new_from(from);
    for (value, count) in buckets {
        if removed.record_n(value, count).is_err() {
            return false;
        }
    }
    from.subtract(&removed).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_keeps_counts() {
        let mut histogram = new_histogram::<u32>(MetricKind::Lcp, 2);
        for value in [1u64, 10, 1000, 2500, 3_600_000] {
            histogram.record(value).expect("in range");
        }
        let bytes = encode(&histogram);
        let back = decode(&bytes).expect("decodes");
        assert_eq!(back.len(), 5);
        assert_eq!(back.max(), histogram.max());
    }

    #[test]
    fn the_allocation_free_reader_agrees_with_the_crate() {
        for digits in 1..=3u8 {
            for kind in [MetricKind::Lcp, MetricKind::Cls] {
                let mut histogram = new_histogram::<u32>(kind, digits);
                let mut seed = 0x9e37_79b9_u64 ^ u64::from(digits);
                for _ in 0..5000 {
                    seed ^= seed << 13;
                    seed ^= seed >> 7;
                    seed ^= seed << 17;
                    let value = (seed % kind.max_recorded()) >> (seed % 17);
                    histogram.saturating_record(value);
                }
                let bytes = encode(&histogram);
                let mut ours = new_histogram::<u64>(kind, digits);
                assert!(add_encoded(&mut ours, &bytes));
                let theirs = decode(&bytes).expect("crate decodes");
                assert_eq!(ours, theirs, "digits {digits} {kind:?}");
                assert!(subtract_encoded(&mut ours, &bytes));
                assert!(ours.is_empty());
            }
        }
    }

    #[test]
    fn the_bucket_layout_agrees_with_the_crate() {
        for digits in 1..=3u8 {
            let layout = BucketLayout::of_digits(digits);
            let histogram = new_histogram::<u64>(MetricKind::Lcp, digits);
            let mut previous_index = None;
            let mut value = 0u64;
            while value <= MetricKind::Lcp.max_recorded() {
                let index = layout.index_of(value);
                assert_eq!(
                    layout.value_of(index),
                    Some(histogram.lowest_equivalent(value)),
                    "digits {digits} value {value}"
                );
                if let Some(previous) = previous_index {
                    assert!(
                        index == previous || index == previous + 1,
                        "indexes are dense"
                    );
                }
                previous_index = Some(index);
                value += 1 + value / 3000;
            }
        }
        assert_eq!(BucketLayout::of_digits(2).value_of(u64::MAX), None);
    }

    #[test]
    fn the_index_histogram_encodes_as_the_crate_does() {
        for digits in 1..=3u8 {
            let layout = BucketLayout::of_digits(digits);
            for kind in MetricKind::ALL {
                let mut seed = 0x2545_f491_u64 ^ u64::from(digits) ^ (kind.index() as u64) << 8;
                let mut theirs = new_histogram::<u32>(kind, digits);
                let mut ours = IndexHistogram::new(kind, digits);
                let mut scratch = Vec::new();
                // Empty, then zeros only, then a few values, then thousands, the top one
                // included; reset and used again.
                for round in 0..6u64 {
                    let samples = [0, 3, 5, 40, 5000, 20_000][round as usize];
                    for sample in 0..samples {
                        seed ^= seed << 13;
                        seed ^= seed >> 7;
                        seed ^= seed << 17;
                        let value = match (round, sample % 50) {
                            (1, _) => 0,
                            (_, 0) => kind.max_recorded(),
                            _ => (seed % kind.max_recorded()) >> (seed % 19),
                        };
                        theirs.saturating_record(value);
                        ours.record_index(layout.index_of(value) as usize);
                    }
                    assert_eq!(
                        ours.encode_with(&mut scratch),
                        encode(&theirs),
                        "digits {digits} {kind:?} round {round}"
                    );
                    if round % 2 == 1 {
                        theirs.reset();
                        ours.reset();
                        assert!(ours.counts.iter().all(|count| *count == 0));
                    }
                }
            }
        }
    }

    #[test]
    fn v2_varints_round_trip() {
        for value in [
            0,
            1,
            127,
            128,
            300,
            u64::from(u32::MAX),
            1 << 56,
            u64::MAX - 1,
            u64::MAX,
        ] {
            let mut bytes = Vec::new();
            write_v2_varint(value, &mut bytes);
            assert!(bytes.len() <= 9);
            let mut read = bytes.as_slice();
            assert_eq!(read_v2_varint(&mut read), Some(value));
            assert!(read.is_empty());
        }
    }

    #[test]
    fn garbage_is_refused() {
        assert!(decode(b"not a histogram").is_none());
        let mut into = new_histogram::<u64>(MetricKind::Lcp, 2);
        assert!(!add_encoded(&mut into, b"\x1c\x84\x93\x13junk"));
        assert_eq!(into.len(), 0);
    }
}
