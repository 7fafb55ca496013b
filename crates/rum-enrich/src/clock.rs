//! Client clock skew: how far the browser's clock (`sent`) is from the edge's receive time.
//!
//! The edge receive time is authoritative: a beacon is placed in time by when the collector received
//! it, never by the client's clock. The only absolute client timestamp a beacon carries is `sent`
//! (every event time is relative to the page), so this module measures the skew `received - sent`,
//! judges whether it is plausible under a [`ClockPolicy`], and clamps what is not.
//!
//! A positive skew means the client clock is behind the edge (or the beacon was delayed on the way);
//! a negative skew means the client clock is ahead. This module is pure arithmetic: it must never read
//! the system clock itself (the caller passes the receive time, so tests need no real time) and never
//! panic or overflow on any input.

use std::time::Duration;

/// A client clock may be ahead of the edge by up to this much and still be believed:
/// `enrich.clock_max_future`'s default, [`rum_config::DEFAULT_CLOCK_MAX_FUTURE_SECS`] (phones with
/// a manually set clock or without network time drift by minutes, not hours).
pub const DEFAULT_MAX_FUTURE: Duration =
    Duration::from_secs(rum_config::DEFAULT_CLOCK_MAX_FUTURE_SECS);

/// `sent` may lie up to this far in the past: `enrich.clock_max_past`'s default,
/// [`rum_config::DEFAULT_CLOCK_MAX_PAST_SECS`] (beacons queued while offline or sent from a page
/// restored from the back/forward cache the next morning arrive late but are genuine).
pub const DEFAULT_MAX_PAST: Duration = Duration::from_secs(rum_config::DEFAULT_CLOCK_MAX_PAST_SECS);

/// How far `sent` may be from the edge receive time before the client clock is judged implausible.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClockPolicy {
    /// How far `sent` may lie after the receive time (client clock ahead).
    pub max_future: Duration,
    /// How far `sent` may lie before the receive time (client clock behind, or a delayed beacon).
    pub max_past: Duration,
}

impl Default for ClockPolicy {
    fn default() -> Self {
        Self {
            max_future: DEFAULT_MAX_FUTURE,
            max_past: DEFAULT_MAX_PAST,
        }
    }
}

/// The outcome of comparing `sent` with the receive time: the skew to record and what was judged.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClockReading {
    /// `received_at_ms - sent_at_ms`, clamped to `[-max_future, max_past]` (and to the `i64` range);
    /// 0 when `sent` is missing.
    pub skew_ms: i64,
    /// Whether the measured skew was plausible, and if not on which side.
    pub verdict: ClockVerdict,
}

/// The judgement on a beacon's `sent` timestamp. [`ClockVerdict::as_str`] gives the metric label.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ClockVerdict {
    /// `sent` is within the policy's window around the receive time.
    Plausible,
    /// The beacon carried no `sent` (0, the protobuf default).
    SentMissing,
    /// `sent` lies further after the receive time than `max_future`: the client clock is ahead.
    SentTooFarInFuture,
    /// `sent` lies further before the receive time than `max_past`: the client clock is behind or the
    /// beacon was held back longer than we are willing to believe.
    SentTooFarInPast,
}

impl ClockVerdict {
    /// Every verdict, so callers can register one counter per label up front.
    pub const ALL: [Self; 4] = [
        Self::Plausible,
        Self::SentMissing,
        Self::SentTooFarInFuture,
        Self::SentTooFarInPast,
    ];

    /// The stable, lowercase metric label for this verdict.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Plausible => "plausible",
            Self::SentMissing => "sent_missing",
            Self::SentTooFarInFuture => "sent_too_far_in_future",
            Self::SentTooFarInPast => "sent_too_far_in_past",
        }
    }

    /// True for the two verdicts that clamp the skew.
    pub fn is_implausible(self) -> bool {
        matches!(self, Self::SentTooFarInFuture | Self::SentTooFarInPast)
    }
}

impl ClockPolicy {
    /// Compares the client's `sent_at_ms` with the edge's `received_at_ms` (both ms since the epoch).
    ///
    /// A `sent_at_ms` of 0 means missing (the beacon decoder rejects other non-positive values; a
    /// negative one that gets here anyway reads as a clock far in the past). An implausible skew is
    /// clamped to the bound it broke, not dropped and not reset to 0: a clock that is decades off (a
    /// dead RTC battery reporting 1970) or a beacon that sat in an offline queue for days would
    /// otherwise put one absurd observation into the skew histogram and drag every mean with it,
    /// while the bound still says "at least this far off" truthfully. The verdict records that it
    /// happened, and which side, so it is counted rather than hidden.
    pub fn assess(&self, received_at_ms: i64, sent_at_ms: i64) -> ClockReading {
        if sent_at_ms == 0 {
            return ClockReading {
                skew_ms: 0,
                verdict: ClockVerdict::SentMissing,
            };
        }
        // i128 holds the difference of any two i64 exactly, so the verdict is never an artefact
        // of overflow; only the reported value saturates.
        let skew_ms = i128::from(received_at_ms) - i128::from(sent_at_ms);
        let max_future_ms = duration_to_ms(self.max_future);
        let max_past_ms = duration_to_ms(self.max_past);
        let (clamped_skew_ms, verdict) = if skew_ms < -max_future_ms {
            (-max_future_ms, ClockVerdict::SentTooFarInFuture)
        } else if skew_ms > max_past_ms {
            (max_past_ms, ClockVerdict::SentTooFarInPast)
        } else {
            (skew_ms, ClockVerdict::Plausible)
        };
        ClockReading {
            skew_ms: saturate_to_i64(clamped_skew_ms),
            verdict,
        }
    }
}

