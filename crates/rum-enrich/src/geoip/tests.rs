//! Known answers come from the databases `testdata/geoip/generate.py` writes; see its data.

use std::fs;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use super::*;
use crate::test_metrics::TestMetrics;

/// Build epoch the generator stamps into every test database (2026-01-01T00:00:00Z).
const TEST_BUILD_EPOCH: u64 = 1_767_225_600;

fn testdata(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("testdata/geoip")
        .join(name)
}

fn address(text: &str) -> IpAddr {
    text.parse().expect("test addresses are valid")
}

fn paths(location: Option<&str>, asn: Option<&str>) -> GeoIpPaths {
    GeoIpPaths {
        location: location.map(testdata),
        asn: asn.map(testdata),
    }
}

impl TestMetrics {
    fn lookups(&self, database: &str, outcome: &str) -> u64 {
        self.counter(LOOKUPS, &[("database", database), ("outcome", outcome)])
    }

    fn reloads(&self, database: &str, outcome: &str) -> u64 {
        self.counter(RELOADS, &[("database", database), ("outcome", outcome)])
    }
}

/// Opens the databases with metric handles bound to a fresh recorder.
fn open_recorded(paths: &GeoIpPaths) -> (GeoIp, Arc<TestMetrics>) {
    let recorder = Arc::new(TestMetrics::default());
    let geoip = recorder
        .record(|| GeoIp::open(paths))
        .expect("test databases load");
    (geoip, recorder)
}

fn open(paths: &GeoIpPaths) -> GeoIp {
    open_recorded(paths).0
}

fn info(country: &str, region: &str, city: &str, asn: u32) -> GeoInfo {
    GeoInfo {
        country: CountryCode::parse(country),
        region: region.to_owned(),
        city: city.to_owned(),
        asn,
    }
}

