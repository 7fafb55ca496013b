//! The enrichment step per beacon (user agent cache hit and miss), GeoIP lookups alone (the test
//! database and, when present, a real DB-IP Lite file), route scrubbing, and the user agent cache on
//! a realistic mix of user agents (its hit rate is printed, not timed).
//!
//! `cargo bench -p rum-enrich --bench enrich`. The real database is read from `RUM_BENCH_GEOIP_DB`
//! (default `/tmp/dbip-country.mmdb`; get it with `scripts/fetch-geoip-db /tmp/dbip-country.mmdb`).
//! Without it that one measurement is not taken and the bench says so on stderr.
//!
//! No metrics recorder is installed, so counters are no-ops here; in the collector each is one
//! atomic add.

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr};
use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use http::{HeaderMap, HeaderName, HeaderValue};
use rum_enrich::client_ip::{IpPrivacy, TrustedProxies};
use rum_enrich::geoip::{GeoIp, GeoIpPaths};
use rum_enrich::route::{RoutePolicy, RoutePolicyConfig};
use rum_enrich::user_agent::{ClientHints, DeviceSignals, UaClassifier};
use rum_enrich::{EnrichOutcome, EnrichSettings, Enricher, SiteEnrichment};
use rum_schema::proto::{Beacon, Device};

const PROXY: &str = "10.0.0.7";
/// In the GeoIP2 City test database (testdata/geoip/generate.py): GB, England, London.
const LONDON_CLIENT: &str = "81.2.69.142";
const CHROME_WINDOWS: &str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 \
    (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36";
const RECEIVED_AT_MS: i64 = 1_763_760_000_000;
/// Beacons in the user agent mix.
const MIX_BEACONS: usize = 100_000;

fn testdata(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("testdata/geoip")
        .join(name)
}

fn enricher() -> Enricher {
    Enricher::new(&EnrichSettings {
        trusted_proxies: TrustedProxies::parse(["10.0.0.0/8"]).expect("bench proxies"),
        geoip: GeoIpPaths {
            location: Some(testdata("geoip2-city-test.mmdb")),
            asn: Some(testdata("asn-test.mmdb")),
        },
        ..EnrichSettings::default()
    })
    .expect("bench enricher")
}

fn shop_site() -> SiteEnrichment {
    SiteEnrichment {
        keep_bots: false,
        ip_privacy: IpPrivacy::Drop,
        routes: RoutePolicy::new(&RoutePolicyConfig {
            allowed_query_params: vec!["page".into()],
            rules: vec![
                "/products/:slug".into(),
                "/docs/** => /docs".into(),
                "regex:^/u/([a-z]{2})/.* => /u/${1}".into(),
            ],
            ..RoutePolicyConfig::default()
        })
        .expect("bench rules"),
        sample_rate: None,
    }
}

fn headers(user_agent: &str) -> HeaderMap {
    let mut headers = HeaderMap::new();
    let mut put = |name: &'static str, value: &str| {
        headers.insert(
            HeaderName::from_static(name),
            HeaderValue::from_str(value).expect("bench header"),
        );
    };
    put("user-agent", user_agent);
    put("x-forwarded-for", LONDON_CLIENT);
    put(
        "sec-ch-ua",
        r#""Google Chrome";v="131", "Chromium";v="131", "Not_A Brand";v="24""#,
    );
    put("sec-ch-ua-mobile", "?0");
    put("sec-ch-ua-platform", "\"Windows\"");
    headers
}

fn beacon() -> Beacon {
    Beacon {
        version: 1,
        site: "shop".into(),
        session_id: "k3v9x0a1b2c3".into(),
        page_view_id: "p7q8r9s0t1u2".into(),
        url: "https://shop.example.com/orders/12345/items?utm_source=mail&page=2#reviews".into(),
        referrer: "https://www.google.com/search?q=shoes".into(),
        sent_at_ms: RECEIVED_AT_MS - 120,
        received_at_ms: RECEIVED_AT_MS,
        device: Some(Device {
            max_touch_points: Some(0),
            ..Device::default()
        }),
        ..Beacon::default()
    }
}

