//! Enrichment end to end: `rum collector` with a real Kafka-protocol broker (tansu, started here on
//! a free loopback port) and the project's GeoIP test databases. Beacons posted through a trusted
//! proxy (the test itself, on 127.0.0.1) arrive on the topic with country, device class, browser
//! and route, a scrubbed URL, a referrer cut to its origin, and no trace of the client address; a
//! forwarding header from an untrusted peer is ignored; bots are dropped and counted unless their
//! site keeps them, tagged.

#[path = "harness/broker.rs"]
mod broker;
#[path = "harness/http.rs"]
mod http;
#[path = "harness/rum.rs"]
mod rum;
#[path = "harness/wait.rs"]
mod wait;

use std::net::IpAddr;
use std::time::Duration;

use broker::Broker;
use rum::{Rum, RumOptions};
use rum_transport::TailedBeacon;
use serde_json::{Value, json};
use wait::{now_ms, wait_until};

const FULL: &str = include_str!("../crates/rum-schema/fixtures/beacon_full.json");
const GEOIP_TESTDATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../rum-enrich/testdata/geoip");

/// In the GeoIP2 City test database: GB, England, London (testdata/geoip/generate.py).
const LONDON_CLIENT: &str = "81.2.69.142";
/// In the same database: JP, Tokyo, Minato.
const TOKYO_CLIENT: &str = "2001:218::1:2:3";
/// An address the client wrote into `X-Forwarded-For` itself; the trusted proxy appended the real
/// one to its right, so it must be ignored.
const SPOOFED_HOP: &str = "203.0.113.66";

const CHROME_WINDOWS: &str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 \
    (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36";
const CHROME_BRANDS: &str = r#""Google Chrome";v="131", "Chromium";v="131", "Not_A Brand";v="24""#;
const CHROME_ANDROID_REDUCED: &str = "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 \
    (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36";
const GOOGLEBOT: &str = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)";

const SHOP_ORIGIN: &str = "https://shop.example.com";

/// The BEACON.md example with this page view id, page URL and referrer, sent now.
fn beacon(pid: &str, url: &str, referrer: &str) -> Vec<u8> {
    let mut beacon: Value = serde_json::from_str(FULL).unwrap();
    beacon["pid"] = json!(pid);
    beacon["url"] = json!(url);
    beacon["ref"] = json!(referrer);
    beacon["sent"] = json!(now_ms());
    serde_json::to_vec(&beacon).unwrap()
}

/// A collector writing to `topic`, with `[enrich]` and `[[sites]]` from `config` and the GeoIP test
/// databases.
fn collector(broker: &Broker, topic: &str, enrich_and_sites: &str) -> Rum {
    let config = format!(
        "[sink]\nkind = \"kafka\"\n\n\
         [enrich]\n\
         geoip_database = '{GEOIP_TESTDATA}/geoip2-city-test.mmdb'\n\
         asn_database = '{GEOIP_TESTDATA}/asn-test.mmdb'\n\
         {enrich_and_sites}"
    );
    let rum = Rum::start(RumOptions {
        mode: "collector",
        config_toml: Some(&config),
        args: vec![
            "--brokers".into(),
            broker.bootstrap(),
            "--topic".into(),
            topic.into(),
        ],
        ..RumOptions::default()
    })
    .unwrap();
    wait_until(
        "the kafka sink to be ready",
        Duration::from_secs(30),
        || rum.admin_get("/readyz").status == 200,
    );
    rum
}

/// POSTs a beacon as a browser on `SHOP_ORIGIN` does, with extra request headers.
fn post(rum: &Rum, key: &str, headers: &[(&str, &str)], body: &[u8]) {
    let mut all = vec![
        ("Content-Type", "text/plain;charset=UTF-8"),
        ("Origin", SHOP_ORIGIN),
    ];
    all.extend_from_slice(headers);
    let response = rum.post_beacon(&format!("key={key}"), &all, body);
    assert_eq!(response.status, 202, "{}", response.text());
}

fn by_pid<'a>(beacons: &'a [TailedBeacon], pid: &str) -> &'a TailedBeacon {
    beacons
        .iter()
        .find(|tailed| tailed.beacon.page_view_id == pid)
        .unwrap_or_else(|| panic!("beacon {pid} is not on the topic"))
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window == needle)
}

