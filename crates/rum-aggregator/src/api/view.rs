//! The built-in view's endpoints (docs/api.md, "The view's endpoints"): `/api/v1/sites`,
//! `/api/v1/summary` and `/api/v1/breakdown`, built from what the exposition reads.

use serde_json::{Map, Value, json};

use super::{ApiAnswer, bad_request, parameters};
use crate::exact::RatingCounts;
use crate::metric::MetricKind;
use crate::settings::WINDOWS;
use crate::stage2::{SegmentState, Stage2};
use crate::view::SegmentKey;

/// Breakdown rows at most.
const MAX_ROWS: usize = 1000;
const DEFAULT_ROWS: usize = 50;
/// Actions listed in a summary.
const SUMMARY_ACTIONS: usize = 10;

fn unit(kind: MetricKind) -> &'static str {
    if kind.is_unitless() { "" } else { "s" }
}

/// `good`, `needs-improvement` or `poor` for a value in the exported unit.
fn rating(kind: MetricKind, exported: f64) -> Option<&'static str> {
    let (good, poor) = kind.thresholds()?;
    Some(if exported <= kind.raw_to_exported(good) {
        "good"
    } else if exported <= kind.raw_to_exported(poor) {
        "needs-improvement"
    } else {
        "poor"
    })
}

fn distribution(ratings: RatingCounts) -> Value {
    json!({
        "good": ratings.good,
        "needs_improvement": ratings.needs_improvement,
        "poor": ratings.poor,
    })
}

/// p75, rating, samples and distribution of `kind` over `window` in `segment`.
fn vital(
    stage2: &Stage2,
    segment: &SegmentState,
    kind: MetricKind,
    window: &str,
) -> (Value, Option<(f64, u64)>) {
    let summary = stage2.window(segment, kind, window);
    let Some(summary) = summary else {
        return (
            json!({ "metric": kind.name(), "unit": unit(kind), "p75": null, "rating": null,
                    "samples": 0, "distribution": distribution(RatingCounts::default()) }),
            None,
        );
    };
    let p75 = summary.quantile(kind, 0.75);
    let samples = summary.samples();
    let ratings = summary.exact.ratings(kind).unwrap_or_default();
    (
        json!({ "metric": kind.name(), "unit": unit(kind), "p75": p75, "rating": rating(kind, p75),
                "samples": samples, "distribution": distribution(ratings) }),
        Some((p75, samples)),
    )
}

/// The view whose only dimension is `site`, if configured.
fn site_view(stage2: &Stage2) -> Option<std::sync::Arc<str>> {
    stage2
        .views()
        .find(|view| view.dimensions.len() == 1)
        .map(|view| view.name.clone())
}

/// The site's segment of its site view, and the stage 2 holding it.
fn site_segment<'a>(stages: &[&'a Stage2], site: &str) -> Option<(&'a Stage2, &'a SegmentState)> {
    let view = site_view(stages.first()?)?;
    let key = SegmentKey {
        view,
        values: vec![std::sync::Arc::from(site)].into_boxed_slice(),
    };
    stages
        .iter()
        .find_map(|stage2| stage2.segment(&key).map(|segment| (*stage2, segment)))
}

fn window_known(window: &str) -> bool {
    WINDOWS.iter().any(|(label, _)| *label == window)
}

fn windows_list() -> String {
    WINDOWS
        .iter()
        .map(|(label, _)| *label)
        .collect::<Vec<_>>()
        .join(", ")
}

pub(super) fn sites(stages: &[&Stage2], query: &str) -> ApiAnswer {
    if let Some((name, _)) = parameters(query).into_iter().next() {
        return bad_request(&format!(
            "unknown parameter {name:?}; /api/v1/sites takes none"
        ));
    }
    let Some(first) = stages.first() else {
        return (
            200,
            json!({ "windows": [], "views": [], "vitals": [], "sites": [] }).to_string(),
        );
    };
    let views: Vec<Value> = first
        .views()
        .map(|view| {
            json!({ "name": &*view.name,
                    "dimensions": view.dimensions.iter().map(|d| d.label()).collect::<Vec<_>>() })
        })
        .collect();
    let vitals: Vec<Value> = MetricKind::VITALS
        .iter()
        .map(|kind| {
            let (good, poor) = kind.thresholds().expect("vitals have thresholds");
            json!({ "metric": kind.name(), "unit": unit(*kind),
                    "good": kind.raw_to_exported(good), "poor": kind.raw_to_exported(poor) })
        })
        .collect();
    let mut sites: Vec<(u64, String, Value)> = Vec::new();
    if let Some(view) = site_view(first) {
        for stage2 in stages {
            for (key, segment) in stage2.segments() {
                if key.view != view {
                    continue;
                }
                let site = key.values[0].to_string();
                sites.push((
                    segment.page_views,
                    site.clone(),
                    json!({ "site": site, "page_views": segment.page_views,
                            "errors": segment.errors.iter().sum::<u64>(),
                            "requests_failed": segment.requests_failed }),
                ));
            }
        }
    }
    sites.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
    let answer = json!({
        "windows": WINDOWS.iter().map(|(label, _)| *label).collect::<Vec<_>>(),
        "views": views,
        "vitals": vitals,
        "sites": sites.into_iter().map(|(_, _, site)| site).collect::<Vec<_>>(),
    });
    (200, answer.to_string())
}