fn whole_step(criterion: &mut Criterion) {
    let enricher = enricher();
    let site = shop_site();
    let peer: IpAddr = PROXY.parse().expect("bench address");
    let template = beacon();
    let mut group = criterion.benchmark_group("enrich_beacon");
    group.throughput(Throughput::Elements(1));

    let hit_headers = headers(CHROME_WINDOWS);
    group.bench_function("ua_cache_hit", |bencher| {
        bencher.iter_batched(
            || template.clone(),
            |mut beacon| {
                let outcome = enricher.enrich(&mut beacon, &site, peer, &hit_headers);
                assert_eq!(outcome, EnrichOutcome::Forward);
                beacon
            },
            BatchSize::SmallInput,
        );
    });

    // Every iteration a user agent never seen before (a real Chrome shape, a new build number):
    // the uap-core parse and the bot patterns run, and the entry is inserted into the cache.
    let mut build = 0u64;
    group.bench_function("ua_cache_miss", |bencher| {
        bencher.iter_batched(
            || {
                build += 1;
                let user_agent = format!(
                    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 \
                     (KHTML, like Gecko) Chrome/131.0.{build}.0 Safari/537.36"
                );
                (template.clone(), headers(&user_agent))
            },
            |(mut beacon, headers)| {
                let outcome = enricher.enrich(&mut beacon, &site, peer, &headers);
                assert_eq!(outcome, EnrichOutcome::Forward);
                (beacon, headers)
            },
            BatchSize::SmallInput,
        );
    });
    group.finish();
}

/// `count` public-looking IPv4 addresses from a fixed xorshift sequence, so lookups spread over the
/// whole tree as real traffic does.
fn spread_addresses(count: usize) -> Vec<IpAddr> {
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    (0..count)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let bits = (state >> 32) as u32;
            // Keep clear of 0/8, 10/8, 127/8 and multicast and above: they are never clients.
            let first = 1 + (bits >> 24) % 223;
            let first = if first == 10 || first == 127 {
                first + 1
            } else {
                first
            };
            IpAddr::V4(Ipv4Addr::from((first << 24) | (bits & 0x00FF_FFFF)))
        })
        .collect()
}

fn geoip_lookup(criterion: &mut Criterion) {
    let mut group = criterion.benchmark_group("geoip_lookup");
    group.throughput(Throughput::Elements(1));

    let test_db = GeoIp::open(&GeoIpPaths {
        location: Some(testdata("geoip2-city-test.mmdb")),
        asn: None,
    })
    .expect("test database");
    let found: IpAddr = LONDON_CLIENT.parse().expect("bench address");
    let not_found: IpAddr = "198.51.100.7".parse().expect("bench address");
    group.bench_function("test_db_city_found", |bencher| {
        bencher.iter(|| test_db.lookup(black_box(found)));
    });
    group.bench_function("test_db_not_found", |bencher| {
        bencher.iter(|| test_db.lookup(black_box(not_found)));
    });

    let real_path = std::env::var_os("RUM_BENCH_GEOIP_DB")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/tmp/dbip-country.mmdb"));
    if real_path.is_file() {
        let real_db = GeoIp::open(&GeoIpPaths {
            location: Some(real_path.clone()),
            asn: None,
        })
        .unwrap_or_else(|error| panic!("{}: {error}", real_path.display()));
        let addresses = spread_addresses(4096);
        let found = addresses
            .iter()
            .filter(|address| real_db.lookup(**address).country.is_some())
            .count();
        eprintln!(
            "geoip_lookup/dbip_country_spread: {} of {} spread addresses have a country in {}",
            found,
            addresses.len(),
            real_path.display()
        );
        let mut next = addresses.iter().cycle();
        group.bench_function("dbip_country_spread", |bencher| {
            bencher.iter(|| real_db.lookup(black_box(*next.next().expect("cycle never ends"))));
        });
    } else {
        eprintln!(
            "geoip_lookup/dbip_country_spread: not measured, {} is missing; \
             get it with `scripts/fetch-geoip-db {}` or point RUM_BENCH_GEOIP_DB at a database",
            real_path.display(),
            real_path.display()
        );
    }
    group.finish();
}

