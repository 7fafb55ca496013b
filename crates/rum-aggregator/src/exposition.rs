//! Prometheus text exposition of the per-segment RUM data (the process's own health metrics are
//! rendered by the metrics exporter and appended by the caller).
//!
//! Families, per metric (`lcp`, `inp`, `cls`, `fcp`, `ttfb`, `nav_*`):
//! - `rum_<m>_window_seconds{view, <dimensions>, window, quantile}` (CLS: `rum_cls_window`), typed
//!   `summary` without `_sum`/`_count`: HDR quantiles p50 p75 p90 p95 p99 over the rolling windows
//!   1m 5m 15m 1h (they go up and down with the window, like a gauge);
//! - `rum_<m>_window_samples{view, <dimensions>, window}` gauge: samples in that window;
//! - `rum_<m>_seconds` histogram (CLS: `rum_cls`): cumulative exact counts at threshold-aligned
//!   bounds (so `le="2.5"` of LCP is exactly the good count), `_sum`, `_count`. A minute joins it once
//!   the allowed lateness has passed, so a re-sent metric is counted once with its latest value and
//!   the counters never go down.
//!
//! And per segment: `rum_page_views_total`, `rum_errors_total{kind}`, `rum_requests_failed_total`,
//! `rum_requests_slow_total`; in views with `actions = true`, by name: `rum_actions_total{action}`,
//! `rum_action_frustrations_total{action, signal}`, `rum_action_time_seconds_total{action}` and
//! `rum_action_timed_total{action}` (mean loading time = their ratio), `rum_events_total{event}`,
//! `rum_event_value_total{event}`, `rum_long_frame_script_seconds_total{origin}`, the resource
//! families by origin, `rum_request_failures_total{method, endpoint, status}` and the histogram of
//! every call `rum_request_duration_seconds{method, endpoint, status}`; and the `action_loading`
//! histogram families above. In OpenMetrics, histogram buckets carry the latest traced sample
//! that fell in them as an exemplar (`exemplar.rs`). Segments that reported long animation frames also
//! have `rum_long_frames_total` and `rum_long_frame_blocking_seconds_total`.

use std::fmt::Write;

use crate::exemplar::{Exemplar, push_exemplar};
use crate::metric::MetricKind;
use crate::names::{
    ActionTally, CALL_BOUNDS_MS, EventTally, NameKind, NamedCounts, RESOURCE_BOUNDS_MS,
    ResourceTally, split_failed_request,
};
use crate::settings::{QUANTILES, WINDOWS};
use crate::stage1::{ERROR_KINDS, RESOURCE_TYPES};
use crate::stage2::{SegmentState, Stage2};
use crate::view::SegmentKey;

/// The text format an exposition is rendered in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Format {
    /// Prometheus text 0.0.4 (`text/plain; version=0.0.4`).
    #[default]
    Prometheus,
    /// OpenMetrics 1.0.0: counters' `# TYPE` and `# HELP` name the family without `_total`, and
    /// histogram buckets carry exemplars. The caller ends the whole exposition with `# EOF`.
    OpenMetrics,
}

fn description(kind: MetricKind) -> &'static str {
    match kind {
        MetricKind::Lcp => "Largest Contentful Paint",
        MetricKind::Inp => "Interaction to Next Paint",
        MetricKind::Cls => "Cumulative Layout Shift (unitless score)",
        MetricKind::Fcp => "First Contentful Paint",
        MetricKind::Ttfb => "Time to First Byte",
        MetricKind::NavDns => "Navigation DNS lookup time",
        MetricKind::NavConnect => "Navigation TCP connect time",
        MetricKind::NavTls => "Navigation TLS handshake time",
        MetricKind::NavDownload => "Navigation document download time",
        MetricKind::NavDomInteractive => "Navigation start to DOM interactive",
        MetricKind::NavDomComplete => "Navigation start to DOM complete",
        MetricKind::NavLoad => "Navigation start to load event end",
        MetricKind::ActionLoading => "User action loading time (until the page is quiet again)",
    }
}

/// Appends `name="value"` with Prometheus escaping.
fn push_label(out: &mut String, name: &str, value: &str) {
    if !out.is_empty() && !out.ends_with('{') {
        out.push(',');
    }
    out.push_str(name);
    out.push_str("=\"");
    for character in value.chars() {
        match character {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            other => out.push(other),
        }
    }
    out.push('"');
}

fn segment_labels(stage2: &Stage2, key: &SegmentKey) -> String {
    let mut labels = String::new();
    push_label(&mut labels, "view", &key.view);
    if let Some(view) = stage2.views().find(|view| view.name == key.view) {
        for (dimension, value) in view.dimensions.iter().zip(key.values.iter()) {
            push_label(&mut labels, dimension.label(), value);
        }
    }
    labels
}

/// Prometheus float formatting (`+Inf`, no exponent surprises).
pub(crate) fn number(value: f64) -> String {
    if value.is_infinite() {
        if value > 0.0 {
            "+Inf".into()
        } else {
            "-Inf".into()
        }
    } else {
        format!("{value}")
    }
}

/// A per-segment counter family: name, help, and how to read it.
type CounterFamily = (&'static str, &'static str, fn(&SegmentState) -> u64);

type WindowStats = [Option<(u64, [f64; QUANTILES.len()])>; WINDOWS.len()];

/// Renders every segment family of one stage 2 (Prometheus text 0.0.4).
pub fn render(stage2: &Stage2) -> String {
    render_all_in(&[stage2], Format::Prometheus)
}

/// Renders every segment family of one stage 2 in `format`.
pub fn render_in(stage2: &Stage2, format: Format) -> String {
    render_all_in(&[stage2], format)
}

/// Renders every segment family of several stage-2 instances (a worker's partials partitions; each
/// segment is in exactly one of them) as one exposition: each family once (Prometheus text 0.0.4).
pub fn render_all(stages: &[&Stage2]) -> String {
    render_all_in(stages, Format::Prometheus)
}

