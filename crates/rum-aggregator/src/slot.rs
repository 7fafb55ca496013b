//! The compact form of one segment's minute: every metric's histogram and exact counts in one byte
//! buffer (one allocation per minute slot).
//!
//! Why not HDR V2 bytes per metric: V2 has a 40-byte header and the exact counts would be separate
//! allocations; a quiet segment's minute holds a handful of samples per metric, so headers and
//! allocator overhead dominated (measured: ~75 KiB per segment-hour at 5 samples a minute, RSS three
//! times that).
//!
//! A slot is `[0x80 | digits]` then one record per metric, `[kind][len][body]`, where the body is
//! `[sum][exact pairs][histogram buckets]` with varints (the sum in millionths, zigzag). A histogram
//! bucket is its HDR counts index, as the gap to the previous non-empty index, shifted left once with
//! the low bit set when its count is not 1 (the count, less 2, follows then): about one byte per
//! non-empty bucket, where (value delta, count) pairs took three (benches/README.md). Decoding
//! re-records each count at its index's lowest value, which lands in the same bucket: exact.
//!
//! The first byte tells the encodings apart: a slot written before the header existed starts with a
//! metric index (below 0x80) and stores buckets as (value delta, count). [`upgrade`] re-encodes such
//! a slot, read from an older snapshot, into the current encoding.

use hdrhistogram::Histogram;

use crate::exact::ExactCounts;
use crate::hdr::{BucketLayout, new_histogram};
use crate::metric::MetricKind;

/// A slot's first byte: `HEADER | VERSION << 2 | digits` (the significant digits its indexes are
/// for, 1 to 3).
const HEADER: u8 = 0x80;
/// The encoding's version (0 to 31), for a build that changes it.
const VERSION: u8 = 0;
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

/// Starts a slot in `out` (cleared) for histograms of `digits` significant digits.
pub fn start(out: &mut Vec<u8>, digits: u8) {
    out.clear();
    out.push(HEADER | (VERSION << 2) | digits.clamp(1, 3));
}

/// The bucket layout a slot's indexes are for; `None` for a slot in the legacy encoding (or empty,
/// or with a header this build does not write).
fn layout_of(slot: &[u8]) -> Option<BucketLayout> {
    let first = *slot.first()?;
    let digits = first & 0b11;
    (first & !0b11 == HEADER | (VERSION << 2) && digits != 0)
        .then(|| BucketLayout::of_digits(digits))
}

/// The exact bucket a histogram bucket's samples are expected in: the one its middle value falls
/// in. Only a histogram bucket that straddles an exact bound can be wrong, and a record stores the
/// differences, so exact counts decode exactly whatever the samples were (a retraction the
/// histogram missed, say). The expectation reads the metric's bucket bounds: a build that changes
/// them must change [`VERSION`].
struct Expected {
    layout: BucketLayout,
    bounds: &'static [f64],
    unitless: bool,
    /// The exact bucket of the previous (lower) index.
    at: usize,
}

impl Expected {
    fn new(kind: MetricKind, layout: BucketLayout) -> Self {
        Self {
            layout,
            bounds: kind.bucket_bounds(),
            unitless: kind.is_unitless(),
            at: 0,
        }
    }

    /// The exact bucket of histogram index `index`; indexes must come in ascending order.
    fn bucket(&mut self, index: u64, low: u64) -> usize {
        let high = index
            .checked_add(1)
            .and_then(|next| self.layout.value_of(next))
            .map_or(low, |next| next - 1);
        let middle = (low as f64 + high as f64) / 2.0;
        let raw = if self.unitless {
            middle / 1000.0
        } else {
            middle
        };
        while self.bounds.get(self.at).is_some_and(|bound| raw > *bound) {
            self.at += 1;
        }
        self.at
    }
}

/// More exact buckets than any metric has (the largest has 15).
const MAX_EXACT_BUCKETS: usize = 32;

