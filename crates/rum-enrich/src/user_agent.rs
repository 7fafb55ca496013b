//! User agent classification: browser family and major version, OS family and version, device class
//! and bot verdict for one beacon, from the `User-Agent` header, the low-entropy client hints
//! (`Sec-CH-UA`, `Sec-CH-UA-Mobile`, `Sec-CH-UA-Platform`) and the beacon's `dev.touch`.
//!
//! The collector builds one [`UaClassifier`] at startup and calls [`UaClassifier::classify`] per
//! beacon. The UA string goes through the uap-core rules (the `ua-parser` crate with `regexes.yaml`
//! from the npm package `uap-core`, vendored and pinned in `data/uap-core/`) and the bot patterns of
//! [`crate::bots`]; that costs 10-40 us, so the result is kept in a sharded, bounded LRU cache keyed by
//! the UA string. Client hints and touch points vary per request, are cheap to read and are applied
//! after the cache on every call.
//!
//! What this module must never do:
//! - return an unbounded or raw string: every output passes through [`bounded_family`] or
//!   [`bounded_version`] (length cap, small safe charset), because the results become metric labels;
//! - panic or take unbounded time on hostile input: the UA is capped at [`MAX_USER_AGENT_BYTES`]
//!   before parsing, hints at [`MAX_HINT_BYTES`], and the `regex` crate matches in linear time;
//! - hold a cache lock while parsing, or do I/O (the rules are compiled into the binary).
//!
//! Things the UA string cannot tell, and what comes out instead:
//! - Reduced Chrome UAs freeze the platform: `Android 10; K` (any Android version, any model) gives
//!   an unknown OS version; so does `Mac OS X 10_15_7` / `10.15`, which Safari, Chrome and Firefox
//!   all send on every macOS since 11. `Windows NT 10.0` is reported as `10` and means "10 or 11" in
//!   every browser; only `Sec-CH-UA-Platform-Version` (high entropy, sent only when the site asks
//!   for it with `Accept-CH`) tells 11 apart, and it is used when present.
//! - Safari on iPadOS sends a Mac desktop UA. No Mac has a touch screen, so a Mac UA with more than
//!   one touch point is an iPad: tablet, `iOS`, version taken from Safari's `Version/`.
//! - Automation that sends a normal browser UA (and no `HeadlessChrome` brand) is not detectable
//!   here.
//!
//! Client hints win where they carry information: the platform (and its version when sent), the
//! mobile flag, and the brand when uap-core only saw a generic Chromium UA (Brave, Edge behind an
//! unchanged UA, headless Chrome). A specific family uap-core found in the UA (Facebook, Instagram,
//! Samsung Internet) is more precise than the `Android WebView` brand, so it is kept.
//!
//! Labels are bounded in length and charset, not in number: uap-core copies some families from the
//! UA text, so a client can invent new ones. Cardinality caps belong to whatever aggregates them.

use std::hash::BuildHasher;
use std::num::NonZeroUsize;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use http::{HeaderMap, HeaderName};
use lru::LruCache;
use metrics::{Counter, counter, describe_counter};

use crate::bots::{BotDetector, BotPatternError};

/// `regexes.yaml` of uap-core, converted to JSON by `scripts/vendor-enrich-data`.
const UAP_CORE_RULES_JSON: &str = include_str!("../data/uap-core/regexes.json");

/// Default number of distinct UA strings the cache keeps: `enrich.ua_cache_capacity`'s default,
/// [`rum_config::DEFAULT_UA_CACHE_CAPACITY`] (a few MiB at most: keys are capped at
/// [`MAX_USER_AGENT_BYTES`]).
pub const DEFAULT_UA_CACHE_CAPACITY: NonZeroUsize =
    NonZeroUsize::new(rum_config::DEFAULT_UA_CACHE_CAPACITY).unwrap();

/// UA bytes looked at. Real browser UAs are under 300 bytes and in-app ones (Facebook, Instagram)
/// under 500; the tail of anything longer is ignored, which also caps cache memory per entry.
pub const MAX_USER_AGENT_BYTES: usize = 512;

/// Client hint header values longer than this are ignored (a real `Sec-CH-UA` is under 150 bytes).
pub const MAX_HINT_BYTES: usize = 256;

/// Longest browser or OS family emitted (`Mobile Safari UI/WKWebView` is 26).
pub const MAX_FAMILY_CHARS: usize = 32;

/// Longest version emitted (`browser_major`, `os_version`).
pub const MAX_VERSION_CHARS: usize = 12;

/// Family reported when nothing matched (uap-core's own convention).
pub const UNKNOWN_FAMILY: &str = "Other";

/// Cache shards: each is an independent LRU behind its own mutex, so concurrent collector threads
/// rarely wait on each other. More shards than cores is enough.
const CACHE_SHARDS: usize = 16;

const CACHE_LOOKUPS: &str = "rum_enrich_ua_cache_lookups_total";

/// The OS families uap-core reports for desktop and laptop systems.
const DESKTOP_OS_FAMILIES: &[&str] = &[
    "Windows",
    "Mac OS X",
    "Mac OS",
    "Linux",
    "Chrome OS",
    "Ubuntu",
    "Kubuntu",
    "Fedora",
    "Debian",
    "Red Hat",
    "SUSE",
    "openSUSE",
    "Mint",
    "Linux Mint",
    "Gentoo",
    "Slackware",
    "Arch Linux",
    "CentOS",
    "FreeBSD",
    "OpenBSD",
    "NetBSD",
    "Solaris",
];