/// [`render_all`] in `format`. In OpenMetrics the text holds families only: the caller appends
/// `# EOF` after everything else on the page.
pub fn render_all_in(stages: &[&Stage2], format: Format) -> String {
    let Some(first) = stages.first() else {
        return String::new();
    };
    let mut owned: Vec<(&Stage2, &SegmentKey, &SegmentState)> = stages
        .iter()
        .flat_map(|stage2| {
            stage2
                .segments()
                .map(move |(key, segment)| (*stage2, key, segment))
        })
        .collect();
    owned.sort_by(|a, b| a.1.cmp(b.1));
    let segments: Vec<(&SegmentKey, &SegmentState)> = owned
        .iter()
        .map(|(_, key, segment)| (*key, *segment))
        .collect();
    let labels: Vec<String> = segments
        .iter()
        .map(|(key, _)| segment_labels(first, key))
        .collect();
    let view_switches: Vec<(&str, bool, bool)> = first
        .views()
        .map(|view| (&*view.name, view.navigation, view.actions))
        .collect();
    let mut out = String::with_capacity(4096 + segments.len() * 2048);

    for kind in MetricKind::ALL {
        let keeps = |key: &SegmentKey| {
            view_switches
                .iter()
                .find(|(name, _, _)| *name == &*key.view)
                .is_some_and(|(_, navigation, actions)| kind.kept_by(*navigation, *actions))
        };
        let stats: Vec<(usize, WindowStats)> = segments
            .iter()
            .enumerate()
            .filter(|(_, (key, _))| keeps(key))
            .map(|(index, (_, segment))| (index, owned[index].0.window_quantiles(segment, kind)))
            .filter(|(_, stats)| stats.iter().any(Option::is_some))
            .collect();

        let window_family = kind.window_family();
        let unit = if kind.is_unitless() {
            ""
        } else {
            " in seconds"
        };
        if !stats.is_empty() {
            // Typed `summary`: precomputed quantiles with a `quantile` label are what a summary is
            // (promtool refuses that label on gauges). The values move with the window, so there is
            // no `_sum`/`_count`; the sample count is the `_window_samples` gauge. OpenMetrics
            // allows that too: a summary point "MAY consist of a Count, Sum, Created, and a set of
            // quantiles".
            header(
                &mut out,
                format,
                &window_family,
                "summary",
                &format!(
                    "{} quantiles{unit} over rolling windows (HDR histogram).",
                    description(kind)
                ),
            );
            for (index, windows) in &stats {
                for ((window, _), stat) in WINDOWS.iter().zip(windows) {
                    let Some((_, quantiles)) = stat else { continue };
                    for ((quantile_label, _), value) in QUANTILES.iter().zip(quantiles) {
                        let _ = writeln!(
                            out,
                            "{window_family}{{{},window=\"{window}\",quantile=\"{quantile_label}\"}} {}",
                            labels[*index],
                            number(*value)
                        );
                    }
                }
            }
            let samples_family = format!("rum_{}_window_samples", kind.name());
            header(
                &mut out,
                format,
                &samples_family,
                "gauge",
                &format!("{} samples over rolling windows.", description(kind)),
            );
            for (index, windows) in &stats {
                for ((window, _), stat) in WINDOWS.iter().zip(windows) {
                    let Some((samples, _)) = stat else { continue };
                    let _ = writeln!(
                        out,
                        "{samples_family}{{{},window=\"{window}\"}} {samples}",
                        labels[*index]
                    );
                }
            }
        }

        let family = kind.family();
        let mut wrote_header = false;
        for (index, (key, segment)) in segments.iter().enumerate() {
            if !keeps(key) {
                continue;
            }
            let Some(cumulative) = segment.cumulative(kind) else {
                continue;
            };
            if !wrote_header {
                header(
                    &mut out,
                    format,
                    &family,
                    "histogram",
                    &format!(
                        "{}{unit}, exact counts at threshold-aligned bounds (settled minutes).",
                        description(kind)
                    ),
                );
                wrote_header = true;
            }
            let bounds = kind.bucket_bounds();
            let mut total = 0;
            for (position, count) in cumulative.cumulative().enumerate() {
                let bound = bounds
                    .get(position)
                    .map_or(f64::INFINITY, |bound| kind.raw_to_exported(*bound));
                // Looked up only where it can be written: the 0.0.4 path stays as it was.
                let exemplar = match format {
                    Format::OpenMetrics => segment.exemplar(kind, position),
                    Format::Prometheus => None,
                };
                bucket_line(
                    &mut out,
                    format,
                    &family,
                    &labels[index],
                    bound,
                    count,
                    exemplar,
                );
                total = count;
            }
            let _ = writeln!(
                out,
                "{family}_sum{{{}}} {}",
                labels[index],
                number(kind.raw_to_exported(cumulative.sum()))
            );
            let _ = writeln!(out, "{family}_count{{{}}} {total}", labels[index]);
        }
    }

    let counter_families: [CounterFamily; 3] = [
        (
            "rum_page_views_total",
            "Page views (each page-view id counted once).",
            |segment| segment.page_views,
        ),
        (
            "rum_requests_failed_total",
            "Failed fetch/XHR calls (status >= 400 or network error).",
            |segment| segment.requests_failed,
        ),
        (
            "rum_requests_slow_total",
            "Fetch/XHR calls slower than the configured slow_request.",
            |segment| segment.requests_slow,
        ),
    ];
    for (family, help, value) in counter_families {
        if segments.is_empty() {
            continue;
        }
        header(&mut out, format, family, "counter", help);
        for (index, (_, segment)) in segments.iter().enumerate() {
            let _ = writeln!(out, "{family}{{{}}} {}", labels[index], value(segment));
        }
    }
    if !segments.is_empty() {
        header(
            &mut out,
            format,
            "rum_errors_total",
            "counter",
            "JavaScript errors and unhandled rejections, by kind.",
        );
        for (index, (_, segment)) in segments.iter().enumerate() {
            for (kind, count) in ERROR_KINDS.iter().zip(segment.errors) {
                let _ = writeln!(
                    out,
                    "rum_errors_total{{{},kind=\"{kind}\"}} {count}",
                    labels[index]
                );
            }
        }
    }
    render_long_frames(&mut out, format, &segments, &labels);
    render_resource_types(&mut out, format, &segments, &labels);
    render_estimates(&mut out, format, first, &segments, &labels);
    render_names(&mut out, format, &segments, &labels);
    render_error_groups(&mut out, format, stages);
    render_sessions(&mut out, format, stages);
    out
}

