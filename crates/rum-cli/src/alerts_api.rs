//! `GET /api/v1/alerts` on the admin listener: alert instances pending and firing per rule, read
//! from the process's own `rum_alerts{alertname, alertstate}` gauges (docs/api.md). The process
//! metrics alone render in microseconds, so the view can ask every refresh without the cost of a
//! whole `/metrics` (which merges every segment).

use std::collections::BTreeMap;
use std::sync::Arc;

use metrics_exporter_prometheus::PrometheusHandle;
use rum_collector::ApiHandler;
use serde_json::json;

pub(crate) const PATH: &str = "/api/v1/alerts";

/// The handler, answering [`PATH`] only.
pub(crate) fn handler(prometheus: PrometheusHandle) -> ApiHandler {
    Arc::new(move |path, query| {
        let answer = (path == PATH).then(|| answer(&prometheus.render(), &query));
        Box::pin(async move { answer })
    })
}

fn answer(exposition: &str, query: &str) -> (u16, String) {
    if !query.is_empty() {
        return (
            400,
            json!({ "error": format!("{PATH} takes no parameters") }).to_string(),
        );
    }
    let mut rules: BTreeMap<String, (f64, f64)> = BTreeMap::new();
    for line in exposition.lines() {
        let Some(rest) = line.strip_prefix("rum_alerts{") else {
            continue;
        };
        let Some((labels, value)) = rest.rsplit_once("} ") else {
            continue;
        };
        let labels = parse_labels(labels);
        let (Some(name), Some(state)) = (labels.get("alertname"), labels.get("alertstate")) else {
            continue;
        };
        let value: f64 = value.trim().parse().unwrap_or(0.0);
        let counts = rules.entry(name.clone()).or_default();
        match state.as_str() {
            "pending" => counts.0 += value,
            "firing" => counts.1 += value,
            _ => {}
        }
    }
    let alerts: Vec<serde_json::Value> = rules
        .into_iter()
        .map(|(name, (pending, firing))| {
            json!({ "alertname": name, "pending": pending as u64, "firing": firing as u64 })
        })
        .collect();
    (200, json!({ "alerts": alerts }).to_string())
}

/// `a="x",b="y\"z"` -> {a: x, b: y"z} (Prometheus text escapes: `\\`, `\"`, `\n`).
fn parse_labels(text: &str) -> BTreeMap<String, String> {
    let mut labels = BTreeMap::new();
    let mut chars = text.chars().peekable();
    loop {
        let name: String = chars.by_ref().take_while(|c| *c != '=').collect();
        if name.is_empty() || chars.next() != Some('"') {
            break;
        }
        let mut value = String::new();
        while let Some(c) = chars.next() {
            match c {
                '\\' => match chars.next() {
                    Some('n') => value.push('\n'),
                    Some(other) => value.push(other),
                    None => break,
                },
                '"' => break,
                other => value.push(other),
            }
        }
        labels.insert(name.trim_start_matches(',').to_owned(), value);
        if chars.peek() == Some(&',') {
            chars.next();
        }
    }
    labels
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pending_and_firing_are_counted_per_rule() {
        let exposition = "# TYPE rum_alerts gauge\n\
            rum_alerts{alertname=\"lcp_p75_poor\",alertstate=\"firing\"} 2\n\
            rum_alerts{alertname=\"lcp_p75_poor\",alertstate=\"pending\"} 1\n\
            rum_alerts{alertname=\"a \\\"quoted\\\" rule\",alertstate=\"pending\"} 0\n\
            rum_other{alertname=\"x\"} 9\n";
        let (status, body) = answer(exposition, "");
        assert_eq!(status, 200);
        let body: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(
            body,
            json!({ "alerts": [
                { "alertname": "a \"quoted\" rule", "pending": 0, "firing": 0 },
                { "alertname": "lcp_p75_poor", "pending": 1, "firing": 2 },
            ] })
        );
        let (status, body) = answer(exposition, "site=shop");
        assert_eq!(status, 400);
        assert!(body.contains("takes no parameters"));
    }
}