/// UA substrings that mean a tablet whatever else the UA says (checked before the phone markers:
/// iPad UAs also contain `Mobile/`). `Tablet;` is Firefox on Android tablets; `Tablet PC` (old
/// Windows) deliberately does not match.
const TABLET_MARKERS: &[&str] = &["iPad", "Tablet;", "Kindle", "Silk/", "PlayBook"];

/// TVs, consoles, streaming sticks and headsets: `other`, not desktop or mobile.
const OTHER_DEVICE_MARKERS: &[&str] = &[
    "SMART-TV",
    "SmartTV",
    "Smart-TV",
    "Android TV",
    "GoogleTV",
    "HbbTV",
    "CrKey",
    "BRAVIA",
    "Web0S",
    "; AFT",
    "PlayStation",
    "Xbox",
    "Nintendo",
    "OculusBrowser",
];

/// UA substrings that mean a phone.
const MOBILE_MARKERS: &[&str] = &[
    "Mobile",
    "iPhone",
    "iPod",
    "Windows Phone",
    "BlackBerry",
    "BB10",
    "Opera Mini",
    "Opera Mobi",
];

/// uap-core families that client hint brands may refine: the generic Chromium ones. A family uap
/// found from a specific token (Facebook, Instagram, Edge, Samsung Internet) is more precise than
/// any brand, so it is kept.
const GENERIC_CHROMIUM_FAMILIES: &[&str] = &[
    "Chrome",
    "Chrome Mobile",
    "Chromium",
    "Chrome Mobile WebView",
    UNKNOWN_FAMILY,
];

/// A `Sec-CH-UA` brand and the uap-core family names it corresponds to.
#[derive(Debug)]
struct BrandRule {
    brand: &'static str,
    family: &'static str,
    mobile_family: &'static str,
}

/// Known brands, most specific first: a browser lists its own brand beside `Chromium` (and Chrome
/// beside `Google Chrome`), so the first known brand in this order wins.
const BRANDS: &[BrandRule] = &[
    BrandRule {
        brand: "HeadlessChrome",
        family: "HeadlessChrome",
        mobile_family: "HeadlessChrome",
    },
    BrandRule {
        brand: "Microsoft Edge",
        family: "Edge",
        mobile_family: "Edge Mobile",
    },
    BrandRule {
        brand: "Opera",
        family: "Opera",
        mobile_family: "Opera Mobile",
    },
    BrandRule {
        brand: "Opera GX",
        family: "Opera",
        mobile_family: "Opera Mobile",
    },
    BrandRule {
        brand: "Brave",
        family: "Brave",
        mobile_family: "Brave",
    },
    BrandRule {
        brand: "Samsung Internet",
        family: "Samsung Internet",
        mobile_family: "Samsung Internet",
    },
    BrandRule {
        brand: "YaBrowser",
        family: "Yandex Browser",
        mobile_family: "Yandex Browser",
    },
    BrandRule {
        brand: "Yandex",
        family: "Yandex Browser",
        mobile_family: "Yandex Browser",
    },
    BrandRule {
        brand: "Android WebView",
        family: "Chrome Mobile WebView",
        mobile_family: "Chrome Mobile WebView",
    },
    BrandRule {
        brand: "Google Chrome",
        family: "Chrome",
        mobile_family: "Chrome Mobile",
    },
    BrandRule {
        brand: "Chromium",
        family: "Chromium",
        mobile_family: "Chromium",
    },
];

const HEADLESS_BRAND: &str = "HeadlessChrome";
const CHROMIUM_BRAND: &str = "Chromium";

/// `Sec-CH-UA-Platform` values and the uap-core OS family each corresponds to.
const PLATFORMS: &[(&str, &str)] = &[
    ("Windows", "Windows"),
    ("macOS", "Mac OS X"),
    ("Android", "Android"),
    ("Linux", "Linux"),
    ("Chrome OS", "Chrome OS"),
    ("Chromium OS", "Chrome OS"),
    ("iOS", "iOS"),
    ("Fuchsia", "Fuchsia"),
];

const MAC_OS_FAMILY: &str = "Mac OS X";
const IOS_FAMILY: &str = "iOS";
const ANDROID_FAMILY: &str = "Android";
const WINDOWS_FAMILY: &str = "Windows";
const DESKTOP_SAFARI_FAMILY: &str = "Safari";
const MOBILE_SAFARI_FAMILY: &str = "Mobile Safari";

/// What kind of device sent the beacon. A closed set: it is a metric label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DeviceClass {
    Desktop,
    Mobile,
    Tablet,
    Bot,
    /// TVs, consoles, headsets, and anything the UA does not place.
    Other,
}

impl DeviceClass {
    pub const ALL: [DeviceClass; 5] = [
        DeviceClass::Desktop,
        DeviceClass::Mobile,
        DeviceClass::Tablet,
        DeviceClass::Bot,
        DeviceClass::Other,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            DeviceClass::Desktop => "desktop",
            DeviceClass::Mobile => "mobile",
            DeviceClass::Tablet => "tablet",
            DeviceClass::Bot => "bot",
            DeviceClass::Other => "other",
        }
    }
}

/// The raw client hint header values of one request (each `None` when absent, not ASCII, or longer
/// than [`MAX_HINT_BYTES`]). Parsed by [`UaClassifier::classify`], which ignores what it cannot read.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ClientHints<'a> {
    /// `Sec-CH-UA`: `"Chromium";v="131", "Google Chrome";v="131", "Not_A Brand";v="24"`.
    pub brands: Option<&'a str>,
    /// `Sec-CH-UA-Mobile`: `?1` on phones, `?0` elsewhere.
    pub mobile: Option<&'a str>,
    /// `Sec-CH-UA-Platform`: `"Windows"`, `"macOS"`, `"Android"`, `"Linux"`, `"Chrome OS"`, ...
    pub platform: Option<&'a str>,
    /// `Sec-CH-UA-Platform-Version`: high entropy, so only present when the site asked for it with
    /// `Accept-CH`; the one way to tell Windows 11 from 10 or to get a real macOS or Android version.
    pub platform_version: Option<&'a str>,
}

