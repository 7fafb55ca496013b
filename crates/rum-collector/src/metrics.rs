//! Collector metrics. Handles are registered once at start-up so the request path only does atomic
//! adds. Labels are closed sets (status codes, reasons, event types): never a URL, key or user agent.
//!
//! - `rum_collector_requests_total{status}`: requests on the public listener, by HTTP status.
//! - `rum_collector_beacons_received_total`: requests that carried a beacon (or should have: a POST
//!   to a wrong path, a wrong method), counted on arrival; every one ends accepted or in the ledger.
//! - `rum_collector_beacons_accepted_total`: beacons handed to the sink.
//! - `rum_dropped_total{stage="edge", reason, item}` (the drop ledger, `rum_ledger`): beacons
//!   refused (every 4xx/5xx) and events refused inside accepted beacons (`item="event"`); bots
//!   dropped by policy are counted by `rum_enrich`, where that decision is made.
//! - `rum_collector_preflights_total{outcome}`: CORS preflights, `allowed` or `refused` (a preflight
//!   carries no beacon; a refused one means the browser will not send it).
//! - `rum_collector_site_config_requests_total{outcome}`: `GET /rum/v1/config` (the script's
//!   sampling and switches), `served`, `not_modified` (the browser's copy is current) or `refused`
//!   (no key, an unknown key or an origin the site does not allow); it carries no beacon.
//! - `rum_collector_events_accepted_total{type}`: events in accepted beacons (vital, nav, error,
//!   request, custom, action, event, loaf, resources).
//! - `rum_collector_ignored_total{what}`: `unknown_field`, `invalid_hint` (kept beacons, ignored
//!   members).
//! - `rum_collector_request_body_bytes` (histogram): body bytes on the wire of accepted beacons.
//! - `rum_collector_agent_payloads_total{agent, outcome}`: other agents' payloads (`web_vitals`, `faro`),
//!   `translated` or `refused` (not a payload of that agent); each beacon a translated payload
//!   yields is then counted like a native one (received, then accepted or in the ledger).

use metrics::{Counter, Histogram, counter, describe_counter, describe_histogram, histogram};
use rum_ledger::{DropCounters, Item};
use rum_schema::proto::Agent;
use rum_schema::proto::event::Kind;
use rum_schema::{DecodeReason, EVENT_TYPES};

use crate::agents::agent_label;

use crate::error::{EdgeReason, HttpError, Refusal};

const REQUESTS: &str = "rum_collector_requests_total";
const BEACONS_RECEIVED: &str = "rum_collector_beacons_received_total";
const BEACONS_ACCEPTED: &str = "rum_collector_beacons_accepted_total";
const PREFLIGHTS: &str = "rum_collector_preflights_total";
const SITE_CONFIGS: &str = "rum_collector_site_config_requests_total";
const EVENTS_ACCEPTED: &str = "rum_collector_events_accepted_total";
const IGNORED: &str = "rum_collector_ignored_total";
const BODY_BYTES: &str = "rum_collector_request_body_bytes";
const AGENT_PAYLOADS: &str = "rum_collector_agent_payloads_total";

/// Status codes the edge answers with; others are counted through a slower path.
const KNOWN_STATUSES: [u16; 12] = [202, 204, 400, 403, 404, 405, 408, 413, 415, 429, 500, 503];

pub(crate) struct CollectorMetrics {
    /// In `KNOWN_STATUSES` order: a scan of a dozen `u16`s is cheaper than hashing one per
    /// request.
    requests_by_status: Vec<(u16, Counter)>,
    beacons_received: Counter,
    beacons_accepted: Counter,
    refused_by_edge: DropCounters<EdgeReason>,
    refused_by_decoder: DropCounters<DecodeReason>,
    events_refused: DropCounters<DecodeReason>,
    preflights_allowed: Counter,
    preflights_refused: Counter,
    /// Served, not modified, refused.
    site_configs: [Counter; 3],
    events_accepted: [Counter; EVENT_TYPES.len()],
    unknown_fields: Counter,
    invalid_hints: Counter,
    body_bytes: Histogram,
    /// By agent (`Agent as usize`), translated then refused.
    agent_payloads: [[Counter; 2]; 3],
}

