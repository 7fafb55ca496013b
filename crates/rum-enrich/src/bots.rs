//! Bot detection from the user agent string: the crawler patterns of the npm package
//! `crawler-user-agents` (MIT, vendored and pinned in `data/crawler-user-agents/`, see
//! `scripts/vendor-enrich-data`) plus the synthetic agents that package does not list (Lighthouse,
//! WebPageTest, SpeedCurve, ...), compiled once into one [`RegexSet`].
//!
//! The collector does not call this directly: [`crate::user_agent::UaClassifier`] asks it once per
//! distinct user agent and caches the verdict beside the parse. It answers "is this UA a bot?" and
//! must never do more than match: no I/O, no per-call compilation, no allocation in `is_bot`. It also only sees
//! the UA string; automation that sends a browser's UA (scrapers usually set one) is not detectable
//! here, and the client hint brand `HeadlessChrome` is checked by the classifier.
//!
//! Every upstream pattern compiles unchanged with the `regex` crate (checked by the tests, which also
//! match each upstream `instances` example). A few upstream patterns also match real browsers (a
//! phone model, an app name, an Android build id); [`NARROWED_PATTERNS`] replaces or drops each,
//! with the reason, and the tests check every one against a corpus of real browser user agents
//! (uap-core's test cases and Playwright's device descriptors) with no hit allowed. If a version bump
//! brings a pattern that does not compile, [`BotDetector::new`] fails naming it.

use regex::RegexSet;
use serde::Deserialize;

/// The vendored `crawler-user-agents.json`: an array of entries with a `pattern` each (plus `url`,
/// `instances`, ... that only the tests read).
const CRAWLER_USER_AGENTS_JSON: &str =
    include_str!("../data/crawler-user-agents/crawler-user-agents.json");

/// Synthetic and headless agents beside `crawler-user-agents`. The tests check that each adds
/// something the upstream list misses, except `HeadlessChrome`, `PTST/` and `GTmetrix`: upstream has
/// those today, and they stay here because a RUM system must drop them whatever a future upstream
/// version does. Case-sensitive, like the upstream patterns.
pub const EXTRA_BOT_PATTERNS: &[&str] = &[
    // Headless Chrome and chrome-headless-shell (Puppeteer, Playwright), unless the script sets a UA.
    "HeadlessChrome",
    // Lighthouse and PageSpeed Insights append `Chrome-Lighthouse`; Lighthouse CI and older
    // releases say `Lighthouse` alone.
    r"\bLighthouse\b",
    // WebPageTest agents append `PTST/<build>`; some private instances say `WebPageTest`.
    r"(^| )PTST/",
    "WebPageTest",
    "GTmetrix",
    "Google Page Speed Insights",
    "SpeedCurve",
    r"sitespeed\.io",
    "DebugBear",
    "Prerender",
    r"\bCypress/",
];

/// Upstream patterns that hit real browsers, each replaced by a narrower one that still matches all of
/// that entry's `instances` (`Some`), or dropped (`None`). Found by the real-browser corpus test
/// (`real_browsers_are_not_bots`); a version bump that changes one of these upstream patterns fails
/// `every_narrowing_names_an_upstream_pattern` so the decision is looked at again.
pub const NARROWED_PATTERNS: &[(&str, Option<&str>, &str)] = &[
    (
        "Butterfly",
        Some("Butterfly/"),
        "Topsy's crawler says `Butterfly/1.0`; the bare word also matches the HTC Butterfly phones",
    ),
    (
        "Sonic",
        Some(r"\bSonic/|RankSonic"),
        "the Waseda crawler says `Sonic/1.0`; the bare word matches ViewSonic tablets and phones",
    ),
    (
        r"008\/",
        Some(r"\b008/"),
        "80legs says `008/0.83`; unanchored it matches Opera Mini builds (`Opera Mini/4.4.39008/`)",
    ),
    (
        r"RED\/",
        Some(r"\bRED/"),
        "REDbot says `RED/2.0`; unanchored it matches app tokens like `WIRED/3.2`",
    ),
    (
        "speedy",
        Some(r"(?i)speedy[ _]?spider"),
        "Entireweb's Speedy Spider; `speedy` alone matches the HTC Desire HD codename in app UAs",
    ),
    (
        r"AP3A\.240617\.008",
        None,
        "an Android build id: it matches every browser and app on phones with that firmware (its \
         one example is Instagram's in-app browser on an OPPO phone)",
    ),
];

