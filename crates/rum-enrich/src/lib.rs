//! Edge enrichment: everything the collector adds to a validated beacon before it reaches the sink.
//!
//! Path of a beacon through this crate: [`client_ip`] picks the client address (only trusting
//! configured proxies) -> [`geoip`] looks it up -> the address is dropped or truncated ->
//! [`user_agent`] and [`bots`] classify the browser -> [`route`] scrubs the URL and derives the route
//! template -> [`clock`] corrects client clock skew. [`pipeline`] runs these steps once per beacon
//! behind one [`Enricher`] the collector builds at startup (bots first, so that a dropped bot costs
//! nothing more).
//!
//! This crate must never let a raw client IP, raw URL query or raw user agent leave it in a form that
//! could become a metric label, and must never do network I/O on the request path.

// `deny`, not `forbid`: the GeoIP file mapping (`geoip::map_file`) is the one measured exception,
// allowed on that function alone with its safety argument.
#![deny(unsafe_code)]

pub mod bots;
pub mod client_ip;
pub mod clock;
pub mod geoip;
pub mod pipeline;
pub mod route;
pub mod user_agent;

pub use pipeline::{
    DropReason, EnrichError, EnrichOutcome, EnrichSettings, Enricher, SiteEnrichment,
};

#[cfg(test)]
mod test_recorder;
