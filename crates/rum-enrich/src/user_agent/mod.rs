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
//! - Many Android tablets send `Mobile` (and `Sec-CH-UA-Mobile: ?1`) like a phone. The beacon's
//!   screen size decides instead: see [`DeviceSignals`] and the device rule in `merge`.
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
//!
//! Here: the rules, the classification and the label bounds. `client_hints.rs` reads the
//! `Sec-CH-UA*` headers; `cache.rs` is the sharded LRU in front of the uap-core parse.

mod cache;
mod client_hints;
#[cfg(test)]
mod conformance;
#[cfg(test)]
mod tests;

use std::num::NonZeroUsize;
use std::sync::Arc;

use crate::bots::{BotDetector, BotPatternError};

use self::cache::UaCache;
pub use self::cache::UaCacheStats;
use self::client_hints::{BRANDS, PLATFORMS, ParsedHints, platform_version_label};
pub use self::client_hints::{ClientHints, MAX_HINT_BYTES};

/// `regexes.yaml` of uap-core, converted to JSON by `scripts/vendor-enrich-data`.
const UAP_CORE_RULES_JSON: &str = include_str!("../../data/uap-core/regexes.json");

/// Default number of distinct UA strings the cache keeps: `enrich.ua_cache_capacity`'s default,
/// [`rum_config::DEFAULT_UA_CACHE_CAPACITY`] (a few MiB at most: keys are capped at
/// [`MAX_USER_AGENT_BYTES`]).
pub const DEFAULT_UA_CACHE_CAPACITY: NonZeroUsize =
    NonZeroUsize::new(rum_config::DEFAULT_UA_CACHE_CAPACITY).unwrap();

/// UA bytes looked at. Real browser UAs are under 300 bytes and in-app ones (Facebook, Instagram)
/// under 500; the tail of anything longer is ignored, which also caps cache memory per entry.
pub const MAX_USER_AGENT_BYTES: usize = 512;

/// Longest browser or OS family emitted (`Mobile Safari UI/WKWebView` is 26; the longest non-bot
/// family in uap-core's test cases is 39).
pub const MAX_FAMILY_CHARS: usize = 40;

/// Longest version emitted (`browser_major`, `os_version`).
pub const MAX_VERSION_CHARS: usize = 12;

/// Family reported when nothing matched (uap-core's own convention).
pub const UNKNOWN_FAMILY: &str = "Other";

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

const MAC_OS_FAMILY: &str = "Mac OS X";
const IOS_FAMILY: &str = "iOS";
const ANDROID_FAMILY: &str = "Android";
const WINDOWS_FAMILY: &str = "Windows";
const DESKTOP_SAFARI_FAMILY: &str = "Safari";
const MOBILE_SAFARI_FAMILY: &str = "Mobile Safari";

/// Shorter screen side, in CSS px, from which an Android or iOS touch device is a tablet: Android's
/// own tablet threshold (the `sw600dp` resource qualifier: 600 dp, and a CSS px is a dp in Android
/// browsers). The largest phones are 440-480 px wide, the smallest tablets (Nexus 7, iPad mini)
/// 600 and 744; an unfolded foldable (Galaxy Z Fold: 928) is tablet-sized and classed so.
pub const TABLET_MIN_SHORT_SIDE_PX: u32 = 600;

/// Screen sides above this are not a real screen (a bad or hostile beacon) and are ignored.
const MAX_SCREEN_SIDE_PX: u32 = 16_384;

/// What the page says about the device besides the UA: the beacon's `dev.touch`
/// (`navigator.maxTouchPoints`) and `dev.sw`/`dev.sh` (`screen.width`/`height`, CSS px). Both are
/// optional; older scripts send no screen.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DeviceSignals {
    pub touch_points: Option<u32>,
    pub screen: Option<(u32, u32)>,
}

impl DeviceSignals {
    /// Nothing known.
    pub const NONE: DeviceSignals = DeviceSignals {
        touch_points: None,
        screen: None,
    };

    /// Only the touch points known.
    pub const fn touch(points: u32) -> Self {
        Self {
            touch_points: Some(points),
            screen: None,
        }
    }

