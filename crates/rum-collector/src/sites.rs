//! Site keys and allowed origins: which pages may send beacons, and as which site; and each site's
//! enrichment choices.

use std::collections::HashMap;
use std::sync::Arc;

use rum_config::{ConfigError, SiteConfig};
use rum_enrich::SiteEnrichment;

use crate::limits::{Rate, SiteLimit};

/// One site as the collector runs it: its config, its compiled enrichment and its rate limit.
#[derive(Debug, Clone)]
pub struct SiteSettings {
    pub config: SiteConfig,
    pub enrichment: SiteEnrichment,
    /// `sites[].rate`, else `limits.site_rate`; `None`: unlimited.
    pub rate: Option<Rate>,
}

impl SiteSettings {
    /// Compiles every site's enrichment (route rules, IP privacy). Errors name the key.
    pub fn from_config(config: &rum_config::Config) -> Result<Vec<Self>, ConfigError> {
        config
            .sites
            .iter()
            .enumerate()
            .map(|(index, site)| {
                let limits = &config.limits;
                Ok(Self {
                    enrichment: SiteEnrichment::from_config(site, index, &config.enrich)?,
                    rate: Rate::new(
                        site.rate.unwrap_or(limits.site_rate),
                        site.burst.unwrap_or(limits.site_burst),
                    ),
                    config: site.clone(),
                })
            })
            .collect()
    }
}

/// One configured site.
#[derive(Debug)]
pub struct Site {
    pub id: String,
    allow_any_origin: bool,
    origins: Vec<String>,
    /// Bots, URL privacy, routes and IP privacy for this site's beacons.
    pub enrichment: SiteEnrichment,
    /// The site's token bucket, shared by its keys.
    pub(crate) limit: Option<SiteLimit>,
    /// What `GET /rum/v1/config` answers for this site's keys, built once.
    pub(crate) script_config: ScriptConfig,
}

/// The script's configuration from the collector: the site's sample rate (absent: the tag's
/// own stands) and the features switched off, as JSON with its ETag.
#[derive(Debug, Clone)]
pub(crate) struct ScriptConfig {
    pub(crate) body: bytes::Bytes,
    pub(crate) etag: http::HeaderValue,
}

impl ScriptConfig {
    fn of(config: &SiteConfig) -> Self {
        let mut object = serde_json::Map::new();
        if let Some(rate) = config.sample_rate {
            object.insert("sampleRate".into(), rate.into());
        }
        object.insert("disable".into(), config.disable.clone().into());
        let body = serde_json::Value::Object(object).to_string();
        let hash = rum_schema::stable_hash::Fnv1a::default()
            .write(body.as_bytes())
            .finish();
        Self {
            etag: http::HeaderValue::from_str(&format!("\"{hash:016x}\""))
                .expect("hex is a valid header value"),
            body: body.into(),
        }
    }
}

impl Site {
    /// Whether a request with this `Origin` header (or none) may send for this site. Without an
    /// `Origin` header only sites that allow any origin accept: browsers always send one on POST.
    pub fn allows_origin(&self, origin: Option<&str>) -> bool {
        if self.allow_any_origin {
            return true;
        }
        origin.is_some_and(|origin| {
            let origin = origin.trim_end_matches('/');
            self.origins
                .iter()
                .any(|allowed| allowed.eq_ignore_ascii_case(origin))
        })
    }
}

/// Site key -> site, built once from the config.
#[derive(Debug, Default)]
pub struct SiteRegistry {
    by_key: HashMap<String, Arc<Site>, foldhash::fast::RandomState>,
}

impl SiteRegistry {
    pub fn new(sites: &[SiteSettings]) -> Self {
        let mut by_key = HashMap::with_hasher(foldhash::fast::RandomState::default());
        for SiteSettings {
            config,
            enrichment,
            rate,
        } in sites
        {
            let site = Arc::new(Site {
                id: config.id.clone(),
                allow_any_origin: config.allowed_origins.iter().any(|origin| origin == "*"),
                origins: config
                    .allowed_origins
                    .iter()
                    .map(|origin| origin.trim_end_matches('/').to_owned())
                    .collect(),
                enrichment: enrichment.clone(),
                limit: rate.map(SiteLimit::new),
                script_config: ScriptConfig::of(config),
            });
            for key in &config.keys {
                by_key.insert(key.clone(), Arc::clone(&site));
            }
        }
        Self { by_key }
    }

    pub fn site_for_key(&self, key: &str) -> Option<&Arc<Site>> {
        self.by_key.get(key)
    }

    /// [`Self::site_for_key`] without a hash lookup: every key is compared in full, so the time
    /// taken does not depend on how much of a key matched (for agents that send it as an API key).
    pub fn site_for_key_constant_time(&self, key: &str) -> Option<&Arc<Site>> {
        let mut found = None;
        for (candidate, site) in &self.by_key {
            if constant_time_eq(candidate.as_bytes(), key.as_bytes()) {
                found = Some(site);
            }
        }
        found
    }

    /// Whether any site accepts beacons from `origin` (a preflight that carries no key).
    pub fn any_allows_origin(&self, origin: Option<&str>) -> bool {
        self.by_key.values().any(|site| site.allows_origin(origin))
    }
}

/// Equal bytes, compared without an early exit (the lengths are not secret: keys are public).
fn constant_time_eq(left: &[u8], right: &[u8]) -> bool {
    if left.len() != right.len() {
        return false;
    }
    left.iter()
        .zip(right)
        .fold(0u8, |difference, (a, b)| difference | (a ^ b))
        == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins() {
        let site = |config: SiteConfig| SiteSettings {
            config,
            enrichment: SiteEnrichment::default(),
            rate: None,
        };
        let registry = SiteRegistry::new(&[
            site(SiteConfig {
                id: "shop".into(),
                keys: vec!["k1".into(), "k2".into()],
                allowed_origins: vec!["https://shop.example.com/".into()],
                ..SiteConfig::demo()
            }),
            site(SiteConfig::demo()),
        ]);
        let shop = registry.site_for_key("k2").unwrap();
        assert_eq!(shop.id, "shop");
        assert!(shop.allows_origin(Some("https://shop.example.com")));
        assert!(shop.allows_origin(Some("https://SHOP.example.com")));
        assert!(!shop.allows_origin(Some("https://evil.example.com")));
        assert!(!shop.allows_origin(Some("http://shop.example.com")));
        assert!(!shop.allows_origin(None));
        let demo = registry.site_for_key("demo").unwrap();
        assert!(demo.allows_origin(None));
        assert!(demo.allows_origin(Some("https://anything.example")));
        assert!(registry.site_for_key("nope").is_none());
    }
}