/// Why the bot patterns could not be compiled. Only a bad vendored data file can cause this, and
/// the tests compile the same file, so it is a startup error, never a request-path one.
#[derive(Debug, thiserror::Error)]
pub enum BotPatternError {
    #[error("crawler-user-agents.json is not a list of {{\"pattern\": ...}} entries")]
    Json(#[source] serde_json::Error),
    #[error("bot pattern {pattern:?} does not compile")]
    Pattern {
        pattern: String,
        #[source]
        source: regex::Error,
    },
    #[error("bot pattern set does not compile")]
    Set(#[source] regex::Error),
}

#[derive(Deserialize)]
struct CrawlerEntry {
    pattern: String,
}

/// Matches a user agent against every known bot pattern at once.
#[derive(Debug)]
pub struct BotDetector {
    patterns: RegexSet,
    upstream_pattern_count: usize,
}

impl BotDetector {
    /// Compiles the vendored crawler patterns and [`EXTRA_BOT_PATTERNS`] (10-30 ms in release on
    /// the 2-core development machine; a match then costs about 3 us).
    pub fn new() -> Result<Self, BotPatternError> {
        let upstream: Vec<CrawlerEntry> =
            serde_json::from_str(CRAWLER_USER_AGENTS_JSON).map_err(BotPatternError::Json)?;
        let upstream_pattern_count = upstream.len();
        let all_patterns: Vec<&str> = upstream
            .iter()
            .filter_map(|entry| narrowed(&entry.pattern))
            .chain(EXTRA_BOT_PATTERNS.iter().copied())
            .collect();
        match RegexSet::new(&all_patterns) {
            Ok(patterns) => Ok(Self {
                patterns,
                upstream_pattern_count,
            }),
            // The set's error does not say which pattern failed; find it so the message does.
            Err(set_error) => {
                Err(first_bad_pattern(&all_patterns).unwrap_or(BotPatternError::Set(set_error)))
            }
        }
    }

    /// True when any bot pattern matches `user_agent`.
    pub fn is_bot(&self, user_agent: &str) -> bool {
        self.patterns.is_match(user_agent)
    }

    /// The first pattern that matches `user_agent`, for diagnostics and tests (slower than
    /// [`Self::is_bot`]: it finds every match).
    pub fn matching_pattern(&self, user_agent: &str) -> Option<&str> {
        let first_match = self.patterns.matches(user_agent).into_iter().next()?;
        Some(self.patterns.patterns()[first_match].as_str())
    }

    /// Patterns in `crawler-user-agents` (the set holds them less the dropped [`NARROWED_PATTERNS`]).
    pub fn upstream_pattern_count(&self) -> usize {
        self.upstream_pattern_count
    }

    /// All patterns in the set, upstream and [`EXTRA_BOT_PATTERNS`].
    pub fn pattern_count(&self) -> usize {
        self.patterns.len()
    }
}

/// The pattern to use for an upstream one: itself, its narrower replacement, or `None` if dropped.
fn narrowed(upstream: &str) -> Option<&str> {
    match NARROWED_PATTERNS
        .iter()
        .find(|(pattern, _, _)| *pattern == upstream)
    {
        Some((_, replacement, _)) => *replacement,
        None => Some(upstream),
    }
}

fn first_bad_pattern(patterns: &[&str]) -> Option<BotPatternError> {
    patterns.iter().find_map(|pattern| {
        regex::Regex::new(pattern)
            .err()
            .map(|source| BotPatternError::Pattern {
                pattern: (*pattern).to_owned(),
                source,
            })
    })
}

#[cfg(test)]
mod tests {
    use std::sync::LazyLock;

    use super::*;

    static DETECTOR: LazyLock<BotDetector> =
        LazyLock::new(|| BotDetector::new().expect("vendored bot patterns compile"));

    #[derive(Deserialize)]
    struct CrawlerEntryWithExamples {
        pattern: String,
        instances: Vec<String>,
    }

    fn upstream_entries() -> Vec<CrawlerEntryWithExamples> {
        serde_json::from_str(CRAWLER_USER_AGENTS_JSON).expect("vendored json parses")
    }

    #[test]
    fn every_upstream_pattern_compiles_unchanged() {
        let entries = upstream_entries();
        // crawler-user-agents 1.60.0 has 1500 patterns; a bump changes this on purpose.
        assert_eq!(entries.len(), 1500);
        let skipped: Vec<&str> = entries
            .iter()
            .map(|entry| entry.pattern.as_str())
            .filter(|pattern| regex::Regex::new(pattern).is_err())
            .collect();
        assert_eq!(
            skipped,
            Vec::<&str>::new(),
            "patterns the regex crate rejects"
        );
        assert_eq!(DETECTOR.upstream_pattern_count(), entries.len());
        let dropped = NARROWED_PATTERNS
            .iter()
            .filter(|(_, replacement, _)| replacement.is_none())
            .count();
        assert_eq!(
            DETECTOR.pattern_count(),
            entries.len() - dropped + EXTRA_BOT_PATTERNS.len()
        );
    }

    #[test]
    fn every_narrowing_names_an_upstream_pattern() {
        let entries = upstream_entries();
        for (pattern, replacement, reason) in NARROWED_PATTERNS {
            let entry = entries
                .iter()
                .find(|entry| entry.pattern == *pattern)
                .unwrap_or_else(|| panic!("{pattern:?} is no longer upstream: drop its narrowing"));
            let Some(replacement) = replacement else {
                continue;
            };
            let narrow = regex::Regex::new(replacement).expect("replacement compiles");
            for instance in &entry.instances {
                assert!(
                    narrow.is_match(instance),
                    "{replacement:?} ({reason}) misses upstream's example {instance:?}"
                );
            }
        }
    }

    #[test]
    fn every_upstream_example_is_a_bot() {
        let dropped: Vec<&str> = NARROWED_PATTERNS
            .iter()
            .filter(|(_, replacement, _)| replacement.is_none())
            .map(|(pattern, _, _)| *pattern)
            .collect();
        let missed: Vec<(String, String)> = upstream_entries()
            .into_iter()
            .filter(|entry| !dropped.contains(&entry.pattern.as_str()))
            .flat_map(|entry| {
                let pattern = entry.pattern;
                entry
                    .instances
                    .into_iter()
                    .map(move |instance| (pattern.clone(), instance))
            })
            .filter(|(_, instance)| !DETECTOR.is_bot(instance))
            .collect();
        assert!(missed.is_empty(), "examples not detected: {missed:#?}");
    }

    #[test]
    fn synthetic_agents_are_bots() {
        let synthetic = [
            "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/131.0.0.0 Safari/537.36",
            "Mozilla/5.0 (Linux; Android 11; moto g power (2022)) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36 Chrome-Lighthouse",
            "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36 Lighthouse",
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 PTST/241107.191433",
            "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36 GTmetrix",
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/61.0.3163.100 Safari/537.36 PingdomPageSpeed/1.0 (pingbot/2.0; +http://www.pingdom.com/)",
            "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36 SpeedCurve",
            "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36 Prerender (+https://github.com/prerender/prerender)",
            "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Cypress/13.6.0 Chrome/118.0.5993.159 Electron/27.1.3 Safari/537.36",
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36 DatadogSynthetics",
            "curl/8.5.0",
            "python-requests/2.32.3",
        ];
        for user_agent in synthetic {
            assert!(DETECTOR.is_bot(user_agent), "not a bot: {user_agent}");
        }
    }

    #[test]
    fn extra_patterns_each_add_something_or_are_kept_on_purpose() {
        let upstream: Vec<String> = upstream_entries()
            .into_iter()
            .map(|entry| entry.pattern)
            .collect();
        let upstream_only = RegexSet::new(&upstream).expect("upstream compiles");
        let examples = [
            (
                "Lighthouse",
                "Mozilla/5.0 Chrome/126.0.0.0 Safari/537.36 Lighthouse",
            ),
            (
                "WebPageTest",
                "Mozilla/5.0 Chrome/126.0.0.0 Safari/537.36 WebPageTest",
            ),
            (
                "Google Page Speed Insights",
                "Mozilla/5.0 (compatible; Google Page Speed Insights)",
            ),
            (
                "SpeedCurve",
                "Mozilla/5.0 Chrome/120.0.0.0 Safari/537.36 SpeedCurve",
            ),
            (
                "sitespeed.io",
                "Mozilla/5.0 Chrome/120.0.0.0 Safari/537.36 sitespeed.io/33.0",
            ),
            (
                "DebugBear",
                "Mozilla/5.0 Chrome/120.0.0.0 Safari/537.36 DebugBear",
            ),
            (
                "Prerender",
                "Mozilla/5.0 Chrome/120.0.0.0 Safari/537.36 Prerender",
            ),
            (
                "Cypress",
                "Mozilla/5.0 Cypress/13.6.0 Chrome/118.0.5993.159 Electron/27.1.3",
            ),
        ];
        for (name, user_agent) in examples {
            assert!(
                !upstream_only.is_match(user_agent),
                "{name}: upstream now has it"
            );
            assert!(
                DETECTOR.is_bot(user_agent),
                "{name}: extra pattern misses it"
            );
        }
    }

    #[test]
    fn browsers_are_not_bots() {
        let browsers = [
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
            "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1",
            "Mozilla/5.0 (Android 14; Mobile; rv:133.0) Gecko/133.0 Firefox/133.0",
        ];
        for user_agent in browsers {
            assert_eq!(DETECTOR.matching_pattern(user_agent), None, "{user_agent}");
        }
    }

    #[test]
    fn hostile_input_is_just_not_matched() {
        assert!(!DETECTOR.is_bot(""));
        assert!(!DETECTOR.is_bot("\u{0}\u{1}\u{7f}\u{fffd}"));
        let huge = "A".repeat(1 << 20);
        assert!(!DETECTOR.is_bot(&huge));
    }
}
