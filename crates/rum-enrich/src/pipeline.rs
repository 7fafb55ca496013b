//! The enrichment step as the collector runs it: one [`Enricher`], built once at startup from
//! [`EnrichSettings`], and per beacon [`Enricher::enrich`] with the site's [`SiteEnrichment`].
//!
//! Order of work for one beacon, and why:
//!
//! 1. User agent, client hints and `dev.touch` are classified ([`crate::user_agent`], cached). A bot
//!    is decided here, first, so that a bot the site does not keep costs no GeoIP lookup and no URL
//!    work: [`EnrichOutcome::Drop`] tells the collector to answer as usual and forward nothing.
//! 2. The client address is picked from the socket peer and the forwarding headers, believing only
//!    trusted proxies ([`crate::client_ip`]); GeoIP looks up the full address ([`crate::geoip`]);
//!    the address is then dropped, or truncated to its /24 or /48 when the site asks for it. The
//!    full address lives in one local variable of [`Enricher::enrich`] and goes nowhere else.
//! 3. The page URL is scrubbed (query and fragment stripped except allow-listed parameters) and
//!    replaces `beacon.url`; the route template is derived ([`crate::route`]); the referrer is
//!    reduced to its origin; URLs inside events (request URLs, LCP resources, error scripts) lose
//!    their query and fragment.
//! 4. The client clock is compared with the edge receive time ([`crate::clock`]); an implausible
//!    skew is clamped and counted.
//!
//! This module must never log, label or write the full client address, the raw URL or the raw
//! user agent, and never do I/O per beacon: GeoIP databases are in memory and reloaded by their
//! own thread, the user agent rules are compiled into the binary.
//!
//! Metrics (handles registered when the [`Enricher`] is built, so a beacon only does atomic adds;
//! every label is a closed set):
//!
//! - `rum_enrich_client_ips_total{origin}`: beacons by where their client address came from
//!   (`peer`, `peer_header_ignored`, `trusted_peer`, `x_forwarded_for`, `forwarded`, `header`,
//!   `unusable_hop`).
//! - `rum_enrich_routes_total{origin="rule|heuristic"}`: how each route template was derived.
//! - `rum_enrich_clock_checks_total{verdict}`: `plausible`, `sent_missing`,
//!   `sent_too_far_in_future`, `sent_too_far_in_past` (the last two are clamped).
//! - `rum_enrich_bots_total{action="kept"}`: bot beacons forwarded, tagged, for sites that keep them.
//! - `rum_dropped_total{stage="enrich", reason="bot", item="beacon"}` (the drop ledger): bot beacons
//!   dropped, counted here where the decision is made.
//!
//! Plus those of the parts: `rum_enrich_ua_cache_lookups_total{outcome}` ([`crate::user_agent`])
//! and `rum_geoip_*` ([`crate::geoip`]).

use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;

use http::HeaderMap;
use http::header::USER_AGENT;
use metrics::{Counter, counter, describe_counter};
use rum_schema::proto::{Beacon, Enrichment, event};

use crate::client_ip::{ClientIpOrigin, ClientIpResolver, IpPrivacyExt};
use crate::clock::{ClockPolicy, ClockVerdict};
use crate::geoip::{GeoIp, GeoIpError, GeoIpReloader};
use crate::route::{RouteOrigin, referrer_origin, strip_query_and_fragment};
use crate::sampling;
// Defined beside their compilation from the config file; still reachable from here.
pub use crate::settings::{EnrichSettings, SiteEnrichment};
use crate::user_agent::{ClientHints, DeviceSignals, UaCacheStats, UaClassifier, UserAgentError};

const CLIENT_IPS: &str = "rum_enrich_client_ips_total";
const ROUTES: &str = "rum_enrich_routes_total";
const CLOCK_CHECKS: &str = "rum_enrich_clock_checks_total";
const BOTS: &str = "rum_enrich_bots_total";

