//! `[enrich]` (client IP, GeoIP, user agent cache, clock policy) and the per-site enrichment keys of
//! `[[sites]]` (bots, URL privacy, route rules, IP privacy).
//!
//! The values are checked here with the very parsers the collector uses (`rum_enrich`), so that
//! `rum check-config` reports a bad CIDR or a route rule that does not compile, naming its key
//! (`enrich.trusted_proxies[2]`, `sites[0].route_rules[1]`), instead of the collector failing at
//! startup. This module reads no file: a GeoIP path is only checked when the collector opens it.

use std::path::PathBuf;

use rum_enrich::client_ip::{ClientIpSource, IpPrivacy, TrustedProxies};
use rum_enrich::clock::{self, ClockPolicy};
use rum_enrich::geoip::{self, GeoIpPaths};
use rum_enrich::route::{self, RoutePolicy, RoutePolicyConfig, RoutePolicyError};
use rum_enrich::user_agent;
use rum_enrich::{EnrichSettings, SiteEnrichment};
use serde::Deserialize;

use crate::{ConfigError, HumanDuration, SiteConfig};

/// Client address source when none is configured: the `X-Forwarded-For` chain.
pub const DEFAULT_CLIENT_IP_SOURCE: &str = "x-forwarded-for";
/// Distinct user agents whose classification is cached.
pub const DEFAULT_UA_CACHE_CAPACITY: usize = user_agent::DEFAULT_UA_CACHE_CAPACITY.get();
/// The largest user agent cache accepted: each entry holds a key of up to 512 bytes plus its
/// classification, so a million entries is already most of a GiB.
pub const MAX_UA_CACHE_CAPACITY: usize = 1_000_000;
/// How often the GeoIP files are checked for a replacement.
pub const DEFAULT_GEOIP_RELOAD_INTERVAL_SECS: u64 = geoip::DEFAULT_RELOAD_INTERVAL.as_secs();
/// How far ahead of the edge a client clock may be and still be believed.
pub const DEFAULT_CLOCK_MAX_FUTURE_SECS: u64 = clock::DEFAULT_MAX_FUTURE.as_secs();
/// How far `sent` may lie in the past (offline queues, restored pages) and still be believed.
pub const DEFAULT_CLOCK_MAX_PAST_SECS: u64 = clock::DEFAULT_MAX_PAST.as_secs();
/// Path segments kept in a route template before the rest collapses into `/:rest`.
pub const DEFAULT_MAX_ROUTE_SEGMENTS: usize = route::DEFAULT_MAX_SEGMENTS;

/// What becomes of the client address after the GeoIP lookup.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum IpPrivacyMode {
    /// Keep nothing.
    #[default]
    Drop,
    /// Keep the /24 (IPv4) or /48 (IPv6) network in the beacon's `client_network`.
    Truncate,
}

