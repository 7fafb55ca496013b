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
    let mut bytes = Vec::with_capacity(64);
    V2Serializer::new()
        .serialize(histogram, &mut bytes)
        .expect("writing to a Vec cannot fail");
    bytes
}

/// Reads V2 bytes; `None` when they are not a histogram this build can read.
pub fn decode(bytes: &[u8]) -> Option<Histogram<u64>> {
    Deserializer::new().deserialize(&mut &bytes[..]).ok()
}

/// Adds the V2 histogram in `bytes` into `into`. Returns false (and adds nothing) on bad bytes.
pub fn add_encoded(into: &mut Histogram<u64>, bytes: &[u8]) -> bool {
    match decode(bytes) {
        Some(histogram) => into.add(&histogram).is_ok(),
        None => false,
    }
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
    fn garbage_is_refused() {
        assert!(decode(b"not a histogram").is_none());
        let mut into = new_histogram::<u64>(MetricKind::Lcp, 2);
        assert!(!add_encoded(&mut into, b"\x1c\x84\x93\x13junk"));
        assert_eq!(into.len(), 0);
    }
}
