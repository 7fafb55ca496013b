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
        let signals = DeviceSignals {
            touch_points,
            screen: None,
        };
        let info = classifier.classify(user_agent, &ClientHints::NONE, signals);
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
            form_factors: None,
        };
        let info = classifier.classify(user_agent, &hints, DeviceSignals::NONE);
        assert_bounded(&info);
        assert_eq!(columns(&info), expected, "{case}");
    }
}

#[test]
fn ipados_is_told_from_a_mac_by_touch_points() {
    let classifier = classifier(64);
    let ipad = classifier.classify(SAFARI_MACOS, &ClientHints::NONE, DeviceSignals::touch(5));
    assert_eq!(columns(&ipad), "Mobile Safari\t18\tiOS\t18.1\ttablet");
    for touch_points in [None, Some(0), Some(1)] {
        let signals = DeviceSignals {
            touch_points,
            screen: None,
        };
        let mac = classifier.classify(SAFARI_MACOS, &ClientHints::NONE, signals);
        assert_eq!(
            columns(&mac),
            "Safari\t18\tMac OS X\t-\tdesktop",
            "{touch_points:?}"
        );
    }
    // Another browser with a Mac UA on a touch screen is an iPad too, version unknown.
    let chrome = classifier.classify(CHROME_MACOS, &ClientHints::NONE, DeviceSignals::touch(5));
    assert_eq!(columns(&chrome), "Chrome\t131\tiOS\t-\ttablet");
    // Touch screens on Windows laptops are common: still desktop.
    let windows = classifier.classify(CHROME_WINDOWS, &ClientHints::NONE, DeviceSignals::touch(10));
    assert_eq!(windows.device_class, DeviceClass::Desktop);
    // One cache entry per UA string, whatever the touch points.
    assert_eq!(classifier.cache_stats().entries, 3);
}