/// Fails if any form of `address` is in `bytes`: its text, its raw octets, or (for IPv4) its /24
/// network as text, which the default `drop` privacy must not keep either.
fn assert_no_address(what: &str, bytes: &[u8], address: &str) {
    let ip: IpAddr = address.parse().unwrap();
    let octets = match ip {
        IpAddr::V4(v4) => v4.octets().to_vec(),
        IpAddr::V6(v6) => v6.octets().to_vec(),
    };
    let mut forms: Vec<Vec<u8>> = vec![
        address.as_bytes().to_vec(),
        ip.to_string().into_bytes(),
        octets,
    ];
    if let IpAddr::V4(v4) = ip {
        let [a, b, c, _] = v4.octets();
        forms.push(format!("{a}.{b}.{c}.").into_bytes());
    }
    if let IpAddr::V6(v6) = ip {
        // The /48 a `truncate` site would keep.
        let segments = v6.segments();
        forms.push(format!("{:x}:{:x}:", segments[0], segments[1]).into_bytes());
    }
    for form in forms {
        assert!(
            !contains(bytes, &form),
            "{what} contains the client address {address} (as {:?})",
            String::from_utf8_lossy(&form)
        );
    }
}

#[test]
fn a_beacon_behind_a_trusted_proxy_arrives_enriched_and_without_its_address() {
    let broker = Broker::start().unwrap();
    let topic = broker::unique_topic("enriched");
    broker.create_topic(&topic, 1).unwrap();
    let rum = collector(
        &broker,
        &topic,
        "trusted_proxies = [\"127.0.0.1/32\"]\n\n\
         [[sites]]\nid = \"shop\"\nkeys = [\"shop-key\"]\n\
         allowed_origins = [\"https://shop.example.com\"]\n",
    );

    let desktop_forwarded = format!("{SPOOFED_HOP}, {LONDON_CLIENT}");
    post(
        &rum,
        "shop-key",
        &[
            ("X-Forwarded-For", &desktop_forwarded),
            ("User-Agent", CHROME_WINDOWS),
            ("Sec-CH-UA", CHROME_BRANDS),
            ("Sec-CH-UA-Mobile", "?0"),
            ("Sec-CH-UA-Platform", "\"Windows\""),
        ],
        &beacon(
            "desktop-page",
            "https://shop.example.com/products/42?utm=x&email=someone%40example.com#reviews",
            "https://www.google.com/search?q=private+search+words",
        ),
    );
    post(
        &rum,
        "shop-key",
        &[
            ("X-Forwarded-For", TOKYO_CLIENT),
            ("User-Agent", CHROME_ANDROID_REDUCED),
            ("Sec-CH-UA", CHROME_BRANDS),
            ("Sec-CH-UA-Mobile", "?1"),
            ("Sec-CH-UA-Platform", "\"Android\""),
        ],
        &beacon(
            "mobile-page",
            "https://shop.example.com/orders/3f2b9c1e-8d4a-4f6b-9a2e-7c5d1b0e4a93/receipt?token=abc",
            "",
        ),
    );

    let received = broker.read_topic(&topic, 2);

    let desktop = by_pid(&received, "desktop-page");
    let enrichment = desktop.beacon.enrichment.clone().expect("enriched");
    assert_eq!(enrichment.country, "GB");
    assert_eq!(enrichment.region, "England");
    assert_eq!(enrichment.city, "London");
    assert_eq!(enrichment.browser, "Chrome");
    assert_eq!(enrichment.browser_major, "131");
    assert_eq!(enrichment.os, "Windows");
    assert_eq!(enrichment.device_class, "desktop");
    assert!(!enrichment.is_bot);
    assert_eq!(enrichment.route, "/products/:id");
    assert_eq!(
        enrichment.client_network, "",
        "the default privacy keeps nothing"
    );
    assert!(
        enrichment.clock_skew_ms.abs() < 60_000,
        "skew {} ms for a beacon sent just now",
        enrichment.clock_skew_ms
    );
    assert_eq!(desktop.beacon.url, "https://shop.example.com/products/42");
    assert_eq!(desktop.beacon.referrer, "https://www.google.com");

    let mobile = by_pid(&received, "mobile-page");
    let enrichment = mobile.beacon.enrichment.clone().expect("enriched");
    assert_eq!(enrichment.country, "JP");
    assert_eq!(enrichment.browser, "Chrome Mobile");
    assert_eq!(enrichment.os, "Android");
    assert_eq!(enrichment.device_class, "mobile");
    assert_eq!(enrichment.route, "/orders/:uuid/receipt");
    assert!(!mobile.beacon.url.contains('?'), "{}", mobile.beacon.url);
    assert_eq!(mobile.beacon.referrer, "");

    // No form of either client address anywhere: the message on the wire, its key, what
    // `rum tail` prints, the collector's log, or its metric labels.
    let metric_names = rum.metrics().keys().cloned().collect::<Vec<_>>().join("\n");
    for (tailed, address) in [(desktop, LONDON_CLIENT), (mobile, TOKYO_CLIENT)] {
        let pid = &tailed.beacon.page_view_id;
        assert_no_address(&format!("the message of {pid}"), &tailed.payload, address);
        assert_no_address(
            &format!("the key of {pid}"),
            tailed.key.as_deref().unwrap_or_default(),
            address,
        );
        let json = rum_schema::render::beacon_to_json(&tailed.beacon).to_string();
        assert_no_address(&format!("the JSON of {pid}"), json.as_bytes(), address);
        assert!(!json.contains("utm=") && !json.contains("token=") && !json.contains("q=private"));
        assert_no_address("the collector log", rum.log_text().as_bytes(), address);
        assert_no_address("the metric labels", metric_names.as_bytes(), address);
    }
    assert_no_address("the message", &desktop.payload, SPOOFED_HOP);
    assert_eq!(
        rum.metric("rum_enrich_client_ips_total{origin=\"x_forwarded_for\"}"),
        2.0
    );
    assert_eq!(
        rum.metric("rum_geoip_lookups_total{database=\"location\",outcome=\"found\"}"),
        2.0
    );
}

