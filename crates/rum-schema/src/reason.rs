//! Why a beacon or one of its events was rejected: a closed set, so it can be a metric label.

/// A machine-readable rejection reason. Beacon-level reasons reject the whole beacon; event-level
/// reasons reject one event and keep the rest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DecodeReason {
    /// The body is not valid JSON (or not UTF-8).
    MalformedJson,
    /// Valid JSON, but not a beacon object.
    InvalidBeacon,
    /// `v` is not a version this collector speaks.
    UnsupportedVersion,
    /// A required field is absent.
    MissingField,
    /// A field has the wrong JSON type.
    InvalidFieldType,
    /// `sid`, `pid` or a vital `id` is not of the allowed form.
    InvalidId,
    /// `url` is not an absolute http(s) URL.
    InvalidUrl,
    /// `nav` is not one of the navigation types of BEACON.md.
    InvalidNavigationType,
    /// `sent` is not a plausible epoch timestamp.
    InvalidTimestamp,
    /// A string is longer than its limit.
    StringTooLong,
    /// More events than the per-beacon limit.
    TooManyEvents,
    /// An element of `events` is not an object.
    InvalidEvent,
    /// A vital whose `name` is not LCP, INP, CLS, FCP or TTFB.
    UnknownVitalName,
    /// A number outside physical sense (negative, non-finite, LCP over an hour, CLS over 100).
    ValueOutOfRange,
}

impl DecodeReason {
    /// Every reason, in a fixed order (index = `self as usize`), for pre-registering counters.
    pub const ALL: [DecodeReason; 14] = [
        DecodeReason::MalformedJson,
        DecodeReason::InvalidBeacon,
        DecodeReason::UnsupportedVersion,
        DecodeReason::MissingField,
        DecodeReason::InvalidFieldType,
        DecodeReason::InvalidId,
        DecodeReason::InvalidUrl,
        DecodeReason::InvalidNavigationType,
        DecodeReason::InvalidTimestamp,
        DecodeReason::StringTooLong,
        DecodeReason::TooManyEvents,
        DecodeReason::InvalidEvent,
        DecodeReason::UnknownVitalName,
        DecodeReason::ValueOutOfRange,
    ];

    /// The snake_case name used in responses and metric labels.
    pub fn as_str(self) -> &'static str {
        match self {
            DecodeReason::MalformedJson => "malformed_json",
            DecodeReason::InvalidBeacon => "invalid_beacon",
            DecodeReason::UnsupportedVersion => "unsupported_version",
            DecodeReason::MissingField => "missing_field",
            DecodeReason::InvalidFieldType => "invalid_field_type",
            DecodeReason::InvalidId => "invalid_id",
            DecodeReason::InvalidUrl => "invalid_url",
            DecodeReason::InvalidNavigationType => "invalid_navigation_type",
            DecodeReason::InvalidTimestamp => "invalid_timestamp",
            DecodeReason::StringTooLong => "string_too_long",
            DecodeReason::TooManyEvents => "too_many_events",
            DecodeReason::InvalidEvent => "invalid_event",
            DecodeReason::UnknownVitalName => "unknown_vital_name",
            DecodeReason::ValueOutOfRange => "value_out_of_range",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_is_indexed_by_discriminant() {
        for (index, reason) in DecodeReason::ALL.iter().enumerate() {
            assert_eq!(*reason as usize, index, "{}", reason.as_str());
        }
    }
}