impl CollectorMetrics {
    pub(crate) fn register() -> Self {
        describe_counter!(REQUESTS, "Requests on the public listener, by HTTP status.");
        describe_counter!(
            BEACONS_RECEIVED,
            "Requests that carried a beacon, counted on arrival (= accepted + rum_dropped_total at the edge)."
        );
        describe_counter!(BEACONS_ACCEPTED, "Beacons accepted and handed to the sink.");
        describe_counter!(
            PREFLIGHTS,
            "CORS preflight requests, by outcome (allowed, refused)."
        );
        describe_counter!(
            SITE_CONFIGS,
            "Requests for a site's script configuration, by outcome (served, not_modified, refused)."
        );
        describe_counter!(
            EVENTS_ACCEPTED,
            "Events in accepted beacons, by event type."
        );
        describe_counter!(
            IGNORED,
            "Unknown members ignored and malformed optional hints dropped, in kept beacons."
        );
        describe_histogram!(
            BODY_BYTES,
            metrics::Unit::Bytes,
            "Body size on the wire of accepted beacons."
        );
        describe_counter!(
            AGENT_PAYLOADS,
            "Other agents' payloads, translated into native beacons or refused as a whole."
        );
        Self {
            requests_by_status: KNOWN_STATUSES
                .iter()
                .map(|status| (*status, counter!(REQUESTS, "status" => status.to_string())))
                .collect(),
            beacons_received: counter!(BEACONS_RECEIVED),
            beacons_accepted: counter!(BEACONS_ACCEPTED),
            refused_by_edge: DropCounters::register(Item::Beacon),
            refused_by_decoder: DropCounters::register(Item::Beacon),
            events_refused: DropCounters::register(Item::Event),
            preflights_allowed: counter!(PREFLIGHTS, "outcome" => "allowed"),
            preflights_refused: counter!(PREFLIGHTS, "outcome" => "refused"),
            site_configs: ["served", "not_modified", "refused"]
                .map(|outcome| counter!(SITE_CONFIGS, "outcome" => outcome)),
            events_accepted: EVENT_TYPES
                .map(|event_type| counter!(EVENTS_ACCEPTED, "type" => event_type)),
            unknown_fields: counter!(IGNORED, "what" => "unknown_field"),
            invalid_hints: counter!(IGNORED, "what" => "invalid_hint"),
            body_bytes: histogram!(BODY_BYTES),
            agent_payloads: [Agent::Rum, Agent::WebVitals, Agent::Faro].map(|agent| {
                let label = agent_label(agent);
                [
                    counter!(AGENT_PAYLOADS, "agent" => label, "outcome" => "translated"),
                    counter!(AGENT_PAYLOADS, "agent" => label, "outcome" => "refused"),
                ]
            }),
        }
    }

    /// Another agent's payload, translated into beacons or refused as a whole.
    pub(crate) fn agent_payload(&self, agent: Agent, translated: bool) {
        let [ok, refused] = &self.agent_payloads[agent as usize];
        if translated { ok } else { refused }.increment(1);
    }

    /// Metrics of a translated payload that could not become beacons, in the ledger as events.
    pub(crate) fn rejected_events(&self, reasons: &[DecodeReason]) {
        for reason in reasons {
            self.events_refused.count(*reason);
        }
    }

    pub(crate) fn request(&self, status: u16) {
        match self
            .requests_by_status
            .iter()
            .find(|(known, _)| *known == status)
        {
            Some((_, counter)) => counter.increment(1),
            None => counter!(REQUESTS, "status" => status.to_string()).increment(1),
        }
    }

    /// A request that carries a beacon has arrived (before any decision about it).
    pub(crate) fn received(&self) {
        self.beacons_received.increment(1);
    }

    /// A beacon refused with `error`, in the ledger.
    pub(crate) fn refused(&self, error: &HttpError) {
        match error.refusal() {
            Refusal::Edge(reason) => self.refused_by_edge.count(reason),
            Refusal::Decode(reason) => self.refused_by_decoder.count(reason),
        }
    }

    pub(crate) fn preflight(&self, allowed: bool) {
        if allowed {
            self.preflights_allowed.increment(1);
        } else {
            self.preflights_refused.increment(1);
        }
    }

    /// A site configuration request: `Some(true)` served, `Some(false)` not modified, `None`
    /// refused.
    pub(crate) fn site_config(&self, served: Option<bool>) {
        let index = match served {
            Some(true) => 0,
            Some(false) => 1,
            None => 2,
        };
        self.site_configs[index].increment(1);
    }

    /// Counts an accepted beacon: one increment per event type present (each counter update is
    /// two atomic operations, so a beacon's events are summed first), none for what is zero; and
    /// the events it lost, in the ledger.
    pub(crate) fn accepted(&self, decoded: &rum_schema::DecodedBeacon, body_bytes: usize) {
        self.beacons_accepted.increment(1);
        self.body_bytes.record(body_bytes as f64);
        let mut by_type = [0u64; EVENT_TYPES.len()];
        for event in &decoded.beacon.events {
            let slot = match event.kind {
                Some(Kind::Vital(_)) => 0,
                Some(Kind::Navigation(_)) => 1,
                Some(Kind::Error(_)) => 2,
                Some(Kind::Request(_)) => 3,
                Some(Kind::Custom(_)) | None => 4,
                Some(Kind::Action(_)) => 5,
                Some(Kind::BusinessEvent(_)) => 6,
                Some(Kind::LongFrames(_)) => 7,
                Some(Kind::Resources(_)) => 8,
                Some(Kind::Calls(_)) => 9,
            };
            by_type[slot] += 1;
        }
        for (counter, count) in self.events_accepted.iter().zip(by_type) {
            if count > 0 {
                counter.increment(count);
            }
        }
        for rejection in &decoded.rejected_events {
            self.events_refused.count(rejection.reason);
        }
        self.events_refused.count_many(
            DecodeReason::UnknownEventType,
            u64::from(decoded.unknown_event_types),
        );
        for (counter, count) in [
            (&self.unknown_fields, decoded.unknown_fields),
            (&self.invalid_hints, decoded.dropped_hints),
        ] {
            if count > 0 {
                counter.increment(u64::from(count));
            }
        }
    }
}
