//! Collector metrics. Handles are registered once at start-up so the request path only does atomic
//! adds. Labels are closed sets (status codes, reasons, event types): never a URL, key or user agent.
//!
//! - `rum_collector_requests_total{status}`: requests on the public listener, by HTTP status.
//! - `rum_collector_beacons_accepted_total`: beacons handed to the sink.
//! - `rum_collector_beacons_rejected_total{reason}`: beacons refused, by reason (every 4xx/5xx).
//! - `rum_collector_beacons_dropped_total{reason}`: valid beacons answered 202 but deliberately not
//!   forwarded (`bot`: a bot's beacon on a site that does not keep bots).
//! - `rum_collector_events_accepted_total{type}`: events in accepted beacons (vital, nav, error,
//!   request, custom).
//! - `rum_collector_events_rejected_total{reason}`: events dropped from otherwise accepted beacons.
//! - `rum_collector_ignored_total{what}`: `unknown_field`, `unknown_event_type`, `invalid_hint`.
//! - `rum_collector_request_body_bytes` (histogram): body bytes on the wire of accepted beacons.

use std::collections::HashMap;

use metrics::{Counter, Histogram, counter, describe_counter, describe_histogram, histogram};
use rum_enrich::DropReason;
use rum_schema::DecodeReason;
use rum_schema::proto::event::Kind;

use crate::error::{EDGE_REASONS, HttpError};

const REQUESTS: &str = "rum_collector_requests_total";
const BEACONS_ACCEPTED: &str = "rum_collector_beacons_accepted_total";
const BEACONS_REJECTED: &str = "rum_collector_beacons_rejected_total";
const BEACONS_DROPPED: &str = "rum_collector_beacons_dropped_total";
const EVENTS_ACCEPTED: &str = "rum_collector_events_accepted_total";
const EVENTS_REJECTED: &str = "rum_collector_events_rejected_total";
const IGNORED: &str = "rum_collector_ignored_total";
const BODY_BYTES: &str = "rum_collector_request_body_bytes";

/// Status codes the edge answers with; others are counted through a slower path.
const KNOWN_STATUSES: [u16; 11] = [202, 204, 400, 403, 404, 405, 408, 413, 415, 500, 503];

pub(crate) struct CollectorMetrics {
    requests_by_status: HashMap<u16, Counter>,
    beacons_accepted: Counter,
    beacons_rejected: HashMap<&'static str, Counter>,
    beacons_dropped: [Counter; DropReason::ALL.len()],
    events_accepted: [Counter; 5],
    events_rejected: Vec<Counter>,
    unknown_fields: Counter,
    unknown_event_types: Counter,
    invalid_hints: Counter,
    body_bytes: Histogram,
}

impl CollectorMetrics {
    pub(crate) fn register() -> Self {
        describe_counter!(REQUESTS, "Requests on the public listener, by HTTP status.");
        describe_counter!(BEACONS_ACCEPTED, "Beacons accepted and handed to the sink.");
        describe_counter!(
            BEACONS_REJECTED,
            "Beacons refused, by machine-readable reason."
        );
        describe_counter!(
            BEACONS_DROPPED,
            "Valid beacons answered 202 but deliberately not forwarded, by reason."
        );
        describe_counter!(
            EVENTS_ACCEPTED,
            "Events in accepted beacons, by event type."
        );
        describe_counter!(
            EVENTS_REJECTED,
            "Events dropped from otherwise accepted beacons, by reason."
        );
        describe_counter!(
            IGNORED,
            "Unknown members and event types ignored, and malformed optional hints dropped."
        );
        describe_histogram!(
            BODY_BYTES,
            metrics::Unit::Bytes,
            "Body size on the wire of accepted beacons."
        );
        let decode_reasons = DecodeReason::ALL.iter().map(|reason| reason.as_str());
        let beacons_rejected = EDGE_REASONS
            .iter()
            .copied()
            .chain(decode_reasons)
            .map(|reason| (reason, counter!(BEACONS_REJECTED, "reason" => reason)))
            .collect();
        Self {
            requests_by_status: KNOWN_STATUSES
                .iter()
                .map(|status| (*status, counter!(REQUESTS, "status" => status.to_string())))
                .collect(),
            beacons_accepted: counter!(BEACONS_ACCEPTED),
            beacons_rejected,
            beacons_dropped: DropReason::ALL
                .map(|reason| counter!(BEACONS_DROPPED, "reason" => reason.as_str())),
            events_accepted: ["vital", "nav", "error", "request", "custom"]
                .map(|event_type| counter!(EVENTS_ACCEPTED, "type" => event_type)),
            events_rejected: DecodeReason::ALL
                .iter()
                .map(|reason| counter!(EVENTS_REJECTED, "reason" => reason.as_str()))
                .collect(),
            unknown_fields: counter!(IGNORED, "what" => "unknown_field"),
            unknown_event_types: counter!(IGNORED, "what" => "unknown_event_type"),
            invalid_hints: counter!(IGNORED, "what" => "invalid_hint"),
            body_bytes: histogram!(BODY_BYTES),
        }
    }

    pub(crate) fn request(&self, status: u16) {
        match self.requests_by_status.get(&status) {
            Some(counter) => counter.increment(1),
            None => counter!(REQUESTS, "status" => status.to_string()).increment(1),
        }
    }

    pub(crate) fn rejected(&self, error: &HttpError) {
        if let Some(counter) = self.beacons_rejected.get(error.reason()) {
            counter.increment(1);
        }
    }

    pub(crate) fn dropped(&self, reason: DropReason) {
        if let Some(slot) = DropReason::ALL.iter().position(|known| *known == reason) {
            self.beacons_dropped[slot].increment(1);
        }
    }

    /// Counts an accepted beacon: one increment per event type present (each counter update is
    /// two atomic operations, so a beacon's events are summed first), none for what is zero.
    pub(crate) fn accepted(&self, decoded: &rum_schema::DecodedBeacon, body_bytes: usize) {
        self.beacons_accepted.increment(1);
        self.body_bytes.record(body_bytes as f64);
        let mut by_type = [0u64; 5];
        for event in &decoded.beacon.events {
            let slot = match event.kind {
                Some(Kind::Vital(_)) => 0,
                Some(Kind::Navigation(_)) => 1,
                Some(Kind::Error(_)) => 2,
                Some(Kind::Request(_)) => 3,
                Some(Kind::Custom(_)) | None => 4,
            };
            by_type[slot] += 1;
        }
        for (counter, count) in self.events_accepted.iter().zip(by_type) {
            if count > 0 {
                counter.increment(count);
            }
        }
        for rejection in &decoded.rejected_events {
            self.events_rejected[rejection.reason as usize].increment(1);
        }
        for (counter, count) in [
            (&self.unknown_fields, decoded.unknown_fields),
            (&self.unknown_event_types, decoded.unknown_event_types),
            (&self.invalid_hints, decoded.dropped_hints),
        ] {
            if count > 0 {
                counter.increment(u64::from(count));
            }
        }
    }
}