fn route_scrub(criterion: &mut Criterion) {
    let site = shop_site();
    let mut group = criterion.benchmark_group("route_scrub");
    group.throughput(Throughput::Elements(1));
    let cases = [
        ("root", "https://shop.example.com/"),
        (
            "rule_match",
            "https://shop.example.com/products/blue-suede-shoes?utm_source=x",
        ),
        (
            "heuristic_ids",
            "https://shop.example.com/orders/12345/items/3f2b9c1e-8d4a-4f6b-9a2e-7c5d1b0e4a93?page=2&token=abc#top",
        ),
        (
            "heuristic_long",
            "https://shop.example.com/a/b/c/d/e/f/g/h/i/j/k/0123456789abcdef0123456789abcdef/someone%40example.com",
        ),
    ];
    for (name, url) in cases {
        group.bench_function(name, |bencher| {
            bencher.iter(|| site.routes.scrub(black_box(url)));
        });
    }
    group.finish();
}

/// 200 distinct real-world user agent strings, most popular first: current and recent Chrome,
/// Edge, Firefox and Safari on every platform, Samsung Internet, Chrome on iOS, in-app webviews and
/// a few crawlers, in the forms those browsers really send (reduced Chrome UAs included).
fn realistic_user_agents() -> Vec<String> {
    let mut families: Vec<Vec<String>> = Vec::new();
    families.push(
        (109..=131)
            .rev()
            .map(|v| {
                format!(
                    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/{v}.0.0.0 Safari/537.36"
                )
            })
            .collect(),
    );
    families.push(
        (110..=131)
            .rev()
            .map(|v| {
                format!(
                    "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/{v}.0.0.0 Mobile Safari/537.36"
                )
            })
            .collect(),
    );
    let ios_versions = [
        (18, 3),
        (18, 2),
        (18, 1),
        (18, 0),
        (17, 7),
        (17, 6),
        (17, 5),
        (17, 4),
        (17, 3),
        (17, 2),
        (17, 1),
        (17, 0),
        (16, 7),
        (16, 6),
        (16, 5),
        (16, 4),
        (16, 3),
        (16, 2),
        (16, 1),
        (16, 0),
    ];
    families.push(
        ios_versions
            .iter()
            .map(|(major, minor)| {
                format!(
                    "Mozilla/5.0 (iPhone; CPU iPhone OS {major}_{minor} like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/{major}.{minor} Mobile/15E148 Safari/604.1"
                )
            })
            .collect(),
    );
    families.push(
        (115..=131)
            .rev()
            .map(|v| {
                format!(
                    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/{v}.0.0.0 Safari/537.36"
                )
            })
            .collect(),
    );
    families.push(
        (115..=131)
            .rev()
            .map(|v| {
                format!(
                    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/{v}.0.0.0 Safari/537.36 Edg/{v}.0.0.0"
                )
            })
            .collect(),
    );
    families.push(
        ios_versions[..15]
            .iter()
            .map(|(major, minor)| {
                format!(
                    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/{major}.{minor} Safari/605.1.15"
                )
            })
            .collect(),
    );
    families.push(
        (115..=133)
            .rev()
            .map(|v| {
                format!(
                    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:{v}.0) Gecko/20100101 Firefox/{v}.0"
                )
            })
            .collect(),
    );
    families.push(
        (118..=131)
            .rev()
            .map(|v| {
                format!(
                    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/{v}.0.0.0 Safari/537.36"
                )
            })
            .collect(),
    );
    let samsung_models = ["SM-S918B", "SM-A546B"];
    families.push(
        (20..=26)
            .rev()
            .flat_map(|v| {
                samsung_models.iter().map(move |model| {
                    format!(
                        "Mozilla/5.0 (Linux; Android 14; {model}) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/{v}.0 Chrome/{}.0.0.0 Mobile Safari/537.36",
                        v + 101
                    )
                })
            })
            .collect(),
    );
    families.push(
        (120..=133)
            .rev()
            .map(|v| {
                format!(
                    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10.15; rv:{v}.0) Gecko/20100101 Firefox/{v}.0"
                )
            })
            .collect(),
    );
    families.push(
        (120..=131)
            .rev()
            .map(|v| {
                format!(
                    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) CriOS/{v}.0.6778.73 Mobile/15E148 Safari/604.1"
                )
            })
            .collect(),
    );
    families.push(
        (470..=479)
            .rev()
            .map(|v| {
                format!(
                    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148 [FBAN/FBIOS;FBAV/{v}.0.0.36.112;FBBV/612345678;FBDV/iPhone15,2;FBMD/iPhone;FBSN/iOS;FBSV/17.5;FBSS/3;FBCR/;FBID/phone;FBLC/en_US;FBOP/5]"
                )
            })
            .collect(),
    );
    families.push(vec![
        "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)".into(),
        "Mozilla/5.0 (Linux; Android 6.0.1; Nexus 5X Build/MMB29P) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.6778.69 Mobile Safari/537.36 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)".into(),
        "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)".into(),
        "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko); compatible; GPTBot/1.2; +https://openai.com/gptbot".into(),
        "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/131.0.0.0 Safari/537.36".into(),
    ]);
    // Interleave the families by rank, so each family's newest versions are the most popular.
    let mut ranked = Vec::new();
    let deepest = families.iter().map(Vec::len).max().unwrap_or(0);
    for depth in 0..deepest {
        for family in &families {
            if let Some(user_agent) = family.get(depth) {
                ranked.push(user_agent.clone());
            }
        }
    }
    ranked.dedup();
    ranked.truncate(200);
    assert_eq!(ranked.len(), 200, "the mix needs 200 distinct user agents");
    ranked
}

