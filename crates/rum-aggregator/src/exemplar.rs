//! Exemplars: one trace id per histogram bucket, so a dashboard can jump from a slow bucket to a
//! trace of a page view that fell in it (`rum_lcp_seconds_bucket{...,le="2.5"} 42 #
//! {trace_id="4bf9..."} 1.834 1764810000.123`).
//!
//! Only the OpenMetrics text format carries them; the Prometheus 0.0.4 text has no syntax for
//! them, so [`push_exemplar`] writes nothing there. A segment keeps at most one exemplar per
//! (metric, bucket), the latest ([`Exemplars::offer`]), in a sorted vector allocated only once a
//! segment has one: most segments never do, and a full table is 13 metrics x 15 buckets.

use std::fmt::Write;

use crate::exposition::Format;
use crate::metric::MetricKind;

/// A trace that observed a value, attached to the bucket the value falls in.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Exemplar {
    /// The W3C trace id (16 bytes; all zero is invalid and never written).
    pub trace_id: [u8; 16],
    /// The observed value in the family's exported unit: seconds, or unitless (CLS).
    pub value: f64,
    /// When it was observed, milliseconds since the Unix epoch.
    pub unix_ms: i64,
}

impl Exemplar {
    /// Whether the trace id can name a trace (W3C: all zero is invalid).
    pub fn is_valid(&self) -> bool {
        self.trace_id != [0; 16]
    }
}

/// The bucket of `kind`'s threshold-aligned histogram a value in the exported unit (seconds, or
/// CLS) falls in: the first bound it is at or under, `kind.bucket_bounds().len()` past the last
/// (the `+Inf` bucket). The same bounds and unit conversion as the exported `le` labels, so an
/// exemplar is always within its bucket's range, as OpenMetrics requires.
pub fn bucket_index(kind: MetricKind, exported_value: f64) -> usize {
    let bounds = kind.bucket_bounds();
    bounds
        .iter()
        .position(|bound| exported_value <= kind.raw_to_exported(*bound))
        .unwrap_or(bounds.len())
}

/// Appends ` # {trace_id="<32 lowercase hex>"} <value> <unix seconds.millis>` to a sample line
/// (before its newline), in OpenMetrics only; nothing for [`Format::Prometheus`], for `None` or
/// for an invalid trace id.
pub fn push_exemplar(out: &mut String, format: Format, exemplar: Option<Exemplar>) {
    let Some(exemplar) = exemplar else { return };
    if format != Format::OpenMetrics || !exemplar.is_valid() {
        return;
    }
    out.push_str(" # {trace_id=\"");
    for byte in exemplar.trace_id {
        let _ = write!(out, "{byte:02x}");
    }
    out.push_str("\"} ");
    out.push_str(&crate::exposition::number(exemplar.value));
    let _ = write!(
        out,
        " {}.{:03}",
        exemplar.unix_ms.div_euclid(1000),
        exemplar.unix_ms.rem_euclid(1000)
    );
}

/// The exemplars of one segment: at most one per (metric, bucket), the latest offered.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Exemplars {
    /// Sorted by (metric index, bucket), unique.
    entries: Vec<((u8, u8), Exemplar)>,
}

impl Exemplars {
    /// Keeps `exemplar` for `bucket` of `kind` unless the one held there is more recent. Buckets
    /// past the `+Inf` one and invalid trace ids are ignored.
    pub fn offer(&mut self, kind: MetricKind, bucket: usize, exemplar: Exemplar) {
        let Some(key) = Self::key(kind, bucket) else {
            return;
        };
        if !exemplar.is_valid() {
            return;
        }
        match self.entries.binary_search_by_key(&key, |(key, _)| *key) {
            Ok(position) => {
                let held = &mut self.entries[position].1;
                if exemplar.unix_ms >= held.unix_ms {
                    *held = exemplar;
                }
            }
            Err(position) => self.entries.insert(position, (key, exemplar)),
        }
    }

    /// The exemplar held for `bucket` of `kind`.
    pub fn get(&self, kind: MetricKind, bucket: usize) -> Option<Exemplar> {
        let key = Self::key(kind, bucket)?;
        self.entries
            .binary_search_by_key(&key, |(key, _)| *key)
            .ok()
            .map(|position| self.entries[position].1)
    }