impl<'a> ClientHints<'a> {
    /// No hints (Safari, Firefox, and Chromium over plain HTTP send none).
    pub const NONE: ClientHints<'static> = ClientHints {
        brands: None,
        mobile: None,
        platform: None,
        platform_version: None,
    };

    /// Reads the hint headers of a request.
    pub fn from_headers(headers: &'a HeaderMap) -> Self {
        // Names built once: looking a header up by `&str` parses and validates the name each time.
        const BRANDS: HeaderName = HeaderName::from_static("sec-ch-ua");
        const MOBILE: HeaderName = HeaderName::from_static("sec-ch-ua-mobile");
        const PLATFORM: HeaderName = HeaderName::from_static("sec-ch-ua-platform");
        const PLATFORM_VERSION: HeaderName = HeaderName::from_static("sec-ch-ua-platform-version");
        let value = |name: &HeaderName| {
            headers
                .get(name)
                .and_then(|value| value.to_str().ok())
                .filter(|value| value.len() <= MAX_HINT_BYTES)
        };
        Self {
            brands: value(&BRANDS),
            mobile: value(&MOBILE),
            platform: value(&PLATFORM),
            platform_version: value(&PLATFORM_VERSION),
        }
    }
}

/// What the classifier says about one beacon. Every string is bounded (see the module docs); `None`
/// versions mean unknown (the wire format writes them as empty strings).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UaInfo {
    /// uap-core browser family: `Chrome`, `Chrome Mobile`, `Mobile Safari`, `Firefox`, `Edge`,
    /// `Samsung Internet`, `Facebook`, ... or [`UNKNOWN_FAMILY`].
    pub browser: Arc<str>,
    pub browser_major: Option<Arc<str>>,
    /// uap-core OS family: `Windows`, `Mac OS X`, `iOS`, `Android`, `Linux`, `Chrome OS`, ... or
    /// [`UNKNOWN_FAMILY`].
    pub os: Arc<str>,
    /// `major` or `major.minor` (a `.0` minor is dropped): `10`, `17.4`, `14`.
    pub os_version: Option<Arc<str>>,
    pub device_class: DeviceClass,
    /// Same as `device_class == DeviceClass::Bot`, kept as a field because the wire format has both.
    pub is_bot: bool,
}

/// Why the classifier could not be built. The rules are compiled into the binary and the tests
/// compile the same data, so these are startup errors for a bad vendoring, never request-path ones.
#[derive(Debug, thiserror::Error)]
pub enum UserAgentError {
    #[error("uap-core rules are not valid json")]
    RulesJson(#[source] serde_json::Error),
    #[error("uap-core rules do not compile")]
    Rules(#[source] ua_parser::Error),
    #[error("bot patterns do not compile")]
    Bots(#[from] BotPatternError),
}

/// The compiled uap-core rules and bot patterns: the expensive, immutable part of a classifier
/// (120-250 ms to build in release on the 2-core development machine, mostly uap-core's device
/// rules), shareable between classifiers.
pub struct UaRules {
    uap: ua_parser::Extractor<'static>,
    bots: BotDetector,
}

impl std::fmt::Debug for UaRules {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("UaRules")
            .field("bot_patterns", &self.bots.pattern_count())
            .finish_non_exhaustive()
    }
}

impl UaRules {
    /// Compiles the vendored uap-core rules and bot patterns.
    pub fn bundled() -> Result<Self, UserAgentError> {
        let rules: ua_parser::Regexes<'static> =
            serde_json::from_str(UAP_CORE_RULES_JSON).map_err(UserAgentError::RulesJson)?;
        let uap = ua_parser::Extractor::try_from(rules).map_err(UserAgentError::Rules)?;
        let bots = BotDetector::new()?;
        Ok(Self { uap, bots })
    }

    /// The cacheable part of a classification: everything the UA string alone says. `user_agent`
    /// is already trimmed, capped and non-empty.
    fn parse(&self, user_agent: &str) -> ParsedUa {
        let browser = self.uap.ua.extract(user_agent);
        let os = self.uap.os.extract(user_agent);
        let device = self.uap.dev.extract(user_agent);
        let device_family = device
            .as_ref()
            .map_or(UNKNOWN_FAMILY, |device| &*device.device);

        let browser_family = browser
            .as_ref()
            .and_then(|browser| bounded_family(&browser.family))
            .unwrap_or_else(|| UNKNOWN_FAMILY.into());
        let browser_major = browser
            .as_ref()
            .and_then(|browser| browser.major)
            .and_then(bounded_version);
        let os_family = os
            .as_ref()
            .and_then(|os| bounded_family(&normalise_os_family(&os.os)))
            .unwrap_or_else(|| UNKNOWN_FAMILY.into());
        let os_version = os
            .as_ref()
            .filter(|os| !is_frozen_os_version(user_agent, &os_family, os))
            .and_then(|os| version_label(os.major.as_deref(), os.minor.as_deref()));

        let is_bot = device_family == "Spider" || self.bots.is_bot(user_agent);
        let device_class = if is_bot {
            DeviceClass::Bot
        } else {
            device_class_from_ua(user_agent, &os_family, device_family)
        };
        // Safari on iPadOS reports the OS version as its own `Version/x.y` (they ship together).
        let ipados_version = (&*browser_family == DESKTOP_SAFARI_FAMILY
            && &*os_family == MAC_OS_FAMILY)
            .then(|| {
                browser
                    .as_ref()
                    .and_then(|browser| version_label(browser.major, browser.minor))
            })
            .flatten();

        ParsedUa {
            browser: browser_family,
            browser_major,
            os: os_family,
            os_version,
            device_class,
            is_bot,
            ipados_version,
        }
    }
}

/// The cached, UA-only reading, before client hints and touch points.
#[derive(Debug)]
struct ParsedUa {
    browser: Arc<str>,
    browser_major: Option<Arc<str>>,
    os: Arc<str>,
    os_version: Option<Arc<str>>,
    device_class: DeviceClass,
    is_bot: bool,
    /// iPadOS version if this Mac UA turns out to come from an iPad (desktop Safari UAs only).
    ipados_version: Option<Arc<str>>,
}

/// Cache counters, for tests and diagnostics (the same numbers go to
/// `rum_enrich_ua_cache_lookups_total`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UaCacheStats {
    pub hits: u64,
    pub misses: u64,
    pub entries: usize,
    pub capacity: usize,
}

/// Classifies user agents for the collector; see the module docs. Cheap to share (`&self` methods,
/// internally synchronised).
///
/// Metric: `rum_enrich_ua_cache_lookups_total{outcome="hit|miss"}`, one per non-empty UA
/// classified. The hit rate is what keeps UA parsing off the collector's profile.
#[derive(Debug)]
pub struct UaClassifier {
    rules: Arc<UaRules>,
    cache: UaCache,
    labels: StaticLabels,
    empty_user_agent: Arc<ParsedUa>,
}

impl UaClassifier {
    /// Compiles the bundled rules (see [`UaRules`]) and makes a cache of `cache_capacity` entries
    /// ([`DEFAULT_UA_CACHE_CAPACITY`] unless configured).
    pub fn new(cache_capacity: NonZeroUsize) -> Result<Self, UserAgentError> {
        Ok(Self::with_rules(
            Arc::new(UaRules::bundled()?),
            cache_capacity,
        ))
    }

