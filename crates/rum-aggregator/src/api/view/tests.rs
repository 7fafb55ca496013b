//! The view's endpoints against a stage 2 fed known beacons: values, order, and every bad input.

use rum_schema::proto::{Beacon, Enrichment, Event, Vital, VitalName, event};
use serde_json::Value;

use crate::settings::AggregatorSettings;
use crate::stage2::Stage2;

/// A fixed instant (minute-aligned).
const T0: i64 = 1_763_760_000_000;

fn lcp_beacon(index: usize, route: &str, lcp_ms: f64) -> Beacon {
    Beacon {
        version: 1,
        site: "shop".into(),
        session_id: format!("s{index}"),
        page_view_id: format!("pv{index}"),
        url: format!("https://shop.example{route}"),
        received_at_ms: T0 + 1_000,
        enrichment: Some(Enrichment {
            route: route.into(),
            device_class: "desktop".into(),
            ..Enrichment::default()
        }),
        events: vec![Event {
            kind: Some(event::Kind::Vital(Vital {
                name: VitalName::Lcp as i32,
                value: lcp_ms,
                id: format!("lcp-{index}"),
                ..Vital::default()
            })),
        }],
        ..Beacon::default()
    }
}

/// 100 beacons: 40 on `/slow` (LCP 3000..7650 ms), 50 on `/fast` (1020..1490 ms), 10 on `/mid`
/// (2600 ms).
fn stage2() -> (Stage2, Vec<f64>) {
    let mut beacons = Vec::new();
    let mut values = Vec::new();
    for index in 0..100 {
        let (route, value) = match index % 10 {
            0..=3 => ("/slow", 3000.0 + 50.0 * index as f64),
            4..=8 => ("/fast", 1000.0 + 5.0 * index as f64),
            _ => ("/mid", 2600.0),
        };
        values.push(value);
        beacons.push(lcp_beacon(index, route, value));
    }
    let (_, stage2) = crate::tests::aggregate_both(&AggregatorSettings::default(), &beacons, T0);
    (stage2, values)
}

fn get(stage2: &Stage2, path: &str, query: &str) -> (u16, Value) {
    let (status, body) = super::super::answer(&[stage2], path, query).expect("an API path");
    (status, serde_json::from_str(&body).expect("JSON"))
}

fn nearest_rank_p75(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    sorted[(0.75 * sorted.len() as f64).ceil() as usize - 1]
}

#[test]
fn sites_lists_views_vitals_and_sites_by_page_views() {
    let (stage2, _) = stage2();
    let (status, body) = get(&stage2, "/api/v1/sites", "");
    assert_eq!(status, 200);
    assert_eq!(
        body["windows"],
        serde_json::json!(["1m", "5m", "15m", "1h"])
    );
    assert_eq!(body["views"][1]["name"], "site_route");
    assert_eq!(
        body["views"][1]["dimensions"],
        serde_json::json!(["site", "route"])
    );
    assert_eq!(
        body["vitals"][0],
        serde_json::json!({"metric": "lcp", "unit": "s", "good": 2.5, "poor": 4.0})
    );
    assert_eq!(body["vitals"][2]["unit"], "");
    assert_eq!(body["sites"][0]["site"], "shop");
    assert_eq!(body["sites"][0]["page_views"], 100);
    let (status, body) = get(&stage2, "/api/v1/sites", "site=shop");
    assert_eq!(status, 400);
    assert!(body["error"].as_str().unwrap().contains("takes none"));
}

#[test]
fn a_summary_has_the_p75_rating_and_exact_distribution_of_the_window() {
    let (stage2, values) = stage2();
    let (status, body) = get(&stage2, "/api/v1/summary", "site=shop&window=5m");
    assert_eq!(status, 200, "{body}");
    let lcp = &body["vitals"][0];
    assert_eq!(lcp["metric"], "lcp");
    let exact = nearest_rank_p75(&values) / 1000.0;
    let p75 = lcp["p75"].as_f64().unwrap();
    assert!((p75 - exact).abs() <= exact * 0.01, "{p75} vs {exact}");
    let expected_rating = if exact <= 2.5 {
        "good"
    } else if exact <= 4.0 {
        "needs-improvement"
    } else {
        "poor"
    };
    assert_eq!(lcp["rating"], expected_rating, "p75 {exact}");
    assert_eq!(lcp["samples"], 100);
    let good = values.iter().filter(|value| **value <= 2500.0).count();
    let poor = values.iter().filter(|value| **value > 4000.0).count();
    assert_eq!(lcp["distribution"]["good"], good);
    assert_eq!(lcp["distribution"]["poor"], poor);
    assert_eq!(lcp["distribution"]["needs_improvement"], 100 - good - poor);
    // No INP was sent: no p75, no rating.
    assert_eq!(body["vitals"][1]["p75"], Value::Null);
    assert_eq!(body["vitals"][1]["rating"], Value::Null);
    assert_eq!(body["vitals"][1]["samples"], 0);
    // One stored minute, one minute of activity, the totals.
    assert_eq!(body["trend"].as_array().unwrap().len(), 1);
    assert_eq!(body["trend"][0]["start_ms"], T0);
    assert_eq!(body["trend"][0]["minutes"], 1);
    assert_eq!(body["trend"][0]["vitals"]["lcp"]["samples"], 100);
    assert_eq!(body["trend"][0]["vitals"]["cls"], Value::Null);
    assert_eq!(body["activity"][0]["page_views"], 100);
    assert_eq!(body["totals"]["page_views"], 100);
    assert_eq!(body["sessions"]["active"], 100);
}