#[test]
fn a_forwarding_header_from_an_untrusted_peer_is_ignored() {
    let broker = Broker::start().unwrap();
    let topic = broker::unique_topic("untrusted");
    broker.create_topic(&topic, 1).unwrap();
    // Nobody is trusted: the test (127.0.0.1, not in the database) is the client, whatever it
    // writes into X-Forwarded-For.
    let rum = collector(
        &broker,
        &topic,
        "trusted_proxies = []\n\n\
         [[sites]]\nid = \"shop\"\nkeys = [\"shop-key\"]\n\
         allowed_origins = [\"https://shop.example.com\"]\n",
    );
    post(
        &rum,
        "shop-key",
        &[
            ("X-Forwarded-For", LONDON_CLIENT),
            ("User-Agent", CHROME_WINDOWS),
        ],
        &beacon("spoofed-page", "https://shop.example.com/", ""),
    );

    let received = broker.read_topic(&topic, 1);
    let enrichment = received[0].beacon.enrichment.clone().expect("enriched");
    assert_eq!(
        enrichment.country, "",
        "the spoofed address placed the beacon"
    );
    assert_eq!(enrichment.city, "");
    assert_eq!(enrichment.route, "/");
    assert_eq!(enrichment.device_class, "desktop");
    let rendered = rum_schema::render::beacon_to_json(&received[0].beacon);
    assert_eq!(rendered["enrich"].get("country"), None, "{rendered}");
    assert_no_address("the message", &received[0].payload, LONDON_CLIENT);
    assert_eq!(
        rum.metric("rum_enrich_client_ips_total{origin=\"peer_header_ignored\"}"),
        1.0
    );
    assert_eq!(
        rum.metric("rum_geoip_lookups_total{database=\"location\",outcome=\"not_found\"}"),
        1.0
    );
}

#[test]
fn bots_are_dropped_and_counted_unless_the_site_keeps_them() {
    let broker = Broker::start().unwrap();
    let topic = broker::unique_topic("bots");
    broker.create_topic(&topic, 1).unwrap();
    let rum = collector(
        &broker,
        &topic,
        "trusted_proxies = [\"127.0.0.1/32\"]\n\n\
         [[sites]]\nid = \"shop\"\nkeys = [\"shop-key\"]\n\
         allowed_origins = [\"https://shop.example.com\"]\n\n\
         [[sites]]\nid = \"crawled\"\nkeys = [\"crawled-key\"]\n\
         allowed_origins = [\"https://shop.example.com\"]\nkeep_bots = true\n",
    );
    let googlebot = [
        ("X-Forwarded-For", "66.249.66.1"),
        ("User-Agent", GOOGLEBOT),
    ];
    // Answered 202 like any beacon (post() checks), but not forwarded.
    post(
        &rum,
        "shop-key",
        &googlebot,
        &beacon("dropped-bot", "https://shop.example.com/", ""),
    );
    post(
        &rum,
        "crawled-key",
        &googlebot,
        &beacon("kept-bot", "https://shop.example.com/products/7", ""),
    );
    post(
        &rum,
        "shop-key",
        &[("User-Agent", CHROME_WINDOWS)],
        &beacon("human", "https://shop.example.com/", ""),
    );

    let received = broker.read_topic(&topic, 2);
    assert!(
        received
            .iter()
            .all(|tailed| tailed.beacon.page_view_id != "dropped-bot"),
        "the bot's beacon reached the topic"
    );
    let kept = by_pid(&received, "kept-bot");
    assert_eq!(kept.beacon.site, "crawled");
    let enrichment = kept.beacon.enrichment.clone().expect("enriched");
    assert!(enrichment.is_bot);
    assert_eq!(enrichment.device_class, "bot");
    assert_eq!(enrichment.route, "/products/:id");
    let human = by_pid(&received, "human");
    assert!(!human.beacon.enrichment.clone().expect("enriched").is_bot);

    assert_eq!(
        rum.metric("rum_dropped_total{stage=\"enrich\",reason=\"bot\",item=\"beacon\"}"),
        1.0
    );
    assert_eq!(rum.metric("rum_enrich_bots_total{action=\"kept\"}"), 1.0);
    assert_eq!(rum.metric("rum_collector_beacons_accepted_total"), 2.0);
}