    /// A classifier over already compiled rules, with its own empty cache.
    pub fn with_rules(rules: Arc<UaRules>, cache_capacity: NonZeroUsize) -> Self {
        let labels = StaticLabels::new();
        let empty_user_agent = Arc::new(ParsedUa {
            browser: labels.get(UNKNOWN_FAMILY),
            browser_major: None,
            os: labels.get(UNKNOWN_FAMILY),
            os_version: None,
            device_class: DeviceClass::Other,
            is_bot: false,
            ipados_version: None,
        });
        Self {
            rules,
            cache: UaCache::new(cache_capacity),
            labels,
            empty_user_agent,
        }
    }

    /// Classifies one beacon. `touch_points` is the beacon's `dev.touch` (`navigator.maxTouchPoints`).
    /// Never fails: a missing or unreadable UA gives `Other` families and [`DeviceClass::Other`].
    pub fn classify(
        &self,
        user_agent: &str,
        hints: &ClientHints<'_>,
        touch_points: Option<u32>,
    ) -> UaInfo {
        let parsed = self.parsed(user_agent);
        merge(
            &parsed,
            &ParsedHints::read(hints),
            touch_points,
            &self.labels,
        )
    }

    /// Cache counters so far.
    pub fn cache_stats(&self) -> UaCacheStats {
        self.cache.stats()
    }

    fn parsed(&self, user_agent: &str) -> Arc<ParsedUa> {
        let user_agent = truncate_to_char_boundary(user_agent.trim(), MAX_USER_AGENT_BYTES);
        if user_agent.is_empty() {
            return Arc::clone(&self.empty_user_agent);
        }
        self.cache
            .get_or_insert_with(user_agent, |user_agent| self.rules.parse(user_agent))
    }
}

/// Applies client hints and touch points to the cached UA reading.
fn merge(
    parsed: &ParsedUa,
    hints: &ParsedHints<'_>,
    touch_points: Option<u32>,
    labels: &StaticLabels,
) -> UaInfo {
    let mut browser = Arc::clone(&parsed.browser);
    let mut browser_major = parsed.browser_major.clone();
    if let Some(brand) = &hints.brand {
        if GENERIC_CHROMIUM_FAMILIES.contains(&&*parsed.browser) {
            let mobile = hints
                .mobile
                .unwrap_or(parsed.device_class == DeviceClass::Mobile);
            let family = if mobile {
                brand.rule.mobile_family
            } else {
                brand.rule.family
            };
            if family != &*parsed.browser {
                browser = labels.get(family);
                browser_major = brand
                    .major
                    .and_then(|major| reuse_or_bound(&parsed.browser_major, major));
            }
        }
    }

    let mut os = Arc::clone(&parsed.os);
    let mut os_version = parsed.os_version.clone();
    if let Some(platform_family) = hints.platform {
        if platform_family != &*parsed.os {
            os = labels.get(platform_family);
            // The UA's version belongs to another OS.
            os_version = None;
        }
        if let Some(version) = hints
            .platform_version
            .and_then(|raw| platform_version_label(platform_family, raw))
        {
            os_version = Some(version);
        }
    }

    let is_bot = parsed.is_bot || hints.headless;
    let device_class = if is_bot {
        DeviceClass::Bot
    } else if touch_points.is_some_and(|points| points > 1) && &*os == MAC_OS_FAMILY {
        // iPadOS Safari in its default "desktop website" mode: see the module docs.
        os = labels.get(IOS_FAMILY);
        os_version = parsed.ipados_version.clone();
        if &*browser == DESKTOP_SAFARI_FAMILY {
            browser = labels.get(MOBILE_SAFARI_FAMILY);
        }
        DeviceClass::Tablet
    } else {
        match hints.mobile {
            Some(true) => DeviceClass::Mobile,
            // Android tablets send `?0`; so does a phone asking for the desktop site, which then also
            // sends a desktop UA and lands in the last arm.
            Some(false) => match parsed.device_class {
                DeviceClass::Tablet | DeviceClass::Other => parsed.device_class,
                _ if &*os == ANDROID_FAMILY => DeviceClass::Tablet,
                _ => DeviceClass::Desktop,
            },
            None => parsed.device_class,
        }
    };

    UaInfo {
        browser,
        browser_major,
        os,
        os_version,
        device_class,
        is_bot,
    }
}

/// The hints as far as they could be read; unreadable parts are `None`.
#[derive(Debug, Default)]
struct ParsedHints<'a> {
    brand: Option<BrandReading<'a>>,
    headless: bool,
    mobile: Option<bool>,
    /// uap-core OS family of `Sec-CH-UA-Platform`.
    platform: Option<&'static str>,
    platform_version: Option<&'a str>,
}