/// Why the enrichment step can not be built. Startup errors only: nothing on the request path
/// fails.
#[derive(Debug, thiserror::Error)]
pub enum EnrichError {
    /// A configured GeoIP database cannot be used (the message names the file), or the reloader
    /// thread cannot start.
    #[error(transparent)]
    GeoIp(#[from] GeoIpError),
    /// The vendored user agent rules or bot patterns do not compile.
    #[error("cannot build the user agent classifier")]
    UserAgent(#[from] UserAgentError),
}

rum_ledger::drop_reasons! {
    /// Why a beacon is not forwarded although it was valid: the `reason` of
    /// `rum_dropped_total{stage="enrich"}`.
    pub enum DropReason in Enrich {
        /// The user agent is a crawler, headless browser or synthetic monitor, and the site does
        /// not keep bots.
        Bot = "bot",
        /// The site's `sample_rate` leaves the beacon's session out (the page sent anyway: an
        /// older tab, a cached configuration, or a script that could not fetch it).
        SampledOut = "sampled_out",
    }
}

/// What the collector does with an enriched beacon.
#[must_use]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EnrichOutcome {
    /// Forward it: the beacon carries its enrichment, scrubbed URL and referrer.
    Forward,
    /// Answer as for any valid beacon, but forward nothing and count the reason. The beacon was
    /// left partly enriched and must not be used.
    Drop(DropReason),
}

/// The enrichment step: see the module docs. Share it behind an `Arc`; [`Enricher::enrich`] takes
/// `&self`.
pub struct Enricher {
    client_ip: ClientIpResolver,
    geoip: Arc<GeoIp>,
    /// Kept for the enricher's lifetime: dropping it stops the reload thread.
    _geoip_reloader: GeoIpReloader,
    user_agents: UaClassifier,
    clock: ClockPolicy,
    metrics: EnrichMetrics,
}

impl fmt::Debug for Enricher {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("Enricher")
            .field("client_ip", &self.client_ip)
            .field("geoip", &self.geoip)
            .field("user_agents", &self.user_agents)
            .field("clock", &self.clock)
            .finish_non_exhaustive()
    }
}

impl Enricher {
    /// Loads the GeoIP databases (logging which, and warning when there is no location database),
    /// starts their reload thread, compiles the user agent rules and registers the metrics. Install
    /// the metrics recorder first. Takes a few hundred milliseconds (the uap-core rules).
    pub fn new(settings: &EnrichSettings) -> Result<Self, EnrichError> {
        let geoip = Arc::new(GeoIp::open(&settings.geoip)?);
        geoip.log_startup_status();
        let geoip_reloader = GeoIpReloader::spawn(&geoip, settings.geoip_reload_interval)?;
        let user_agents = UaClassifier::new(settings.ua_cache_capacity)?;
        Ok(Self {
            client_ip: ClientIpResolver::new(
                settings.trusted_proxies.clone(),
                settings.client_ip_source.clone(),
            ),
            geoip,
            _geoip_reloader: geoip_reloader,
            user_agents,
            clock: settings.clock,
            metrics: EnrichMetrics::register(),
        })
    }