/// A deterministic xorshift sample of `count` ranks with Zipf(s = 1) frequencies over `ranks`.
fn zipf_sample(ranks: usize, count: usize) -> Vec<usize> {
    let weights: Vec<f64> = (1..=ranks).map(|rank| 1.0 / rank as f64).collect();
    let total: f64 = weights.iter().sum();
    let mut cumulative = Vec::with_capacity(ranks);
    let mut running = 0.0;
    for weight in weights {
        running += weight / total;
        cumulative.push(running);
    }
    let mut state = 0x2545_F491_4F6C_DD1Du64;
    (0..count)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let uniform = (state >> 11) as f64 / (1u64 << 53) as f64;
            cumulative
                .partition_point(|bound| *bound < uniform)
                .min(ranks - 1)
        })
        .collect()
}

/// The mix: 100,000 beacons whose user agents follow Zipf over the 200 strings, and optionally a
/// share of one-off user agents (in-app webviews stamp build numbers, so a real site sees a long
/// tail that never repeats).
fn user_agent_mix(one_off_per_mille: usize) -> Vec<String> {
    let user_agents = realistic_user_agents();
    zipf_sample(user_agents.len(), MIX_BEACONS)
        .into_iter()
        .enumerate()
        .map(|(beacon, rank)| {
            if beacon % 1000 < one_off_per_mille {
                format!(
                    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148 Instagram 350.0.0.{beacon}.84 (iPhone15,2; iOS 17_5; en_US; en; scale=3.00; 1179x2556; 612345678)"
                )
            } else {
                user_agents[rank].clone()
            }
        })
        .collect()
}

fn ua_cache_on_a_realistic_mix(criterion: &mut Criterion) {
    let mix = user_agent_mix(0);
    let with_tail = user_agent_mix(50);
    for (name, beacons) in [
        ("zipf_200", &mix),
        ("zipf_200_plus_5pct_one_off", &with_tail),
    ] {
        for capacity in [16_384, 256, 64] {
            let classifier =
                UaClassifier::new(NonZeroUsize::new(capacity).expect("non-zero capacity"))
                    .expect("bench classifier");
            for user_agent in beacons {
                black_box(classifier.classify(user_agent, &ClientHints::NONE, DeviceSignals::NONE));
            }
            let stats = classifier.cache_stats();
            eprintln!(
                "ua_cache/{name}: capacity {capacity}: {} hits, {} misses over {} beacons: hit rate {:.2}%",
                stats.hits,
                stats.misses,
                beacons.len(),
                100.0 * stats.hits as f64 / (stats.hits + stats.misses) as f64
            );
        }
    }

    // Classification cost per beacon over the mix, with a warm default-sized cache.
    let classifier = UaClassifier::new(rum_enrich::user_agent::DEFAULT_UA_CACHE_CAPACITY)
        .expect("bench classifier");
    let mut group = criterion.benchmark_group("ua_classify_mix");
    group.throughput(Throughput::Elements(MIX_BEACONS as u64));
    group.sample_size(10);
    group.bench_function("zipf_200_warm_cache", |bencher| {
        bencher.iter(|| {
            for user_agent in &mix {
                black_box(classifier.classify(user_agent, &ClientHints::NONE, DeviceSignals::NONE));
            }
        });
    });
    group.finish();
}

criterion_group!(
    benches,
    whole_step,
    geoip_lookup,
    route_scrub,
    ua_cache_on_a_realistic_mix
);
criterion_main!(benches);
