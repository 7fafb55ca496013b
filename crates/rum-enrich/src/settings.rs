//! The enrichment settings the collector runs with, and how they are compiled from the config file:
//! [`EnrichSettings::from_config`] for `[enrich]`, [`SiteEnrichment::from_config`] for the
//! enrichment keys of one `[[sites]]` entry.
//!
//! Compiling runs the very parsers the request path uses (CIDRs, header names, route rules), so a
//! value that would fail the collector at startup fails `rum check-config` the same way. Errors are
//! [`rum_config::ConfigError::Invalid`] and name the key, down to the list position
//! (`enrich.trusted_proxies[2]`, `sites[0].route_rules[1]`). This module reads no file: a GeoIP path
//! is only checked when the collector opens it.

use std::num::NonZeroUsize;
use std::time::Duration;

use rum_config::{ConfigError, EnrichConfig, MAX_UA_CACHE_CAPACITY, SiteConfig};

use crate::client_ip::{ClientIpSource, IpPrivacy, TrustedProxies};
use crate::clock::ClockPolicy;
use crate::geoip::{self, DEFAULT_RELOAD_INTERVAL, GeoIpPaths};
use crate::route::{RoutePolicy, RoutePolicyConfig, RoutePolicyError};
use crate::user_agent::DEFAULT_UA_CACHE_CAPACITY;

/// Deployment-wide enrichment settings (the `[enrich]` section, already validated).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EnrichSettings {
    /// Proxies whose forwarding headers are believed; empty trusts nobody.
    pub trusted_proxies: TrustedProxies,
    /// Where those proxies put the client address.
    pub client_ip_source: ClientIpSource,
    /// GeoIP databases; both `None` means every location is unknown.
    pub geoip: GeoIpPaths,
    /// How often the GeoIP files are checked for a replacement.
    pub geoip_reload_interval: Duration,
    /// Distinct user agents whose classification is cached.
    pub ua_cache_capacity: NonZeroUsize,
    /// How far the client clock may be off before it is judged implausible.
    pub clock: ClockPolicy,
}

impl Default for EnrichSettings {
    fn default() -> Self {
        Self {
            trusted_proxies: TrustedProxies::default(),
            client_ip_source: ClientIpSource::default(),
            geoip: GeoIpPaths::default(),
            geoip_reload_interval: DEFAULT_RELOAD_INTERVAL,
            ua_cache_capacity: DEFAULT_UA_CACHE_CAPACITY,
            clock: ClockPolicy::default(),
        }
    }
}

/// One site's enrichment choices (its `[[sites]]` entry, compiled).
#[derive(Clone, Debug, Default)]
pub struct SiteEnrichment {
    /// Keep bot beacons, tagged `is_bot` with device class `bot`, instead of dropping them.
    pub keep_bots: bool,
    /// What is kept of the client address after the GeoIP lookup.
    pub ip_privacy: IpPrivacy,
    /// URL scrubbing and route templates.
    pub routes: RoutePolicy,
    /// `sites[].sample_rate`: beacons of sessions outside it are dropped (crate::sampling).
    pub sample_rate: Option<f64>,
}

fn invalid(key: impl Into<String>, message: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        key: key.into(),
        message: message.into(),
    }
}

impl EnrichSettings {
    /// Compiles `[enrich]`. Errors name the key.
    pub fn from_config(enrich: &EnrichConfig) -> Result<Self, ConfigError> {
        // Each entry is parsed alone first so that an error names its position.
        for (index, entry) in enrich.trusted_proxies.iter().enumerate() {
            TrustedProxies::parse([entry]).map_err(|error| {
                invalid(
                    format!("enrich.trusted_proxies[{index}]"),
                    error.to_string(),
                )
            })?;
        }
        let trusted_proxies = TrustedProxies::parse(&enrich.trusted_proxies)
            .map_err(|error| invalid("enrich.trusted_proxies", error.to_string()))?;
        let client_ip_source = enrich
            .client_ip_source
            .parse::<ClientIpSource>()
            .map_err(|error| invalid("enrich.client_ip_source", error.to_string()))?;
        if enrich.geoip_reload_interval.0 < geoip::MIN_RELOAD_INTERVAL {
            return Err(invalid(
                "enrich.geoip_reload_interval",
                format!(
                    "must be at least {} ms",
                    geoip::MIN_RELOAD_INTERVAL.as_millis()
                ),
            ));
        }
        let ua_cache_capacity = NonZeroUsize::new(enrich.ua_cache_capacity)
            .filter(|capacity| capacity.get() <= MAX_UA_CACHE_CAPACITY)
            .ok_or_else(|| {
                invalid(
                    "enrich.ua_cache_capacity",
                    format!("must be between 1 and {MAX_UA_CACHE_CAPACITY}"),
                )
            })?;
        for (key, bound) in [
            ("enrich.clock_max_future", enrich.clock_max_future),
            ("enrich.clock_max_past", enrich.clock_max_past),
        ] {
            if bound.0.is_zero() {
                return Err(invalid(key, "must be greater than 0"));
            }
        }
        Ok(Self {
            trusted_proxies,
            client_ip_source,
            geoip: GeoIpPaths {
                location: enrich.geoip_database.clone(),
                asn: enrich.asn_database.clone(),
            },
            geoip_reload_interval: enrich.geoip_reload_interval.0,
            ua_cache_capacity,
            clock: ClockPolicy {
                max_future: enrich.clock_max_future.0,
                max_past: enrich.clock_max_past.0,
            },
        })
    }
}