/// Long animation frames and their blocking time, for the segments that had any (browsers
/// without the Long Animation Frames API report none, so most segments of most sites have none).
fn render_long_frames(
    out: &mut String,
    format: Format,
    segments: &[(&SegmentKey, &SegmentState)],
    labels: &[String],
) {
    let rows: Vec<(usize, &SegmentState)> = segments
        .iter()
        .enumerate()
        .filter(|(_, (_, segment))| segment.long_frames > 0)
        .map(|(index, (_, segment))| (index, *segment))
        .collect();
    if rows.is_empty() {
        return;
    }
    header(
        out,
        format,
        "rum_long_frames_total",
        "counter",
        "Long animation frames (50 ms and longer) the pages reported.",
    );
    for (index, segment) in &rows {
        let _ = writeln!(
            out,
            "rum_long_frames_total{{{}}} {}",
            labels[*index], segment.long_frames
        );
    }
    let family = "rum_long_frame_blocking_seconds_total";
    header(
        out,
        format,
        family,
        "counter",
        "Blocking time of the long animation frames: their time past 50 ms without rendering.",
    );
    for (index, segment) in &rows {
        let seconds = segment.long_frame_blocking_micros as f64 / 1e9;
        let _ = writeln!(out, "{family}{{{}}} {}", labels[*index], number(seconds));
    }
}

/// Resources by initiator type, for the segments that reported any (types with none left out).
fn render_resource_types(
    out: &mut String,
    format: Format,
    segments: &[(&SegmentKey, &SegmentState)],
    labels: &[String],
) {
    let family = "rum_resources_by_type_total";
    let mut wrote_header = false;
    for (index, (_, segment)) in segments.iter().enumerate() {
        for (kind, count) in RESOURCE_TYPES.iter().zip(segment.resource_types) {
            if count == 0 {
                continue;
            }
            if !wrote_header {
                header(
                    out,
                    format,
                    family,
                    "counter",
                    "Resources the pages loaded (Resource Timing), by initiator type.",
                );
                wrote_header = true;
            }
            let _ = writeln!(out, "{family}{{{},type=\"{kind}\"}} {count}", labels[index]);
        }
    }
}

/// The estimated totals of views with `estimated = true`: page views and errors weighed by 1 /
/// the sample rate each was kept at (floats: a kept page view of a 10% sample stands for 10).
fn render_estimates(
    out: &mut String,
    format: Format,
    stage2: &Stage2,
    segments: &[(&SegmentKey, &SegmentState)],
    labels: &[String],
) {
    let estimated: Vec<&str> = stage2
        .views()
        .filter(|view| view.estimated)
        .map(|view| &*view.name)
        .collect();
    let rows: Vec<(usize, &SegmentState)> = segments
        .iter()
        .enumerate()
        .filter(|(_, (key, _))| estimated.contains(&&*key.view))
        .map(|(index, (_, segment))| (index, *segment))
        .collect();
    if rows.is_empty() {
        return;
    }
    type Estimate = fn(&SegmentState) -> f64;
    let families: [(&str, &str, Estimate); 2] = [
        (
            "rum_page_views_estimated_total",
            "Page views weighed by 1 / the sample rate of their session (estimated total).",
            |segment| segment.estimated_page_views,
        ),
        (
            "rum_errors_estimated_total",
            "JavaScript errors weighed by 1 / the sample rate of their session (estimated total).",
            |segment| segment.estimated_errors,
        ),
    ];
    for (family, help, value) in families {
        header(out, format, family, "counter", help);
        for (index, segment) in &rows {
            let _ = writeln!(
                out,
                "{family}{{{}}} {}",
                labels[*index],
                number(value(segment))
            );
        }
    }
}

/// Writes one family's header: `# HELP` then `# TYPE` in 0.0.4 (as it always was); in
/// OpenMetrics `# TYPE` then `# HELP` (the order the spec recommends), a counter named by its
/// family (`rum_page_views` for the samples `rum_page_views_total`) and the help escaped.
fn header(out: &mut String, format: Format, family: &str, kind: &str, help: &str) {
    match format {
        Format::Prometheus => {
            let _ = writeln!(out, "# HELP {family} {help}");
            let _ = writeln!(out, "# TYPE {family} {kind}");
        }
        Format::OpenMetrics => {
            let (name, kind) = openmetrics_family(family, kind);
            let _ = writeln!(out, "# TYPE {name} {kind}");
            let _ = write!(out, "# HELP {name} ");
            push_escaped(out, help);
            out.push('\n');
        }
    }
}

/// The OpenMetrics family name and type of a family declared as `family` of `kind` in 0.0.4: a
/// counter's family is its name without `_total` (its samples keep it). Every counter here ends in
/// `_total` (a test checks); one that did not would be typed `unknown`, which keeps its name and
/// so every query of it, where renaming its samples would break them.
fn openmetrics_family<'a>(family: &'a str, kind: &'a str) -> (&'a str, &'a str) {
    if kind != "counter" {
        return (family, kind);
    }
    match family.strip_suffix("_total") {
        Some(name) => (name, kind),
        None => (family, "unknown"),
    }
}

/// Appends `text` with OpenMetrics escaping (backslash, double quote, newline).
fn push_escaped(out: &mut String, text: &str) {
    for character in text.chars() {
        match character {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            other => out.push(other),
        }
    }
}

/// One `_bucket` sample: `le` is the bucket's upper bound in the exported unit, `count` the
/// cumulative count, and `exemplar` a trace that fell in the bucket (OpenMetrics only).
fn bucket_line(
    out: &mut String,
    format: Format,
    family: &str,
    labels: &str,
    le: f64,
    count: u64,
    exemplar: Option<Exemplar>,
) {
    let _ = write!(
        out,
        "{family}_bucket{{{labels},le=\"{}\"}} {count}",
        number(le)
    );
    push_exemplar(out, format, exemplar);
    out.push('\n');
}