pub(super) fn summary(stages: &[&Stage2], query: &str) -> ApiAnswer {
    let mut site = None;
    let mut window = "5m".to_owned();
    for (name, value) in parameters(query) {
        match name.as_str() {
            "site" => site = Some(value),
            "window" => window = value,
            other => {
                return bad_request(&format!("unknown parameter {other:?}; use site, window"));
            }
        }
    }
    let Some(site) = site else {
        return bad_request("site is required");
    };
    if !window_known(&window) {
        return bad_request(&format!(
            "unknown window {window:?}; use {}",
            windows_list()
        ));
    }
    if stages.first().and_then(|first| site_view(first)).is_none() {
        return bad_request("no view groups by site alone (add one with dimensions = [\"site\"])");
    }
    let Some((stage2, segment)) = site_segment(stages, &site) else {
        return bad_request(&format!("unknown site {site:?} (no data for it here)"));
    };
    let vitals: Vec<Value> = MetricKind::VITALS
        .iter()
        .map(|kind| vital(stage2, segment, *kind, &window).0)
        .collect();
    let trend: Vec<Value> = stage2
        .trend(segment, &MetricKind::VITALS)
        .into_iter()
        .map(|point| {
            let mut vitals = Map::new();
            for kind in MetricKind::VITALS {
                let value = point
                    .metrics
                    .iter()
                    .find(|(metric, _, _)| *metric == kind)
                    .map_or(
                        Value::Null,
                        |(_, samples, p75)| json!({ "p75": p75, "samples": samples }),
                    );
                vitals.insert(kind.name().to_owned(), value);
            }
            json!({ "start_ms": point.minute * 60_000, "minutes": point.span, "vitals": vitals })
        })
        .collect();
    let activity: Vec<Value> = stage2
        .activity()
        .minutes(&site)
        .map(|minute| {
            json!({ "start_ms": minute.minute * 60_000, "page_views": minute.page_views,
                    "errors": minute.errors, "requests_failed": minute.requests_failed })
        })
        .collect();
    let mut actions: Vec<(&str, &crate::names::ActionTally)> = segment
        .names()
        .map(|names| {
            names
                .actions
                .iter()
                .map(|(name, tally)| (&**name, tally))
                .collect()
        })
        .unwrap_or_default();
    actions.sort_by(|a, b| b.1.count.cmp(&a.1.count).then_with(|| a.0.cmp(b.0)));
    let actions: Vec<Value> = actions
        .into_iter()
        .take(SUMMARY_ACTIONS)
        .map(|(name, tally)| {
            json!({ "action": name, "count": tally.count, "rage": tally.rage, "dead": tally.dead,
                    "error_clicks": tally.error_clicks })
        })
        .collect();
    let sessions = stage2.sessions();
    let site_sessions = sessions
        .sites()
        .find(|(name, _)| ***name == *site)
        .map(|(_, s)| s);
    let funnels: Vec<Value> = site_sessions
        .map(|site_sessions| {
            sessions
                .funnels()
                .iter()
                .zip(&site_sessions.funnels)
                .filter(|(funnel, _)| funnel.applies_to(&site))
                .map(|(funnel, stats)| {
                    let steps: Vec<Value> = funnel
                        .steps
                        .iter()
                        .zip(&stats.reached)
                        .enumerate()
                        .map(|(index, (step, reached))| {
                            json!({ "step": index + 1, "target": step.target(), "sessions": reached })
                        })
                        .collect();
                    json!({ "funnel": &*funnel.name,
                            "conversions": stats.reached.last().copied().unwrap_or(0),
                            "steps": steps })
                })
                .collect()
        })
        .unwrap_or_default();
    let sessions_json = site_sessions.map_or(
        json!({ "active": 0, "ended": 0, "bounces": 0, "page_views": 0 }),
        |site_sessions| {
            json!({ "active": site_sessions.active(), "ended": site_sessions.ended.sessions,
                    "bounces": site_sessions.ended.bounces,
                    "page_views": site_sessions.ended.page_views })
        },
    );
    let now_ms = stage2.watermark_minute().saturating_mul(60_000);
    let answer = json!({
        "site": site,
        "window": window,
        "now_ms": now_ms,
        "vitals": vitals,
        "trend": trend,
        "activity": activity,
        "totals": { "page_views": segment.page_views, "errors": segment.errors.iter().sum::<u64>(),
                    "requests_failed": segment.requests_failed,
                    "requests_slow": segment.requests_slow },
        "actions": actions,
        "funnels": funnels,
        "sessions": sessions_json,
    });
    (200, answer.to_string())
}