/// A directory under the system temp dir, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> Self {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let unique = NEXT.fetch_add(1, Ordering::Relaxed);
        let path =
            std::env::temp_dir().join(format!("rum-geoip-{name}-{}-{unique}", std::process::id()));
        fs::create_dir_all(&path).expect("create temp dir");
        Self(path)
    }

    /// Replaces `name` the way operators must: write a sibling, then rename over.
    fn replace_atomically(&self, name: &str, bytes: &[u8]) -> PathBuf {
        let target = self.0.join(name);
        let staging = self.0.join(format!(".{name}.tmp"));
        fs::write(&staging, bytes).expect("write staging file");
        fs::rename(&staging, &target).expect("rename over target");
        target
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

fn read_testdata(name: &str) -> Vec<u8> {
    fs::read(testdata(name)).expect("read test database")
}

#[test]
fn country_codes_are_two_ascii_letters_uppercased() {
    let cases = [
        ("GB", Some("GB")),
        ("gb", Some("GB")),
        ("Nl", Some("NL")),
        ("GBR", None),
        ("G", None),
        ("", None),
        ("1A", None),
        ("G\n", None),
        (" GB", None),
        ("ÜK", None),
        ("Ü", None),
        ("--", None),
    ];
    for (input, expected) in cases {
        let parsed = CountryCode::parse(input);
        assert_eq!(
            parsed.as_ref().map(CountryCode::as_str),
            expected,
            "input {input:?}"
        );
    }
    let unknown = GeoInfo::default();
    assert_eq!(unknown.country_or_unknown(), "unknown");
    assert_eq!(info("fr", "", "", 0).country_or_unknown(), "FR");
}

#[test]
fn geoip2_city_layout_ipv4() {
    let geoip = open(&paths(Some("geoip2-city-test.mmdb"), None));
    let cases = [
        ("81.2.69.142", info("GB", "England", "London", 0)),
        // Subdivision without names: its ISO code; non-ASCII city names are kept.
        ("89.160.20.5", info("SE", "E", "Linköping", 0)),
        // No `country`: falls back to `registered_country`.
        ("202.196.224.1", info("PH", "", "", 0)),
        // Dual-stack sockets report IPv4 peers as IPv4-mapped IPv6.
        ("::ffff:81.2.69.142", info("GB", "England", "London", 0)),
    ];
    for (ip, expected) in cases {
        assert_eq!(geoip.lookup(address(ip)), expected, "{ip}");
    }
}

#[test]
fn geoip2_city_layout_ipv6() {
    let geoip = open(&paths(Some("geoip2-city-test.mmdb"), None));
    assert_eq!(
        geoip.lookup(address("2001:218:1::1")),
        info("JP", "Tokyo", "Minato", 0)
    );
    // Country only.
    assert_eq!(geoip.lookup(address("2a02:d3c0::7")), info("BT", "", "", 0));
}

#[test]
fn dbip_country_layout_ipv4_and_ipv6() {
    let geoip = open(&paths(Some("dbip-country-test.mmdb"), None));
    let cases = [
        ("1.0.0.1", "AU"),
        ("81.2.69.142", "GB"),
        ("2a00:1450:4001::1", "PL"),
        ("2400:cb00::1", "US"),
    ];
    for (ip, country) in cases {
        assert_eq!(geoip.lookup(address(ip)), info(country, "", "", 0), "{ip}");
    }
}

#[test]
fn dbip_city_layout_ipv4_and_ipv6() {
    let geoip = open(&paths(Some("dbip-city-test.mmdb"), None));
    assert_eq!(
        geoip.lookup(address("81.2.69.142")),
        info("GB", "England", "London", 0)
    );
    assert_eq!(
        geoip.lookup(address("2a00:1450:4001::1")),
        info("PL", "Mazovia", "Warsaw", 0)
    );
    // DB-IP's "" for unknown state and city.
    assert_eq!(geoip.lookup(address("1.0.0.1")), info("AU", "", "", 0));
}

#[test]
fn asn_database_ipv4_and_ipv6_beside_a_location_database() {
    let (geoip, recorder) =
        open_recorded(&paths(Some("geoip2-city-test.mmdb"), Some("asn-test.mmdb")));
    assert_eq!(geoip.lookup(address("1.1.1.1")).asn, 13335);
    assert_eq!(geoip.lookup(address("2606:4700::1111")).asn, 13335);
    assert_eq!(geoip.lookup(address("8.8.8.8")).asn, 15169);
    assert_eq!(geoip.lookup(address("2001:4860:4860::8888")).asn, 15169);
    // Both databases answer for the same address independently.
    assert_eq!(
        geoip.lookup(address("81.2.69.142")),
        info("GB", "England", "London", 0)
    );
    assert_eq!(recorder.lookups("asn", "found"), 4);
    assert_eq!(recorder.lookups("asn", "not_found"), 1);
    assert_eq!(recorder.lookups("location", "found"), 1);
    assert_eq!(recorder.lookups("location", "not_found"), 4);
}

#[test]
fn addresses_not_in_the_database_are_unknown() {
    let (geoip, recorder) =
        open_recorded(&paths(Some("geoip2-city-test.mmdb"), Some("asn-test.mmdb")));
    for ip in ["9.9.9.9", "127.0.0.1", "2001:db8::1", "::1"] {
        assert_eq!(geoip.lookup(address(ip)), GeoInfo::default(), "{ip}");
    }
    assert_eq!(recorder.lookups("location", "not_found"), 4);
    assert_eq!(recorder.lookups("asn", "not_found"), 4);
    assert_eq!(recorder.lookups("location", "found"), 0);
}

#[test]
fn ipv6_in_an_ipv4_only_database_is_not_found() {
    let (geoip, recorder) = open_recorded(&paths(Some("dbip-country-ipv4-test.mmdb"), None));
    assert_eq!(geoip.lookup(address("1.0.0.1")), info("AU", "", "", 0));
    assert_eq!(
        geoip.lookup(address("2a00:1450:4001::1")),
        GeoInfo::default()
    );
    assert_eq!(recorder.lookups("location", "not_found"), 1);
    assert_eq!(recorder.lookups("location", "invalid"), 0);
}

#[test]
fn no_database_answers_unknown_and_warns_at_start_up() {
    let recorder = TestMetrics::default();
    let (disabled, opened_without_paths) =
        recorder.record(|| (GeoIp::disabled(), GeoIp::open(&GeoIpPaths::default())));
    let opened_without_paths = opened_without_paths.expect("no paths is not an error");
    for geoip in [&disabled, &opened_without_paths] {
        assert_eq!(geoip.lookup(address("81.2.69.142")), GeoInfo::default());
        assert_eq!(geoip.lookup(address("2001:218::1")), GeoInfo::default());
        assert!(
            geoip.log_startup_status(),
            "the missing database is warned about"
        );
        let report = geoip.reload_if_changed();
        assert_eq!(report.location, ReloadStatus::NotConfigured);
        assert_eq!(report.asn, ReloadStatus::NotConfigured);
    }
    assert_eq!(recorder.lookups("location", "no_database"), 4);
    assert_eq!(recorder.lookups("asn", "no_database"), 4);
    assert_eq!(
        recorder.gauge(DATABASE_AGE, &[("database", "location")]),
        None
    );

    let configured = open(&paths(Some("dbip-country-test.mmdb"), None));
    assert!(!configured.log_startup_status());
}

#[test]
fn invalid_values_never_become_answers() {
    let invalid = "invalid-values-test.mmdb";
    let (geoip, recorder) = open_recorded(&paths(Some(invalid), Some(invalid)));
    // (address, location outcome, expected answer)
    let cases = [
        ("10.1.0.1", "invalid", GeoInfo::default()),
        ("10.2.0.1", "invalid", GeoInfo::default()),
        ("10.3.0.1", "not_found", GeoInfo::default()),
        ("10.4.0.1", "invalid", GeoInfo::default()),
        ("10.5.0.1", "invalid", GeoInfo::default()),
        ("10.6.0.1", "invalid", GeoInfo::default()),
        ("10.7.0.1", "found", info("GB", "", "", 0)),
        ("10.8.0.1", "invalid", GeoInfo::default()),
        ("10.9.0.1", "invalid", GeoInfo::default()),
        // Control character in the region, oversized city: both dropped, country kept.
        ("10.10.0.1", "found", info("FR", "", "", 0)),
        // `country` must be a map: the record does not decode.
        ("10.11.0.1", "invalid", GeoInfo::default()),
        ("2001:db8:1::1", "invalid", GeoInfo::default()),
        ("2001:db8:2::1", "found", info("NL", "", "", 0)),
    ];
    for (ip, outcome, expected) in cases {
        let before = recorder.lookups("location", outcome);
        assert_eq!(geoip.lookup(address(ip)), expected, "{ip}");
        assert_eq!(
            recorder.lookups("location", outcome),
            before + 1,
            "{ip} counted as {outcome}"
        );
    }

    let asn_cases = [
        ("10.20.0.1", "invalid", 0),   // AS0
        ("10.21.0.1", "found", 64500), // "AS64500"
        ("10.22.0.1", "invalid", 0),   // negative
        ("10.23.0.1", "invalid", 0),   // beyond u32
        ("10.24.0.1", "invalid", 0),   // not a number
        ("10.25.0.1", "found", 64501),
        ("10.7.0.1", "not_found", 0), // a record without the field
    ];
    for (ip, outcome, expected) in asn_cases {
        let before = recorder.lookups("asn", outcome);
        assert_eq!(geoip.lookup(address(ip)).asn, expected, "{ip}");
        assert_eq!(
            recorder.lookups("asn", outcome),
            before + 1,
            "{ip} counted as {outcome}"
        );
    }
}

#[test]
fn metrics_have_bounded_labels_and_the_database_age() {
    let (geoip, recorder) =
        open_recorded(&paths(Some("geoip2-city-test.mmdb"), Some("asn-test.mmdb")));
    for ip in ["81.2.69.142", "2001:218::1", "1.1.1.1", "9.9.9.9"] {
        geoip.lookup(address(ip));
    }
    let age = recorder
        .gauge(DATABASE_AGE, &[("database", "location")])
        .expect("age gauge set at load");
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs_f64();
    let expected = now - TEST_BUILD_EPOCH as f64;
    assert!(
        (age - expected).abs() < 60.0,
        "age {age}, expected about {expected}"
    );
    assert!(
        recorder
            .gauge(DATABASE_AGE, &[("database", "asn")])
            .is_some()
    );

    let allowed_outcomes = [
        "found",
        "not_found",
        "invalid",
        "no_database",
        "ok",
        "failed",
    ];
    for id in recorder.keys() {
        assert!(
            !id.contains("81.2") && !id.contains("2001:") && !id.contains("9.9"),
            "{id}"
        );
        let labels = id
            .split_once('{')
            .map(|(_, labels)| labels.trim_end_matches('}'))
            .unwrap_or_default();
        for label in labels.split(',').filter(|label| !label.is_empty()) {
            let allowed = match label.split_once('=') {
                Some(("database", value)) => ["location", "asn"].contains(&value),
                Some(("outcome", value)) => allowed_outcomes.contains(&value),
                _ => false,
            };
            assert!(allowed, "unexpected label {label} in {id}");
        }
    }
}

#[test]
fn unusable_files_are_refused_at_start_up() {
    let temp = TempDir::new("startup");
    let missing = temp.0.join("missing.mmdb");
    let garbage = temp.replace_atomically("garbage.mmdb", b"this is not a maxmind database");
    let city = read_testdata("geoip2-city-test.mmdb");
    let truncated = temp.replace_atomically("truncated.mmdb", &city[..city.len() / 2]);
    let empty = temp.replace_atomically("empty.mmdb", b"");
    // Sparse: refused on its size before a byte is read.
    let huge = temp.0.join("huge.mmdb");
    File::create(&huge)
        .and_then(|file| file.set_len(MAX_DATABASE_BYTES + 1))
        .expect("create sparse file");

    let open_location = |path: &Path| {
        GeoIp::open(&GeoIpPaths {
            location: Some(path.to_owned()),
            asn: None,
        })
    };
    assert!(matches!(
        open_location(&missing),
        Err(GeoIpError::Read { .. })
    ));
    assert!(matches!(
        open_location(&temp.0),
        Err(GeoIpError::NotAFile { .. })
    ));
    assert!(matches!(
        open_location(&garbage),
        Err(GeoIpError::Invalid { .. })
    ));
    assert!(matches!(
        open_location(&truncated),
        Err(GeoIpError::Invalid { .. })
    ));
    assert!(matches!(
        open_location(&empty),
        Err(GeoIpError::Invalid { .. })
    ));
    assert!(matches!(
        open_location(&huge),
        Err(GeoIpError::TooLarge { .. })
    ));

    // Valid files in the wrong role.
    let asn_as_location = open_location(&testdata("asn-test.mmdb"));
    let Err(error) = asn_as_location else {
        panic!("an ASN database is not a location database");
    };
    assert!(matches!(
        error,
        GeoIpError::WrongLayout {
            field: "country",
            ..
        }
    ));
    let message = error.to_string();
    assert!(
        message.starts_with("the location geoip database "),
        "{message}"
    );
    assert!(message.contains("no usable `country`"), "{message}");
    let location_as_asn = GeoIp::open(&paths(None, Some("dbip-country-test.mmdb")));
    assert!(matches!(
        location_as_asn,
        Err(GeoIpError::WrongLayout {
            database: DatabaseKind::Asn,
            ..
        })
    ));
}

#[test]
fn reload_swaps_a_replaced_file_and_keeps_serving_through_a_broken_one() {
    let temp = TempDir::new("reload");
    let path = temp.replace_atomically("location.mmdb", &read_testdata("geoip2-city-test.mmdb"));
    let (geoip, recorder) = open_recorded(&GeoIpPaths {
        location: Some(path),
        asn: None,
    });
    let london = address("81.2.69.142");
    let australia = address("1.0.0.1");
    assert_eq!(geoip.lookup(london), info("GB", "England", "London", 0));
    assert_eq!(geoip.lookup(australia), GeoInfo::default());
    assert_eq!(geoip.reload_if_changed().location, ReloadStatus::Unchanged);

    temp.replace_atomically("location.mmdb", &read_testdata("dbip-country-test.mmdb"));
    let report = geoip.reload_if_changed();
    assert_eq!(report.location, ReloadStatus::Reloaded);
    assert_eq!(report.asn, ReloadStatus::NotConfigured);
    assert_eq!(geoip.lookup(london), info("GB", "", "", 0));
    assert_eq!(geoip.lookup(australia), info("AU", "", "", 0));
    assert_eq!(recorder.reloads("location", "ok"), 1);
    assert_eq!(geoip.reload_if_changed().location, ReloadStatus::Unchanged);

    temp.replace_atomically("location.mmdb", b"\x00garbage, not an mmdb file");
    assert_eq!(geoip.reload_if_changed().location, ReloadStatus::Failed);
    assert_eq!(
        geoip.lookup(australia),
        info("AU", "", "", 0),
        "old database kept"
    );
    assert_eq!(recorder.reloads("location", "failed"), 1);
    // The broken file is reported once, not at every check.
    assert_eq!(geoip.reload_if_changed().location, ReloadStatus::Unchanged);
    assert_eq!(recorder.reloads("location", "failed"), 1);

    // A valid file in the wrong role is refused the same way.
    temp.replace_atomically("location.mmdb", &read_testdata("asn-test.mmdb"));
    assert_eq!(geoip.reload_if_changed().location, ReloadStatus::Failed);
    assert_eq!(geoip.lookup(australia), info("AU", "", "", 0));
    assert_eq!(recorder.reloads("location", "failed"), 2);

    // A good file after a bad one is picked up.
    temp.replace_atomically("location.mmdb", &read_testdata("dbip-city-test.mmdb"));
    assert_eq!(geoip.reload_if_changed().location, ReloadStatus::Reloaded);
    assert_eq!(geoip.lookup(london), info("GB", "England", "London", 0));
    assert_eq!(recorder.reloads("location", "ok"), 2);
}

#[test]
fn reload_keeps_the_database_when_the_file_disappears() {
    let temp = TempDir::new("vanish");
    let path = temp.replace_atomically("asn.mmdb", &read_testdata("asn-test.mmdb"));
    let (geoip, recorder) = open_recorded(&GeoIpPaths {
        location: None,
        asn: Some(path.clone()),
    });
    fs::remove_file(&path).expect("remove database file");
    assert_eq!(geoip.reload_if_changed().asn, ReloadStatus::Failed);
    assert_eq!(geoip.reload_if_changed().asn, ReloadStatus::Unchanged);
    assert_eq!(recorder.reloads("asn", "failed"), 1);
    assert_eq!(geoip.lookup(address("1.1.1.1")).asn, 13335);

    temp.replace_atomically("asn.mmdb", &read_testdata("asn-test.mmdb"));
    assert_eq!(geoip.reload_if_changed().asn, ReloadStatus::Reloaded);
    assert_eq!(geoip.lookup(address("8.8.8.8")).asn, 15169);
}

#[test]
fn reloader_thread_picks_up_a_replaced_file_and_stops_when_dropped() {
    let temp = TempDir::new("thread");
    let path = temp.replace_atomically("location.mmdb", &read_testdata("geoip2-city-test.mmdb"));
    let geoip = Arc::new(open(&GeoIpPaths {
        location: Some(path),
        asn: None,
    }));
    let reloader = GeoIpReloader::spawn(&geoip, Duration::ZERO).expect("spawn reloader");
    let australia = address("1.0.0.1");
    assert_eq!(geoip.lookup(australia), GeoInfo::default());

    temp.replace_atomically("location.mmdb", &read_testdata("dbip-country-test.mmdb"));
    // Polls for the outcome rather than sleeping a fixed time; the interval is 100 ms.
    let deadline = Instant::now() + Duration::from_secs(20);
    while geoip.lookup(australia).country.is_none() {
        assert!(
            Instant::now() < deadline,
            "reloader did not pick up the new file"
        );
        std::thread::sleep(MIN_RELOAD_INTERVAL / 4);
    }
    assert_eq!(geoip.lookup(australia), info("AU", "", "", 0));

    let stopping = Instant::now();
    drop(reloader);
    assert!(
        stopping.elapsed() < Duration::from_secs(5),
        "drop stops the thread promptly"
    );

    let nothing = Arc::new(GeoIp::disabled());
    let idle = GeoIpReloader::spawn(&nothing, DEFAULT_RELOAD_INTERVAL).expect("no-op reloader");
    assert!(idle.thread.is_none(), "no thread without a database");
}
