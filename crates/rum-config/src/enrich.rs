//! `[enrich]` (client IP, GeoIP, user agent cache, clock policy) and the per-site enrichment keys of
//! `[[sites]]` (bots, URL privacy, route rules, IP privacy): their serde shapes and defaults.
//!
//! The values are only read here. `rum-enrich` compiles them into its own settings
//! (`EnrichSettings::from_config`, `SiteEnrichment::from_config`) with the very parsers the collector
//! runs, so that `rum check-config` reports a bad CIDR or a route rule that does not compile by its
//! key (`enrich.trusted_proxies[2]`, `sites[0].route_rules[1]`). This module must not depend on the
//! enrichment code, and reads no file: a GeoIP path is only checked when the collector opens it.

use std::path::PathBuf;

use serde::Deserialize;

use crate::HumanDuration;

/// Client address source when none is configured: the `X-Forwarded-For` chain.
pub const DEFAULT_CLIENT_IP_SOURCE: &str = "x-forwarded-for";
/// Distinct user agents whose classification is cached (a few MiB at most: keys are capped at
/// 512 bytes). A busy site sees a few thousand distinct UAs a day, most traffic in the top few
/// hundred.
pub const DEFAULT_UA_CACHE_CAPACITY: usize = 16_384;
/// The largest user agent cache accepted: each entry holds a key of up to 512 bytes plus its
/// classification, so a million entries is already most of a GiB.
pub const MAX_UA_CACHE_CAPACITY: usize = 1_000_000;
/// How often the GeoIP files are checked for a replacement.
pub const DEFAULT_GEOIP_RELOAD_INTERVAL_SECS: u64 = 60;
/// How far ahead of the edge a client clock may be and still be believed: phones with a manually
/// set clock or without network time drift by minutes, not hours.
pub const DEFAULT_CLOCK_MAX_FUTURE_SECS: u64 = 5 * 60;
/// How far `sent` may lie in the past and still be believed: beacons queued while offline or sent
/// from a page restored from the back/forward cache the next morning arrive late but are genuine.
pub const DEFAULT_CLOCK_MAX_PAST_SECS: u64 = 24 * 60 * 60;
/// Path segments kept in a route template before the rest collapses into `/:rest`: deep enough for
/// real page hierarchies, shallow enough that generated paths cannot fan out.
pub const DEFAULT_MAX_ROUTE_SEGMENTS: usize = 8;

/// What becomes of the client address after the GeoIP lookup.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq, Hash, Default)]
#[serde(rename_all = "snake_case")]
pub enum IpPrivacyMode {
    /// Keep nothing (the default).
    #[default]
    Drop,
    /// Keep the /24 (IPv4) or /48 (IPv6) network in the beacon's `client_network`.
    Truncate,
}

impl IpPrivacyMode {
    /// The configuration spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Drop => "drop",
            Self::Truncate => "truncate",
        }
    }
}

/// `[enrich]`: what the edge adds to every beacon, for every site.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct EnrichConfig {
    /// Proxies (CIDRs or addresses) whose forwarding headers are believed. Empty: nobody's, the
    /// socket peer is the client.
    pub trusted_proxies: Vec<String>,
    /// `x-forwarded-for`, `forwarded` (RFC 7239), or one header name set by a CDN
    /// (`cf-connecting-ip`, `true-client-ip`, `fastly-client-ip`).
    pub client_ip_source: String,
    /// Default for every site; a site may override it.
    pub ip_privacy: IpPrivacyMode,
    /// GeoIP2/GeoLite2 City or Country, or DB-IP Lite, `.mmdb`. None: locations are unknown.
    pub geoip_database: Option<PathBuf>,
    /// GeoLite2-ASN or compatible `.mmdb`. None: ASNs are unknown.
    pub asn_database: Option<PathBuf>,
    pub geoip_reload_interval: HumanDuration,
    pub ua_cache_capacity: usize,
    pub clock_max_future: HumanDuration,
    pub clock_max_past: HumanDuration,
}

