//! Why a beacon or one of its events was rejected: a closed set, so it can be a metric label.

rum_ledger::drop_reasons! {
    /// A machine-readable rejection reason. Beacon-level reasons reject the whole beacon; event-level
    /// reasons reject one event and keep the rest. Both are drops at the edge in the ledger
    /// (`rum_dropped_total{stage="edge", item="beacon"|"event"}`).
    pub enum DecodeReason in Edge {
        /// The body is not valid JSON (or not UTF-8).
        MalformedJson = "malformed_json",
        /// Valid JSON, but not a beacon object.
        InvalidBeacon = "invalid_beacon",
        /// `v` is not a version this collector speaks.
        UnsupportedVersion = "unsupported_version",
        /// A required field is absent.
        MissingField = "missing_field",
        /// A field has the wrong JSON type.
        InvalidFieldType = "invalid_field_type",
        /// `sid`, `pid` or a vital `id` is not of the allowed form.
        InvalidId = "invalid_id",
        /// `url` is not an absolute http(s) URL.
        InvalidUrl = "invalid_url",
        /// `nav` is not one of the navigation types of BEACON.md.
        InvalidNavigationType = "invalid_navigation_type",
        /// `sent` is not a plausible epoch timestamp.
        InvalidTimestamp = "invalid_timestamp",
        /// A string is longer than its limit.
        StringTooLong = "string_too_long",
        /// More events than the per-beacon limit.
        TooManyEvents = "too_many_events",
        /// An element of `events` is not an object.
        InvalidEvent = "invalid_event",
        /// A vital whose `name` is not LCP, INP, CLS, FCP or TTFB.
        UnknownVitalName = "unknown_vital_name",
        /// A number outside physical sense (negative, non-finite, LCP over an hour, CLS over 100).
        ValueOutOfRange = "value_out_of_range",
        /// An event `type` this collector does not know (BEACON.md: ignored and counted).
        UnknownEventType = "unknown_event_type",
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
