//! Which rules are compiled into this binary and how old they are: the uap-core revision (from
//! `ua-parser-builtins`) and the crawler-user-agents release that `scripts/vendor-enrich-data`
//! wrote into `data/`. New browsers, in-app webviews and crawlers appear every month, so rules older
//! than [`STALE_AFTER_DAYS`] misread a growing share of traffic; `rum check-config` and the
//! collector's startup log say so.

use std::fmt;
use std::time::SystemTime;

/// `<uap-core commit> <commit date>`, written by `scripts/vendor-enrich-data`.
const UAP_CORE_REVISION: &str = include_str!("../data/uap-core/REVISION");
/// `<crawler-user-agents version> <release date>`, written by `scripts/vendor-enrich-data`.
const CRAWLER_RELEASE: &str = include_str!("../data/crawler-user-agents/RELEASE");

/// Rules older than this (about six months) draw a warning.
pub const STALE_AFTER_DAYS: i64 = 183;

/// One vendored data set: what it is, which version, and its date (`YYYY-MM-DD`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VendoredData {
    pub name: &'static str,
    pub version: &'static str,
    pub date: &'static str,
}

impl VendoredData {
    /// Whole days from this data's date to `now`; `None` if the date does not parse (a bad vendoring,
    /// caught by the tests).
    pub fn age_days(&self, now: SystemTime) -> Option<i64> {
        let released = days_since_epoch(self.date)?;
        let today = now.duration_since(SystemTime::UNIX_EPOCH).ok()?.as_secs() / 86_400;
        Some(i64::try_from(today).ok()? - released)
    }
}

impl fmt::Display for VendoredData {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "{} {} of {}", self.name, self.version, self.date)
    }
}

/// The uap-core rules and the crawler list compiled into this binary.
pub fn vendored_data() -> [VendoredData; 2] {
    let (revision, revision_date) = split_pair(UAP_CORE_REVISION);
    let (crawler_version, crawler_date) = split_pair(CRAWLER_RELEASE);
    [
        VendoredData {
            name: "uap-core",
            // A short commit id reads better and is still unique in uap-core.
            version: revision.get(..12).unwrap_or(revision),
            date: revision_date,
        },
        VendoredData {
            name: "crawler-user-agents",
            version: crawler_version,
            date: crawler_date,
        },
    ]
}

/// The vendored data sets older than [`STALE_AFTER_DAYS`] at `now`, with their age in days.
pub fn stale_data(now: SystemTime) -> Vec<(VendoredData, i64)> {
    vendored_data()
        .into_iter()
        .filter_map(|data| {
            let age = data.age_days(now)?;
            (age > STALE_AFTER_DAYS).then_some((data, age))
        })
        .collect()
}

/// One line for logs and `rum check-config`: `uap-core f87f3a9aea39 of 2026-05-26, ...`.
pub fn summary() -> String {
    vendored_data()
        .iter()
        .map(VendoredData::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

fn split_pair(line: &'static str) -> (&'static str, &'static str) {
    let mut fields = line.split_whitespace();
    (
        fields.next().unwrap_or("unknown"),
        fields.next().unwrap_or("unknown"),
    )
}

/// Days from 1970-01-01 to a `YYYY-MM-DD` date (proleptic Gregorian; H. Hinnant's `days_from_civil`).
fn days_since_epoch(date: &str) -> Option<i64> {
    let mut parts = date.splitn(3, '-');
    let year: i64 = parts.next()?.parse().ok()?;
    let month: i64 = parts.next()?.parse().ok()?;
    let day: i64 = parts.next()?.parse().ok()?;
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) {
        return None;
    }
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let month_from_march = (month + 9) % 12;
    let day_of_year = (153 * month_from_march + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    Some(era * 146_097 + day_of_era - 719_468)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn dates_count_days_from_the_epoch() {
        assert_eq!(days_since_epoch("1970-01-01"), Some(0));
        assert_eq!(days_since_epoch("2000-03-01"), Some(11_017));
        assert_eq!(days_since_epoch("2026-05-26"), Some(20_599));
        assert_eq!(days_since_epoch("2026-13-01"), None);
        assert_eq!(days_since_epoch("unknown"), None);
    }

    #[test]
    fn vendored_data_names_a_version_and_a_valid_date() {
        for data in vendored_data() {
            assert_ne!(data.version, "unknown", "{data}");
            assert!(days_since_epoch(data.date).is_some(), "{data}");
        }
        assert!(summary().starts_with("uap-core "), "{}", summary());
    }

    #[test]
    fn data_is_stale_six_months_after_its_date() {
        let [uap_core, _] = vendored_data();
        let dated = SystemTime::UNIX_EPOCH
            + Duration::from_secs(86_400 * days_since_epoch(uap_core.date).unwrap() as u64);
        assert_eq!(uap_core.age_days(dated), Some(0));
        let fresh = dated + Duration::from_secs(86_400 * STALE_AFTER_DAYS as u64);
        assert!(
            !stale_data(fresh)
                .iter()
                .any(|(data, _)| data.name == "uap-core")
        );
        let old = fresh + Duration::from_secs(86_400);
        let stale = stale_data(old);
        let (data, age) = stale
            .iter()
            .find(|(data, _)| data.name == "uap-core")
            .unwrap();
        assert_eq!((data.name, *age), ("uap-core", STALE_AFTER_DAYS + 1));
    }
}