#[derive(Debug)]
struct BrandReading<'a> {
    rule: &'static BrandRule,
    major: Option<&'a str>,
}

impl<'a> ParsedHints<'a> {
    fn read(hints: &ClientHints<'a>) -> Self {
        let (brand, headless) = hints
            .brands
            .filter(|value| value.len() <= MAX_HINT_BYTES)
            .map(meaningful_brand)
            .unwrap_or((None, false));
        let mobile = match hints.mobile.map(str::trim) {
            Some("?1") => Some(true),
            Some("?0") => Some(false),
            _ => None,
        };
        let platform = hints.platform.and_then(|value| {
            let platform = unquote(value);
            PLATFORMS
                .iter()
                .find(|(hint, _)| *hint == platform)
                .map(|(_, family)| *family)
        });
        let platform_version = hints
            .platform_version
            .filter(|value| value.len() <= MAX_HINT_BYTES)
            .map(unquote);
        Self {
            brand,
            headless,
            mobile,
            platform,
            platform_version,
        }
    }
}

/// Picks the brand that names the browser from a `Sec-CH-UA` list, ignoring GREASE entries.
/// Returns the brand (if one is known) and whether the list names headless Chrome.
fn meaningful_brand(value: &str) -> (Option<BrandReading<'_>>, bool) {
    let mut best: Option<(usize, BrandReading<'_>)> = None;
    let mut unknown_brand_seen = false;
    let mut headless = false;
    for entry in BrandList::new(value) {
        if is_grease_brand(entry.brand) {
            continue;
        }
        headless |= entry.brand == HEADLESS_BRAND;
        let Some(rank) = BRANDS.iter().position(|rule| rule.brand == entry.brand) else {
            unknown_brand_seen = true;
            continue;
        };
        if best.as_ref().is_none_or(|(best_rank, _)| rank < *best_rank) {
            let major = entry.version.and_then(|version| version.split('.').next());
            best = Some((
                rank,
                BrandReading {
                    rule: &BRANDS[rank],
                    major,
                },
            ));
        }
    }
    let brand = best.map(|(_, reading)| reading).filter(|reading| {
        // `Chromium` beside a brand we do not know is some other Chromium browser (Vivaldi, Whale,
        // ...): naming it `Chromium` would be wrong, so leave the family to the UA.
        !(reading.rule.brand == CHROMIUM_BRAND && unknown_brand_seen)
    });
    (brand, headless)
}

/// Chromium's GREASE brands (`Not A(Brand`, `Not/A)Brand`, `Not_A Brand`, `Not?A_Brand`, ...) are
/// "Not", "A", "Brand" around random punctuation: compare the letters only.
fn is_grease_brand(brand: &str) -> bool {
    let mut letters = brand
        .chars()
        .filter(char::is_ascii_alphabetic)
        .map(|letter| letter.to_ascii_lowercase());
    "notabrand"
        .chars()
        .all(|expected| letters.next() == Some(expected))
        && letters.next().is_none()
}

/// One `"Brand";v="131"` member of a `Sec-CH-UA` list.
#[derive(Debug, PartialEq, Eq)]
struct BrandEntry<'a> {
    /// Raw text between the quotes (escapes left as they are: no known brand has any).
    brand: &'a str,
    version: Option<&'a str>,
}

/// Iterates the members of a `Sec-CH-UA` value (an RFC 8941 list of strings with parameters).
/// Tolerant: stops at the first thing it cannot read, and reads at most [`MAX_BRANDS`] members.
struct BrandList<'a> {
    rest: &'a str,
    remaining: usize,
}

/// Chrome sends three brands; a few more leaves room for others without reading a long list.
const MAX_BRANDS: usize = 8;

impl<'a> BrandList<'a> {
    fn new(value: &'a str) -> Self {
        Self {
            rest: value,
            remaining: MAX_BRANDS,
        }
    }
}

impl<'a> Iterator for BrandList<'a> {
    type Item = BrandEntry<'a>;

    fn next(&mut self) -> Option<BrandEntry<'a>> {
        if self.remaining == 0 {
            return None;
        }
        self.remaining -= 1;
        let member = self.rest.trim_start_matches([' ', '\t', ',']);
        let Some((brand, mut after)) = split_quoted(member) else {
            self.rest = "";
            return None;
        };
        let mut version = None;
        while let Some(parameter) = after.trim_start().strip_prefix(';') {
            let parameter = parameter.trim_start();
            let key_end = parameter
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '*'))
                .unwrap_or(parameter.len());
            let (key, value) = parameter.split_at(key_end);
            let Some(value) = value.strip_prefix('=') else {
                // A boolean parameter (`;key`), nothing to read.
                after = value;
                continue;
            };
            let (parameter_value, rest) = match split_quoted(value) {
                Some(quoted) => quoted,
                None => value.split_at(value.find([';', ',']).unwrap_or(value.len())),
            };
            if key == "v" {
                version = Some(parameter_value);
            }
            after = rest;
        }
        // Anything else up to the next member is not ours to understand.
        self.rest = after.find(',').map_or("", |comma| &after[comma..]);
        Some(BrandEntry { brand, version })
    }
}