    /// Enriches one validated beacon in place. `peer` is the socket peer of the connection,
    /// `headers` the request's headers; `beacon.received_at_ms` must already hold the edge
    /// receive time. Never fails and does no I/O.
    ///
    /// On [`EnrichOutcome::Forward`] the beacon has its [`Enrichment`], `url` is the scrubbed URL
    /// and `referrer` an origin (or empty). On [`EnrichOutcome::Drop`] it must not be forwarded.
    pub fn enrich(
        &self,
        beacon: &mut Beacon,
        site: &SiteEnrichment,
        peer: IpAddr,
        headers: &HeaderMap,
    ) -> EnrichOutcome {
        // First, as it is the cheapest decision and the most beacons it may drop.
        if let Some(rate) = site.sample_rate {
            if !sampling::in_sample(&beacon.session_id, rate) {
                self.metrics.dropped.count(DropReason::SampledOut);
                return EnrichOutcome::Drop(DropReason::SampledOut);
            }
            // The rate the beacon was kept at, whatever the page believed.
            beacon.sample_rate = Some(rate);
        }
        // A UA that is not visible ASCII (obs-text) was not sent by a browser: read as none.
        let user_agent = headers
            .get(USER_AGENT)
            .and_then(|value| value.to_str().ok())
            .unwrap_or_default();
        let agent = self.user_agents.classify(
            user_agent,
            &ClientHints::from_headers(headers),
            DeviceSignals::of(beacon.device.as_ref()),
        );
        if agent.is_bot {
            if !site.keep_bots {
                self.metrics.dropped.count(DropReason::Bot);
                return EnrichOutcome::Drop(DropReason::Bot);
            }
            self.metrics.bots_kept.increment(1);
        }

        let client_ip = self.client_ip.resolve(peer, headers);
        self.metrics.client_ip(client_ip.origin);
        let geo = self.geoip.lookup(client_ip.ip);
        let client_network = site.ip_privacy.apply(client_ip.ip).unwrap_or_default();
        // From here on only the (possibly empty) truncated network exists; `client_ip` is not
        // used again and nothing above copied the address anywhere.

        let scrubbed = site.routes.scrub(&beacon.url);
        self.metrics.route(scrubbed.route_origin);
        beacon.url = scrubbed.url;
        if !beacon.referrer.is_empty() {
            beacon.referrer = referrer_origin(&beacon.referrer);
        }
        strip_event_urls(beacon);
        name_endpoints(beacon, &site.routes);

        let clock = self.clock.assess(beacon.received_at_ms, beacon.sent_at_ms);
        self.metrics.clock(clock.verdict);

        beacon.enrichment = Some(Enrichment {
            country: geo
                .country
                .map(|country| country.as_str().to_owned())
                .unwrap_or_default(),
            region: geo.region,
            city: geo.city,
            asn: geo.asn,
            browser: agent.browser.as_ref().to_owned(),
            browser_major: agent
                .browser_major
                .as_deref()
                .map(str::to_owned)
                .unwrap_or_default(),
            os: agent.os.as_ref().to_owned(),
            os_version: agent
                .os_version
                .as_deref()
                .map(str::to_owned)
                .unwrap_or_default(),
            device_class: agent.device_class.as_str().to_owned(),
            is_bot: agent.is_bot,
            route: scrubbed.route,
            client_network,
            clock_skew_ms: clock.skew_ms,
        });
        EnrichOutcome::Forward
    }

    /// The client address this request counts as (the same answer [`enrich`](Self::enrich) uses,
    /// without counting it): for per-network rate limits, which must be computed before the
    /// address is dropped. Do not keep it.
    pub fn client_ip(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        self.client_ip.resolve(peer, headers).ip
    }

    /// The user agent cache counters so far (also exported as `rum_enrich_ua_cache_lookups_total`).
    pub fn ua_cache_stats(&self) -> UaCacheStats {
        self.user_agents.cache_stats()
    }
}

/// Counter handles, one per label value, registered once.
struct EnrichMetrics {
    client_ips: [Counter; ClientIpOrigin::ALL.len()],
    routes: [Counter; RouteOrigin::ALL.len()],
    clock_checks: [Counter; ClockVerdict::ALL.len()],
    dropped: rum_ledger::DropCounters<DropReason>,
    bots_kept: Counter,
}

impl EnrichMetrics {
    fn register() -> Self {
        describe_counter!(
            CLIENT_IPS,
            "Beacons by where their client address came from (the address itself is never exported)."
        );
        describe_counter!(
            ROUTES,
            "Route templates by how they were derived: a site rule or the id heuristics."
        );
        describe_counter!(
            CLOCK_CHECKS,
            "Client clock checks against the edge receive time, by verdict; implausible skews are clamped."
        );
        describe_counter!(
            BOTS,
            "Bot beacons forwarded (tagged) because their site keeps bots; dropped ones are in rum_dropped_total."
        );
        Self {
            client_ips: ClientIpOrigin::ALL
                .map(|origin| counter!(CLIENT_IPS, "origin" => origin.as_str())),
            routes: RouteOrigin::ALL.map(|origin| counter!(ROUTES, "origin" => origin.as_str())),
            clock_checks: ClockVerdict::ALL
                .map(|verdict| counter!(CLOCK_CHECKS, "verdict" => verdict.as_str())),
            dropped: rum_ledger::DropCounters::register(rum_ledger::Item::Beacon),
            bots_kept: counter!(BOTS, "action" => "kept"),
        }
    }

