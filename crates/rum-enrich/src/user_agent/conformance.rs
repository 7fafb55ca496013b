//! Conformance with uap-core's own test cases at the vendored revision (`data/uap-core/tests/`,
//! converted from `tests/test_ua.yaml`, `test_os.yaml` and `test_device.yaml` by
//! `scripts/vendor-enrich-data`): what the classifier emits for each case against what uap-core
//! says it should. Families and majors go through the classifier (so the label bounds and the OS
//! normalisation are part of what is measured); device families, which the classifier does not
//! emit, go through the rules alone.
//!
//! Every difference must have a known reason, and the share of exact matches must stay at or above
//! [`REQUIRED_SHARE`]. The reasons:
//! - `label`: the expected family holds a character outside the label charset (`!`, `+`, `:`, ...)
//!   or is longer than [`MAX_FAMILY_CHARS`]; the classifier emits exactly `bounded_family(expected)`.
//! - `ua_capped`: the UA is longer than [`MAX_USER_AGENT_BYTES`] and the part that decides the
//!   answer is in the ignored tail.
//! - `frozen_version`: an OS version the classifier deliberately drops because the UA freezes it
//!   (reduced Chrome's `Android 10; K`, `Mac OS X 10_15_7`); see the module docs.
//! - `mac_family`: uap-core's one rule that copies the matched macOS spelling (`MacOS X`), which the
//!   classifier names `Mac OS X`.
//! - `bot_major`: cases uap-core itself classes as bots keep their family; nothing to explain, but
//!   listed so a bot verdict cannot hide a family difference.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::*;

/// Share of cases that must match exactly (the goal: 99%).
const REQUIRED_SHARE: f64 = 0.99;

const UA_CASES: &str = include_str!("../../data/uap-core/tests/ua.json");
const OS_CASES: &str = include_str!("../../data/uap-core/tests/os.json");
const DEVICE_CASES: &str = include_str!("../../data/uap-core/tests/device.json");

#[derive(Deserialize)]
struct Case {
    user_agent_string: String,
    family: Option<String>,
    major: Option<String>,
}

fn cases(json: &str) -> Vec<Case> {
    serde_json::from_str(json).expect("vendored uap-core test cases parse")
}

fn rules() -> UaRules {
    UaRules::bundled().expect("bundled rules compile")
}

/// Tally of one measured field: exact matches, and differences by reason.
#[derive(Default)]
struct Tally {
    cases: usize,
    exact: usize,
    explained: BTreeMap<&'static str, usize>,
    unexplained: Vec<String>,
}

impl Tally {
    fn record(
        &mut self,
        matched: bool,
        reason: Option<&'static str>,
        describe: impl FnOnce() -> String,
    ) {
        self.cases += 1;
        if matched {
            self.exact += 1;
        } else if let Some(reason) = reason {
            *self.explained.entry(reason).or_default() += 1;
        } else {
            self.unexplained.push(describe());
        }
    }

    fn share(&self) -> f64 {
        self.exact as f64 / self.cases as f64
    }

    /// Prints the figures (`cargo test -- --nocapture` shows them) and checks the goal.
    fn check(&self, what: &str, minimum_cases: usize) {
        eprintln!(
            "{what}: {}/{} exact ({:.2}%), explained {:?}",
            self.exact,
            self.cases,
            100.0 * self.share(),
            self.explained
        );
        assert!(
            self.cases >= minimum_cases,
            "{what}: only {} cases",
            self.cases
        );
        assert!(
            self.unexplained.is_empty(),
            "{what}: {} differences without a known reason:\n{}",
            self.unexplained.len(),
            self.unexplained.join("\n")
        );
        assert!(
            self.share() >= REQUIRED_SHARE,
            "{what}: {:.2}% exact, want {:.0}%",
            100.0 * self.share(),
            100.0 * REQUIRED_SHARE
        );
    }
}

fn label_of(expected: Option<&str>) -> Arc<str> {
    expected
        .and_then(bounded_family)
        .unwrap_or_else(|| UNKNOWN_FAMILY.into())
}

fn is_capped(user_agent: &str) -> bool {
    user_agent.trim().len() > MAX_USER_AGENT_BYTES
}

#[test]
fn browser_families_and_majors_match_uap_core() {
    let rules = Arc::new(rules());
    let classifier = UaClassifier::with_rules(Arc::clone(&rules), DEFAULT_UA_CACHE_CAPACITY);
    let mut families = Tally::default();
    let mut majors = Tally::default();
    for case in cases(UA_CASES) {
        let info = classifier.classify(
            &case.user_agent_string,
            &ClientHints::default(),
            DeviceSignals::NONE,
        );
        let expected = case.family.as_deref().unwrap_or(UNKNOWN_FAMILY);
        let family_matched = &*info.browser == expected;
        let reason = if is_capped(&case.user_agent_string) {
            Some("ua_capped")
        } else if info.browser == label_of(Some(expected)) {
            Some("label")
        } else {
            None
        };
        families.record(family_matched, reason, || {
            format!(
                "{:?}: {:?}, want {expected:?}",
                case.user_agent_string, info.browser
            )
        });
        let expected_major = case.major.as_deref().and_then(bounded_version);
        majors.record(
            info.browser_major == expected_major,
            is_capped(&case.user_agent_string).then_some("ua_capped"),
            || {
                format!(
                    "{:?}: {:?}, want {:?}",
                    case.user_agent_string, info.browser_major, case.major
                )
            },
        );
    }
    families.check("browser family", 1500);
    majors.check("browser major", 1500);
}