/// Splits `"text"rest` into `text` and `rest`, honouring `\"` and `\\` escapes.
fn split_quoted(text: &str) -> Option<(&str, &str)> {
    let body = text.strip_prefix('"')?;
    let mut escaped = false;
    for (index, byte) in body.bytes().enumerate() {
        match byte {
            _ if escaped => escaped = false,
            b'\\' => escaped = true,
            b'"' => return Some((&body[..index], &body[index + 1..])),
            _ => {}
        }
    }
    None
}

/// `"Windows"` -> `Windows` (sf-string quotes; an unquoted value is taken as it is).
fn unquote(value: &str) -> &str {
    let value = value.trim();
    value
        .strip_prefix('"')
        .and_then(|inner| inner.strip_suffix('"'))
        .unwrap_or(value)
}

/// The OS version label from `Sec-CH-UA-Platform-Version` (`"15.0.0"`).
fn platform_version_label(platform_family: &str, raw: &str) -> Option<Arc<str>> {
    let mut parts = raw.split('.');
    let major = parts.next()?;
    let minor = parts.next();
    if platform_family == WINDOWS_FAMILY {
        // Windows reports its UniversalApiContract version: 13+ is Windows 11, 1-12 Windows 10,
        // 0.1-0.3 Windows 7, 8 and 8.1.
        let major: u32 = major.parse().ok()?;
        let label = match (major, minor) {
            (13.., _) => "11",
            (1..=12, _) => "10",
            (0, Some("1")) => "7",
            (0, Some("2")) => "8",
            (0, Some("3")) => "8.1",
            _ => return None,
        };
        return Some(label.into());
    }
    if major.is_empty() || major == "0" {
        return None;
    }
    version_label(Some(major), minor)
}

/// `major` or `major.minor`, dropping a `.0` minor; bounded. `None` without a usable major.
fn version_label(major: Option<&str>, minor: Option<&str>) -> Option<Arc<str>> {
    let major = major.filter(|major| !major.is_empty())?;
    match minor.filter(|minor| !minor.is_empty() && *minor != "0") {
        Some(minor) => bounded_version(&format!("{major}.{minor}")),
        None => bounded_version(major),
    }
}

/// Versions the reduced or frozen UA strings report whatever the real one is (see the module docs).
fn is_frozen_os_version(
    user_agent: &str,
    os_family: &str,
    os: &ua_parser::os::ValueRef<'_>,
) -> bool {
    match os_family {
        ANDROID_FAMILY => {
            user_agent.contains("Android 10; K)") || user_agent.contains("Android 10; K;")
        }
        MAC_OS_FAMILY => os.major.as_deref() == Some("10") && os.minor.as_deref() == Some("15"),
        _ => false,
    }
}

/// uap-core keeps the matched text as the macOS family in one rule (`MacOS X`, `Mac+OS+X`, ...).
fn normalise_os_family(family: &str) -> std::borrow::Cow<'_, str> {
    if family != MAC_OS_FAMILY && (family.ends_with("OS X") || family.ends_with("OS+X")) {
        MAC_OS_FAMILY.into()
    } else {
        family.into()
    }
}

fn device_class_from_ua(user_agent: &str, os_family: &str, device_family: &str) -> DeviceClass {
    let contains_any = |markers: &[&str]| markers.iter().any(|marker| user_agent.contains(marker));
    if device_family == "iPad"
        || device_family == "Generic Tablet"
        || device_family.starts_with("Kindle")
        || contains_any(TABLET_MARKERS)
    {
        return DeviceClass::Tablet;
    }
    if contains_any(OTHER_DEVICE_MARKERS) {
        return DeviceClass::Other;
    }
    if matches!(
        device_family,
        "iPhone" | "Generic Smartphone" | "Generic Feature Phone"
    ) || contains_any(MOBILE_MARKERS)
    {
        return DeviceClass::Mobile;
    }
    if os_family == ANDROID_FAMILY {
        // Chrome and Samsung Internet on Android tablets leave out `Mobile`.
        return DeviceClass::Tablet;
    }
    if DESKTOP_OS_FAMILIES.contains(&os_family) {
        return DeviceClass::Desktop;
    }
    DeviceClass::Other
}

/// A family as a label: at most [`MAX_FAMILY_CHARS`] characters of `[A-Za-z0-9 ._/()-]`, anything
/// else replaced by `_`. `None` if nothing printable is left. uap-core copies some families from the
/// UA text itself, so this is what stands between a client and a metric label.
pub fn bounded_family(raw: &str) -> Option<Arc<str>> {
    bounded(raw, MAX_FAMILY_CHARS, |c| {
        c.is_ascii_alphanumeric() || matches!(c, ' ' | '.' | '_' | '/' | '(' | ')' | '-')
    })
}

/// A version as a label: at most [`MAX_VERSION_CHARS`] characters of `[A-Za-z0-9._-]`, anything else
/// replaced by `_`, no trailing separator; `None` if empty.
pub fn bounded_version(raw: &str) -> Option<Arc<str>> {
    let label = bounded(raw, MAX_VERSION_CHARS, |c| {
        c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')
    })?;
    // A cut can leave a dangling separator (`1.2.3.`).
    let tidy = label.trim_end_matches(['.', '_', '-']);
    match tidy.len() {
        0 => None,
        len if len == label.len() => Some(label),
        _ => Some(tidy.into()),
    }
}