    fn client_ip(&self, origin: ClientIpOrigin) {
        self.client_ips[slot(&ClientIpOrigin::ALL, origin)].increment(1);
    }

    fn route(&self, origin: RouteOrigin) {
        self.routes[slot(&RouteOrigin::ALL, origin)].increment(1);
    }

    fn clock(&self, verdict: ClockVerdict) {
        self.clock_checks[slot(&ClockVerdict::ALL, verdict)].increment(1);
    }
}

/// The position of `value` in its enum's `ALL` list (a handful of entries; every value is listed,
/// which the tests check by counting each one).
fn slot<T: PartialEq>(all: &[T], value: T) -> usize {
    all.iter()
        .position(|candidate| *candidate == value)
        .unwrap_or(0)
}

/// Cuts query and fragment off the URLs events carry (request, calls, LCP attribution and INP's
/// longest script, error source): the
/// browser script already sends them without a query, but the edge must not rely on every sender.
fn strip_event_urls(beacon: &mut Beacon) {
    for event in &mut beacon.events {
        match &mut event.kind {
            Some(event::Kind::Request(request)) => strip_query_and_fragment(&mut request.url),
            Some(event::Kind::Calls(calls)) => {
                for endpoint in &mut calls.endpoints {
                    strip_query_and_fragment(&mut endpoint.url);
                }
            }
            Some(event::Kind::Error(error)) => strip_query_and_fragment(&mut error.source),
            Some(event::Kind::Vital(vital)) => {
                if let Some(attribution) = vital.attribution.as_mut() {
                    strip_query_and_fragment(&mut attribution.url);
                    strip_query_and_fragment(&mut attribution.script);
                }
            }
            _ => {}
        }
    }
}