/// One breakdown row before sorting: p75, samples, labels, and the row's JSON.
type Row = (f64, u64, Vec<String>, Value);

pub(super) fn breakdown(stages: &[&Stage2], query: &str) -> ApiAnswer {
    let mut site = None;
    let mut view = None;
    let mut metric = "lcp".to_owned();
    let mut window = "5m".to_owned();
    let mut sort = "p75".to_owned();
    let mut limit = DEFAULT_ROWS;
    for (name, value) in parameters(query) {
        match name.as_str() {
            "site" => site = Some(value),
            "view" => view = Some(value),
            "metric" => metric = value,
            "window" => window = value,
            "sort" => sort = value,
            "limit" => match value.parse::<usize>() {
                Ok(number) if (1..=MAX_ROWS).contains(&number) => limit = number,
                _ => return bad_request(&format!("limit must be a whole number 1..{MAX_ROWS}")),
            },
            other => {
                return bad_request(&format!(
                    "unknown parameter {other:?}; use site, view, metric, window, sort, limit"
                ));
            }
        }
    }
    let (Some(site), Some(view_name)) = (site, view) else {
        return bad_request("site and view are required");
    };
    let Some(first) = stages.first() else {
        return bad_request(&format!("unknown site {site:?} (no data for it here)"));
    };
    let Some(view) = first
        .views()
        .find(|candidate| *candidate.name == *view_name)
    else {
        let known: Vec<&str> = first.views().map(|view| &*view.name).collect();
        return bad_request(&format!(
            "unknown view {view_name:?}; use {}",
            known.join(", ")
        ));
    };
    let Some(kind) = MetricKind::from_name(&metric).filter(|kind| kind.is_vital()) else {
        return bad_request(&format!(
            "unknown metric {metric:?}; use lcp, inp, cls, fcp, ttfb"
        ));
    };
    if !window_known(&window) {
        return bad_request(&format!(
            "unknown window {window:?}; use {}",
            windows_list()
        ));
    }
    if sort != "p75" && sort != "samples" {
        return bad_request(&format!("unknown sort {sort:?}; use p75, samples"));
    }
    let site_known = stages
        .iter()
        .flat_map(|stage2| stage2.segments())
        .any(|(key, _)| *key.values[0] == *site);
    if !site_known {
        return bad_request(&format!("unknown site {site:?} (no data for it here)"));
    }
    let dimensions: Vec<&str> = view.dimensions.iter().skip(1).map(|d| d.label()).collect();
    let mut rows: Vec<Row> = Vec::new();
    for stage2 in stages {
        for (key, segment) in stage2.segments() {
            if key.view != view.name || *key.values[0] != *site {
                continue;
            }
            let (row, measured) = vital(stage2, segment, kind, &window);
            let Some((p75, samples)) = measured else {
                continue;
            };
            let values: Vec<String> = key.values.iter().skip(1).map(|v| v.to_string()).collect();
            let mut labels = Map::new();
            for (dimension, value) in dimensions.iter().zip(&values) {
                labels.insert((*dimension).to_owned(), json!(value));
            }
            let mut row = row;
            row["labels"] = Value::Object(labels);
            if let Some(object) = row.as_object_mut() {
                object.remove("metric");
                object.remove("unit");
            }
            rows.push((p75, samples, values, row));
        }
    }
    rows.sort_by(|a, b| {
        let primary = if sort == "samples" {
            b.1.cmp(&a.1)
        } else {
            b.0.total_cmp(&a.0)
        };
        primary
            .then_with(|| b.1.cmp(&a.1))
            .then_with(|| a.2.cmp(&b.2))
    });
    let segments = rows.len();
    let answer = json!({
        "site": site,
        "view": &*view.name,
        "dimensions": dimensions,
        "metric": kind.name(),
        "unit": unit(kind),
        "window": window,
        "segments": segments,
        "rows": rows.into_iter().take(limit).map(|(_, _, _, row)| row).collect::<Vec<_>>(),
    });
    (200, answer.to_string())
}

#[cfg(test)]
mod tests;