    /// The signals of a decoded beacon's `dev`.
    pub fn of(device: Option<&rum_schema::proto::Device>) -> Self {
        let Some(device) = device else {
            return Self::NONE;
        };
        Self {
            touch_points: device.max_touch_points,
            screen: device.screen_width.zip(device.screen_height),
        }
    }

    /// The shorter screen side, if the screen is known and plausible.
    fn shorter_side(&self) -> Option<u32> {
        let (width, height) = self.screen?;
        let shorter = width.min(height);
        (shorter > 0 && width.max(height) <= MAX_SCREEN_SIDE_PX).then_some(shorter)
    }

    fn has_touch(&self) -> bool {
        self.touch_points.is_some_and(|points| points > 0)
    }
}

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

    /// Classifies one beacon: its UA, client hints and `dev` signals. Never fails: a missing or
    /// unreadable UA gives `Other` families and [`DeviceClass::Other`].
    pub fn classify(
        &self,
        user_agent: &str,
        hints: &ClientHints<'_>,
        device: DeviceSignals,
    ) -> UaInfo {
        let parsed = self.parsed(user_agent);
        merge(&parsed, &ParsedHints::read(hints), device, &self.labels)
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

/// Applies client hints and the beacon's device signals to the cached UA reading.
///
/// The device rule, first match wins (docs/enrichment.md, "Phones, tablets, desktops"):
/// 1. a bot is a bot;
/// 2. `Sec-CH-UA-Form-Factors`, when sent, is the browser's own word;
/// 3. a Mac UA with more than one touch point is an iPad (Safari's desktop-site mode);
/// 4. Android or iOS with touch and a known screen: a tablet when the shorter side is at least
///    [`TABLET_MIN_SHORT_SIDE_PX`], else a phone, whatever the UA's `Mobile` token or
///    `Sec-CH-UA-Mobile` say;
/// 5. `Sec-CH-UA-Mobile`;
/// 6. what the UA string says.
fn merge(
    parsed: &ParsedUa,
    hints: &ParsedHints<'_>,
    device: DeviceSignals,
    labels: &StaticLabels,
) -> UaInfo {
    let touch_points = device.touch_points;
    let mut browser = Arc::clone(&parsed.browser);
    let mut browser_major = parsed.browser_major.clone();
    if let Some(brand) = &hints.brand
        && GENERIC_CHROMIUM_FAMILIES.contains(&&*parsed.browser)
    {
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
    let screen_class = device
        .shorter_side()
        .filter(|_| device.has_touch() && (&*os == ANDROID_FAMILY || &*os == IOS_FAMILY))
        .map(|shorter| {
            if shorter >= TABLET_MIN_SHORT_SIDE_PX {
                DeviceClass::Tablet
            } else {
                DeviceClass::Mobile
            }
        });
    let device_class = if is_bot {
        DeviceClass::Bot
    } else if let Some(form_factor) = hints.form_factor {
        form_factor
    } else if touch_points.is_some_and(|points| points > 1) && &*os == MAC_OS_FAMILY {
        // iPadOS Safari in its default "desktop website" mode: see the module docs.
        os = labels.get(IOS_FAMILY);
        os_version = parsed.ipados_version.clone();
        if &*browser == DESKTOP_SAFARI_FAMILY {
            browser = labels.get(MOBILE_SAFARI_FAMILY);
        }
        DeviceClass::Tablet
    } else if let Some(screen_class) = screen_class {
        screen_class
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

/// A family as a label: at most [`MAX_FAMILY_CHARS`] characters, each a letter or digit of any
/// script (`Seznam prohlížeč`) or one of ` ._/()-!^:[]` (`The Bat!`, `Symbian^3`), anything else
/// replaced by `_`. `None` if nothing printable is left. uap-core copies some families from the UA
/// text itself, so this is what stands between a client and a metric label: no quotes, backslashes,
/// `;`, `=`, `<`, `>`, control or invisible characters ever pass.
pub fn bounded_family(raw: &str) -> Option<Arc<str>> {
    bounded(raw, MAX_FAMILY_CHARS, |c| {
        c.is_alphanumeric()
            || matches!(
                c,
                ' ' | '.' | '_' | '/' | '(' | ')' | '-' | '!' | '^' | ':' | '[' | ']'
            )
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
