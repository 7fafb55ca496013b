//! Other agents' payloads, translated into native beacons so that a site can keep the agent it runs.
//!
//! A translation turns one foreign payload into native beacon bodies (BEACON.md JSON) and nothing
//! else: each body then takes the native path unchanged (the same decoder with its validation and
//! limits, enrichment and privacy, sink and drop ledger), and the edge marks the decoded beacon with
//! its [`Agent`] and, where the agent has no page-view identity, whether it counts as a page view.
//! A metric the translation cannot use costs only itself: it is returned as a rejection (counted
//! like a rejected event) and the rest of the payload goes on.
//!
//! One module per agent, each with its mapping in one table (`MAPPING`), which docs/agents.md repeats.

pub mod faro;
pub mod web_vitals;

use rum_schema::DecodeReason;
use rum_schema::proto::Agent;

/// What the edge knows about a request besides its body.
#[derive(Debug, Clone, Copy)]
pub struct RequestFacts<'a> {
    /// The `Referer` header: the page URL when the payload does not carry one.
    pub referer: Option<&'a str>,
    /// Edge receive time, ms since the epoch (agents without a client timestamp are sent at it).
    pub received_at_ms: i64,
}

/// One native beacon made from a foreign payload.
#[derive(Debug, Clone, PartialEq)]
pub struct NativeBeacon {
    /// A BEACON.md body, for the native decoder.
    pub json: Vec<u8>,
    /// Set on the decoded beacon: `Some(false)` when it must not count as a page view of its own.
    pub counts_page_view: Option<bool>,
}

/// A payload, translated.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Translation {
    pub beacons: Vec<NativeBeacon>,
    /// Metrics that could not be translated, with why (counted like rejected events).
    pub rejected: Vec<DecodeReason>,
}

/// The label of an agent in metrics and logs.
pub fn agent_label(agent: Agent) -> &'static str {
    match agent {
        Agent::Rum => "rum",
        Agent::WebVitals => "web_vitals",
        Agent::Faro => "faro",
    }
}