/// Appends one metric's record to a slot begun with [`start`] at the histogram's digits:
/// `[sum][differences][buckets]`, the differences being the exact counts less what the buckets
/// are expected to give (see [`Expected`]), as `[pairs][(index, zigzag difference)...]`, and the
/// buckets running to the end of the record.
pub fn encode_metric(
    out: &mut Vec<u8>,
    kind: MetricKind,
    histogram: &Histogram<u64>,
    exact: &ExactCounts,
) {
    let layout = BucketLayout::of_digits(histogram.sigfig());
    debug_assert_eq!(layout_of(out), Some(layout));
    // The indexes between the lowest and highest value recorded, read directly: HDR's recorded
    // iterator costs several times as much per index (it tracks quantiles as it goes).
    let mut buckets: Vec<(u64, u64)> = Vec::new();
    if !histogram.is_empty() {
        let first = layout.index_of(histogram.min());
        let last = layout.index_of(histogram.max());
        for index in first..=last {
            let Some(value) = layout.value_of(index) else {
                break;
            };
            let count = histogram.count_at(value);
            if count != 0 {
                buckets.push((index, count));
            }
        }
    }
    let mut differences = [0i64; MAX_EXACT_BUCKETS];
    let differences = &mut differences[..exact.deltas().len()];
    differences.copy_from_slice(exact.deltas());
    let mut expected = Expected::new(kind, layout);
    for (index, count) in &buckets {
        let low = layout.value_of(*index).unwrap_or(0);
        let bucket = expected.bucket(*index, low);
        differences[bucket] = differences[bucket].wrapping_sub(*count as i64);
    }
    out.push(kind.index() as u8);
    // The length is not known yet: reserve one byte (most records are shorter than 128 bytes) and
    // move the body if the varint needs more.
    let length_at = out.len();
    out.push(0);
    let body_at = out.len();
    put_varint(out, zigzag(exact.sum_micros()));
    put_varint(
        out,
        differences.iter().filter(|count| **count != 0).count() as u64,
    );
    for (index, difference) in differences.iter().enumerate() {
        if *difference != 0 {
            put_varint(out, index as u64);
            put_varint(out, zigzag(*difference));
        }
    }
    let mut next_index = 0u64;
    for (index, count) in buckets {
        put_varint(out, ((index - next_index) << 1) | u64::from(count != 1));
        if count != 1 {
            put_varint(out, count - 2);
        }
        next_index = index + 1;
    }
    let length = out.len() - body_at;
    if length < 0x80 {
        out[length_at] = length as u8;
    } else {
        let mut prefix = Vec::with_capacity(2);
        put_varint(&mut prefix, length as u64);
        out.splice(length_at..body_at, prefix);
    }
}

/// One metric's record of a slot in the current encoding.
#[derive(Debug, Clone, Copy)]
pub struct Record<'a> {
    body: &'a [u8],
    layout: BucketLayout,
}

/// The records of a slot in the current encoding: `(kind, record)`. Stops at the first malformed
/// record; yields nothing for a legacy slot (see [`upgrade`]).
pub fn records(slot: &[u8]) -> impl Iterator<Item = (MetricKind, Record<'_>)> {
    let layout = layout_of(slot);
    let mut bytes = if layout.is_some() {
        &slot[1..]
    } else {
        &[][..]
    };
    let layout = layout.unwrap_or(BucketLayout::of_digits(1));
    std::iter::from_fn(move || {
        let (kind, body) = next_record(&mut bytes)?;
        Some((kind, Record { body, layout }))
    })
}

fn next_record<'a>(bytes: &mut &'a [u8]) -> Option<(MetricKind, &'a [u8])> {
    let (&kind, rest) = bytes.split_first()?;
    *bytes = rest;
    let length = usize::try_from(get_varint(bytes)?).ok()?;
    if length > bytes.len() {
        return None;
    }
    let (body, rest) = bytes.split_at(length);
    *bytes = rest;
    Some((*MetricKind::ALL.get(usize::from(kind))?, body))
}

