//! The compact form of one segment's minute: every metric's histogram and exact counts in one byte
//! buffer (one allocation per minute slot).
//!
//! Why not HDR V2 bytes per metric: V2 has a 40-byte header and the exact counts would be separate
//! allocations; a quiet segment's minute holds a handful of samples per metric, so headers and
//! allocator overhead dominated (measured: ~75 KiB per segment-hour at 5 samples a minute, RSS three
//! times that). Here a metric is `[kind][len][sum][exact pairs][histogram pairs]` with varints (the
//! sum in millionths, zigzag): ~3 bytes per non-empty histogram bucket.
//!
//! Histogram buckets are stored as (value, count) where value is the bucket's highest equivalent
//! value; re-recording `count` at that value lands in the same bucket, so decoding is exact.

use hdrhistogram::Histogram;

use crate::exact::ExactCounts;
use crate::metric::MetricKind;

fn put_varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

fn get_varint(bytes: &mut &[u8]) -> Option<u64> {
    let mut value = 0u64;
    for shift in (0..64).step_by(7) {
        let (&byte, rest) = bytes.split_first()?;
        *bytes = rest;
        value |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Some(value);
        }
    }
    None
}

fn zigzag(value: i64) -> u64 {
    ((value << 1) ^ (value >> 63)) as u64
}

fn unzigzag(value: u64) -> i64 {
    ((value >> 1) as i64) ^ -((value & 1) as i64)
}

/// Appends one metric's record.
pub fn encode_metric(
    out: &mut Vec<u8>,
    kind: MetricKind,
    histogram: &Histogram<u64>,
    exact: &ExactCounts,
) {
    let mut body = Vec::with_capacity(32);
    put_varint(&mut body, zigzag(exact.sum_micros()));
    let nonzero: Vec<(usize, i64)> = exact
        .deltas()
        .iter()
        .enumerate()
        .filter(|(_, count)| **count != 0)
        .map(|(index, count)| (index, *count))
        .collect();
    put_varint(&mut body, nonzero.len() as u64);
    for (index, count) in nonzero {
        put_varint(&mut body, index as u64);
        put_varint(&mut body, zigzag(count));
    }
    let mut previous = 0u64;
    let mut pairs = Vec::new();
    for bucket in histogram.iter_recorded() {
        let value = histogram.highest_equivalent(bucket.value_iterated_to());
        pairs.push((value - previous, bucket.count_at_value()));
        previous = value;
    }
    put_varint(&mut body, pairs.len() as u64);
    for (delta, count) in pairs {
        put_varint(&mut body, delta);
        put_varint(&mut body, count);
    }
    out.push(kind.index() as u8);
    put_varint(out, body.len() as u64);
    out.extend_from_slice(&body);
}

/// The records of a slot: `(kind, record body)`. Stops at the first malformed record.
pub fn records(mut bytes: &[u8]) -> impl Iterator<Item = (MetricKind, &[u8])> {
    std::iter::from_fn(move || {
        let (&kind, rest) = bytes.split_first()?;
        bytes = rest;
        let length = usize::try_from(get_varint(&mut bytes)?).ok()?;
        if length > bytes.len() {
            return None;
        }
        let (body, rest) = bytes.split_at(length);
        bytes = rest;
        Some((*MetricKind::ALL.get(usize::from(kind))?, body))
    })
}

/// Appends a record unchanged (copying another metric's record while rewriting a slot).
pub fn append_record(out: &mut Vec<u8>, kind: MetricKind, body: &[u8]) {
    out.push(kind.index() as u8);
    put_varint(out, body.len() as u64);
    out.extend_from_slice(body);
}

/// Adds only the exact counts of a record body. False on malformed bytes.
pub fn add_exact(kind: MetricKind, body: &[u8], exact: &mut ExactCounts) -> bool {
    let mut body = body;
    read_exact(kind, &mut body, exact)
}

fn read_exact(kind: MetricKind, body: &mut &[u8], exact: &mut ExactCounts) -> bool {
    let Some(sum) = get_varint(body) else {
        return false;
    };
    let mut deltas = vec![0i64; kind.bucket_bounds().len() + 1];
    let Some(pairs) = get_varint(body) else {
        return false;
    };
    for _ in 0..pairs {
        let (Some(index), Some(count)) = (get_varint(body), get_varint(body)) else {
            return false;
        };
        let Some(slot) = deltas.get_mut(index as usize) else {
            return false;
        };
        *slot = unzigzag(count);
    }
    exact.apply_deltas(&deltas, unzigzag(sum))
}