/// One histogram series from non-cumulative bucket counts at `bounds_ms`, in seconds, with the
/// exemplar `exemplar(bucket)` gives for each bucket (OpenMetrics only).
fn render_buckets(
    out: &mut String,
    format: Format,
    family: &str,
    labels: &str,
    bounds_ms: &[u64],
    buckets: &crate::sessions::Buckets,
    exemplar: impl Fn(usize) -> Option<Exemplar>,
) {
    let mut total = 0;
    for (position, count) in buckets.counts.iter().enumerate() {
        total += count;
        let bound = bounds_ms
            .get(position)
            .map_or(f64::INFINITY, |bound| *bound as f64 / 1000.0);
        let exemplar = match format {
            Format::OpenMetrics => exemplar(position),
            Format::Prometheus => None,
        };
        bucket_line(out, format, family, labels, bound, total, exemplar);
    }
    let _ = writeln!(
        out,
        "{family}_sum{{{labels}}} {}",
        number(buckets.sum_ms as f64 / 1000.0)
    );
    let _ = writeln!(out, "{family}_count{{{labels}}} {total}");
}

/// Session and funnel families per site (each site's sessions live in one stage 2), and the
/// session table's health.
fn render_sessions(out: &mut String, format: Format, stages: &[&Stage2]) {
    use crate::sessions::{DURATION_BOUNDS_MS, STEP_BOUNDS_MS};
    let Some(first) = stages.first() else { return };
    if !first.sessions().enabled() {
        return;
    }
    let mut sites: Vec<(&str, &crate::sessions::SiteSessions)> = stages
        .iter()
        .flat_map(|stage2| stage2.sessions().sites())
        .map(|(site, sessions)| (&**site, sessions))
        .collect();
    sites.sort_by(|a, b| a.0.cmp(b.0));
    let site_labels = |site: &str| {
        let mut labels = String::new();
        push_label(&mut labels, "site", site);
        labels
    };
    type EndedCounter = (
        &'static str,
        &'static str,
        fn(&crate::sessions::Ended) -> u64,
    );
    let counters: [EndedCounter; 3] = [
        (
            "rum_sessions_total",
            "Sessions ended (idle for aggregator.sessions.idle), with at least one page view.",
            |ended| ended.sessions,
        ),
        (
            "rum_session_bounces_total",
            "Ended sessions of one page view.",
            |ended| ended.bounces,
        ),
        (
            "rum_session_page_views_total",
            "Page views of ended sessions (page views per session = this / rum_sessions_total).",
            |ended| ended.page_views,
        ),
    ];
    if !sites.is_empty() {
        for (family, help, value) in counters {
            header(out, format, family, "counter", help);
            for (site, sessions) in &sites {
                let _ = writeln!(
                    out,
                    "{family}{{{}}} {}",
                    site_labels(site),
                    value(&sessions.ended)
                );
            }
        }
        header(
            out,
            format,
            "rum_sessions_active",
            "gauge",
            "Sessions tracked now (not yet idle for aggregator.sessions.idle).",
        );
        for (site, sessions) in &sites {
            let _ = writeln!(
                out,
                "rum_sessions_active{{{}}} {}",
                site_labels(site),
                sessions.active()
            );
        }
        header(
            out,
            format,
            "rum_session_duration_seconds",
            "histogram",
            "Duration of ended sessions: first to last beacon.",
        );
        for (site, sessions) in &sites {
            render_buckets(
                out,
                format,
                "rum_session_duration_seconds",
                &site_labels(site),
                &DURATION_BOUNDS_MS,
                &sessions.ended.duration,
                |_| None,
            );
        }
        type RouteFamily = (
            &'static str,
            &'static str,
            fn(&crate::sessions::Ended) -> &crate::sessions::RouteCounts,
        );
        let routes: [RouteFamily; 2] = [
            (
                "rum_session_entries_total",
                "Ended sessions by the route of their first page view.",
                |ended| &ended.entries,
            ),
            (
                "rum_session_exits_total",
                "Ended sessions by the route of their last page view.",
                |ended| &ended.exits,
            ),
        ];
        for (family, help, counts) in routes {
            header(out, format, family, "counter", help);
            for (site, sessions) in &sites {
                for (route, count) in &counts(&sessions.ended).counts {
                    let mut labels = site_labels(site);
                    push_label(&mut labels, "route", route);
                    let _ = writeln!(out, "{family}{{{labels}}} {count}");
                }
            }
        }
    }
    let funnels = first.sessions().funnels();
    let with_funnels: Vec<&(&str, &crate::sessions::SiteSessions)> = sites
        .iter()
        .filter(|(site, _)| funnels.iter().any(|funnel| funnel.applies_to(site)))
        .collect();
    if !with_funnels.is_empty() {
        header(
            out,
            format,
            "rum_funnel_sessions_total",
            "counter",
            "Sessions that reached a funnel step (once per session, in order, within the funnel's window).",
        );
        for (site, sessions) in &with_funnels {
            for (funnel, stats) in funnels.iter().zip(&sessions.funnels) {
                if !funnel.applies_to(site) {
                    continue;
                }
                for (index, (step, reached)) in funnel.steps.iter().zip(&stats.reached).enumerate()
                {
                    let mut labels = site_labels(site);
                    push_label(&mut labels, "funnel", &funnel.name);
                    push_label(&mut labels, "step", &(index + 1).to_string());
                    push_label(&mut labels, "target", &step.target());
                    let _ = writeln!(out, "rum_funnel_sessions_total{{{labels}}} {reached}");
                }
            }
        }
        header(
            out,
            format,
            "rum_funnel_conversions_total",
            "counter",
            "Sessions that reached a funnel's last step.",
        );
        for (site, sessions) in &with_funnels {
            for (funnel, stats) in funnels.iter().zip(&sessions.funnels) {
                if funnel.applies_to(site) {
                    let mut labels = site_labels(site);
                    push_label(&mut labels, "funnel", &funnel.name);
                    let conversions = stats.reached.last().copied().unwrap_or(0);
                    let _ = writeln!(
                        out,
                        "rum_funnel_conversions_total{{{labels}}} {conversions}"
                    );
                }
            }
        }
        header(
            out,
            format,
            "rum_funnel_step_seconds",
            "histogram",
            "Time from a funnel's first step to each step, per session that reached it.",
        );
        for (site, sessions) in &with_funnels {
            for (funnel, stats) in funnels.iter().zip(&sessions.funnels) {
                if !funnel.applies_to(site) {
                    continue;
                }
                for (index, times) in stats.times.iter().enumerate() {
                    let mut labels = site_labels(site);
                    push_label(&mut labels, "funnel", &funnel.name);
                    push_label(&mut labels, "step", &(index + 1).to_string());
                    render_buckets(
                        out,
                        format,
                        "rum_funnel_step_seconds",
                        &labels,
                        &STEP_BOUNDS_MS,
                        times,
                        |_| None,
                    );
                }
            }
        }
    }
    let tracked: usize = stages
        .iter()
        .map(|stage2| stage2.sessions().tracked())
        .sum();
    let evicted: u64 = stages
        .iter()
        .map(|stage2| stage2.sessions().evicted())
        .sum();
    let dropped: u64 = stages
        .iter()
        .map(|stage2| stage2.sessions().dropped_occurrences())
        .sum();
    let folded: u64 = stages
        .iter()
        .map(|stage2| stage2.sessions().route_folds())
        .sum();
    header(
        out,
        format,
        "rum_aggregator_sessions_tracked",
        "gauge",
        "Sessions held (bounded by aggregator.sessions.capacity per stage-2 state).",
    );
    let _ = writeln!(out, "rum_aggregator_sessions_tracked {tracked}");
    header(
        out,
        format,
        "rum_aggregator_sessions_evicted_total",
        "counter",
        "Sessions ended early because the session table was full (their counts are in, possibly split).",
    );
    let _ = writeln!(out, "rum_aggregator_sessions_evicted_total {evicted}");
    header(
        out,
        format,
        "rum_aggregator_session_occurrences_dropped_total",
        "counter",
        "Funnel occurrences dropped because their session held too many not yet final.",
    );
    let _ = writeln!(
        out,
        "rum_aggregator_session_occurrences_dropped_total {dropped}"
    );
    header(
        out,
        format,
        "rum_aggregator_session_routes_folded_total",
        "counter",
        "Entry and exit routes counted under __other__ (past aggregator.top_n per site).",
    );
    let _ = writeln!(out, "rum_aggregator_session_routes_folded_total {folded}");
}