fn bounded(raw: &str, max_chars: usize, allowed: impl Fn(char) -> bool) -> Option<Arc<str>> {
    let trimmed = raw.trim();
    if trimmed.chars().take(max_chars).all(&allowed) && trimmed.len() <= max_chars {
        return (!trimmed.is_empty()).then(|| trimmed.into());
    }
    let cleaned: String = trimmed
        .chars()
        .take(max_chars)
        .map(|c| if allowed(c) { c } else { '_' })
        .collect();
    let cleaned = cleaned.trim();
    (!cleaned.is_empty() && cleaned.chars().any(|c| c != '_')).then(|| cleaned.into())
}

/// The hint's major version as a label, reusing the UA's when they agree (no allocation).
fn reuse_or_bound(ua_major: &Option<Arc<str>>, hint_major: &str) -> Option<Arc<str>> {
    match ua_major {
        Some(major) if &**major == hint_major => Some(Arc::clone(major)),
        _ => bounded_version(hint_major),
    }
}

fn truncate_to_char_boundary(text: &str, max_bytes: usize) -> &str {
    if text.len() <= max_bytes {
        return text;
    }
    let mut end = max_bytes;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// Shared labels for the families and platforms the hint tables name, so applying hints allocates
/// nothing.
#[derive(Debug)]
struct StaticLabels {
    labels: Vec<Arc<str>>,
}

impl StaticLabels {
    fn new() -> Self {
        let mut names: Vec<&'static str> = vec![UNKNOWN_FAMILY, IOS_FAMILY, MOBILE_SAFARI_FAMILY];
        names.extend(
            BRANDS
                .iter()
                .flat_map(|rule| [rule.family, rule.mobile_family]),
        );
        names.extend(PLATFORMS.iter().map(|(_, family)| *family));
        names.sort_unstable();
        names.dedup();
        Self {
            labels: names.into_iter().map(Arc::from).collect(),
        }
    }

    fn get(&self, name: &'static str) -> Arc<str> {
        match self.labels.iter().find(|label| &***label == name) {
            Some(label) => Arc::clone(label),
            None => {
                debug_assert!(false, "label {name:?} missing from StaticLabels");
                name.into()
            }
        }
    }
}

type Shard = Mutex<LruCache<Box<str>, Arc<ParsedUa>>>;

/// A bounded LRU keyed by the (capped) UA string, split into independently locked shards chosen by a
/// randomly seeded hash, so neither concurrency nor a crafted UA set piles onto one lock. Eviction is
/// least-recently-used within a shard, which over many keys is close to a global LRU.
struct UaCache {
    shards: Box<[Shard]>,
    shard_hasher: foldhash::fast::RandomState,
    capacity: usize,
    hits: AtomicU64,
    misses: AtomicU64,
    hit_counter: Counter,
    miss_counter: Counter,
}

impl std::fmt::Debug for UaCache {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("UaCache")
            .field("shards", &self.shards.len())
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

impl UaCache {
    fn new(capacity: NonZeroUsize) -> Self {
        describe_counter!(
            CACHE_LOOKUPS,
            "User agent cache lookups, by outcome (hit, miss); a miss costs a uap-core parse."
        );
        let capacity = capacity.get();
        // Shard capacities add up to exactly `capacity`, so the bound is the configured one.
        let shard_count = CACHE_SHARDS.min(capacity);
        let shards = (0..shard_count)
            .map(|shard| {
                let shard_capacity =
                    capacity / shard_count + usize::from(shard < capacity % shard_count);
                let shard_capacity =
                    NonZeroUsize::new(shard_capacity).expect("each shard gets at least one entry");
                Mutex::new(LruCache::new(shard_capacity))
            })
            .collect();
        Self {
            shards,
            shard_hasher: foldhash::fast::RandomState::default(),
            capacity,
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
            hit_counter: counter!(CACHE_LOOKUPS, "outcome" => "hit"),
            miss_counter: counter!(CACHE_LOOKUPS, "outcome" => "miss"),
        }
    }

    fn get_or_insert_with(
        &self,
        user_agent: &str,
        parse: impl FnOnce(&str) -> ParsedUa,
    ) -> Arc<ParsedUa> {
        let shard = &self.shards[self.shard_index(user_agent)];
        if let Some(hit) = lock(shard).get(user_agent) {
            self.hits.fetch_add(1, Ordering::Relaxed);
            self.hit_counter.increment(1);
            return Arc::clone(hit);
        }
        self.misses.fetch_add(1, Ordering::Relaxed);
        self.miss_counter.increment(1);
        // Parse without the lock (it is the slow part). Two threads missing on the same UA both
        // parse it; the results are equal and the second insert replaces the first.
        let parsed = Arc::new(parse(user_agent));
        lock(shard).put(user_agent.into(), Arc::clone(&parsed));
        parsed
    }

    fn shard_index(&self, user_agent: &str) -> usize {
        // Truncating the 64-bit hash is fine: only its low bits pick the shard.
        (self.shard_hasher.hash_one(user_agent) as usize) % self.shards.len()
    }

    fn stats(&self) -> UaCacheStats {
        UaCacheStats {
            hits: self.hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
            entries: self.shards.iter().map(|shard| lock(shard).len()).sum(),
            capacity: self.capacity,
        }
    }
}

/// A panic while holding a shard lock cannot leave the LRU half-updated in a way that matters (at
/// worst one entry is missing), so a poisoned lock is used as it is.
fn lock(shard: &Shard) -> MutexGuard<'_, LruCache<Box<str>, Arc<ParsedUa>>> {
    shard.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use std::sync::LazyLock;

    use http::HeaderValue;

    use super::*;

    /// Compiled once per test binary: building the rules is the slow part.
    static RULES: LazyLock<Arc<UaRules>> =
        LazyLock::new(|| Arc::new(UaRules::bundled().expect("bundled rules compile")));

    const CORPUS: &str = include_str!("../testdata/user_agents.tsv");

    const CHROME_WINDOWS: &str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36";
    const CHROME_MACOS: &str = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36";
    const CHROME_LINUX: &str = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36";
    const CHROME_ANDROID_REDUCED: &str = "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36";
    const CHROME_ANDROID_TABLET_REDUCED: &str = "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36";
    const SAFARI_MACOS: &str = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15";
    const FACEBOOK_ANDROID: &str = "Mozilla/5.0 (Linux; Android 14; SM-S911B Build/UP1A.231005.007; wv) AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/131.0.6778.39 Mobile Safari/537.36 [FB_IAB/FB4A;FBAV/490.0.0.52.81;]";
    const CHROME_BRANDS: &str =
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
                    .all(|c| c.is_ascii_alphanumeric() || " ._/()-".contains(c))
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
    fn hints_are_read_from_request_headers() {
        let mut headers = HeaderMap::new();
        headers.insert("sec-ch-ua", HeaderValue::from_static(CHROME_BRANDS));
        headers.insert("sec-ch-ua-mobile", HeaderValue::from_static("?1"));
        headers.insert(
            "sec-ch-ua-platform",
            HeaderValue::from_static(r#""Android""#),
        );
        let hints = ClientHints::from_headers(&headers);
        assert_eq!(
            hints,
            ClientHints {
                brands: Some(CHROME_BRANDS),
                mobile: Some("?1"),
                platform: Some(r#""Android""#),
                platform_version: None,
            }
        );

        let oversized = format!(r#""{}";v="1""#, "x".repeat(MAX_HINT_BYTES));
        headers.insert(
            "sec-ch-ua",
            HeaderValue::from_str(&oversized).expect("ascii header"),
        );
        headers.insert(
            "sec-ch-ua-platform",
            HeaderValue::from_bytes(b"\"Andr\xffoid\"").expect("obs-text is a valid header value"),
        );
        let hints = ClientHints::from_headers(&headers);
        assert_eq!(hints.brands, None, "over MAX_HINT_BYTES");
        assert_eq!(hints.platform, None, "not visible ASCII");
    }

    #[test]
    fn grease_brands_are_ignored() {
        let grease = [
            "Not A(Brand",
            "Not/A)Brand",
            "Not_A Brand",
            "Not?A_Brand",
            "Not.A/Brand",
            "Not;A=Brand",
            " Not A;Brand",
            "Not)A;Brand",
            "Not-A.Brand",
            "Not:A-Brand",
        ];
        for brand in grease {
            assert!(is_grease_brand(brand), "{brand:?} is GREASE");
        }
        for brand in [
            "Google Chrome",
            "Chromium",
            "Brand",
            "Not a browser",
            "NotABrandNew",
            "",
        ] {
            assert!(!is_grease_brand(brand), "{brand:?} is not GREASE");
        }
        // GREASE first, with `;` and `=` inside its quotes, and a brand we know after it.
        let (brand, headless) = meaningful_brand(
            r#""Not;A=Brand";v="99", "Google Chrome";v="131", "Chromium";v="131""#,
        );
        let brand = brand.expect("Google Chrome found");
        assert_eq!(
            (brand.rule.brand, brand.major, headless),
            ("Google Chrome", Some("131"), false)
        );
        // Only GREASE: no brand.
        assert!(meaningful_brand(r#""Not A(Brand";v="8""#).0.is_none());
    }

    #[test]
    fn brand_list_parser_reads_members_and_tolerates_junk() {
        let entries: Vec<BrandEntry<'_>> = BrandList::new(
            r#""Not A(Brand";v="8", "Chromium";v="132",  "Google Chrome" ; v="132.0.6834.83""#,
        )
        .collect();
        assert_eq!(
            entries,
            [
                BrandEntry {
                    brand: "Not A(Brand",
                    version: Some("8")
                },
                BrandEntry {
                    brand: "Chromium",
                    version: Some("132")
                },
                BrandEntry {
                    brand: "Google Chrome",
                    version: Some("132.0.6834.83")
                },
            ]
        );
        // Escapes, boolean and unquoted parameters.
        let entries: Vec<BrandEntry<'_>> =
            BrandList::new(r#""A \"quoted\" brand";flag;v=7, "B";x="y";v="2""#).collect();
        assert_eq!(
            entries,
            [
                BrandEntry {
                    brand: r#"A \"quoted\" brand"#,
                    version: Some("7")
                },
                BrandEntry {
                    brand: "B",
                    version: Some("2")
                },
            ]
        );
        for junk in [
            "",
            ",,,",
            "Chromium",
            r#""unterminated"#,
            r#""A";v"#,
            r#""A";v="#,
            ";;;",
            "\"\"",
            "\u{fffd}\"é\";v=\"ü\"",
        ] {
            // No panic, and never more than MAX_BRANDS members.
            assert!(BrandList::new(junk).count() <= MAX_BRANDS, "{junk:?}");
        }
        let many = vec![r#""X";v="1""#; 100].join(", ");
        assert_eq!(BrandList::new(&many).count(), MAX_BRANDS);
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
        let recorder = crate::test_recorder::TestRecorder::default();
        let classifier = metrics::with_local_recorder(&recorder, || classifier(8));
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
        assert_eq!(bounded_family("Brö\"wser\n").as_deref(), Some("Br__wser"));
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
}
