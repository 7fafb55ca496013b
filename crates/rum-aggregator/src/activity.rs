//! Page views, JavaScript errors and failed requests per site and minute over the last hour: the
//! built-in view's traffic chart. Counters on `/metrics` are cumulative (Prometheus takes their
//! rate); without Prometheus the view needs the per-minute counts themselves.
//!
//! Counted from the partials of the first view only: every beacon is in exactly one of its
//! segments, so each is counted once. Bounded: [`KEPT_MINUTES`] per site, sites bounded by
//! `max_sites` (stage 2 folds the rest into `__other__` before this sees them).

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

use rum_schema::proto;

/// Minutes kept per site (the last hour and the current minute).
pub const KEPT_MINUTES: i64 = 61;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MinuteActivity {
    pub minute: i64,
    pub page_views: u64,
    pub errors: u64,
    pub requests_failed: u64,
}

#[derive(Debug, Default)]
pub struct Activity {
    sites: BTreeMap<Arc<str>, VecDeque<MinuteActivity>>,
}

impl Activity {
    /// Adds one first-view partial's counts to its site's minute.
    pub fn add(&mut self, site: &Arc<str>, minute: i64, page_views: u64, errors: u64, failed: u64) {
        if page_views == 0 && errors == 0 && failed == 0 {
            return;
        }
        let minutes = self.sites.entry(site.clone()).or_default();
        // Partials of one minute mostly arrive together, and late ones are for recent minutes:
        // search from the back.
        let position = minutes.iter().rposition(|entry| entry.minute <= minute);
        let slot = match position {
            Some(index) if minutes[index].minute == minute => &mut minutes[index],
            Some(index) => {
                minutes.insert(
                    index + 1,
                    MinuteActivity {
                        minute,
                        ..MinuteActivity::default()
                    },
                );
                &mut minutes[index + 1]
            }
            None => {
                minutes.push_front(MinuteActivity {
                    minute,
                    ..MinuteActivity::default()
                });
                &mut minutes[0]
            }
        };
        slot.page_views += page_views;
        slot.errors += errors;
        slot.requests_failed += failed;
    }

    /// Forgets minutes older than the last hour before `watermark_minute`.
    pub fn expire(&mut self, watermark_minute: i64) {
        let oldest = watermark_minute.saturating_sub(KEPT_MINUTES - 1);
        self.sites.retain(|_, minutes| {
            while minutes.front().is_some_and(|entry| entry.minute < oldest) {
                minutes.pop_front();
            }
            !minutes.is_empty()
        });
    }

    /// A site's minutes, oldest first.
    pub fn minutes(&self, site: &str) -> impl Iterator<Item = &MinuteActivity> {
        self.sites.get(site).into_iter().flatten()
    }

    pub fn bytes(&self) -> usize {
        self.sites
            .values()
            .map(|minutes| 64 + minutes.capacity() * std::mem::size_of::<MinuteActivity>())
            .sum()
    }

    pub fn export(&self) -> Vec<proto::SiteActivitySnapshot> {
        self.sites
            .iter()
            .map(|(site, minutes)| proto::SiteActivitySnapshot {
                site: site.to_string(),
                minutes: minutes
                    .iter()
                    .map(|entry| proto::MinuteActivity {
                        minute: entry.minute,
                        page_views: entry.page_views,
                        errors: entry.errors,
                        requests_failed: entry.requests_failed,
                    })
                    .collect(),
            })
            .collect()
    }

    pub fn import(saved: &[proto::SiteActivitySnapshot]) -> Self {
        let mut activity = Self::default();
        for site in saved {
            let site_name: Arc<str> = Arc::from(site.site.as_str());
            for entry in &site.minutes {
                activity.add(
                    &site_name,
                    entry.minute,
                    entry.page_views,
                    entry.errors,
                    entry.requests_failed,
                );
            }
        }
        activity
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minutes_add_up_in_order_whatever_the_arrival_and_expire_after_an_hour() {
        let site: Arc<str> = Arc::from("shop");
        let mut activity = Activity::default();
        for (minute, page_views) in [(10, 1), (12, 2), (11, 3), (12, 4), (9, 5)] {
            activity.add(&site, minute, page_views, 1, 0);
        }
        activity.add(&site, 13, 0, 0, 0);
        let minutes: Vec<(i64, u64, u64)> = activity
            .minutes("shop")
            .map(|entry| (entry.minute, entry.page_views, entry.errors))
            .collect();
        assert_eq!(minutes, [(9, 5, 1), (10, 1, 1), (11, 3, 1), (12, 6, 2)]);
        let restored = Activity::import(&activity.export());
        assert_eq!(restored.export(), activity.export());
        activity.expire(9 + KEPT_MINUTES);
        let left: Vec<i64> = activity.minutes("shop").map(|entry| entry.minute).collect();
        assert_eq!(left, [10, 11, 12]);
        activity.expire(100 + KEPT_MINUTES);
        assert_eq!(activity.minutes("shop").count(), 0);
    }
}