/// One exported error group: its labels (site, error), kind, occurrences and sessions.
type ErrorGroupRow = (String, String, u64, u64);

/// The most frequent error groups of each site: occurrences (Space-Saving counts) and affected
/// sessions, labelled by site, `error` (fingerprint prefix and normalised message) and kind.
fn render_error_groups(out: &mut String, format: Format, stages: &[&Stage2]) {
    let Some(first) = stages.first() else { return };
    let limit = first.settings().top_errors;
    let mut sites: Vec<(&str, Vec<ErrorGroupRow>)> = stages
        .iter()
        .flat_map(|stage2| stage2.error_groups())
        .map(|(site, errors)| {
            let rows = errors
                .top(limit)
                .into_iter()
                .map(|(fingerprint, counted)| {
                    let mut labels = String::new();
                    push_label(&mut labels, "site", site);
                    push_label(
                        &mut labels,
                        "error",
                        &crate::error_groups::label(fingerprint, &counted.value.message),
                    );
                    (
                        labels,
                        counted.value.kind.clone(),
                        counted.count,
                        counted.value.sessions.count(),
                    )
                })
                .collect();
            (&**site, rows)
        })
        .collect();
    if sites.iter().all(|(_, rows)| rows.is_empty()) {
        return;
    }
    sites.sort_by(|a, b| a.0.cmp(b.0));
    header(
        out,
        format,
        "rum_error_group_total",
        "counter",
        "Occurrences of the most frequent error groups per site (fingerprint: normalised message + top in-app frame; Space-Saving, over by at most occurrences / aggregator.error_groups).",
    );
    for (_, rows) in &sites {
        for (labels, kind, count, _) in rows {
            let mut labels = labels.clone();
            push_label(&mut labels, "kind", kind);
            let _ = writeln!(out, "rum_error_group_total{{{labels}}} {count}");
        }
    }
    header(
        out,
        format,
        "rum_error_group_sessions",
        "gauge",
        "Distinct sessions an error group hit (exact up to 64, HyperLogLog within ~3% past that).",
    );
    for (_, rows) in &sites {
        for (labels, _, _, sessions) in rows {
            let _ = writeln!(out, "rum_error_group_sessions{{{labels}}} {sessions}");
        }
    }
}

/// A family of counters by name: family, help, and the value of one tally.
type NamedFamily<T> = (&'static str, &'static str, fn(&T) -> String);

