//! The aggregator: turns the beacon stream into windowed HDR histograms and exact counters per
//! segment, and renders them as Prometheus text.
//!
//! Path of a beacon: [`wire`] decodes the projection stage 1 needs -> [`stage1`] folds labels
//! ([`topn`]), counts each page view and metric once ([`dedupe`]) and records into per-(segment,
//! minute) builders -> every flush interval those become `rum.v1.Partial`s -> [`stage2`] merges
//! them into one-minute slots ([`slot`]) and rolling windows -> [`exposition`] renders them.
//! [`pipeline`] runs both stages on threads of their own and answers queries (the exposition,
//! alert evaluation) on the stage-2 thread.
//!
//! It is data only: no alerting (`rum-alerts` reads the windows through
//! [`pipeline::AggregatorHandle::query`]), no HTTP, no Kafka. It must never let memory grow with
//! the input (every table has a configured bound and every fold or drop is counted), never block a
//! caller's thread while it merges or renders, and never export a quantile averaged from other
//! quantiles.

#![forbid(unsafe_code)]

pub mod activity;
pub mod api;
pub mod dedupe;
pub mod error_groups;
pub mod exact;
pub mod exemplar;
pub mod exposition;
pub mod hdr;
pub mod metric;
mod metrics;
pub mod names;
pub mod pipeline;
pub mod sessions;
pub mod settings;
mod slot;
pub mod stage1;
pub mod stage2;
pub mod state_file;
pub mod topn;
pub mod view;
pub mod wire;
pub mod worker;

/// The hash map of the hot tables (builders, top-N, dedupe, session activity): foldhash, seeded
/// per process (SipHash was ~25% of stage 1).
pub(crate) type FastMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::RandomState>;

#[cfg(test)]
mod tests;

/// The OpenMetrics structure check these tests share with the end-to-end tests.
#[cfg(test)]
#[path = "../../../tests/harness/openmetrics.rs"]
mod openmetrics_check;
