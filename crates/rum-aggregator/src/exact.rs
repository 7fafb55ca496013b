//! Exact per-bucket counts at threshold-aligned bounds, kept beside every HDR histogram.
//!
//! An HDR bucket edge is not at 2500 ms, so the good / needs-improvement / poor split and the
//! Prometheus `le` buckets are counted here from the raw values instead. Counts are signed because a
//! re-sent metric replaces its earlier value (a minus one in the old bucket, a plus one in the new).
//!
//! The sum of raw values is kept in integer millionths of the raw unit: floating-point addition is
//! not associative, and the same samples merged in another order (partials of several beacon
//! partitions arriving interleaved differently on two workers) must give the same `_sum` to the
//! last digit.

use crate::metric::{MetricKind, Rating};

#[derive(Debug, Clone, PartialEq)]
pub struct ExactCounts {
    /// Non-cumulative count per bucket; the last entry is the overflow bucket (above every bound).
    buckets: Box<[i64]>,
    /// Sum of raw values (ms, or CLS unitless), in millionths.
    sum_micros: i64,
}

/// Millionths of the raw unit per raw unit.
const MICROS: f64 = 1_000_000.0;

/// A raw value (or a sum of them) in millionths, rounded half away from zero (as `f64::round`).
pub fn to_micros(raw: f64) -> i64 {
    let scaled = raw * MICROS;
    if !scaled.is_finite() {
        return 0;
    }
    // `f64::round` is a library call on x86-64 without SSE4.1 (~70 instructions, run for every
    // sample); truncating with `as` is one instruction. Past 2^52 every double is a whole number.
    if scaled.abs() >= 4_503_599_627_370_496.0 {
        return scaled as i64;
    }
    let truncated = scaled as i64;
    let fraction = scaled - truncated as f64;
    if fraction >= 0.5 {
        truncated + 1
    } else if fraction <= -0.5 {
        truncated - 1
    } else {
        truncated
    }
}

/// The good / needs-improvement / poor split of a set of samples.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RatingCounts {
    pub good: u64,
    pub needs_improvement: u64,
    pub poor: u64,
}

impl RatingCounts {
    pub fn total(&self) -> u64 {
        self.good + self.needs_improvement + self.poor
    }

    /// Share of good samples; `None` without samples.
    pub fn good_share(&self) -> Option<f64> {
        let total = self.total();
        (total > 0).then(|| self.good as f64 / total as f64)
    }
}

impl ExactCounts {
    pub fn new(kind: MetricKind) -> Self {
        Self {
            buckets: vec![0; kind.bucket_bounds().len() + 1].into_boxed_slice(),
            sum_micros: 0,
        }
    }

    /// Adds (`sign = 1`) or retracts (`sign = -1`) one raw value.
    pub fn record(&mut self, kind: MetricKind, raw_value: f64, sign: i64) {
        self.record_point(kind.bucket_index(raw_value), to_micros(raw_value), sign);
    }

    /// [`record`](Self::record) of a value whose bucket (`MetricKind::bucket_index`) and
    /// millionths ([`to_micros`]) are known: stage 1 works them out once for all its views.
    pub fn record_point(&mut self, bucket: usize, micros: i64, sign: i64) {
        self.buckets[bucket] += sign;
        self.sum_micros = self.sum_micros.saturating_add(sign.saturating_mul(micros));
    }

    /// Adds deltas as carried by a partial, the sum in millionths. Extra or missing entries (a
    /// partial from a build with other bounds) are ignored rather than misattributed.
    pub fn apply_deltas(&mut self, deltas: &[i64], sum_micros_delta: i64) -> bool {
        if deltas.len() != self.buckets.len() {
            return false;
        }
        for (bucket, delta) in self.buckets.iter_mut().zip(deltas) {
            *bucket += delta;
        }
        self.sum_micros = self.sum_micros.saturating_add(sum_micros_delta);
        true
    }

    pub fn add(&mut self, other: &ExactCounts) {
        for (bucket, delta) in self.buckets.iter_mut().zip(other.buckets.iter()) {
            *bucket += delta;
        }
        self.sum_micros = self.sum_micros.saturating_add(other.sum_micros);
    }

    pub fn deltas(&self) -> &[i64] {
        &self.buckets
    }

    /// Sum of raw values (ms, or CLS unitless).
    pub fn sum(&self) -> f64 {
        self.sum_micros as f64 / MICROS
    }

    /// Sum of raw values in millionths: exact, whatever order the samples came in.
    pub fn sum_micros(&self) -> i64 {
        self.sum_micros
    }

    /// Samples counted (negative counts, possible only transiently while a retraction and its
    /// addition land in different partials, count as zero).
    pub fn count(&self) -> u64 {
        self.buckets
            .iter()
            .map(|count| (*count).max(0) as u64)
            .sum()
    }

    pub fn is_empty(&self) -> bool {
        self.buckets.iter().all(|count| *count == 0)
    }