impl Default for EnrichConfig {
    fn default() -> Self {
        Self {
            trusted_proxies: Vec::new(),
            client_ip_source: DEFAULT_CLIENT_IP_SOURCE.to_owned(),
            ip_privacy: IpPrivacyMode::Drop,
            geoip_database: None,
            asn_database: None,
            geoip_reload_interval: HumanDuration::from_secs(DEFAULT_GEOIP_RELOAD_INTERVAL_SECS),
            ua_cache_capacity: DEFAULT_UA_CACHE_CAPACITY,
            clock_max_future: HumanDuration::from_secs(DEFAULT_CLOCK_MAX_FUTURE_SECS),
            clock_max_past: HumanDuration::from_secs(DEFAULT_CLOCK_MAX_PAST_SECS),
        }
    }
}

/// Serde default for [`SiteConfig::max_route_segments`](crate::SiteConfig::max_route_segments).
pub(crate) fn default_max_route_segments() -> usize {
    DEFAULT_MAX_ROUTE_SEGMENTS
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load_str;

    fn error(text: &str) -> String {
        load_str(text, "f.toml", Vec::new())
            .expect_err("the config is invalid")
            .to_string()
    }

    const SITE: &str = "[[sites]]\nid = \"shop\"\nkeys = [\"k\"]\nallowed_origins = [\"*\"]\n";

    #[test]
    fn defaults_are_the_named_constants() {
        let config = load_str("", "defaults", Vec::new()).expect("defaults are valid");
        assert_eq!(config.enrich, EnrichConfig::default());
        assert!(config.enrich.trusted_proxies.is_empty());
        assert_eq!(config.enrich.client_ip_source, DEFAULT_CLIENT_IP_SOURCE);
        assert_eq!(config.enrich.ip_privacy, IpPrivacyMode::Drop);
        assert_eq!(config.enrich.ua_cache_capacity, DEFAULT_UA_CACHE_CAPACITY);
        assert_eq!(
            config.sites[0].max_route_segments,
            DEFAULT_MAX_ROUTE_SEGMENTS
        );
        let site = load_str(SITE, "f.toml", Vec::new()).expect("valid site");
        assert_eq!(site.sites[0].max_route_segments, DEFAULT_MAX_ROUTE_SEGMENTS);
        assert_eq!(site.sites[0].ip_privacy, None);
    }

    #[test]
    fn ip_privacy_modes_are_read_by_their_spelling() {
        for mode in [IpPrivacyMode::Drop, IpPrivacyMode::Truncate] {
            let text = format!("[enrich]\nip_privacy = \"{}\"\n", mode.as_str());
            let config = load_str(&text, "f.toml", Vec::new()).expect("valid mode");
            assert_eq!(config.enrich.ip_privacy, mode);
        }
        assert_eq!(IpPrivacyMode::Truncate.as_str(), "truncate");
        let site = format!("{SITE}ip_privacy = \"truncate\"\n");
        let config = load_str(&site, "f.toml", Vec::new()).expect("valid site mode");
        assert_eq!(config.sites[0].ip_privacy, Some(IpPrivacyMode::Truncate));
    }

    /// What serde itself refuses; the values it accepts are checked by `rum-enrich`.
    #[test]
    fn errors_name_the_key() {
        let privacy = error("[enrich]\nip_privacy = \"hash\"");
        assert!(privacy.contains("ip_privacy"), "{privacy}");
        let keep = error("[enrich]\nip_privacy = \"keep\"");
        assert!(keep.contains("ip_privacy"), "{keep}");
        let unknown = error("[enrich]\ntrusted_proxy = []");
        assert!(unknown.contains("trusted_proxy"), "{unknown}");
        let site_unknown = error(&format!("{SITE}route_rule = []"));
        assert!(site_unknown.contains("route_rule"), "{site_unknown}");
    }
}