impl SiteEnrichment {
    /// Compiles one site's enrichment: route rules, query allow-list, bot and IP privacy choices
    /// (the site's `ip_privacy`, else `enrich.ip_privacy`). `index` is the site's position in
    /// `[[sites]]`, used to name keys in errors.
    pub fn from_config(
        site: &SiteConfig,
        index: usize,
        enrich: &EnrichConfig,
    ) -> Result<Self, ConfigError> {
        let key = |name: &str| format!("sites[{index}].{name}");
        let mut policy = RoutePolicyConfig {
            allowed_query_params: site.allowed_query_params.clone(),
            rules: Vec::new(),
            max_segments: site.max_route_segments,
            ..RoutePolicyConfig::default()
        };
        for (position, name) in site.allowed_query_params.iter().enumerate() {
            if name.is_empty() {
                return Err(invalid(
                    key(&format!("allowed_query_params[{position}]")),
                    "must not be empty",
                ));
            }
        }
        // Each rule is compiled alone first so that an error names its position.
        for (position, rule) in site.route_rules.iter().enumerate() {
            policy.rules = vec![rule.clone()];
            RoutePolicy::new(&policy).map_err(|error| match error {
                RoutePolicyError::InvalidLimit { .. } => {
                    invalid(key("max_route_segments"), error.to_string())
                }
                _ => invalid(key(&format!("route_rules[{position}]")), error.to_string()),
            })?;
        }
        policy.rules.clone_from(&site.route_rules);
        let routes = RoutePolicy::new(&policy).map_err(|error| match error {
            RoutePolicyError::InvalidLimit { .. } => {
                invalid(key("max_route_segments"), error.to_string())
            }
            _ => invalid(key("route_rules"), error.to_string()),
        })?;
        Ok(Self {
            keep_bots: site.keep_bots,
            ip_privacy: site.ip_privacy.unwrap_or(enrich.ip_privacy),
            routes,
            sample_rate: site.sample_rate,
        })
    }
}

#[cfg(test)]
mod tests {
    use rum_config::{Config, load_str};

    use super::*;

    /// Loads `text` as `rum check-config` does: the file, then every section compiled.
    fn compile(text: &str) -> Result<(Config, EnrichSettings, Vec<SiteEnrichment>), ConfigError> {
        let config = load_str(text, "f.toml", Vec::new())?;
        let settings = EnrichSettings::from_config(&config.enrich)?;
        let sites = config
            .sites
            .iter()
            .enumerate()
            .map(|(index, site)| SiteEnrichment::from_config(site, index, &config.enrich))
            .collect::<Result<Vec<_>, _>>()?;
        Ok((config, settings, sites))
    }

    fn error(text: &str) -> String {
        compile(text)
            .expect_err("the config is invalid")
            .to_string()
    }

    const SITE: &str = "[[sites]]\nid = \"shop\"\nkeys = [\"k\"]\nallowed_origins = [\"*\"]\n";

    #[test]
    fn defaults_trust_nobody_and_drop_the_address() {
        let config = load_str("", "defaults", Vec::new()).expect("defaults are valid");
        let settings = EnrichSettings::from_config(&config.enrich).expect("default settings");
        assert!(settings.trusted_proxies.is_empty());
        assert_eq!(settings.geoip, Default::default());
        let site =
            SiteEnrichment::from_config(&config.sites[0], 0, &config.enrich).expect("demo site");
        assert!(!site.keep_bots);
        assert_eq!(site.ip_privacy, IpPrivacy::Drop);
    }

    #[test]
    fn the_config_defaults_are_the_enrichment_defaults() {
        let config = load_str("", "defaults", Vec::new()).expect("defaults are valid");
        let settings = EnrichSettings::from_config(&config.enrich).expect("default settings");
        assert_eq!(settings, EnrichSettings::default());
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
        let settings = EnrichSettings::from_config(&config.enrich).expect("settings");
        assert_eq!(settings.trusted_proxies.networks().len(), 3);
        assert_eq!(
            settings.client_ip_source,
            ClientIpSource::header("cf-connecting-ip").expect("name")
        );
        assert_eq!(settings.ua_cache_capacity.get(), 1000);
        assert_eq!(settings.clock.max_past.as_secs(), 7200);
        let site = SiteEnrichment::from_config(&config.sites[0], 0, &config.enrich).expect("site");
        assert!(site.keep_bots);
        // The site's own `ip_privacy` wins over the section's.
        assert_eq!(site.ip_privacy, IpPrivacy::Drop);
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
        let shop =
            SiteEnrichment::from_config(&config.sites[0], 0, &config.enrich).expect("shop site");
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
        // The whole file compiles, every site included.
        compile(text).expect("the example file compiles");
    }

    #[test]
    fn errors_name_the_key() {
        let cidr = error("[enrich]\ntrusted_proxies = [\"10.0.0.0/8\", \"::1\", \"10.0.0.0/33\"]");
        assert!(cidr.contains("enrich.trusted_proxies[2]"), "{cidr}");
        let source = error("[enrich]\nclient_ip_source = \"not a header\"");
        assert!(source.contains("enrich.client_ip_source"), "{source}");
        let cache = error("[enrich]\nua_cache_capacity = 0");
        assert!(cache.contains("enrich.ua_cache_capacity"), "{cache}");
        let reload = error("[enrich]\ngeoip_reload_interval = \"1ms\"");
        assert!(reload.contains("enrich.geoip_reload_interval"), "{reload}");
        let clock = error("[enrich]\nclock_max_past = \"0s\"");
        assert!(clock.contains("enrich.clock_max_past"), "{clock}");
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
