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
    // HdrHistogram's bucket layout for this precision and lowest value (value_from_index).
    let largest_single_unit = 2 * 10u64.pow(digits);
    let sub_bucket_count_magnitude = (largest_single_unit as f64).log2().ceil() as u32;
    let half_magnitude = sub_bucket_count_magnitude.max(1) - 1;
    let half_count = 1u64 << half_magnitude;
    let unit_magnitude = (lowest as f64).log2().floor() as u32;
    let value_of = |index: u64| -> Option<u64> {
        let bucket = (index >> half_magnitude) as i64 - 1;
        let mut sub_bucket = (index & (half_count - 1)) + half_count;
        let bucket = if bucket < 0 {
            sub_bucket -= half_count;
            0
        } else {
            bucket as u32
        };
        sub_bucket.checked_shl(bucket + unit_magnitude)
    };
    let mut buckets = Vec::new();
    let mut index = 0u64;
    while !payload.is_empty() {
        let count = zigzag_decode(read_v2_varint(&mut payload)?);
        if count < 0 {
            index = index.checked_add(count.unsigned_abs())?;
        } else {
            if count > 0 {
                buckets.push((value_of(index)?, count as u64));
            }
            index += 1;
        }
    }
    Some(buckets)
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
    fn garbage_is_refused() {
        assert!(decode(b"not a histogram").is_none());
        let mut into = new_histogram::<u64>(MetricKind::Lcp, 2);
        assert!(!add_encoded(&mut into, b"\x1c\x84\x93\x13junk"));
        assert_eq!(into.len(), 0);
    }
}
