//! Edge enrichment: everything the collector adds to a validated beacon before it reaches the sink.
//!
//! Path of a beacon through this crate: [`client_ip`] picks the client address (only trusting
//! configured proxies) -> [`geoip`] looks it up -> the address is dropped or truncated ->
//! [`user_agent`] and [`bots`] classify the browser -> [`route`] scrubs the URL and derives the route
//! template -> [`clock`] corrects client clock skew. [`pipeline`] runs these steps once per beacon
//! behind one [`Enricher`] the collector builds at startup (bots first, so that a dropped bot costs
//! nothing more). [`settings`] compiles the `[enrich]` section and each site's enrichment keys of the
//! config file into [`EnrichSettings`] and [`SiteEnrichment`], naming the key of any bad value.
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
pub mod sampling;
pub mod settings;
pub mod user_agent;
pub mod vendored;

pub use pipeline::{DropReason, EnrichError, EnrichOutcome, Enricher};
pub use settings::{EnrichSettings, SiteEnrichment};

#[cfg(test)]
mod test_metrics;