    /// Exemplars held.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Every exemplar held, by metric then bucket.
    pub fn iter(&self) -> impl Iterator<Item = (MetricKind, usize, Exemplar)> + '_ {
        self.entries.iter().map(|((kind, bucket), exemplar)| {
            (
                MetricKind::ALL[usize::from(*kind)],
                usize::from(*bucket),
                *exemplar,
            )
        })
    }

    fn key(kind: MetricKind, bucket: usize) -> Option<(u8, u8)> {
        if bucket > kind.bucket_bounds().len() {
            return None;
        }
        Some((u8::try_from(kind.index()).ok()?, u8::try_from(bucket).ok()?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TRACE: [u8; 16] = [
        0x4b, 0xf9, 0x2f, 0x35, 0x77, 0xb3, 0x4d, 0xa6, 0xa3, 0xce, 0x92, 0x9d, 0x0e, 0x0e, 0x47,
        0x36,
    ];

    fn exemplar(value: f64, unix_ms: i64) -> Exemplar {
        Exemplar {
            trace_id: TRACE,
            value,
            unix_ms,
        }
    }

    #[test]
    fn the_exemplar_is_written_in_openmetrics_only() {
        let mut line = String::from("rum_lcp_seconds_bucket{le=\"2.5\"} 42");
        push_exemplar(
            &mut line,
            Format::OpenMetrics,
            Some(exemplar(1.834, 1_764_810_000_123)),
        );
        assert_eq!(
            line,
            "rum_lcp_seconds_bucket{le=\"2.5\"} 42 # {trace_id=\"4bf92f3577b34da6a3ce929d0e0e4736\"} 1.834 1764810000.123"
        );
        let mut plain = String::from("x 1");
        push_exemplar(
            &mut plain,
            Format::Prometheus,
            Some(exemplar(1.834, 1_764_810_000_123)),
        );
        push_exemplar(&mut plain, Format::OpenMetrics, None);
        let invalid = Exemplar {
            trace_id: [0; 16],
            ..exemplar(1.0, 0)
        };
        push_exemplar(&mut plain, Format::OpenMetrics, Some(invalid));
        assert_eq!(plain, "x 1");
        // Whole seconds keep their three digits of milliseconds.
        let mut whole = String::new();
        push_exemplar(&mut whole, Format::OpenMetrics, Some(exemplar(0.5, 5_000)));
        assert!(whole.ends_with("} 0.5 5.000"), "{whole}");
    }

    #[test]
    fn values_fall_in_the_bucket_whose_le_is_the_first_at_or_over_them() {
        // LCP bounds: 0.5 1 1.5 2 2.5 ... 30 s.
        assert_eq!(bucket_index(MetricKind::Lcp, 0.0), 0);
        assert_eq!(bucket_index(MetricKind::Lcp, 0.5), 0);
        assert_eq!(bucket_index(MetricKind::Lcp, 0.501), 1);
        assert_eq!(bucket_index(MetricKind::Lcp, 2.5), 4);
        let overflow = MetricKind::Lcp.bucket_bounds().len();
        assert_eq!(bucket_index(MetricKind::Lcp, 30.001), overflow);
        // CLS is unitless: its bounds are the scores themselves.
        assert_eq!(bucket_index(MetricKind::Cls, 0.1), 4);
        assert_eq!(bucket_index(MetricKind::Cls, 0.11), 5);
        // The same bucket as the exact counters' raw comparison.
        for kind in MetricKind::ALL {
            for raw in [0.0, 10.0, 99.0, 100.0, 2500.0, 2500.4, 4000.0, 1e7] {
                assert_eq!(
                    bucket_index(kind, kind.raw_to_exported(raw)),
                    kind.bucket_index(raw),
                    "{kind:?} {raw}"
                );
            }
        }
    }

    #[test]
    fn one_exemplar_per_bucket_the_latest() {
        let mut exemplars = Exemplars::default();
        assert!(exemplars.is_empty());
        exemplars.offer(MetricKind::Lcp, 4, exemplar(2.4, 2_000));
        exemplars.offer(MetricKind::Lcp, 4, exemplar(2.3, 1_000));
        exemplars.offer(MetricKind::Inp, 0, exemplar(0.04, 500));
        exemplars.offer(MetricKind::Lcp, 1, exemplar(0.9, 3_000));
        assert_eq!(
            exemplars.get(MetricKind::Lcp, 4),
            Some(exemplar(2.4, 2_000))
        );
        exemplars.offer(MetricKind::Lcp, 4, exemplar(2.2, 2_500));
        assert_eq!(
            exemplars.get(MetricKind::Lcp, 4),
            Some(exemplar(2.2, 2_500))
        );
        assert_eq!(exemplars.get(MetricKind::Lcp, 3), None);
        assert_eq!(exemplars.get(MetricKind::Cls, 4), None);
        assert_eq!(exemplars.len(), 3);
        let order: Vec<(MetricKind, usize)> = exemplars
            .iter()
            .map(|(kind, bucket, _)| (kind, bucket))
            .collect();
        assert_eq!(
            order,
            [
                (MetricKind::Lcp, 1),
                (MetricKind::Lcp, 4),
                (MetricKind::Inp, 0)
            ]
        );
        // Past the +Inf bucket, or without a trace: ignored.
        let past = MetricKind::Lcp.bucket_bounds().len() + 1;
        exemplars.offer(MetricKind::Lcp, past, exemplar(99.0, 9_000));
        exemplars.offer(
            MetricKind::Lcp,
            2,
            Exemplar {
                trace_id: [0; 16],
                ..exemplar(1.2, 9_000)
            },
        );
        assert_eq!(exemplars.len(), 3);
        assert_eq!(exemplars.get(MetricKind::Lcp, past), None);
    }
}
