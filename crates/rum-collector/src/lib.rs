//! The edge collector: a public listener that receives browser beacons and a separate admin listener
//! (`/metrics`, `/healthz`, `/readyz`).
//!
//! Path of a beacon: [`server`] routes `POST /rum/v1/beacon?key=...` -> [`sites`] resolves the key and
//! checks the `Origin` -> [`body`] reads the body under its byte, time and decompression caps ->
//! `rum_schema::BeaconDecoder` validates it -> the edge stamps site and receive time ->
//! `rum_enrich::Enricher` adds GeoIP, user agent and route, scrubs the URL and drops bots -> the edge
//! encodes the protobuf and enqueues it into a `rum_transport::BeaconSink`. Every rejection is an [`HttpError`]
//! with a machine-readable reason, answered as a small JSON body and counted.
//!
//! Other agents' payloads (web-vitals' metric objects, ...) go through [`agents`], which translates
//! each into native beacon bodies that then take the same path from the decoder on.
//!
//! The request path must never do I/O beyond the bounded, non-blocking enqueue, never await a
//! delivery, and never panic on client input.

#![forbid(unsafe_code)]

mod admin;
pub mod agents;
mod body;
mod error;
mod limits;
mod metrics;
mod script;
mod server;
mod sites;

pub use admin::{
    ADMIN_THREAD_NAME, AdminServer, AdminState, ApiHandler, ExtraMetrics, MetricsExposition,
    MetricsFormat, ReadinessCheck, RefreshMetrics, RunningAdmin, negotiate,
};
pub use body::gunzip;
pub use error::HttpError;
pub use limits::Rate;
pub use server::{Collector, CollectorSettings, ReloadSummary, Reloader, StartError};
pub use sites::{SiteRegistry, SiteSettings};

/// The OpenMetrics structure check these tests share with the end-to-end tests.
#[cfg(test)]
#[path = "../../../tests/harness/openmetrics.rs"]
mod openmetrics_check;
