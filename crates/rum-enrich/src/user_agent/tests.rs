use std::sync::LazyLock;

use super::cache::CACHE_LOOKUPS;
use super::*;

/// Compiled once per test binary: building the rules is the slow part.
static RULES: LazyLock<Arc<UaRules>> =
    LazyLock::new(|| Arc::new(UaRules::bundled().expect("bundled rules compile")));

const CORPUS: &str = include_str!("../../testdata/user_agents.tsv");

const CHROME_WINDOWS: &str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36";
const CHROME_MACOS: &str = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36";
const CHROME_LINUX: &str = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36";
const CHROME_ANDROID_REDUCED: &str = "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36";
const CHROME_ANDROID_TABLET_REDUCED: &str = "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36";
const SAFARI_MACOS: &str = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15";
const FACEBOOK_ANDROID: &str = "Mozilla/5.0 (Linux; Android 14; SM-S911B Build/UP1A.231005.007; wv) AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/131.0.6778.39 Mobile Safari/537.36 [FB_IAB/FB4A;FBAV/490.0.0.52.81;]";
pub(super) const CHROME_BRANDS: &str =
    r#""Google Chrome";v="131", "Chromium";v="131", "Not_A Brand";v="24""#;

fn classifier(capacity: usize) -> UaClassifier {
    UaClassifier::with_rules(
        Arc::clone(&RULES),
        NonZeroUsize::new(capacity).expect("test capacity is positive"),
    )
}

/// A result in the corpus's column format: browser, major, OS, OS version, device class.
fn columns(info: &UaInfo) -> String {
    let version = |version: &Option<Arc<str>>| version.as_deref().unwrap_or("-").to_owned();
    format!(
        "{}\t{}\t{}\t{}\t{}",
        info.browser,
        version(&info.browser_major),
        info.os,
        version(&info.os_version),
        info.device_class.as_str()
    )
}

fn assert_bounded(info: &UaInfo) {
    let family_ok = |family: &str| {
        !family.is_empty()
            && family.chars().count() <= MAX_FAMILY_CHARS
            && family
                .chars()
                .all(|c| c.is_alphanumeric() || " ._/()-!^:[]".contains(c))
    };
    let version_ok = |version: &Option<Arc<str>>| {
        version.as_deref().is_none_or(|version| {
            !version.is_empty()
                && version.chars().count() <= MAX_VERSION_CHARS
                && version
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
        })
    };
    assert!(family_ok(&info.browser), "browser {:?}", info.browser);
    assert!(family_ok(&info.os), "os {:?}", info.os);
    assert!(
        version_ok(&info.browser_major),
        "browser_major {:?}",
        info.browser_major
    );
    assert!(
        version_ok(&info.os_version),
        "os_version {:?}",
        info.os_version
    );
    assert_eq!(info.is_bot, info.device_class == DeviceClass::Bot);
}