/// Adds a record body into a histogram and exact counts of its kind. False on malformed bytes.
pub fn add_record(
    kind: MetricKind,
    mut body: &[u8],
    histogram: &mut Histogram<u64>,
    exact: &mut ExactCounts,
) -> bool {
    if !read_exact(kind, &mut body, exact) {
        return false;
    }
    let Some(buckets) = get_varint(&mut body) else {
        return false;
    };
    let mut value = 0u64;
    for _ in 0..buckets {
        let (Some(delta), Some(count)) = (get_varint(&mut body), get_varint(&mut body)) else {
            return false;
        };
        value = value.saturating_add(delta);
        if histogram.record_n(value, count).is_err() {
            return false;
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hdr::new_histogram;

    #[test]
    fn records_round_trip_exactly() {
        let mut out = Vec::new();
        let mut expected = Vec::new();
        for kind in [MetricKind::Lcp, MetricKind::Cls] {
            let mut histogram = new_histogram::<u64>(kind, 2);
            let mut exact = ExactCounts::new(kind);
            for raw in [0.0, 1.0, 250.0, 2500.0, 2501.0, 99_999.0] {
                let raw = if kind == MetricKind::Cls {
                    raw / 10_000.0
                } else {
                    raw
                };
                histogram.record(kind.to_recorded(raw)).expect("in range");
                exact.record(kind, raw, 1);
            }
            exact.record(kind, 3.0, -1);
            encode_metric(&mut out, kind, &histogram, &exact);
            expected.push((kind, histogram, exact));
        }
        let decoded: Vec<_> = records(&out).collect();
        assert_eq!(decoded.len(), 2);
        for ((kind, body), (expected_kind, histogram, exact)) in decoded.into_iter().zip(expected) {
            assert_eq!(kind, expected_kind);
            let mut back = new_histogram::<u64>(kind, 2);
            let mut back_exact = ExactCounts::new(kind);
            assert!(add_record(kind, body, &mut back, &mut back_exact));
            assert_eq!(back, histogram);
            assert_eq!(back_exact, exact);
        }
    }

    #[test]
    fn malformed_bytes_are_refused_not_panicked_on() {
        let mut histogram = new_histogram::<u64>(MetricKind::Lcp, 2);
        let mut exact = ExactCounts::new(MetricKind::Lcp);
        let untouched = ExactCounts::new(MetricKind::Lcp);
        // Neither a slot nor a record body.
        for junk in [
            &b""[..],
            b"\x00",
            b"\x00\x05abc",
            b"\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff",
        ] {
            assert!(
                !add_record(MetricKind::Lcp, junk, &mut histogram, &mut exact),
                "body {junk:?}"
            );
        }
        // A record whose header is fine but whose body is not: an exact-pair index past the
        // metric's buckets, an exact-pair count with no pairs behind it, a histogram-pair count
        // with none behind it.
        for slot in [
            &b"\x00\x03abc"[..],
            b"\x00\x02\x00\x05",
            b"\x00\x03\x00\x00\x04",
        ] {
            let found: Vec<_> = records(slot).collect();
            assert_eq!(found.len(), 1, "{slot:?}");
            let (kind, body) = found[0];
            assert!(
                !add_record(kind, body, &mut histogram, &mut exact),
                "record of {slot:?}"
            );
        }
        // Truncated headers yield no record at all.
        for junk in [&b""[..], b"\x00", b"\x00\x05abc", &[0xff; 11]] {
            assert_eq!(records(junk).count(), 0, "{junk:?}");
        }
        assert!(histogram.is_empty(), "nothing was recorded from junk");
        assert_eq!(exact, untouched);
        // A well-formed record still decodes after the junk.
        let mut good = Vec::new();
        let mut sample = new_histogram::<u64>(MetricKind::Lcp, 2);
        sample.record(1800).expect("in range");
        let mut sample_exact = ExactCounts::new(MetricKind::Lcp);
        sample_exact.record(MetricKind::Lcp, 1800.0, 1);
        encode_metric(&mut good, MetricKind::Lcp, &sample, &sample_exact);
        let (kind, body) = records(&good).next().expect("one record");
        assert!(add_record(kind, body, &mut histogram, &mut exact));
        assert_eq!(histogram.len(), 1);
    }
}