impl From<IpPrivacyMode> for IpPrivacy {
    fn from(mode: IpPrivacyMode) -> Self {
        match mode {
            IpPrivacyMode::Drop => IpPrivacy::Drop,
            IpPrivacyMode::Truncate => IpPrivacy::Truncate,
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

fn invalid(key: impl Into<String>, message: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        key: key.into(),
        message: message.into(),
    }
}

impl EnrichConfig {
    /// The enrichment settings the collector runs with. Errors name the key.
    pub fn settings(&self) -> Result<EnrichSettings, ConfigError> {
        // Each entry is parsed alone first so that an error names its position.
        for (index, entry) in self.trusted_proxies.iter().enumerate() {
            TrustedProxies::parse([entry]).map_err(|error| {
                invalid(
                    format!("enrich.trusted_proxies[{index}]"),
                    error.to_string(),
                )
            })?;
        }
        let trusted_proxies = TrustedProxies::parse(&self.trusted_proxies)
            .map_err(|error| invalid("enrich.trusted_proxies", error.to_string()))?;
        let client_ip_source = self
            .client_ip_source
            .parse::<ClientIpSource>()
            .map_err(|error| invalid("enrich.client_ip_source", error.to_string()))?;
        if self.geoip_reload_interval.0 < geoip::MIN_RELOAD_INTERVAL {
            return Err(invalid(
                "enrich.geoip_reload_interval",
                format!(
                    "must be at least {} ms",
                    geoip::MIN_RELOAD_INTERVAL.as_millis()
                ),
            ));
        }
        let ua_cache_capacity = std::num::NonZeroUsize::new(self.ua_cache_capacity)
            .filter(|capacity| capacity.get() <= MAX_UA_CACHE_CAPACITY)
            .ok_or_else(|| {
                invalid(
                    "enrich.ua_cache_capacity",
                    format!("must be between 1 and {MAX_UA_CACHE_CAPACITY}"),
                )
            })?;
        for (key, bound) in [
            ("enrich.clock_max_future", self.clock_max_future),
            ("enrich.clock_max_past", self.clock_max_past),
        ] {
            if bound.0.is_zero() {
                return Err(invalid(key, "must be greater than 0"));
            }
        }
        Ok(EnrichSettings {
            trusted_proxies,
            client_ip_source,
            geoip: GeoIpPaths {
                location: self.geoip_database.clone(),
                asn: self.asn_database.clone(),
            },
            geoip_reload_interval: self.geoip_reload_interval.0,
            ua_cache_capacity,
            clock: ClockPolicy {
                max_future: self.clock_max_future.0,
                max_past: self.clock_max_past.0,
            },
        })
    }

    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        self.settings().map(drop)
    }
}

/// Serde default for [`SiteConfig::max_route_segments`].
pub(crate) fn default_max_route_segments() -> usize {
    DEFAULT_MAX_ROUTE_SEGMENTS
}

impl SiteConfig {
    /// This site's enrichment, compiled: route rules, query allow-list, bot and IP privacy
    /// choices (the site's `ip_privacy`, else `enrich.ip_privacy`). `index` is the site's position
    /// in `[[sites]]`, used to name keys in errors.
    pub fn enrichment(
        &self,
        index: usize,
        enrich: &EnrichConfig,
    ) -> Result<SiteEnrichment, ConfigError> {
        let key = |name: &str| format!("sites[{index}].{name}");
        let mut policy = RoutePolicyConfig {
            allowed_query_params: self.allowed_query_params.clone(),
            rules: Vec::new(),
            max_segments: self.max_route_segments,
            ..RoutePolicyConfig::default()
        };
        for (position, name) in self.allowed_query_params.iter().enumerate() {
            if name.is_empty() {
                return Err(invalid(
                    key(&format!("allowed_query_params[{position}]")),
                    "must not be empty",
                ));
            }
        }
        // Each rule is compiled alone first so that an error names its position.
        for (position, rule) in self.route_rules.iter().enumerate() {
            policy.rules = vec![rule.clone()];
            RoutePolicy::new(&policy).map_err(|error| match error {
                RoutePolicyError::InvalidLimit { .. } => {
                    invalid(key("max_route_segments"), error.to_string())
                }
                _ => invalid(key(&format!("route_rules[{position}]")), error.to_string()),
            })?;
        }
        policy.rules.clone_from(&self.route_rules);
        let routes = RoutePolicy::new(&policy).map_err(|error| match error {
            RoutePolicyError::InvalidLimit { .. } => {
                invalid(key("max_route_segments"), error.to_string())
            }
            _ => invalid(key("route_rules"), error.to_string()),
        })?;
        Ok(SiteEnrichment {
            keep_bots: self.keep_bots,
            ip_privacy: self.ip_privacy.unwrap_or(enrich.ip_privacy).into(),
            routes,
        })
    }
}

#[cfg(test)]
mod tests {
    use crate::load_str;

    fn error(text: &str) -> String {
        load_str(text, "f.toml", Vec::new())
            .expect_err("the config is invalid")
            .to_string()
    }

    const SITE: &str = "[[sites]]\nid = \"shop\"\nkeys = [\"k\"]\nallowed_origins = [\"*\"]\n";

    #[test]
    fn defaults_trust_nobody_and_drop_the_address() {
        let config = load_str("", "defaults", Vec::new()).expect("defaults are valid");
        let settings = config.enrich.settings().expect("default settings");
        assert!(settings.trusted_proxies.is_empty());
        assert_eq!(settings.geoip, Default::default());
        let site = config.sites[0]
            .enrichment(0, &config.enrich)
            .expect("demo site");
        assert!(!site.keep_bots);
        assert_eq!(site.ip_privacy, rum_enrich::client_ip::IpPrivacy::Drop);
    }