/// The action and business-event families: one series per (segment, name), plus the signal of
/// frustration counters.
fn render_names(
    out: &mut String,
    format: Format,
    segments: &[(&SegmentKey, &SegmentState)],
    labels: &[String],
) {
    let named: Vec<(usize, &NamedCounts)> = segments
        .iter()
        .enumerate()
        .filter_map(|(index, (_, segment))| segment.names().map(|names| (index, names)))
        .collect();
    let with_name = |index: usize, label: &str, name: &str| {
        let mut text = labels[index].clone();
        push_label(&mut text, label, name);
        text
    };
    let action_families: [NamedFamily<ActionTally>; 3] = [
        (
            "rum_actions_total",
            "User actions (clicks, taps, key activations, form submissions) by name.",
            |tally| tally.count.to_string(),
        ),
        (
            "rum_action_time_seconds_total",
            "Sum of the loading times of actions that had one, by name.",
            |tally| number(tally.time_micros as f64 / 1e9),
        ),
        (
            "rum_action_timed_total",
            "Actions with a loading time (some activity started within 100 ms), by name.",
            |tally| tally.timed.to_string(),
        ),
    ];
    let has_actions = named.iter().any(|(_, names)| !names.actions.is_empty());
    let has_events = named.iter().any(|(_, names)| !names.events.is_empty());
    for (family, help, value) in action_families.into_iter().filter(|_| has_actions) {
        header(out, format, family, "counter", help);
        for (index, names) in &named {
            for (name, tally) in &names.actions {
                let _ = writeln!(
                    out,
                    "{family}{{{}}} {}",
                    with_name(*index, NameKind::Action.label(), name),
                    value(tally)
                );
            }
        }
    }
    if has_actions {
        let family = "rum_action_frustrations_total";
        header(
            out,
            format,
            family,
            "counter",
            "Actions with a frustration signal (rage, dead or error click), by name.",
        );
        for (index, names) in &named {
            for (name, tally) in &names.actions {
                let labels = with_name(*index, NameKind::Action.label(), name);
                for (signal, count) in [
                    ("rage", tally.rage),
                    ("dead", tally.dead),
                    ("error", tally.error_clicks),
                ] {
                    let _ = writeln!(out, "{family}{{{labels},signal=\"{signal}\"}} {count}");
                }
            }
        }
    }
    let event_families: [NamedFamily<EventTally>; 2] = [
        (
            "rum_events_total",
            "Business events (rum.event) by name.",
            |tally| tally.count.to_string(),
        ),
        (
            "rum_event_value_total",
            "Sum of the business events' values, by name.",
            |tally| number(tally.value_micros as f64 / 1e6),
        ),
    ];
    for (family, help, value) in event_families.into_iter().filter(|_| has_events) {
        header(out, format, family, "counter", help);
        for (index, names) in &named {
            for (name, tally) in &names.events {
                let _ = writeln!(
                    out,
                    "{family}{{{}}} {}",
                    with_name(*index, NameKind::Event.label(), name),
                    value(tally)
                );
            }
        }
    }
    let failed_families: [NamedFamily<EventTally>; 2] = [
        (
            "rum_request_failures_total",
            "Failed fetch/XHR calls by method, endpoint template and status class (network, 4xx, 5xx).",
            |tally| tally.count.to_string(),
        ),
        (
            "rum_request_failure_time_seconds_total",
            "Sum of the failed calls' durations, by method, endpoint template and status class.",
            |tally| number(tally.value_micros as f64 / 1e9),
        ),
    ];
    let has_origins = named
        .iter()
        .any(|(_, names)| !names.script_origins.is_empty());
    if has_origins {
        let family = "rum_long_frame_script_seconds_total";
        header(
            out,
            format,
            family,
            "counter",
            "Time scripts ran in long animation frames, by script origin (first-party, unknown or the origin).",
        );
        for (index, names) in &named {
            for (name, tally) in &names.script_origins {
                let _ = writeln!(
                    out,
                    "{family}{{{}}} {}",
                    with_name(*index, NameKind::Origin.label(), name),
                    number(tally.value_micros as f64 / 1e9)
                );
            }
        }
    }
    render_resource_origins(out, format, &named, labels);
    render_calls(out, format, &named, labels);
    let has_failed = named
        .iter()
        .any(|(_, names)| !names.failed_requests.is_empty());
    for (family, help, value) in failed_families.into_iter().filter(|_| has_failed) {
        header(out, format, family, "counter", help);
        for (index, names) in &named {
            for (name, tally) in &names.failed_requests {
                let labels = request_labels(&labels[*index], name);
                let _ = writeln!(out, "{family}{{{labels}}} {}", value(tally));
            }
        }
    }
}

/// A segment's labels with a call group's `method`, `endpoint` and `status` class.
fn request_labels(segment: &str, group: &str) -> String {
    let (method, endpoint, class) = split_failed_request(group);
    let mut labels = segment.to_owned();
    push_label(&mut labels, "method", method);
    push_label(&mut labels, "endpoint", endpoint);
    push_label(&mut labels, "status", class);
    labels
}

/// Every call by group: a duration histogram (`le` in seconds) with `method`, `endpoint` and
/// `status` class labels, and the group's latest traced call as the exemplar of its bucket.
fn render_calls(
    out: &mut String,
    format: Format,
    named: &[(usize, &NamedCounts)],
    labels: &[String],
) {
    if named.iter().all(|(_, names)| names.calls.is_empty()) {
        return;
    }
    let family = "rum_request_duration_seconds";
    header(
        out,
        format,
        family,
        "histogram",
        "Fetch/XHR call durations by method, endpoint template and status class (network, 1xx..5xx, other).",
    );
    for (index, names) in named {
        for (name, tally) in &names.calls {
            let labels = request_labels(&labels[*index], name);
            let histogram = DurationHistogram {
                bounds_ms: &CALL_BOUNDS_MS,
                buckets: &tally.buckets,
                count: tally.count,
                sum_micros: tally.duration_micros,
            };
            histogram.render(out, format, family, &labels, tally.exemplar);
        }
    }
}

/// A named tally's duration histogram: non-cumulative counts at bounds in ms (the last bucket
/// holds the rest), exported in seconds.
struct DurationHistogram<'a> {
    bounds_ms: &'a [f64],
    buckets: &'a [u64],
    count: u64,
    sum_micros: u64,
}

impl DurationHistogram<'_> {
    /// Its `_bucket`, `_sum` and `_count` lines; `exemplar` (a value in seconds) goes on the
    /// bucket its value falls in, by the exported bounds as `le` reads them, so it is within it.
    fn render(
        &self,
        out: &mut String,
        format: Format,
        family: &str,
        labels: &str,
        exemplar: Option<Exemplar>,
    ) {
        let bound = |bucket: usize| {
            self.bounds_ms
                .get(bucket)
                .map_or(f64::INFINITY, |ms| ms / 1000.0)
        };
        let traced = exemplar.map(|exemplar| {
            let bucket = (0..self.bounds_ms.len())
                .position(|bucket| exemplar.value <= bound(bucket))
                .unwrap_or(self.bounds_ms.len());
            (bucket, exemplar)
        });
        let mut cumulative = 0;
        for (bucket, count) in self.buckets.iter().enumerate() {
            cumulative += count;
            let exemplar = traced
                .filter(|(at, _)| *at == bucket)
                .map(|(_, exemplar)| exemplar);
            bucket_line(
                out,
                format,
                family,
                labels,
                bound(bucket),
                cumulative,
                exemplar,
            );
        }
        let sum = self.sum_micros as f64 / 1e9;
        let _ = writeln!(out, "{family}_sum{{{labels}}} {}", number(sum));
        let _ = writeln!(out, "{family}_count{{{labels}}} {}", self.count);
    }
}