/// Appends a record unchanged (copying another metric's record while rewriting a slot begun with
/// [`start`] at the digits the record was written at).
pub fn append_record(out: &mut Vec<u8>, kind: MetricKind, record: Record<'_>) {
    debug_assert_eq!(layout_of(out), Some(record.layout));
    out.push(kind.index() as u8);
    put_varint(out, record.body.len() as u64);
    out.extend_from_slice(record.body);
}

/// Adds only the exact counts of a record. False (and nothing added) on malformed bytes.
pub fn add_exact(kind: MetricKind, record: Record<'_>, exact: &mut ExactCounts) -> bool {
    read_record(kind, record, exact, |_, _| true)
}

/// Adds a record into a histogram and exact counts of its kind. False on malformed bytes (the
/// exact counts untouched, the histogram possibly partly added to).
pub fn add_record(
    kind: MetricKind,
    record: Record<'_>,
    histogram: &mut Histogram<u64>,
    exact: &mut ExactCounts,
) -> bool {
    read_record(kind, record, exact, |value, count| {
        histogram.record_n(value, count).is_ok()
    })
}

/// Reads a record: hands `bucket` every histogram bucket as (lowest value, count), then adds the
/// exact counts.
fn read_record(
    kind: MetricKind,
    record: Record<'_>,
    exact: &mut ExactCounts,
    mut bucket: impl FnMut(u64, u64) -> bool,
) -> bool {
    let mut body = record.body;
    let Some(sum) = get_varint(&mut body) else {
        return false;
    };
    let mut deltas = [0i64; MAX_EXACT_BUCKETS];
    let Some(deltas) = deltas.get_mut(..kind.bucket_bounds().len() + 1) else {
        return false;
    };
    let Some(pairs) = get_varint(&mut body) else {
        return false;
    };
    for _ in 0..pairs {
        let (Some(index), Some(difference)) = (get_varint(&mut body), get_varint(&mut body)) else {
            return false;
        };
        let Some(slot) = deltas.get_mut(index as usize) else {
            return false;
        };
        *slot = unzigzag(difference);
    }
    let mut expected = Expected::new(kind, record.layout);
    let mut next_index = 0u64;
    while !body.is_empty() {
        let Some(word) = get_varint(&mut body) else {
            return false;
        };
        let count = if word & 1 == 0 {
            Some(1)
        } else {
            get_varint(&mut body).and_then(|count| count.checked_add(2))
        };
        let (Some(count), Some(index)) = (count, next_index.checked_add(word >> 1)) else {
            return false;
        };
        let Some(low) = record.layout.value_of(index) else {
            return false;
        };
        if !bucket(low, count) {
            return false;
        }
        let at = expected.bucket(index, low);
        deltas[at] = deltas[at].wrapping_add(count as i64);
        next_index = index + 1;
    }
    exact.apply_deltas(deltas, unzigzag(sum))
}

/// A slot of an older snapshot in the current encoding at `digits`: the legacy encoding (no header,
/// buckets as (value delta, count)) is decoded and re-encoded, a current one written at other
/// digits re-recorded at these. `None` when nothing needed changing. A malformed record ends the
/// slot, as reading it would have.
pub fn upgrade(slot: &[u8], digits: u8) -> Option<Vec<u8>> {
    let digits = digits.clamp(1, 3);
    let current = layout_of(slot);
    if slot.is_empty() || current == Some(BucketLayout::of_digits(digits)) {
        return None;
    }
    let mut out = Vec::new();
    start(&mut out, digits);
    let mut reencode =
        |kind: MetricKind, read: &mut dyn FnMut(&mut Histogram<u64>, &mut ExactCounts) -> bool| {
            let mut histogram = new_histogram(kind, digits);
            let mut exact = ExactCounts::new(kind);
            let decoded = read(&mut histogram, &mut exact);
            if decoded {
                encode_metric(&mut out, kind, &histogram, &exact);
            }
            decoded
        };
    if current.is_some() {
        for (kind, record) in records(slot) {
            if !reencode(kind, &mut |histogram, exact| {
                add_record(kind, record, histogram, exact)
            }) {
                break;
            }
        }
    } else {
        let mut bytes = slot;
        while let Some((kind, body)) = next_record(&mut bytes) {
            let mut read = |histogram: &mut Histogram<u64>, exact: &mut ExactCounts| {
                add_legacy_record(kind, body, histogram, exact)
            };
            if !reencode(kind, &mut read) {
                break;
            }
        }
    }
    Some(out)
}