#[test]
fn cache_counts_hits_and_misses_with_one_entry_per_user_agent() {
    let classifier = classifier(64);
    let first = classifier.classify(CHROME_WINDOWS, &ClientHints::NONE, DeviceSignals::NONE);
    let hints = ClientHints {
        mobile: Some("?1"),
        ..ClientHints::NONE
    };
    classifier.classify(CHROME_WINDOWS, &hints, DeviceSignals::touch(3));
    let third = classifier.classify(CHROME_WINDOWS, &ClientHints::NONE, DeviceSignals::NONE);
    assert_eq!(first, third);
    classifier.classify(SAFARI_MACOS, &ClientHints::NONE, DeviceSignals::NONE);
    // Empty UAs are answered without a lookup.
    classifier.classify("", &ClientHints::NONE, DeviceSignals::NONE);
    classifier.classify("   ", &ClientHints::NONE, DeviceSignals::NONE);
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
        classifier.classify(user_agent, &ClientHints::NONE, DeviceSignals::NONE);
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
                DeviceSignals::NONE,
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
    let expected = classifier.classify(&user_agents[0], &ClientHints::NONE, DeviceSignals::NONE);
    std::thread::scope(|scope| {
        for _ in 0..4 {
            scope.spawn(|| {
                for round in 0..500 {
                    let info = classifier.classify(
                        &user_agents[round % user_agents.len()],
                        &ClientHints::NONE,
                        DeviceSignals::NONE,
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
        classifier.classify(user_agent, &ClientHints::NONE, DeviceSignals::NONE);
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
        let info = classifier.classify(
            user_agent,
            &ClientHints::NONE,
            DeviceSignals::touch(u32::MAX),
        );
        assert_bounded(&info);
    }
    let empty = classifier.classify("", &ClientHints::NONE, DeviceSignals::NONE);
    assert_eq!(columns(&empty), "Other\t-\tOther\t-\tother");
    assert!(!empty.is_bot);
    // Hostile hints too.
    let junk = "\"\\".repeat(MAX_HINT_BYTES / 2);
    let hints = ClientHints {
        brands: Some(&junk),
        mobile: Some(&junk),
        platform: Some(&junk),
        platform_version: Some("99999999999999999999999.1"),
        form_factors: Some(&junk),
    };
    assert_bounded(&classifier.classify(CHROME_WINDOWS, &hints, DeviceSignals::NONE));
    let hints = ClientHints {
        platform: Some(r#""Android""#),
        platform_version: Some("1234567890123456789.987654321987654321"),
        ..ClientHints::NONE
    };
    assert_bounded(&classifier.classify(CHROME_WINDOWS, &hints, DeviceSignals::NONE));
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

/// Galaxy Tab S9 running Chrome with `Mobile` in its UA, as many Android tablets send.
const ANDROID_SAYS_MOBILE: &str = "Mozilla/5.0 (Linux; Android 14; SM-X710) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36";
/// Chrome on an Android tablet, without `Mobile`.
const ANDROID_TABLET: &str = "Mozilla/5.0 (Linux; Android 14; SM-X710) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36";
const IPHONE: &str = "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1";
const IPAD: &str = "Mozilla/5.0 (iPad; CPU OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1";

#[test]
fn the_device_rule_at_its_boundaries() {
    let classifier = classifier(64);
    let signals = |touch: Option<u32>, screen: Option<(u32, u32)>| DeviceSignals {
        touch_points: touch,
        screen,
    };
    let mobile_hint = |value| ClientHints {
        mobile: Some(value),
        ..ClientHints::NONE
    };
    let form_factors = |value| ClientHints {
        form_factors: Some(value),
        ..ClientHints::NONE
    };
    let none = ClientHints::NONE;
    #[rustfmt::skip]
    let cases: [(&str, &str, &ClientHints<'_>, DeviceSignals, &str); 20] = [
        ("600 px shorter side is a tablet", ANDROID_SAYS_MOBILE, &none, signals(Some(5), Some((600, 960))), "tablet"),
        ("599 px is a phone", ANDROID_SAYS_MOBILE, &none, signals(Some(5), Some((599, 960))), "mobile"),
        ("landscape counts the shorter side", ANDROID_SAYS_MOBILE, &none, signals(Some(5), Some((1280, 800))), "tablet"),
        ("touch 0: the screen rule does not apply", ANDROID_SAYS_MOBILE, &none, signals(Some(0), Some((800, 1280))), "mobile"),
        ("touch unknown: nor here", ANDROID_SAYS_MOBILE, &none, signals(None, Some((800, 1280))), "mobile"),
        ("no screen (older script): the UA", ANDROID_SAYS_MOBILE, &none, signals(Some(5), None), "mobile"),
        ("no screen, no Mobile token: the UA", ANDROID_TABLET, &none, signals(Some(5), None), "tablet"),
        ("a phone-sized screen wins over the UA", ANDROID_TABLET, &none, signals(Some(5), Some((412, 915))), "mobile"),
        ("the screen wins over Sec-CH-UA-Mobile ?1", ANDROID_SAYS_MOBILE, &mobile_hint("?1"), signals(Some(5), Some((800, 1280))), "tablet"),
        ("Sec-CH-UA-Mobile ?0 on Android, no screen", ANDROID_SAYS_MOBILE, &mobile_hint("?0"), signals(Some(5), None), "tablet"),
        ("Sec-CH-UA-Mobile ?1, no screen", ANDROID_TABLET, &mobile_hint("?1"), signals(Some(5), None), "mobile"),
        ("form factor Tablet wins over everything", ANDROID_SAYS_MOBILE, &form_factors(r#""Tablet""#), signals(Some(5), Some((412, 915))), "tablet"),
        ("form factors Mobile, EInk", ANDROID_TABLET, &form_factors(r#""Mobile", "EInk""#), signals(None, None), "mobile"),
        ("form factor XR is other", ANDROID_TABLET, &form_factors(r#""XR""#), signals(None, None), "other"),
        ("form factor EInk alone says nothing", ANDROID_SAYS_MOBILE, &form_factors(r#""EInk""#), signals(Some(5), Some((758, 1024))), "tablet"),
        ("an iPhone is a phone", IPHONE, &none, signals(Some(5), Some((440, 956))), "mobile"),
        ("an iPad mini is a tablet", IPAD, &none, signals(Some(5), Some((744, 1133))), "tablet"),
        ("a touch laptop stays a desktop", CHROME_WINDOWS, &none, signals(Some(10), Some((1280, 800))), "desktop"),
        ("an empty screen is ignored", ANDROID_SAYS_MOBILE, &none, signals(Some(5), Some((0, 0))), "mobile"),
        ("an impossible screen is ignored", ANDROID_SAYS_MOBILE, &none, signals(Some(5), Some((u32::MAX, 900))), "mobile"),
    ];
    for (case, user_agent, hints, device, expected) in cases {
        let info = classifier.classify(user_agent, hints, device);
        assert_eq!(info.device_class.as_str(), expected, "{case}");
    }
}

#[test]
fn playwright_devices_get_their_device_class() {
    let classifier = classifier(256);
    let devices = super::conformance::playwright_devices();
    assert!(devices.len() > 100, "corpus shrank to {}", devices.len());
    let mut wrong = Vec::new();
    let mut without_screen = 0;
    for row in &devices {
        let device = DeviceSignals {
            touch_points: Some(row.touch_points),
            screen: Some(row.screen),
        };
        let class = classifier
            .classify(row.user_agent, &ClientHints::NONE, device)
            .device_class;
        if class.as_str() != row.expected {
            wrong.push(format!(
                "{}: {} want {}",
                row.name,
                class.as_str(),
                row.expected
            ));
        }
        let ua_only = DeviceSignals::touch(row.touch_points);
        let class = classifier
            .classify(row.user_agent, &ClientHints::NONE, ua_only)
            .device_class;
        without_screen += usize::from(class.as_str() != row.expected);
    }
    eprintln!(
        "playwright devices: {} wrong with the screen, {without_screen} of {} without it",
        wrong.len(),
        devices.len()
    );
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}
