//! The aggregator: turns the beacon stream into windowed HDR histograms per segment, exposes them to
//! Prometheus and evaluates alert rules.

#![forbid(unsafe_code)]

pub mod alerts;
pub mod dedupe;
pub mod exact;
pub mod exposition;
pub mod hdr;
pub mod metric;
mod metrics;
pub mod pipeline;
pub mod settings;
mod slot;
pub mod stage1;
pub mod stage2;
pub mod topn;
pub mod view;
pub mod wire;

#[cfg(test)]
mod tests;