/// A record body of the legacy encoding: `[sum][exact pairs][bucket count][(value delta, count)]`.
fn add_legacy_record(
    kind: MetricKind,
    mut body: &[u8],
    histogram: &mut Histogram<u64>,
    exact: &mut ExactCounts,
) -> bool {
    if !read_legacy_exact(kind, &mut body, exact) {
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

/// The legacy exact counts: `[sum][pairs][(index, zigzag count)...]`.
fn read_legacy_exact(kind: MetricKind, body: &mut &[u8], exact: &mut ExactCounts) -> bool {
    let Some(sum) = get_varint(body) else {
        return false;
    };
    let mut deltas = [0i64; MAX_EXACT_BUCKETS];
    let Some(deltas) = deltas.get_mut(..kind.bucket_bounds().len() + 1) else {
        return false;
    };
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
    exact.apply_deltas(deltas, unzigzag(sum))
}

#[cfg(test)]
/// The encoder of the legacy encoding, as it was before slots had a header (831b02a): what
/// older snapshots hold.
pub(crate) fn encode_legacy_metric(
    out: &mut Vec<u8>,
    kind: MetricKind,
    histogram: &Histogram<u64>,
    exact: &ExactCounts,
) {
    let mut body = Vec::new();
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

/// A current slot in the legacy encoding (for tests of older snapshots).
#[cfg(test)]
pub(crate) fn to_legacy(slot: &[u8]) -> Vec<u8> {
    let mut legacy = Vec::new();
    for (kind, record) in records(slot) {
        let mut histogram = new_histogram(kind, 2);
        let mut exact = ExactCounts::new(kind);
        assert!(add_record(kind, record, &mut histogram, &mut exact));
        encode_legacy_metric(&mut legacy, kind, &histogram, &exact);
    }
    legacy
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Samples of `kind` (raw values), recorded as stage 2 would hold them.
    fn sampled(
        kind: MetricKind,
        digits: u8,
        raws: &[f64],
        retracted: &[f64],
    ) -> (Histogram<u64>, ExactCounts) {
        let mut histogram = new_histogram::<u64>(kind, digits);
        let mut exact = ExactCounts::new(kind);
        for raw in raws {
            histogram.record(kind.to_recorded(*raw)).expect("in range");
            exact.record(kind, *raw, 1);
        }
        for raw in retracted {
            exact.record(kind, *raw, -1);
        }
        (histogram, exact)
    }

    fn decoded(slot: &[u8], digits: u8) -> Vec<(MetricKind, Histogram<u64>, ExactCounts)> {
        records(slot)
            .map(|(kind, record)| {
                let mut histogram = new_histogram::<u64>(kind, digits);
                let mut exact = ExactCounts::new(kind);
                assert!(add_record(kind, record, &mut histogram, &mut exact));
                (kind, histogram, exact)
            })
            .collect()
    }

    const RAWS: [f64; 9] = [
        0.0,
        1.0,
        1.0,
        250.0,
        2500.0,
        2501.0,
        99_999.0,
        3_600_000.0,
        5e7,
    ];

    fn raws_of(kind: MetricKind) -> Vec<f64> {
        RAWS.iter()
            .map(|raw| {
                if kind.is_unitless() {
                    raw / 10_000.0
                } else {
                    *raw
                }
            })
            .collect()
    }

    #[test]
    fn records_round_trip_exactly() {
        for digits in 1..=3 {
            let mut out = Vec::new();
            start(&mut out, digits);
            let mut expected = Vec::new();
            for kind in [MetricKind::Lcp, MetricKind::Cls] {
                let (histogram, exact) = sampled(kind, digits, &raws_of(kind), &[3.0]);
                encode_metric(&mut out, kind, &histogram, &exact);
                expected.push((kind, histogram, exact));
            }
            assert_eq!(decoded(&out, digits), expected, "digits {digits}");
        }
    }

    #[test]
    fn a_record_longer_than_a_one_byte_length_round_trips() {
        let raws: Vec<f64> = (0..400).map(|index| f64::from(index) * 37.0).collect();
        let (histogram, exact) = sampled(MetricKind::Lcp, 2, &raws, &[]);
        let mut out = Vec::new();
        start(&mut out, 2);
        encode_metric(&mut out, MetricKind::Lcp, &histogram, &exact);
        encode_metric(
            &mut out,
            MetricKind::Inp,
            &histogram,
            &ExactCounts::new(MetricKind::Inp),
        );
        assert!(out.len() > 300);
        let back = decoded(&out, 2);
        assert_eq!(back.len(), 2);
        assert_eq!(back[0].1, histogram);
        assert_eq!(back[1].1, histogram);
    }

    #[test]
    fn legacy_slots_are_upgraded_exactly() {
        for digits in 1..=3 {
            let mut legacy = Vec::new();
            let mut expected = Vec::new();
            for kind in [MetricKind::Lcp, MetricKind::Inp, MetricKind::Cls] {
                let (histogram, exact) = sampled(kind, digits, &raws_of(kind), &[250.0]);
                encode_legacy_metric(&mut legacy, kind, &histogram, &exact);
                expected.push((kind, histogram, exact));
            }
            assert_eq!(
                records(&legacy).count(),
                0,
                "a legacy slot is not read as current"
            );
            let upgraded = upgrade(&legacy, digits).expect("legacy is upgraded");
            assert_eq!(decoded(&upgraded, digits), expected, "digits {digits}");
            assert!(upgraded.len() < legacy.len());
            assert_eq!(
                upgrade(&upgraded, digits),
                None,
                "current slots stay as they are"
            );
            assert_eq!(upgrade(&[], digits), None);
        }
    }

    #[test]
    fn a_slot_of_other_digits_is_re_recorded_at_the_configured_ones() {
        let raws = raws_of(MetricKind::Lcp);
        let (fine, exact) = sampled(MetricKind::Lcp, 3, &raws, &[]);
        let (coarse, _) = sampled(MetricKind::Lcp, 1, &raws, &[]);
        let mut out = Vec::new();
        start(&mut out, 3);
        encode_metric(&mut out, MetricKind::Lcp, &fine, &exact);
        let upgraded = upgrade(&out, 1).expect("other digits");
        assert_eq!(
            decoded(&upgraded, 1),
            vec![(MetricKind::Lcp, coarse, exact)]
        );
    }

    proptest::proptest! {
        /// Samples on and around the exact bounds land in histogram buckets that straddle them,
        /// where the expected exact bucket is wrong for some: the stored differences fix that.
        #[test]
        fn samples_at_the_exact_bounds_decode_exactly(
            digits in 1u8..=3,
            near in proptest::collection::vec((0usize..16, -1.5f64..1.5), 0..200),
            retracted in proptest::collection::vec((0usize..16, -1.5f64..1.5), 0..5),
        ) {
            let mut out = Vec::new();
            start(&mut out, digits);
            let mut expected = Vec::new();
            for kind in [MetricKind::Lcp, MetricKind::Inp, MetricKind::Cls, MetricKind::Fcp, MetricKind::Ttfb] {
                let bounds = kind.bucket_bounds();
                let at = |(bound, offset): &(usize, f64)| {
                    let unit = if kind.is_unitless() { 0.001 } else { 1.0 };
                    (bounds[bound % bounds.len()] + offset * unit).max(0.0)
                };
                let raws: Vec<f64> = near.iter().map(at).collect();
                let gone: Vec<f64> = retracted.iter().map(at).collect();
                let (histogram, exact) = sampled(kind, digits, &raws, &gone);
                encode_metric(&mut out, kind, &histogram, &exact);
                expected.push((kind, histogram, exact));
            }
            proptest::prop_assert_eq!(&decoded(&out, digits), &expected);
            for ((kind, record), (_, _, exact)) in records(&out).zip(&expected) {
                let mut only = ExactCounts::new(kind);
                proptest::prop_assert!(add_exact(kind, record, &mut only));
                proptest::prop_assert_eq!(&only, exact);
            }
        }

        #[test]
        fn any_samples_round_trip_in_both_encodings(
            digits in 1u8..=3,
            values in proptest::collection::vec(0.0f64..4e6, 0..300),
            retracted in proptest::collection::vec(0.0f64..4e6, 0..5),
        ) {
            let mut out = Vec::new();
            start(&mut out, digits);
            let mut legacy = Vec::new();
            let mut expected = Vec::new();
            for kind in [MetricKind::Ttfb, MetricKind::Cls] {
                let scale = if kind.is_unitless() { 1e-4 } else { 1.0 };
                let raws: Vec<f64> = values.iter().map(|value| value * scale).collect();
                let gone: Vec<f64> = retracted.iter().map(|value| value * scale).collect();
                let (histogram, exact) = sampled(kind, digits, &raws, &gone);
                encode_metric(&mut out, kind, &histogram, &exact);
                encode_legacy_metric(&mut legacy, kind, &histogram, &exact);
                expected.push((kind, histogram, exact));
            }
            proptest::prop_assert_eq!(&decoded(&out, digits), &expected);
            let upgraded = upgrade(&legacy, digits).expect("legacy");
            proptest::prop_assert_eq!(&upgraded, &out);
        }
    }

    #[test]
    fn malformed_bytes_are_refused_not_panicked_on() {
        let mut histogram = new_histogram::<u64>(MetricKind::Lcp, 2);
        let mut exact = ExactCounts::new(MetricKind::Lcp);
        let untouched = ExactCounts::new(MetricKind::Lcp);
        // Records whose header is fine but whose body is not: an exact-pair count with no pairs
        // behind it, an exact-pair index past the metric's buckets, a bucket whose count is
        // missing, an index past what a u64 holds (twice), a value past the histogram's range.
        for slot in [
            &b"\x82\x00\x03abc"[..],
            b"\x82\x00\x02\x00\x05",
            b"\x82\x00\x04\x00\x01\x20\x02",
            b"\x82\x00\x03\x00\x00\x05",
            b"\x82\x00\x0c\x00\x00\xfe\xff\xff\xff\xff\xff\xff\xff\xff\x01",
            b"\x82\x00\x05\x00\x00\xfe\xff\x01",
            b"\x82\x00\x04\x00\x00\xf0\x2e",
        ] {
            let found: Vec<_> = records(slot).collect();
            assert_eq!(found.len(), 1, "{slot:?}");
            let (kind, record) = found[0];
            assert!(
                !add_record(kind, record, &mut histogram, &mut exact),
                "record of {slot:?}"
            );
        }
        // Truncated headers, or an unknown metric, yield no record at all.
        for junk in [
            &b""[..],
            b"\x82",
            b"\x82\x00",
            b"\x82\x00\x05abc",
            b"\x82\x7f\x00",
            &[0xff; 11],
            b"\x87\x00\x00",
        ] {
            assert_eq!(records(junk).count(), 0, "{junk:?}");
        }
        assert!(histogram.is_empty(), "nothing was recorded from junk");
        assert_eq!(exact, untouched);
        // A well-formed record still decodes after the junk.
        let mut good = Vec::new();
        start(&mut good, 2);
        let (sample, sample_exact) = sampled(MetricKind::Lcp, 2, &[1800.0], &[]);
        encode_metric(&mut good, MetricKind::Lcp, &sample, &sample_exact);
        let (kind, record) = records(&good).next().expect("one record");
        assert!(add_record(kind, record, &mut histogram, &mut exact));
        assert_eq!(histogram.len(), 1);
    }
}