#[test]
fn os_families_match_uap_core() {
    let rules = Arc::new(rules());
    let classifier = UaClassifier::with_rules(Arc::clone(&rules), DEFAULT_UA_CACHE_CAPACITY);
    let mut families = Tally::default();
    for case in cases(OS_CASES) {
        let info = classifier.classify(
            &case.user_agent_string,
            &ClientHints::default(),
            DeviceSignals::NONE,
        );
        let expected = case.family.as_deref().unwrap_or(UNKNOWN_FAMILY);
        let reason = if is_capped(&case.user_agent_string) {
            Some("ua_capped")
        } else if normalise_os_family(expected) != expected && &*info.os == MAC_OS_FAMILY {
            Some("mac_family")
        } else if info.os == label_of(Some(expected)) {
            Some("label")
        } else {
            None
        };
        families.record(&*info.os == expected, reason, || {
            format!(
                "{:?}: {:?}, want {expected:?}",
                case.user_agent_string, info.os
            )
        });
    }
    families.check("OS family", 450);
}

#[test]
fn device_families_match_uap_core() {
    let rules = rules();
    let mut families = Tally::default();
    for case in cases(DEVICE_CASES) {
        let device = rules.uap.dev.extract(&case.user_agent_string);
        let found = device
            .as_ref()
            .map_or(UNKNOWN_FAMILY, |device| &*device.device);
        let expected = case.family.as_deref().unwrap_or(UNKNOWN_FAMILY);
        families.record(found == expected, None, || {
            format!("{:?}: {found:?}, want {expected:?}", case.user_agent_string)
        });
    }
    families.check("device family", 15000);
}

/// Playwright's device descriptors (`sdk/scripts/device-corpus.mjs`): real browser user agents with
/// their touch points, screen size and the device class a person would give them.
pub(super) const PLAYWRIGHT_DEVICES: &str = include_str!("../../testdata/playwright_devices.tsv");

/// One row of [`PLAYWRIGHT_DEVICES`].
pub(super) struct DeviceRow<'a> {
    pub name: &'a str,
    pub expected: &'a str,
    pub touch_points: u32,
    pub screen: (u32, u32),
    pub user_agent: &'a str,
}

pub(super) fn playwright_devices() -> Vec<DeviceRow<'static>> {
    PLAYWRIGHT_DEVICES
        .lines()
        .filter(|line| !line.starts_with('#') && !line.is_empty())
        .map(|line| {
            let fields: Vec<&str> = line.split('\t').collect();
            assert_eq!(fields.len(), 6, "bad corpus line: {line}");
            let number = |field: &str| field.parse::<u32>().expect("corpus number");
            DeviceRow {
                name: fields[0],
                expected: fields[1],
                touch_points: number(fields[2]),
                screen: (number(fields[3]), number(fields[4])),
                user_agent: fields[5],
            }
        })
        .collect()
}

/// uap-core families of agents that render pages like a browser but for automation or synthetic
/// monitoring: a bot verdict on them is right, so they are not part of the real-browser corpus.
const AUTOMATION_FAMILIES: &[&str] = &[
    "HeadlessChrome",
    "PhantomJS",
    "Ruxit Synthetic",
    "Catchpoint",
];

/// A browser user agent: Mozilla/Opera-style with a rendering engine token.
fn looks_like_a_browser(user_agent: &str) -> bool {
    (user_agent.starts_with("Mozilla/") || user_agent.starts_with("Opera/"))
        && ["AppleWebKit/", "Gecko/", "Presto/", "Trident/"]
            .iter()
            .any(|engine| user_agent.contains(engine))
}

#[test]
fn real_browsers_are_not_bots() {
    let rules = Arc::new(rules());
    let classifier = UaClassifier::with_rules(Arc::clone(&rules), DEFAULT_UA_CACHE_CAPACITY);
    let mut corpus: Vec<String> = [UA_CASES, OS_CASES, DEVICE_CASES]
        .into_iter()
        .flat_map(cases)
        .map(|case| case.user_agent_string)
        .filter(|user_agent| looks_like_a_browser(user_agent))
        .filter(|user_agent| {
            let device = rules.uap.dev.extract(user_agent);
            let family = rules.uap.ua.extract(user_agent);
            device.is_none_or(|device| device.device != "Spider")
                && family.is_none_or(|family| !AUTOMATION_FAMILIES.contains(&&*family.family))
        })
        .collect();
    corpus.extend(
        playwright_devices()
            .iter()
            .map(|row| row.user_agent.to_owned()),
    );
    corpus.sort_unstable();
    corpus.dedup();
    assert!(corpus.len() > 9_000, "corpus shrank to {}", corpus.len());
    let hits: Vec<String> = corpus
        .iter()
        .filter(|user_agent| {
            classifier
                .classify(user_agent, &ClientHints::default(), DeviceSignals::NONE)
                .is_bot
        })
        .map(|user_agent| {
            format!(
                "{:?}: {user_agent}",
                rules.bots.matching_pattern(user_agent)
            )
        })
        .collect();
    eprintln!(
        "real-browser corpus: {} user agents, {} called bots",
        corpus.len(),
        hits.len()
    );
    assert!(
        hits.is_empty(),
        "real browsers called bots:\n{}",
        hits.join("\n")
    );
}