#[test]
fn corpus_classifies_as_expected() {
    let classifier = classifier(1024);
    let mut cases = 0;
    let mut failures = Vec::new();
    for line in CORPUS
        .lines()
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
    {
        let fields: Vec<&str> = line.split('\t').collect();
        let [
            case,
            touch,
            browser,
            major,
            os,
            os_version,
            device,
            user_agent,
        ] = fields[..]
        else {
            panic!("corpus line has {} columns, want 8: {line}", fields.len());
        };
        let touch_points = (touch != "-").then(|| touch.parse().expect("touch is a number"));
        let info = classifier.classify(user_agent, &ClientHints::NONE, touch_points);
        assert_bounded(&info);
        let expected = [browser, major, os, os_version, device].join("\t");
        let actual = columns(&info);
        if actual != expected {
            failures.push(format!(
                "{case}\n  expected {expected}\n  actual   {actual}"
            ));
        }
        cases += 1;
    }
    assert!(cases >= 45, "corpus shrank to {cases} cases");
    assert!(
        failures.is_empty(),
        "{} corpus cases differ:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn reduced_chrome_ua_takes_platform_and_mobile_from_hints() {
    let classifier = classifier(64);
    // (case, UA, Sec-CH-UA, -Mobile, -Platform, -Platform-Version, expected columns)
    let cases = [
        (
            "windows hints agree with the reduced UA",
            CHROME_WINDOWS,
            Some(CHROME_BRANDS),
            Some("?0"),
            Some(r#""Windows""#),
            None,
            "Chrome\t131\tWindows\t10\tdesktop",
        ),
        (
            "platform version tells Windows 11",
            CHROME_WINDOWS,
            Some(CHROME_BRANDS),
            Some("?0"),
            Some(r#""Windows""#),
            Some(r#""15.0.0""#),
            "Chrome\t131\tWindows\t11\tdesktop",
        ),
        (
            "platform version of Windows 10",
            CHROME_WINDOWS,
            Some(CHROME_BRANDS),
            Some("?0"),
            Some(r#""Windows""#),
            Some(r#""10.0.0""#),
            "Chrome\t131\tWindows\t10\tdesktop",
        ),
        (
            "platform version gives the real macOS",
            CHROME_MACOS,
            Some(CHROME_BRANDS),
            Some("?0"),
            Some(r#""macOS""#),
            Some(r#""14.5.0""#),
            "Chrome\t131\tMac OS X\t14.5\tdesktop",
        ),
        (
            "reduced Android UA: the version stays unknown without the high-entropy hint",
            CHROME_ANDROID_REDUCED,
            Some(CHROME_BRANDS),
            Some("?1"),
            Some(r#""Android""#),
            None,
            "Chrome Mobile\t131\tAndroid\t-\tmobile",
        ),
        (
            "reduced Android UA with the platform version",
            CHROME_ANDROID_REDUCED,
            Some(CHROME_BRANDS),
            Some("?1"),
            Some(r#""Android""#),
            Some(r#""14.0.0""#),
            "Chrome Mobile\t131\tAndroid\t14\tmobile",
        ),
        (
            "Android tablet says ?0",
            CHROME_ANDROID_TABLET_REDUCED,
            Some(CHROME_BRANDS),
            Some("?0"),
            Some(r#""Android""#),
            None,
            "Chrome\t131\tAndroid\t-\ttablet",
        ),
        (
            "hints win over a UA that disagrees",
            CHROME_LINUX,
            Some(CHROME_BRANDS),
            Some("?1"),
            Some(r#""Android""#),
            None,
            "Chrome Mobile\t131\tAndroid\t-\tmobile",
        ),
        (
            "mobile hint alone",
            CHROME_LINUX,
            None,
            Some("?1"),
            None,
            None,
            "Chrome\t131\tLinux\t-\tmobile",
        ),
        (
            "Brave is only visible in the brands",
            CHROME_WINDOWS,
            Some(r#""Brave";v="131", "Chromium";v="131", "Not_A Brand";v="24""#),
            Some("?0"),
            Some(r#""Windows""#),
            None,
            "Brave\t131\tWindows\t10\tdesktop",
        ),
        (
            "Edge brand on a UA without Edg/ (a UA override)",
            CHROME_WINDOWS,
            Some(r#""Microsoft Edge";v="130", "Not?A_Brand";v="99", "Chromium";v="130""#),
            Some("?0"),
            Some(r#""Windows""#),
            None,
            "Edge\t130\tWindows\t10\tdesktop",
        ),
        (
            "Edge on Android",
            CHROME_ANDROID_REDUCED,
            Some(r#""Microsoft Edge";v="131", "Chromium";v="131", "Not_A Brand";v="24""#),
            Some("?1"),
            Some(r#""Android""#),
            None,
            "Edge Mobile\t131\tAndroid\t-\tmobile",
        ),
        (
            "Chromium beside an unknown brand keeps the UA's family",
            CHROME_WINDOWS,
            Some(r#""Whale";v="3", "Chromium";v="131", "Not_A Brand";v="24""#),
            None,
            None,
            None,
            "Chrome\t131\tWindows\t10\tdesktop",
        ),
        (
            "plain Chromium",
            CHROME_LINUX,
            Some(r#""Chromium";v="131", "Not_A Brand";v="24""#),
            Some("?0"),
            Some(r#""Linux""#),
            None,
            "Chromium\t131\tLinux\t-\tdesktop",
        ),
        (
            "an in-app family from the UA beats the WebView brand",
            FACEBOOK_ANDROID,
            Some(r#""Android WebView";v="131", "Chromium";v="131", "Not_A Brand";v="24""#),
            Some("?1"),
            Some(r#""Android""#),
            None,
            "Facebook\t490\tAndroid\t14\tmobile",
        ),
        (
            "headless brand makes a bot of a normal UA",
            CHROME_LINUX,
            Some(r#""HeadlessChrome";v="131", "Chromium";v="131", "Not_A Brand";v="24""#),
            Some("?0"),
            Some(r#""Linux""#),
            None,
            "HeadlessChrome\t131\tLinux\t-\tbot",
        ),
        (
            "unknown platform and junk mobile values are ignored",
            CHROME_WINDOWS,
            None,
            Some("maybe"),
            Some(r#""Unknown""#),
            Some("not a version"),
            "Chrome\t131\tWindows\t10\tdesktop",
        ),
        (
            "hints without a UA",
            "",
            Some(CHROME_BRANDS),
            Some("?1"),
            Some(r#""Android""#),
            None,
            "Chrome Mobile\t131\tAndroid\t-\tmobile",
        ),
    ];
    for (case, user_agent, brands, mobile, platform, platform_version, expected) in cases {
        let hints = ClientHints {
            brands,
            mobile,
            platform,
            platform_version,
        };
        let info = classifier.classify(user_agent, &hints, None);
        assert_bounded(&info);
        assert_eq!(columns(&info), expected, "{case}");
    }
}

#[test]
fn ipados_is_told_from_a_mac_by_touch_points() {
    let classifier = classifier(64);
    let ipad = classifier.classify(SAFARI_MACOS, &ClientHints::NONE, Some(5));
    assert_eq!(columns(&ipad), "Mobile Safari\t18\tiOS\t18.1\ttablet");
    for touch_points in [None, Some(0), Some(1)] {
        let mac = classifier.classify(SAFARI_MACOS, &ClientHints::NONE, touch_points);
        assert_eq!(
            columns(&mac),
            "Safari\t18\tMac OS X\t-\tdesktop",
            "{touch_points:?}"
        );
    }
    // Another browser with a Mac UA on a touch screen is an iPad too, version unknown.
    let chrome = classifier.classify(CHROME_MACOS, &ClientHints::NONE, Some(5));
    assert_eq!(columns(&chrome), "Chrome\t131\tiOS\t-\ttablet");
    // Touch screens on Windows laptops are common: still desktop.
    let windows = classifier.classify(CHROME_WINDOWS, &ClientHints::NONE, Some(10));
    assert_eq!(windows.device_class, DeviceClass::Desktop);
    // One cache entry per UA string, whatever the touch points.
    assert_eq!(classifier.cache_stats().entries, 3);
}

#[test]
fn cache_counts_hits_and_misses_with_one_entry_per_user_agent() {
    let classifier = classifier(64);
    let first = classifier.classify(CHROME_WINDOWS, &ClientHints::NONE, None);
    let hints = ClientHints {
        mobile: Some("?1"),
        ..ClientHints::NONE
    };
    classifier.classify(CHROME_WINDOWS, &hints, Some(3));
    let third = classifier.classify(CHROME_WINDOWS, &ClientHints::NONE, None);
    assert_eq!(first, third);
    classifier.classify(SAFARI_MACOS, &ClientHints::NONE, None);
    // Empty UAs are answered without a lookup.
    classifier.classify("", &ClientHints::NONE, None);
    classifier.classify("   ", &ClientHints::NONE, None);
    assert_eq!(
        classifier.cache_stats(),
        UaCacheStats {
            hits: 2,
            misses: 2,
            entries: 2,
            capacity: 64
        }
    );
}

#[test]
fn cache_evicts_the_least_recently_used_entry() {
    // Capacity 1 is one shard of one entry, so the order is deterministic.
    let classifier = classifier(1);
    for user_agent in [CHROME_WINDOWS, CHROME_WINDOWS, SAFARI_MACOS, CHROME_WINDOWS] {
        classifier.classify(user_agent, &ClientHints::NONE, None);
    }
    let stats = classifier.cache_stats();
    assert_eq!((stats.hits, stats.misses, stats.entries), (1, 3, 1));
}

#[test]
fn cache_is_bounded_at_its_capacity() {
    for capacity in [3, 16, 40] {
        let classifier = classifier(capacity);
        for index in 0..1000 {
            classifier.classify(
                &format!("{CHROME_WINDOWS} build/{index}"),
                &ClientHints::NONE,
                None,
            );
        }
        let stats = classifier.cache_stats();
        // 1000 random-hashed keys fill every shard (the chance one stays empty is < 1e-50).
        assert_eq!(stats.entries, capacity);
        assert_eq!((stats.hits, stats.misses), (0, 1000));
    }
}

#[test]
fn concurrent_classification_agrees_and_counts_every_lookup() {
    let classifier = classifier(32);
    let user_agents: Vec<String> = (0..64)
        .map(|index| format!("{CHROME_ANDROID_REDUCED} app/{index}"))
        .collect();
    let expected = classifier.classify(&user_agents[0], &ClientHints::NONE, None);
    std::thread::scope(|scope| {
        for _ in 0..4 {
            scope.spawn(|| {
                for round in 0..500 {
                    let info = classifier.classify(
                        &user_agents[round % user_agents.len()],
                        &ClientHints::NONE,
                        None,
                    );
                    assert_eq!(info, expected);
                }
            });
        }
    });
    let stats = classifier.cache_stats();
    assert_eq!(stats.hits + stats.misses, 1 + 4 * 500);
    assert!(stats.entries <= 32);
}

#[test]
fn lookups_are_counted_in_metrics() {
    let recorder = crate::test_metrics::TestMetrics::default();
    let classifier = recorder.record(|| classifier(8));
    for user_agent in [CHROME_WINDOWS, CHROME_WINDOWS, CHROME_WINDOWS, SAFARI_MACOS] {
        classifier.classify(user_agent, &ClientHints::NONE, None);
    }
    assert_eq!(recorder.counter(CACHE_LOOKUPS, &[("outcome", "hit")]), 2);
    assert_eq!(recorder.counter(CACHE_LOOKUPS, &[("outcome", "miss")]), 2);
}

#[test]
fn hostile_user_agents_give_bounded_output() {
    let classifier = classifier(64);
    let hostile = [
        String::new(),
        " \t ".to_owned(),
        "\0".repeat(100),
        "\u{0}\u{1}\u{7}\u{1b}[31m\u{7f}\u{fffd}\u{202e}".to_owned(),
        "A".repeat(1 << 20),
        "é".repeat(400),
        format!("Mozilla/5.0 {}", "(".repeat(10_000)),
        format!("{}bot/1.0", "Z".repeat(300)),
        "Ünïcödé💥\"label\"=\"x\"/1.0 CFNetwork/1490 Darwin/23.2.0".to_owned(),
        format!("{CHROME_WINDOWS} {}", "Edg/".repeat(200)),
        "Mozilla/5.0 (Linux; Android 99999999999999999999; K) Chrome/999999999999999999999.0 Mobile".to_owned(),
    ];
    for user_agent in &hostile {
        let info = classifier.classify(user_agent, &ClientHints::NONE, Some(u32::MAX));
        assert_bounded(&info);
    }
    let empty = classifier.classify("", &ClientHints::NONE, None);
    assert_eq!(columns(&empty), "Other\t-\tOther\t-\tother");
    assert!(!empty.is_bot);
    // Hostile hints too.
    let junk = "\"\\".repeat(MAX_HINT_BYTES / 2);
    let hints = ClientHints {
        brands: Some(&junk),
        mobile: Some(&junk),
        platform: Some(&junk),
        platform_version: Some("99999999999999999999999.1"),
    };
    assert_bounded(&classifier.classify(CHROME_WINDOWS, &hints, None));
    let hints = ClientHints {
        platform: Some(r#""Android""#),
        platform_version: Some("1234567890123456789.987654321987654321"),
        ..ClientHints::NONE
    };
    assert_bounded(&classifier.classify(CHROME_WINDOWS, &hints, None));
}

#[test]
fn labels_are_capped_and_cleaned() {
    assert_eq!(
        bounded_family("Chrome Mobile").as_deref(),
        Some("Chrome Mobile")
    );
    assert_eq!(
        bounded_family("Mobile Safari UI/WKWebView").as_deref(),
        Some("Mobile Safari UI/WKWebView")
    );
    assert_eq!(bounded_family("Brö\"wser\n").as_deref(), Some("Brö_wser"));
    assert_eq!(bounded_family("The Bat!").as_deref(), Some("The Bat!"));
    assert_eq!(
        bounded_family("Seznam prohlížeč").as_deref(),
        Some("Seznam prohlížeč")
    );
    assert_eq!(
        bounded_family("a'b;c=d<e>f\\g\u{202e}h").as_deref(),
        Some("a_b_c_d_e_f_g_h")
    );
    assert_eq!(
        bounded_family(&"x".repeat(100)).map(|label| label.len()),
        Some(MAX_FAMILY_CHARS)
    );
    assert_eq!(bounded_family("  "), None);
    assert_eq!(bounded_family("💥💥"), None);
    assert_eq!(bounded_version("131"), Some("131".into()));
    assert_eq!(
        bounded_version("1.2.3.4.5.6.7.8"),
        Some("1.2.3.4.5.6".into())
    );
    assert_eq!(version_label(Some("17"), Some("0")), Some("17".into()));
    assert_eq!(version_label(Some("10"), Some("15")), Some("10.15".into()));
    assert_eq!(version_label(Some(""), Some("1")), None);
    assert_eq!(
        platform_version_label("Windows", "0.3.0"),
        Some("8.1".into())
    );
    assert_eq!(platform_version_label("Windows", "x"), None);
    assert_eq!(platform_version_label("Android", "0.0.0"), None);
    assert_eq!(truncate_to_char_boundary("aé", 2), "a");
}

#[test]
fn device_classes_have_stable_names() {
    let names: Vec<&str> = DeviceClass::ALL
        .iter()
        .map(|class| class.as_str())
        .collect();
    assert_eq!(names, ["desktop", "mobile", "tablet", "bot", "other"]);
}