    #[test]
    fn a_full_enrich_section_is_read() {
        let text = format!(
            "[enrich]\ntrusted_proxies = [\"10.0.0.0/8\", \"2001:db8::/32\", \"192.0.2.1\"]\n\
             client_ip_source = \"CF-Connecting-IP\"\nip_privacy = \"truncate\"\n\
             geoip_database = \"/var/lib/rum/dbip-country.mmdb\"\n\
             geoip_reload_interval = \"5m\"\nua_cache_capacity = 1000\n\
             clock_max_future = \"1m\"\nclock_max_past = \"2h\"\n{SITE}\
             keep_bots = true\nallowed_query_params = [\"page\"]\n\
             route_rules = [\"/products/:slug\", \"regex:^/u/([a-z]+)$ => /u/${{1}}\"]\n\
             max_route_segments = 4\nip_privacy = \"drop\"\n"
        );
        let config = load_str(&text, "f.toml", Vec::new()).expect("valid");
        let settings = config.enrich.settings().expect("settings");
        assert_eq!(settings.trusted_proxies.networks().len(), 3);
        assert_eq!(
            settings.client_ip_source,
            rum_enrich::client_ip::ClientIpSource::header("cf-connecting-ip").expect("name")
        );
        assert_eq!(settings.ua_cache_capacity.get(), 1000);
        assert_eq!(settings.clock.max_past.as_secs(), 7200);
        let site = config.sites[0].enrichment(0, &config.enrich).expect("site");
        assert!(site.keep_bots);
        // The site's own `ip_privacy` wins over the section's.
        assert_eq!(site.ip_privacy, rum_enrich::client_ip::IpPrivacy::Drop);
        let scrubbed = site
            .routes
            .scrub("https://shop.example.com/products/red?page=2&x=1");
        assert_eq!(scrubbed.route, "/products/:slug");
        assert_eq!(scrubbed.url, "https://shop.example.com/products/red?page=2");
    }

    #[test]
    fn the_example_file_rules_do_what_its_comments_say() {
        let text = include_str!("../../../deploy/rum.example.toml");
        let config = load_str(text, "rum.example.toml", Vec::new()).expect("valid");
        let shop = config.sites[0]
            .enrichment(0, &config.enrich)
            .expect("shop site");
        let route = |url: &str| shop.routes.scrub(url).route;
        assert_eq!(
            route("https://shop.example.com/products/red-shoes"),
            "/products/:slug"
        );
        assert_eq!(route("https://shop.example.com/docs/api/v2"), "/docs");
        assert_eq!(
            route("https://shop.example.com/u/de/anything/else"),
            "/u/de"
        );
        assert_eq!(
            route("https://shop.example.com/orders/12345"),
            "/orders/:id"
        );
        assert_eq!(
            shop.routes
                .scrub("https://shop.example.com/list?page=3&q=secret")
                .url,
            "https://shop.example.com/list?page=3"
        );
    }

    #[test]
    fn errors_name_the_key() {
        let cidr = error("[enrich]\ntrusted_proxies = [\"10.0.0.0/8\", \"::1\", \"10.0.0.0/33\"]");
        assert!(cidr.contains("enrich.trusted_proxies[2]"), "{cidr}");
        let source = error("[enrich]\nclient_ip_source = \"not a header\"");
        assert!(source.contains("enrich.client_ip_source"), "{source}");
        let privacy = error("[enrich]\nip_privacy = \"hash\"");
        assert!(privacy.contains("ip_privacy"), "{privacy}");
        let cache = error("[enrich]\nua_cache_capacity = 0");
        assert!(cache.contains("enrich.ua_cache_capacity"), "{cache}");
        let reload = error("[enrich]\ngeoip_reload_interval = \"1ms\"");
        assert!(reload.contains("enrich.geoip_reload_interval"), "{reload}");
        let clock = error("[enrich]\nclock_max_past = \"0s\"");
        assert!(clock.contains("enrich.clock_max_past"), "{clock}");
        let unknown = error("[enrich]\ntrusted_proxy = []");
        assert!(unknown.contains("trusted_proxy"), "{unknown}");
        let rule = error(&format!(
            "{SITE}route_rules = [\"/ok/:id\", \"regex:([a-z\"]"
        ));
        assert!(rule.contains("sites[0].route_rules[1]"), "{rule}");
        let relative = error(&format!("{SITE}route_rules = [\"products/:id\"]"));
        assert!(relative.contains("sites[0].route_rules[0]"), "{relative}");
        let segments = error(&format!("{SITE}max_route_segments = 0"));
        assert!(
            segments.contains("sites[0].max_route_segments"),
            "{segments}"
        );
        let param = error(&format!("{SITE}allowed_query_params = [\"\"]"));
        assert!(
            param.contains("sites[0].allowed_query_params[0]"),
            "{param}"
        );
    }
}