#[test]
fn a_breakdown_is_slowest_first_or_by_samples_and_bounded() {
    let (stage2, _) = stage2();
    let (status, body) = get(&stage2, "/api/v1/breakdown", "site=shop&view=site_route");
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["dimensions"], serde_json::json!(["route"]));
    assert_eq!(body["segments"], 3);
    let routes: Vec<&str> = body["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|row| row["labels"]["route"].as_str().unwrap())
        .collect();
    assert_eq!(routes, ["/slow", "/mid", "/fast"]);
    assert_eq!(body["rows"][0]["rating"], "poor");
    assert_eq!(body["rows"][1]["samples"], 10);
    assert_eq!(body["rows"][2]["distribution"]["good"], 50);
    let (_, body) = get(
        &stage2,
        "/api/v1/breakdown",
        "site=shop&view=site_route&sort=samples&limit=2",
    );
    let routes: Vec<&str> = body["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|row| row["labels"]["route"].as_str().unwrap())
        .collect();
    assert_eq!(routes, ["/fast", "/slow"]);
    assert_eq!(body["segments"], 3, "counted before the limit");
    // A vital nobody sent has no rows.
    let (status, body) = get(
        &stage2,
        "/api/v1/breakdown",
        "site=shop&view=site_route&metric=inp&window=1h",
    );
    assert_eq!(status, 200);
    assert_eq!(body["rows"], serde_json::json!([]));
}

#[test]
fn every_bad_parameter_is_a_400_with_its_reason() {
    let (stage2, _) = stage2();
    for (path, query, reason) in [
        ("/api/v1/summary", "", "site is required"),
        (
            "/api/v1/summary",
            "site=nowhere",
            "unknown site \"nowhere\"",
        ),
        (
            "/api/v1/summary",
            "site=shop&window=2m",
            "unknown window \"2m\"",
        ),
        (
            "/api/v1/summary",
            "site=shop&view=site",
            "unknown parameter \"view\"",
        ),
        (
            "/api/v1/breakdown",
            "site=shop",
            "site and view are required",
        ),
        (
            "/api/v1/breakdown",
            "site=shop&view=planets",
            "unknown view \"planets\"",
        ),
        (
            "/api/v1/breakdown",
            "site=nowhere&view=site_route",
            "unknown site \"nowhere\"",
        ),
        (
            "/api/v1/breakdown",
            "site=shop&view=site_route&metric=nav_dns",
            "unknown metric",
        ),
        (
            "/api/v1/breakdown",
            "site=shop&view=site_route&window=1d",
            "unknown window",
        ),
        (
            "/api/v1/breakdown",
            "site=shop&view=site_route&sort=name",
            "unknown sort",
        ),
        (
            "/api/v1/breakdown",
            "site=shop&view=site_route&limit=0",
            "limit must be",
        ),
        (
            "/api/v1/breakdown",
            "site=shop&view=site_route&limit=1001",
            "limit must be",
        ),
        (
            "/api/v1/breakdown",
            "site=shop&view=site_route&x=1",
            "unknown parameter \"x\"",
        ),
    ] {
        let (status, body) = get(&stage2, path, query);
        assert_eq!(status, 400, "{path}?{query}: {body}");
        assert!(
            body["error"].as_str().unwrap().contains(reason),
            "{path}?{query}: {body}"
        );
    }
    // Without a view grouping by site alone, a summary says so.
    let settings = AggregatorSettings::from_config(
        &rum_config::load_str(
            "[[aggregator.views]]\nname = \"by_route\"\ndimensions = [\"site\", \"route\"]\n",
            "test.toml",
            Vec::<(String, String)>::new(),
        )
        .unwrap()
        .aggregator,
    )
    .unwrap();
    let empty = Stage2::new(settings);
    let (status, body) = get(&empty, "/api/v1/summary", "site=shop");
    assert_eq!(status, 400);
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("no view groups by site alone")
    );
}