/// Gives each fetch/XHR event its endpoint template (after the URLs lost their queries), relative
/// to the page's origin.
fn name_endpoints(beacon: &mut Beacon, routes: &crate::route::RoutePolicy) {
    // Only beacons with calls need the page's origin (most carry none).
    let has_calls = beacon.events.iter().any(|event| {
        matches!(
            event.kind,
            Some(event::Kind::Request(_) | event::Kind::Calls(_))
        )
    });
    if !has_calls {
        return;
    }
    let page_origin = referrer_origin(&beacon.url);
    for event in &mut beacon.events {
        match &mut event.kind {
            Some(event::Kind::Request(request)) => {
                request.endpoint = routes.endpoint(&request.url, &page_origin);
            }
            Some(event::Kind::Calls(calls)) => {
                for endpoint in &mut calls.endpoints {
                    endpoint.endpoint = routes.endpoint(&endpoint.url, &page_origin);
                }
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};

    use http::{HeaderName, HeaderValue};
    use prost::Message;
    use rum_schema::proto::Device;

    use super::*;
    use crate::client_ip::{IpPrivacy, TrustedProxies};
    use crate::geoip::GeoIpPaths;
    use crate::route::{RoutePolicy, RoutePolicyConfig};
    use crate::test_metrics::TestMetrics;

    /// A proxy in front of the collector (documentation range, RFC 5737).
    const PROXY: &str = "192.0.2.10";
    /// In the test location database: GB, England, London (testdata/geoip/generate.py).
    const LONDON_CLIENT: &str = "81.2.69.142";
    const RECEIVED_AT_MS: i64 = 1_763_760_000_000;
    const CHROME_WINDOWS: &str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 \
        (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36";
    const GOOGLEBOT: &str =
        "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)";

    fn testdata(name: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("testdata/geoip")
            .join(name)
    }

    fn settings(trusted: &[&str]) -> EnrichSettings {
        EnrichSettings {
            trusted_proxies: TrustedProxies::parse(trusted).expect("test proxies"),
            geoip: GeoIpPaths {
                location: Some(testdata("geoip2-city-test.mmdb")),
                asn: Some(testdata("asn-test.mmdb")),
            },
            ..EnrichSettings::default()
        }
    }

    fn enricher(settings: &EnrichSettings) -> (Enricher, Arc<TestMetrics>) {
        let recorder = Arc::new(TestMetrics::default());
        let enricher = recorder
            .record(|| Enricher::new(settings))
            .expect("test enricher builds");
        (enricher, recorder)
    }

    fn site(keep_bots: bool, ip_privacy: IpPrivacy, rules: &[&str]) -> SiteEnrichment {
        SiteEnrichment {
            keep_bots,
            ip_privacy,
            routes: RoutePolicy::new(&RoutePolicyConfig {
                rules: rules.iter().map(|rule| (*rule).to_owned()).collect(),
                ..RoutePolicyConfig::default()
            })
            .expect("test rules compile"),
            sample_rate: None,
        }
    }

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(
                HeaderName::from_bytes(name.as_bytes()).expect("test header name"),
                HeaderValue::from_str(value).expect("test header value"),
            );
        }
        map
    }

    fn beacon() -> Beacon {
        Beacon {
            version: 1,
            site: "shop".into(),
            session_id: "s1".into(),
            page_view_id: "p1".into(),
            url: "https://Shop.example.com/products/42?utm_source=mail&email=a%40b.c#reviews"
                .into(),
            referrer: "https://www.google.com/search?q=private+words".into(),
            sent_at_ms: RECEIVED_AT_MS - 150,
            received_at_ms: RECEIVED_AT_MS,
            device: Some(Device {
                max_touch_points: Some(0),
                ..Device::default()
            }),
            ..Beacon::default()
        }
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().expect("test address")
    }

    #[test]
    fn urls_inside_events_lose_query_and_fragment() {
        use rum_schema::proto::{Attribution, Calls, EndpointCalls, Error, Event, Request, Vital};
        let (enricher, _recorder) = enricher(&settings(&[PROXY]));
        let mut beacon = beacon();
        beacon.events = vec![
            Event {
                kind: Some(event::Kind::Request(Request {
                    url: "https://api.example.com/cart?session=secret".into(),
                    ..Request::default()
                })),
            },
            Event {
                kind: Some(event::Kind::Error(Error {
                    source: "https://shop.example.com/app.js?v=9#x".into(),
                    ..Error::default()
                })),
            },
            Event {
                kind: Some(event::Kind::Vital(Vital {
                    attribution: Some(Attribution {
                        url: "https://cdn.example.com/hero.jpg?sig=abc".into(),
                        script: "https://tags.example.com/t.js?id=42".into(),
                        ..Attribution::default()
                    }),
                    ..Vital::default()
                })),
            },
            Event {
                kind: Some(event::Kind::Calls(Calls {
                    endpoints: vec![EndpointCalls {
                        method: "GET".into(),
                        url: "https://shop.example.com/api/items/12345?token=secret#top".into(),
                        durations_ms: vec![12.0],
                        statuses: vec![200],
                        ..EndpointCalls::default()
                    }],
                })),
            },
        ];
        let outcome = enricher.enrich(
            &mut beacon,
            &site(false, IpPrivacy::Drop, &[]),
            ip(PROXY),
            &headers(&[("user-agent", CHROME_WINDOWS)]),
        );
        assert_eq!(outcome, EnrichOutcome::Forward);
        let urls: Vec<&str> = beacon
            .events
            .iter()
            .filter_map(|event| match &event.kind {
                Some(event::Kind::Request(request)) => Some(request.url.as_str()),
                Some(event::Kind::Error(error)) => Some(error.source.as_str()),
                Some(event::Kind::Vital(vital)) => {
                    vital.attribution.as_ref().map(|a| a.url.as_str())
                }
                _ => None,
            })
            .collect();
        assert_eq!(
            urls,
            [
                "https://api.example.com/cart",
                "https://shop.example.com/app.js",
                "https://cdn.example.com/hero.jpg"
            ]
        );
        let Some(event::Kind::Vital(vital)) = &beacon.events[2].kind else {
            panic!("the vital event stays third");
        };
        assert_eq!(
            vital.attribution.as_ref().map(|a| a.script.as_str()),
            Some("https://tags.example.com/t.js")
        );
        let Some(event::Kind::Request(request)) = &beacon.events[0].kind else {
            panic!("the request event stays first");
        };
        assert_eq!(
            request.endpoint, "api.example.com/cart",
            "named at the edge"
        );
        let Some(event::Kind::Calls(calls)) = &beacon.events[3].kind else {
            panic!("the calls event stays fourth");
        };
        assert_eq!(
            calls.endpoints[0].url,
            "https://shop.example.com/api/items/12345"
        );
        assert_eq!(
            calls.endpoints[0].endpoint, "/api/items/:id",
            "each of a calls event's endpoints is named at the edge, ids collapsed"
        );
    }

    #[test]
    fn a_beacon_through_a_trusted_proxy_is_enriched_and_keeps_no_address() {
        let (enricher, recorder) = enricher(&settings(&[PROXY]));
        let mut beacon = beacon();
        let request = headers(&[
            ("user-agent", CHROME_WINDOWS),
            ("x-forwarded-for", &format!("10.9.9.9, {LONDON_CLIENT}")),
            ("sec-ch-ua-mobile", "?0"),
            ("sec-ch-ua-platform", "\"Windows\""),
        ]);
        let outcome = enricher.enrich(
            &mut beacon,
            &site(false, IpPrivacy::Drop, &[]),
            ip(PROXY),
            &request,
        );
        assert_eq!(outcome, EnrichOutcome::Forward);
        assert_eq!(beacon.url, "https://shop.example.com/products/42");
        assert_eq!(beacon.referrer, "https://www.google.com");
        let enrichment = beacon.enrichment.clone().expect("enriched");
        assert_eq!(
            enrichment,
            Enrichment {
                country: "GB".into(),
                region: "England".into(),
                city: "London".into(),
                asn: 0,
                browser: "Chrome".into(),
                browser_major: "131".into(),
                os: "Windows".into(),
                os_version: "10".into(),
                device_class: "desktop".into(),
                is_bot: false,
                route: "/products/:id".into(),
                client_network: String::new(),
                clock_skew_ms: 150,
            }
        );
        let encoded = beacon.encode_to_vec();
        let address: std::net::Ipv4Addr = LONDON_CLIENT.parse().expect("test address");
        assert!(
            !contains(&encoded, LONDON_CLIENT.as_bytes())
                && !contains(&encoded, &address.octets())
                && !contains(&encoded, b"81.2.69"),
            "the client address reached the encoded beacon"
        );
        assert_eq!(
            recorder.counter(CLIENT_IPS, &[("origin", "x_forwarded_for")]),
            1
        );
        assert_eq!(recorder.counter(ROUTES, &[("origin", "heuristic")]), 1);
        assert_eq!(
            recorder.counter(CLOCK_CHECKS, &[("verdict", "plausible")]),
            1
        );
        assert!(
            recorder
                .keys()
                .iter()
                .all(|key| !key.contains("81.2.69") && !key.contains("products/42")),
            "a raw address or url became a label: {:?}",
            recorder.keys()
        );
    }

    #[test]
    fn truncation_keeps_only_the_network_when_the_site_asks() {
        let (enricher, _) = enricher(&settings(&[PROXY]));
        let mut beacon = beacon();
        let request = headers(&[("x-forwarded-for", LONDON_CLIENT)]);
        let outcome = enricher.enrich(
            &mut beacon,
            &site(false, IpPrivacy::Truncate, &[]),
            ip(PROXY),
            &request,
        );
        assert_eq!(outcome, EnrichOutcome::Forward);
        let enrichment = beacon.enrichment.expect("enriched");
        assert_eq!(enrichment.client_network, "81.2.69.0/24");
        assert_eq!(enrichment.country, "GB");
    }

    #[test]
    fn a_forwarding_header_from_an_untrusted_peer_is_ignored() {
        let (enricher, recorder) = enricher(&settings(&[]));
        let mut beacon = beacon();
        // The peer itself is not in the test database; the spoofed header would say London.
        let request = headers(&[("x-forwarded-for", LONDON_CLIENT)]);
        let outcome = enricher.enrich(
            &mut beacon,
            &site(false, IpPrivacy::Drop, &[]),
            ip("198.51.100.7"),
            &request,
        );
        assert_eq!(outcome, EnrichOutcome::Forward);
        let enrichment = beacon.enrichment.expect("enriched");
        assert_eq!(enrichment.country, "");
        assert_eq!(enrichment.city, "");
        assert_eq!(
            recorder.counter(CLIENT_IPS, &[("origin", "peer_header_ignored")]),
            1
        );
    }

    #[test]
    fn bots_are_dropped_unless_the_site_keeps_them() {
        let (enricher, recorder) = enricher(&settings(&[]));
        let request = headers(&[("user-agent", GOOGLEBOT)]);
        let mut dropped = beacon();
        let outcome = enricher.enrich(
            &mut dropped,
            &site(false, IpPrivacy::Drop, &[]),
            ip("198.51.100.7"),
            &request,
        );
        assert_eq!(outcome, EnrichOutcome::Drop(DropReason::Bot));
        assert_eq!(
            recorder.counter(
                rum_ledger::DROPPED,
                &[("stage", "enrich"), ("reason", "bot"), ("item", "beacon")]
            ),
            1
        );
        assert_eq!(recorder.counter(BOTS, &[("action", "kept")]), 0);
        // A dropped bot costs no GeoIP lookup and no route.
        assert_eq!(recorder.counter(ROUTES, &[("origin", "heuristic")]), 0);

        let mut kept = beacon();
        let outcome = enricher.enrich(
            &mut kept,
            &site(true, IpPrivacy::Drop, &[]),
            ip("198.51.100.7"),
            &request,
        );
        assert_eq!(outcome, EnrichOutcome::Forward);
        let enrichment = kept.enrichment.expect("enriched");
        assert!(enrichment.is_bot);
        assert_eq!(enrichment.device_class, "bot");
        assert_eq!(recorder.counter(BOTS, &[("action", "kept")]), 1);
    }

    #[test]
    fn a_site_sample_rate_drops_sessions_outside_it_and_stamps_the_rest() {
        let (enricher, recorder) = enricher(&settings(&[]));
        let request = headers(&[("user-agent", CHROME_WINDOWS)]);
        let sampled = SiteEnrichment {
            sample_rate: Some(0.25),
            ..site(false, IpPrivacy::Drop, &[])
        };
        // "7vvvvv..." is just inside 25%, "8000..." just outside (the script's rule).
        let mut inside = Beacon {
            session_id: "7vvvvvvvvvvvvvvv".into(),
            sample_rate: Some(1.0),
            ..beacon()
        };
        let outcome = enricher.enrich(&mut inside, &sampled, ip("198.51.100.7"), &request);
        assert_eq!(outcome, EnrichOutcome::Forward);
        assert_eq!(
            inside.sample_rate,
            Some(0.25),
            "the site's rate, not the page's"
        );
        let mut outside = Beacon {
            session_id: "8000000000000000".into(),
            ..beacon()
        };
        let outcome = enricher.enrich(&mut outside, &sampled, ip("198.51.100.7"), &request);
        assert_eq!(outcome, EnrichOutcome::Drop(DropReason::SampledOut));
        assert_eq!(
            recorder.counter(
                rum_ledger::DROPPED,
                &[
                    ("stage", "enrich"),
                    ("reason", "sampled_out"),
                    ("item", "beacon")
                ]
            ),
            1
        );
        // Without a site rate the page's own rate stands.
        let mut unsampled = Beacon {
            session_id: "8000000000000000".into(),
            sample_rate: Some(0.5),
            ..beacon()
        };
        let outcome = enricher.enrich(
            &mut unsampled,
            &site(false, IpPrivacy::Drop, &[]),
            ip("198.51.100.7"),
            &request,
        );
        assert_eq!(outcome, EnrichOutcome::Forward);
        assert_eq!(unsampled.sample_rate, Some(0.5));
    }

    #[test]
    fn site_rules_name_the_route_and_the_query_never_survives() {
        let (enricher, recorder) = enricher(&settings(&[]));
        let mut beacon = beacon();
        beacon.url = "https://shop.example.com/products/blue-shoes?session=abc#top".into();
        let outcome = enricher.enrich(
            &mut beacon,
            &site(false, IpPrivacy::Drop, &["/products/:slug"]),
            ip("198.51.100.7"),
            &HeaderMap::new(),
        );
        assert_eq!(outcome, EnrichOutcome::Forward);
        assert_eq!(beacon.url, "https://shop.example.com/products/blue-shoes");
        let enrichment = beacon.enrichment.expect("enriched");
        assert_eq!(enrichment.route, "/products/:slug");
        assert_eq!(recorder.counter(ROUTES, &[("origin", "rule")]), 1);
        // No user agent at all: unknown families, class other.
        assert_eq!(enrichment.browser, "Other");
        assert_eq!(enrichment.device_class, "other");
    }

    #[test]
    fn implausible_clocks_are_clamped_and_counted_by_verdict() {
        let (enricher, recorder) = enricher(&settings(&[]));
        let site = site(false, IpPrivacy::Drop, &[]);
        let cases = [
            (RECEIVED_AT_MS - 1_000, 1_000, "plausible"),
            (0, 0, "sent_missing"),
            (
                RECEIVED_AT_MS + 3_600_000,
                -300_000,
                "sent_too_far_in_future",
            ),
            (1, 86_400_000, "sent_too_far_in_past"),
        ];
        for (sent_at_ms, expected_skew_ms, verdict) in cases {
            let mut beacon = beacon();
            beacon.sent_at_ms = sent_at_ms;
            let outcome =
                enricher.enrich(&mut beacon, &site, ip("198.51.100.7"), &HeaderMap::new());
            assert_eq!(outcome, EnrichOutcome::Forward);
            let enrichment = beacon.enrichment.expect("enriched");
            assert_eq!(enrichment.clock_skew_ms, expected_skew_ms, "{verdict}");
            assert_eq!(
                recorder.counter(CLOCK_CHECKS, &[("verdict", verdict)]),
                1,
                "{verdict}"
            );
        }
    }

    #[test]
    fn an_ipad_is_told_from_a_mac_by_touch_points() {
        let (enricher, _) = enricher(&settings(&[]));
        let safari_mac = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 \
            (KHTML, like Gecko) Version/18.1 Safari/605.1.15";
        let request = headers(&[("user-agent", safari_mac)]);
        let site = site(false, IpPrivacy::Drop, &[]);
        let mut ipad = beacon();
        ipad.device = Some(Device {
            max_touch_points: Some(5),
            ..Device::default()
        });
        let _ = enricher.enrich(&mut ipad, &site, ip("198.51.100.7"), &request);
        let mut mac = beacon();
        let _ = enricher.enrich(&mut mac, &site, ip("198.51.100.7"), &request);
        assert_eq!(ipad.enrichment.expect("enriched").device_class, "tablet");
        assert_eq!(mac.enrichment.expect("enriched").device_class, "desktop");
        assert_eq!(enricher.ua_cache_stats().misses, 1, "one parse for both");
    }

    #[test]
    fn every_label_value_has_its_own_counter() {
        for (position, origin) in ClientIpOrigin::ALL.into_iter().enumerate() {
            assert_eq!(slot(&ClientIpOrigin::ALL, origin), position);
        }
        for (position, origin) in RouteOrigin::ALL.into_iter().enumerate() {
            assert_eq!(slot(&RouteOrigin::ALL, origin), position);
        }
        for (position, verdict) in ClockVerdict::ALL.into_iter().enumerate() {
            assert_eq!(slot(&ClockVerdict::ALL, verdict), position);
        }
    }

    fn contains(haystack: &[u8], needle: &[u8]) -> bool {
        haystack
            .windows(needle.len())
            .any(|window| window == needle)
    }
}