/// Resources by origin: a duration histogram (`le` in seconds) and the byte and untimed counts.
fn render_resource_origins(
    out: &mut String,
    format: Format,
    named: &[(usize, &NamedCounts)],
    labels: &[String],
) {
    if named
        .iter()
        .all(|(_, names)| names.resource_origins.is_empty())
    {
        return;
    }
    let with_name = |index: usize, name: &str| {
        let mut text = labels[index].clone();
        push_label(&mut text, NameKind::Origin.label(), name);
        text
    };
    let family = "rum_resource_duration_seconds";
    header(
        out,
        format,
        family,
        "histogram",
        "Resource load durations (Resource Timing: start to responseEnd), by origin (first-party or the origin).",
    );
    for (index, names) in named {
        for (name, tally) in &names.resource_origins {
            let histogram = DurationHistogram {
                bounds_ms: &RESOURCE_BOUNDS_MS,
                buckets: &tally.buckets,
                count: tally.count,
                sum_micros: tally.duration_micros,
            };
            histogram.render(out, format, family, &with_name(*index, name), None);
        }
    }
    let families: [NamedFamily<ResourceTally>; 2] = [
        (
            "rum_resource_transfer_bytes_total",
            "Bytes transferred for resources (transferSize: 0 when cached or cross-origin without Timing-Allow-Origin), by origin.",
            |tally| tally.transfer_bytes.to_string(),
        ),
        (
            "rum_resources_untimed_total",
            "Cross-origin resources without Timing-Allow-Origin (their phases and sizes read 0; durations are real), by origin.",
            |tally| tally.untimed.to_string(),
        ),
    ];
    for (family, help, value) in families {
        header(out, format, family, "counter", help);
        for (index, names) in named {
            for (name, tally) in &names.resource_origins {
                let _ = writeln!(
                    out,
                    "{family}{{{}}} {}",
                    with_name(*index, name),
                    value(tally)
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::openmetrics_check::openmetrics_families;

    use rum_schema::proto::{
        Action, Beacon, BusinessEvent, Enrichment, Error, Event, LongFrames, Navigation,
        OriginResources, Request, Resources, ScriptTime, TypeCount, Vital, VitalName, event,
    };

    use crate::settings::AggregatorSettings;

    const T0: i64 = 1_763_760_000_000;
    const MINUTE_MS: i64 = 60_000;

    /// A stage 2 with every family: vitals and navigation phases (windows and, settled,
    /// histograms), errors, failed calls, actions, events, long frames, resources, an error group
    /// and an ended session on a funnel.
    fn every_family() -> Stage2 {
        let config = rum_config::load_str(
            "[[aggregator.funnels]]\nname = \"checkout\"\nsteps = [{ route = \"/cart\" }, { action = \"Pay\" }]\n",
            "test.toml",
            Vec::<(String, String)>::new(),
        )
        .expect("config");
        let settings = AggregatorSettings::from_config(&config.aggregator).expect("settings");
        let kind = |kind| Event { kind: Some(kind) };
        let vital = |name: VitalName, value| {
            kind(event::Kind::Vital(Vital {
                name: name as i32,
                value,
                id: format!("{name:?}"),
                ..Vital::default()
            }))
        };
        let events = vec![
            vital(VitalName::Lcp, 2400.0),
            vital(VitalName::Cls, 0.05),
            vital(VitalName::Inp, 120.0),
            kind(event::Kind::Navigation(Navigation {
                dns_ms: Some(12.0),
                load_ms: Some(900.0),
                ..Navigation::default()
            })),
            kind(event::Kind::Error(Error {
                kind: "error".into(),
                message: "TypeError: x is \"undefined\"".into(),
                stack: "TypeError\n    at pay (https://shop.example/app.js:1:2)".into(),
                ..Error::default()
            })),
            kind(event::Kind::Request(Request {
                url: "https://shop.example/api/cart".into(),
                method: "POST".into(),
                status: 503,
                duration_ms: 120.0,
                endpoint: "/api/cart".into(),
            })),
            kind(event::Kind::Action(Action {
                name: "Pay".into(),
                duration_ms: Some(400.0),
                rage: true,
                ..Action::default()
            })),
            kind(event::Kind::BusinessEvent(BusinessEvent {
                name: "purchase".into(),
                value: Some(59.9),
            })),
            kind(event::Kind::LongFrames(LongFrames {
                count: 2,
                blocking_ms: 230.0,
                scripts: vec![ScriptTime {
                    origin: "https://ads.example".into(),
                    duration_ms: 201.0,
                }],
            })),
            kind(event::Kind::Resources(Resources {
                origins: vec![OriginResources {
                    origin: "https://cdn.example".into(),
                    transfer_bytes: 100,
                    untimed: 1,
                    durations_ms: vec![80.0, 400.0],
                }],
                types: vec![TypeCount {
                    r#type: "img".into(),
                    count: 2,
                }],
            })),
        ];
        let beacon = Beacon {
            version: 1,
            site: "shop".into(),
            session_id: "s1".into(),
            page_view_id: "pv1".into(),
            url: "https://shop.example/cart".into(),
            received_at_ms: T0 + 1_000,
            enrichment: Some(Enrichment {
                route: "/cart".into(),
                device_class: "desktop".into(),
                ..Enrichment::default()
            }),
            events,
            ..Beacon::default()
        };
        let (_, mut stage2) = crate::tests::aggregate_both(&settings, &[beacon], T0);
        // Past the lateness (histograms settle) and the session's idle time (it ends), still
        // inside the 1h window.
        stage2.advance(T0 + 40 * MINUTE_MS);
        stage2
    }

    #[test]
    fn the_openmetrics_rendering_has_the_same_samples_and_counters_named_by_family() {
        let stage2 = every_family();
        let text = render(&stage2);
        let openmetrics = render_in(&stage2, Format::OpenMetrics);
        // Every counter of the 0.0.4 text ends in `_total`, so none is typed unknown in
        // OpenMetrics.
        for declared in text.lines().filter_map(|line| line.strip_prefix("# TYPE ")) {
            let (name, kind) = declared.split_once(' ').expect("TYPE name kind");
            assert!(
                kind != "counter" || name.ends_with("_total"),
                "{name} is a counter without _total"
            );
        }
        let families = openmetrics_families(&openmetrics, false);
        for expected in [
            ("rum_lcp_window_seconds", "summary"),
            ("rum_lcp_window_samples", "gauge"),
            ("rum_lcp_seconds", "histogram"),
            ("rum_cls", "histogram"),
            ("rum_nav_load_seconds", "histogram"),
            ("rum_page_views", "counter"),
            ("rum_errors", "counter"),
            ("rum_long_frames", "counter"),
            ("rum_resources_by_type", "counter"),
            ("rum_actions", "counter"),
            ("rum_action_frustrations", "counter"),
            ("rum_events", "counter"),
            ("rum_resource_duration_seconds", "histogram"),
            ("rum_error_group", "counter"),
            ("rum_error_group_sessions", "gauge"),
            ("rum_sessions", "counter"),
            ("rum_session_duration_seconds", "histogram"),
            ("rum_funnel_sessions", "counter"),
            ("rum_funnel_step_seconds", "histogram"),
            ("rum_aggregator_sessions_tracked", "gauge"),
        ] {
            assert!(
                families
                    .iter()
                    .any(|(name, kind)| (name.as_str(), kind.as_str()) == expected),
                "{expected:?} missing from\n{openmetrics}"
            );
        }
        assert!(openmetrics.contains(
            "# TYPE rum_page_views counter\n# HELP rum_page_views Page views (each page-view id counted once).\nrum_page_views_total{view=\"site\",site=\"shop\"} 1\n"
        ));
        // The samples are the 0.0.4 text's, line for line (no exemplar was offered).
        let samples = |text: &str| -> Vec<String> {
            text.lines()
                .filter(|line| !line.starts_with('#'))
                .map(str::to_owned)
                .collect()
        };
        assert_eq!(samples(&openmetrics), samples(&text));
        // The caller writes the one `# EOF`, after the process's own families.
        assert!(!openmetrics.contains("# EOF"));
    }

    #[test]
    fn a_bucket_carries_its_exemplar_in_openmetrics_only() {
        let exemplar = Exemplar {
            trace_id: [
                0x4b, 0xf9, 0x2f, 0x35, 0x77, 0xb3, 0x4d, 0xa6, 0xa3, 0xce, 0x92, 0x9d, 0x0e, 0x0e,
                0x47, 0x36,
            ],
            value: 1.834,
            unix_ms: 1_764_810_000_123,
        };
        let labels = "view=\"site\",site=\"shop\"";
        let mut openmetrics = String::new();
        bucket_line(
            &mut openmetrics,
            Format::OpenMetrics,
            "rum_lcp_seconds",
            labels,
            2.5,
            42,
            Some(exemplar),
        );
        assert_eq!(
            openmetrics,
            "rum_lcp_seconds_bucket{view=\"site\",site=\"shop\",le=\"2.5\"} 42 # {trace_id=\"4bf92f3577b34da6a3ce929d0e0e4736\"} 1.834 1764810000.123\n"
        );
        let mut text = String::new();
        bucket_line(
            &mut text,
            Format::Prometheus,
            "rum_lcp_seconds",
            labels,
            2.5,
            42,
            Some(exemplar),
        );
        assert_eq!(
            text,
            "rum_lcp_seconds_bucket{view=\"site\",site=\"shop\",le=\"2.5\"} 42\n"
        );
        // The fixed-bucket writer takes one per bucket too.
        let buckets = crate::sessions::Buckets {
            counts: vec![1, 2, 0],
            sum_ms: 4_000,
        };
        let mut series = String::new();
        render_buckets(
            &mut series,
            Format::OpenMetrics,
            "demo_x_seconds",
            labels,
            &[1_000, 2_000],
            &buckets,
            |bucket| (bucket == 1).then_some(exemplar),
        );
        let lines: Vec<&str> = series.lines().collect();
        assert!(!lines[0].contains('#'));
        assert!(lines[1].starts_with(
            "demo_x_seconds_bucket{view=\"site\",site=\"shop\",le=\"2\"} 3 # {trace_id="
        ));
        assert!(!lines[2].contains('#'));
    }

    #[test]
    fn openmetrics_names_a_counter_by_its_family_and_types_one_without_total_unknown() {
        assert_eq!(
            openmetrics_family("rum_page_views_total", "counter"),
            ("rum_page_views", "counter")
        );
        assert_eq!(
            openmetrics_family("demo_legacy", "counter"),
            ("demo_legacy", "unknown")
        );
        assert_eq!(
            openmetrics_family("rum_lcp_seconds", "histogram"),
            ("rum_lcp_seconds", "histogram")
        );
        let mut out = String::new();
        header(
            &mut out,
            Format::OpenMetrics,
            "demo_x_total",
            "counter",
            "A \"quoted\" \\ help.",
        );
        assert_eq!(
            out,
            "# TYPE demo_x counter\n# HELP demo_x A \\\"quoted\\\" \\\\ help.\n"
        );
        let mut text = String::new();
        header(
            &mut text,
            Format::Prometheus,
            "demo_x_total",
            "counter",
            "X.",
        );
        assert_eq!(
            text,
            "# HELP demo_x_total X.\n# TYPE demo_x_total counter\n"
        );
    }

    #[test]
    fn label_values_are_escaped() {
        let mut out = String::from("{");
        push_label(&mut out, "route", "/a\"b\\c\nd");
        assert_eq!(out, "{route=\"/a\\\"b\\\\c\\nd\"");
    }

    #[test]
    fn numbers_render_like_prometheus() {
        assert_eq!(number(f64::INFINITY), "+Inf");
        assert_eq!(number(2.5), "2.5");
        assert_eq!(number(0.0), "0");
    }
}