/// Whole milliseconds; `Duration::MAX` in ms (~1.8e19) fits an i128 with room to negate.
fn duration_to_ms(duration: Duration) -> i128 {
    i128::try_from(duration.as_millis()).unwrap_or(i128::MAX / 2)
}

fn saturate_to_i64(value: i128) -> i64 {
    i64::try_from(value).unwrap_or(if value < 0 { i64::MIN } else { i64::MAX })
}

#[cfg(test)]
mod tests {
    use super::*;

    const RECEIVED: i64 = 1_763_760_000_000;
    const FUTURE_MS: i64 = 5 * 60 * 1000;
    const PAST_MS: i64 = 24 * 60 * 60 * 1000;

    fn assess(sent: i64) -> ClockReading {
        ClockPolicy::default().assess(RECEIVED, sent)
    }

    fn reading(skew_ms: i64, verdict: ClockVerdict) -> ClockReading {
        ClockReading { skew_ms, verdict }
    }

    #[test]
    fn in_sync_clock_has_zero_skew() {
        assert_eq!(assess(RECEIVED), reading(0, ClockVerdict::Plausible));
    }

    #[test]
    fn skew_is_received_minus_sent() {
        assert_eq!(
            assess(RECEIVED - 1_500),
            reading(1_500, ClockVerdict::Plausible)
        );
        assert_eq!(
            assess(RECEIVED + 2_000),
            reading(-2_000, ClockVerdict::Plausible)
        );
    }

    #[test]
    fn future_bound_is_inclusive() {
        assert_eq!(
            assess(RECEIVED + FUTURE_MS),
            reading(-FUTURE_MS, ClockVerdict::Plausible)
        );
        assert_eq!(
            assess(RECEIVED + FUTURE_MS + 1),
            reading(-FUTURE_MS, ClockVerdict::SentTooFarInFuture)
        );
    }

    #[test]
    fn past_bound_is_inclusive() {
        assert_eq!(
            assess(RECEIVED - PAST_MS),
            reading(PAST_MS, ClockVerdict::Plausible)
        );
        assert_eq!(
            assess(RECEIVED - PAST_MS - 1),
            reading(PAST_MS, ClockVerdict::SentTooFarInPast)
        );
    }

    #[test]
    fn wildly_wrong_clocks_are_clamped_to_the_bound() {
        // A client clock reset to the epoch, and one set to the year 2286.
        assert_eq!(assess(1), reading(PAST_MS, ClockVerdict::SentTooFarInPast));
        assert_eq!(
            assess(9_999_999_999_999),
            reading(-FUTURE_MS, ClockVerdict::SentTooFarInFuture)
        );
    }

    #[test]
    fn missing_sent_is_its_own_verdict() {
        assert_eq!(assess(0), reading(0, ClockVerdict::SentMissing));
    }

    #[test]
    fn extreme_values_never_overflow() {
        let policy = ClockPolicy {
            max_future: Duration::MAX,
            max_past: Duration::MAX,
        };
        // The true skew (about 2^64 ms) is within a `Duration::MAX` window; only its value saturates.
        assert_eq!(
            policy.assess(i64::MAX, i64::MIN),
            reading(i64::MAX, ClockVerdict::Plausible)
        );
        assert_eq!(
            policy.assess(i64::MIN, i64::MAX),
            reading(i64::MIN, ClockVerdict::Plausible)
        );
        let default = ClockPolicy::default();
        assert_eq!(
            default.assess(i64::MIN, i64::MAX),
            reading(-FUTURE_MS, ClockVerdict::SentTooFarInFuture)
        );
        assert_eq!(
            default.assess(i64::MAX, i64::MIN),
            reading(PAST_MS, ClockVerdict::SentTooFarInPast)
        );
        assert_eq!(
            default.assess(RECEIVED, -5),
            reading(PAST_MS, ClockVerdict::SentTooFarInPast)
        );
    }

    #[test]
    fn zero_width_policy_accepts_only_exact_clocks() {
        let strict = ClockPolicy {
            max_future: Duration::ZERO,
            max_past: Duration::ZERO,
        };
        assert_eq!(
            strict.assess(RECEIVED, RECEIVED).verdict,
            ClockVerdict::Plausible
        );
        assert_eq!(
            strict.assess(RECEIVED, RECEIVED + 1),
            reading(0, ClockVerdict::SentTooFarInFuture)
        );
        assert_eq!(
            strict.assess(RECEIVED, RECEIVED - 1),
            reading(0, ClockVerdict::SentTooFarInPast)
        );
    }

    #[test]
    fn labels_are_stable_lowercase_and_distinct() {
        let labels: Vec<&str> = ClockVerdict::ALL.iter().map(|v| v.as_str()).collect();
        assert_eq!(
            labels,
            [
                "plausible",
                "sent_missing",
                "sent_too_far_in_future",
                "sent_too_far_in_past"
            ]
        );
        assert!(ClockVerdict::SentTooFarInPast.is_implausible());
        assert!(!ClockVerdict::SentMissing.is_implausible());
    }
}