    /// Cumulative counts per bound (`le`), then the total (`+Inf`).
    pub fn cumulative(&self) -> impl Iterator<Item = u64> + '_ {
        self.buckets.iter().scan(0u64, |running, count| {
            *running += (*count).max(0) as u64;
            Some(*running)
        })
    }

    /// The exact rating split; `None` for metrics without thresholds.
    pub fn ratings(&self, kind: MetricKind) -> Option<RatingCounts> {
        let (good_bound, poor_bound) = kind.thresholds()?;
        let bounds = kind.bucket_bounds();
        let mut ratings = RatingCounts::default();
        for (index, count) in self.buckets.iter().enumerate() {
            let count = (*count).max(0) as u64;
            // Bucket `index` holds values in (bounds[index-1], bounds[index]]; the thresholds are
            // bounds, so every bucket lies wholly inside one rating.
            let upper = bounds.get(index).copied().unwrap_or(f64::INFINITY);
            let rating = if upper <= good_bound {
                Rating::Good
            } else if upper <= poor_bound {
                Rating::NeedsImprovement
            } else {
                Rating::Poor
            };
            match rating {
                Rating::Good => ratings.good += count,
                Rating::NeedsImprovement => ratings.needs_improvement += count,
                Rating::Poor => ratings.poor += count,
            }
        }
        Some(ratings)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        #[test]
        fn micros_round_like_f64_round(raw in proptest::prelude::any::<f64>(), small in -1e7f64..1e7) {
            for value in [raw, small, small / 1e6, small.trunc() / 1e6 + 5e-7] {
                let scaled = value * MICROS;
                let expected = if scaled.is_finite() { scaled.round() as i64 } else { 0 };
                proptest::prop_assert_eq!(to_micros(value), expected, "{}", value);
            }
        }
    }

    #[test]
    fn micros_round_halves_away_from_zero() {
        assert_eq!(to_micros(0.0000005), 1);
        assert_eq!(to_micros(-0.0000005), -1);
        assert_eq!(to_micros(2.5e-6), 3);
        assert_eq!(to_micros(f64::NAN), 0);
        assert_eq!(to_micros(1e300), i64::MAX);
        assert_eq!(to_micros(-1e13), i64::MIN);
    }

    #[test]
    fn sums_do_not_depend_on_the_order_samples_come_in() {
        let values: Vec<f64> = (0..500)
            .map(|index| (index * 13 % 37) as f64 / 100.0 + 0.001 * (index % 7) as f64)
            .collect();
        let mut forward = ExactCounts::new(MetricKind::Cls);
        let mut backward = ExactCounts::new(MetricKind::Cls);
        let mut halves = [
            ExactCounts::new(MetricKind::Cls),
            ExactCounts::new(MetricKind::Cls),
        ];
        for (index, value) in values.iter().enumerate() {
            forward.record(MetricKind::Cls, *value, 1);
            halves[index % 2].record(MetricKind::Cls, *value, 1);
        }
        for value in values.iter().rev() {
            backward.record(MetricKind::Cls, *value, 1);
        }
        let [mut merged, odd] = halves;
        merged.add(&odd);
        assert_eq!(forward.sum().to_bits(), backward.sum().to_bits());
        assert_eq!(forward, merged);
        // Floating-point addition would not have agreed.
        let float_forward: f64 = values.iter().sum();
        let float_backward: f64 = values.iter().rev().sum();
        assert_ne!(
            float_forward.to_bits(),
            float_backward.to_bits(),
            "the case is a real one"
        );
    }

    #[test]
    fn boundary_values_are_rated_exactly() {
        let mut counts = ExactCounts::new(MetricKind::Lcp);
        for value in [2500.0, 2501.0, 4000.0, 4000.5, 1.0] {
            counts.record(MetricKind::Lcp, value, 1);
        }
        let ratings = counts.ratings(MetricKind::Lcp).expect("vital");
        assert_eq!(
            ratings,
            RatingCounts {
                good: 2,
                needs_improvement: 2,
                poor: 1
            }
        );
        let cumulative: Vec<u64> = counts.cumulative().collect();
        // le=2.5 (index 4) holds exactly the good ones.
        assert_eq!(cumulative[4], 2);
        assert_eq!(*cumulative.last().expect("overflow"), 5);
    }

    #[test]
    fn cls_boundaries() {
        let mut counts = ExactCounts::new(MetricKind::Cls);
        for value in [0.1, 0.1000001, 0.25, 0.2500001] {
            counts.record(MetricKind::Cls, value, 1);
        }
        let ratings = counts.ratings(MetricKind::Cls).expect("vital");
        assert_eq!(
            (ratings.good, ratings.needs_improvement, ratings.poor),
            (1, 2, 1)
        );
    }

    #[test]
    fn retraction_moves_a_sample() {
        let mut counts = ExactCounts::new(MetricKind::Inp);
        counts.record(MetricKind::Inp, 150.0, 1);
        counts.record(MetricKind::Inp, 150.0, -1);
        counts.record(MetricKind::Inp, 600.0, 1);
        assert_eq!(counts.count(), 1);
        assert_eq!(counts.ratings(MetricKind::Inp).expect("vital").poor, 1);
        assert_eq!(counts.sum(), 600.0);
    }
}
