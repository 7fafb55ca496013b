//! Tallies by name, and actions and business events through both stages: counts per view, the
//! loading-time histogram, the name bounds with their counted folds, and snapshots.

use std::sync::Arc;

use rum_schema::proto::{
    Action, Beacon, BusinessEvent, Calls, EndpointCalls, Enrichment, Event, LongFrames,
    OriginResources, Request, Resources, ScriptTime, TypeCount, Vital, VitalName, event,
};

use super::*;
use crate::metric::MetricKind;
use crate::settings::AggregatorSettings;
use crate::stage1::Stage1;
use crate::stage2::Stage2;
use crate::view::{OTHER, SegmentKey};

/// A fixed instant (minute-aligned).
const T0: i64 = 1_763_760_000_000;

fn action(name: &str, duration_ms: Option<f64>, signals: (bool, bool, bool)) -> Event {
    let (rage, dead, error_click) = signals;
    Event {
        kind: Some(event::Kind::Action(Action {
            name: name.to_owned(),
            duration_ms,
            rage,
            dead,
            error_click,
            ..Action::default()
        })),
    }
}

fn business(name: &str, value: Option<f64>) -> Event {
    Event {
        kind: Some(event::Kind::BusinessEvent(BusinessEvent {
            name: name.to_owned(),
            value,
        })),
    }
}

fn request(method: &str, endpoint: &str, status: u32, duration_ms: f64) -> Event {
    Event {
        kind: Some(event::Kind::Request(Request {
            url: format!("https://shop.example{endpoint}"),
            method: method.to_owned(),
            status,
            duration_ms,
            endpoint: endpoint.to_owned(),
        })),
    }
}

/// A `loaf` event: `count` frames, `blocking_ms`, and script time by origin.
fn frames(count: u32, blocking_ms: f64, scripts: &[(&str, f64)]) -> Event {
    Event {
        kind: Some(event::Kind::LongFrames(LongFrames {
            count,
            blocking_ms,
            scripts: scripts
                .iter()
                .map(|(origin, duration_ms)| ScriptTime {
                    origin: (*origin).to_owned(),
                    duration_ms: *duration_ms,
                })
                .collect(),
        })),
    }
}

/// A `resources` event: per origin (bytes, untimed, durations), and counts by initiator type.
fn resources(origins: &[(&str, u64, u32, &[f64])], types: &[(&str, u32)]) -> Event {
    Event {
        kind: Some(event::Kind::Resources(Resources {
            origins: origins
                .iter()
                .map(|(origin, bytes, untimed, durations)| OriginResources {
                    origin: (*origin).to_owned(),
                    transfer_bytes: *bytes,
                    untimed: *untimed,
                    durations_ms: durations.to_vec(),
                })
                .collect(),
            types: types
                .iter()
                .map(|(kind, count)| TypeCount {
                    r#type: (*kind).to_owned(),
                    count: *count,
                })
                .collect(),
        })),
    }
}

/// A `calls` event: per endpoint (method, endpoint template, (duration, status) pairs, the traced
/// call's trace id and duration).
#[allow(clippy::type_complexity)]
fn calls(endpoints: &[(&str, &str, &[(f64, u32)], Option<([u8; 16], f64)>)]) -> Event {
    Event {
        kind: Some(event::Kind::Calls(Calls {
            endpoints: endpoints
                .iter()
                .map(|(method, endpoint, calls, traced)| EndpointCalls {
                    method: (*method).to_owned(),
                    url: format!("https://shop.example{endpoint}"),
                    endpoint: (*endpoint).to_owned(),
                    durations_ms: calls.iter().map(|(duration, _)| *duration).collect(),
                    statuses: calls.iter().map(|(_, status)| *status).collect(),
                    trace_id: traced.map(|(id, _)| id.to_vec()).unwrap_or_default(),
                    traced_ms: traced.map(|(_, ms)| ms),
                })
                .collect(),
        })),
    }
}

const TRACE_A: [u8; 16] = [0xa1; 16];
const TRACE_B: [u8; 16] = [0xb2; 16];

fn beacon(page_view: &str, route: &str, events: Vec<Event>) -> Beacon {
    Beacon {
        version: 1,
        site: "shop".into(),
        session_id: "s1".into(),
        page_view_id: page_view.into(),
        url: format!("https://shop.example{route}"),
        received_at_ms: T0 + 1_000,
        enrichment: Some(Enrichment {
            route: route.into(),
            device_class: "desktop".into(),
            ..Enrichment::default()
        }),
        events,
        ..Beacon::default()
    }
}

fn run(settings: &AggregatorSettings, beacons: &[Beacon]) -> (Stage1, Stage2) {
    crate::tests::aggregate_both(settings, beacons, T0)
}

fn key(view: &str, values: &[&str]) -> SegmentKey {
    SegmentKey {
        view: Arc::from(view),
        values: values.iter().map(|value| Arc::from(*value)).collect(),
    }
}

#[test]
fn tallies_count_signals_and_sum_loading_times() {
    let mut tally = ActionTally::default();
    tally.record(Some(412.5), true, false, true);
    tally.record(None, false, true, false);
    assert_eq!(
        tally,
        ActionTally {
            count: 2,
            rage: 1,
            dead: 1,
            error_clicks: 1,
            timed: 1,
            time_micros: 412_500_000,
        }
    );
    let mut merged = ActionTally::default();
    merged.merge(&tally);
    merged.merge(&tally);
    assert_eq!(merged.count, 4);
    assert_eq!(merged.time_micros, 825_000_000);
    assert_eq!(ActionTally::from_proto(&tally.to_proto("a")), tally);
}

#[test]
fn event_values_sum_exactly_in_any_order() {
    let values = [59.9, 0.1, 1e9, 0.0];
    let mut forward = EventTally::default();
    let mut backward = EventTally::default();
    for value in values {
        forward.record(Some(value));
    }
    for value in values.iter().rev() {
        backward.record(Some(*value));
    }
    backward.record(None);
    forward.record(None);
    assert_eq!(forward, backward);
    assert_eq!(forward.count, 5);
    assert_eq!(forward.value_micros, 1_000_000_060_000_000);
}

#[test]
fn actions_and_events_count_in_views_that_keep_them_only() {
    let settings = AggregatorSettings::default();
    let beacons = [
        beacon(
            "pv1",
            "/cart",
            vec![
                action("Add to cart", Some(400.0), (true, false, true)),
                action("<div>", None, (false, true, false)),
                business("purchase", Some(59.9)),
            ],
        ),
        beacon(
            "pv2",
            "/cart",
            vec![
                action("Add to cart", Some(200.0), (false, false, false)),
                business("purchase", Some(59.9)),
                business("signup", None),
            ],
        ),
    ];
    let (_, stage2) = run(&settings, &beacons);
    for segment in [
        key("site", &["shop"]),
        key("site_route", &["shop", "/cart"]),
    ] {
        let names = stage2
            .segment(&segment)
            .and_then(|state| state.names())
            .unwrap_or_else(|| panic!("{segment:?} keeps names"));
        assert_eq!(
            names.actions[&Arc::from("Add to cart")],
            ActionTally {
                count: 2,
                rage: 1,
                dead: 0,
                error_clicks: 1,
                timed: 2,
                time_micros: 600_000_000,
            }
        );
        assert_eq!(names.actions[&Arc::from("<div>")].dead, 1);
        assert_eq!(
            names.events[&Arc::from("purchase")],
            EventTally {
                count: 2,
                value_micros: 119_800_000,
            }
        );
        assert_eq!(names.events[&Arc::from("signup")].count, 1);
        // The loading-time histogram: the two timed actions.
        let windows = stage2.windows(stage2.segment(&segment).unwrap(), MetricKind::ActionLoading);
        assert_eq!(windows[0].as_ref().map(|window| window.samples()), Some(2));
    }
    let device = key("site_route_device", &["shop", "/cart", "desktop"]);
    let state = stage2.segment(&device).expect("the segment exists");
    assert!(state.names().is_none(), "views without actions keep none");
    assert!(stage2.windows(state, MetricKind::ActionLoading)[0].is_none());

    let text = crate::exposition::render(&stage2);
    for line in [
        r#"rum_actions_total{view="site",site="shop",action="Add to cart"} 2"#,
        r#"rum_action_frustrations_total{view="site",site="shop",action="Add to cart",signal="rage"} 1"#,
        r#"rum_action_frustrations_total{view="site",site="shop",action="<div>",signal="dead"} 1"#,
        r#"rum_action_frustrations_total{view="site_route",site="shop",route="/cart",action="Add to cart",signal="error"} 1"#,
        r#"rum_action_time_seconds_total{view="site",site="shop",action="Add to cart"} 0.6"#,
        r#"rum_action_timed_total{view="site",site="shop",action="Add to cart"} 2"#,
        r#"rum_events_total{view="site",site="shop",event="purchase"} 2"#,
        r#"rum_event_value_total{view="site",site="shop",event="purchase"} 119.8"#,
        r#"rum_action_loading_window_samples{view="site",site="shop",window="1m"} 2"#,
    ] {
        assert!(text.contains(line), "missing {line}");
    }
    assert!(!text.contains(r#"rum_actions_total{view="site_route_device""#));
}

#[test]
fn a_call_is_named_by_method_endpoint_and_status_class() {
    assert_eq!(
        request_name(b"post", b"/api/cart/:id", 503),
        "POST /api/cart/:id 5xx"
    );
    assert_eq!(request_name(b"GET", b"", 0), "GET unknown network");
    assert_eq!(
        request_name(b"BREW", b"api.example.com/v1/:uuid", 418),
        "OTHER api.example.com/v1/:uuid 4xx"
    );
    assert_eq!(request_name(b"GET", b"/a b", 999), "GET unknown other");
    // Every call is named (`calls` events), so successes have their classes too.
    assert_eq!(request_name(b"GET", b"/x", 399), "GET /x 3xx");
    assert_eq!(request_name(b"GET", b"/x", 204), "GET /x 2xx");
    assert_eq!(request_name(b"GET", b"/x", 101), "GET /x 1xx");
    assert_eq!(request_name(b"GET", b"/x", 600), "GET /x other");
    assert_eq!(
        split_failed_request("POST /api/cart/:id 5xx"),
        ("POST", "/api/cart/:id", "5xx")
    );
    assert_eq!(split_failed_request(OTHER), (OTHER, OTHER, OTHER));
}

#[test]
fn failed_calls_group_by_endpoint_and_class_and_successes_are_left_out() {
    let settings = AggregatorSettings::default();
    let beacons = [
        beacon(
            "pv1",
            "/cart",
            vec![
                request("POST", "/api/cart/:id", 503, 812.0),
                request("POST", "/api/cart/:id", 502, 188.0),
                request("GET", "/api/cart/:id", 200, 40.0),
                request("GET", "/api/stock", 0, 3_000.0),
            ],
        ),
        beacon(
            "pv2",
            "/list",
            vec![
                request("POST", "/api/cart/:id", 500, 100.0),
                request("GET", "/api/stock", 404, 20.0),
            ],
        ),
    ];
    let (_, stage2) = run(&settings, &beacons);
    let names = stage2
        .segment(&key("site", &["shop"]))
        .and_then(|state| state.names())
        .expect("names");
    let groups: Vec<(&str, u64, u64)> = names
        .failed_requests
        .iter()
        .map(|(name, tally)| (&**name, tally.count, tally.value_micros))
        .collect();
    assert_eq!(
        groups,
        [
            ("GET /api/stock 4xx", 1, 20_000_000),
            ("GET /api/stock network", 1, 3_000_000_000),
            ("POST /api/cart/:id 5xx", 3, 1_100_000_000),
        ]
    );
    let text = crate::exposition::render(&stage2);
    for line in [
        r#"rum_request_failures_total{view="site",site="shop",method="POST",endpoint="/api/cart/:id",status="5xx"} 3"#,
        r#"rum_request_failures_total{view="site_route",site="shop",route="/list",method="GET",endpoint="/api/stock",status="4xx"} 1"#,
        r#"rum_request_failure_time_seconds_total{view="site",site="shop",method="POST",endpoint="/api/cart/:id",status="5xx"} 1.1"#,
        r#"rum_requests_failed_total{view="site",site="shop"} 5"#,
    ] {
        assert!(text.contains(line), "missing {line}");
    }
}

#[test]
fn origins_name_the_page_own_origin_first_party() {
    let page = b"https://shop.example/cart?x=1";
    assert_eq!(
        origin_name(b"https://shop.example", page),
        FIRST_PARTY.as_bytes()
    );
    assert_eq!(
        origin_name(b"https://shop.example", b"https://shop.example"),
        FIRST_PARTY.as_bytes()
    );
    // A longer host or another port is another origin.
    assert_eq!(origin_name(b"https://shop.ex", page), b"https://shop.ex");
    assert_eq!(
        origin_name(b"https://shop.example:8443", page),
        b"https://shop.example:8443"
    );
    assert_eq!(
        origin_name(b"https://cdn.example", page),
        b"https://cdn.example"
    );
    assert_eq!(origin_name(b"", page), b"unknown");
}

#[test]
fn long_frames_and_resources_count_by_origin_through_both_stages() {
    let settings = AggregatorSettings::default();
    let beacons = [
        beacon(
            "pv1",
            "/cart",
            vec![
                frames(
                    2,
                    230.5,
                    &[
                        ("https://ads.example", 201.0),
                        ("https://shop.example", 60.0),
                    ],
                ),
                resources(
                    &[
                        ("https://shop.example", 48_000, 0, &[12.0, 40.0, 300.0]),
                        ("https://cdn.example", 0, 2, &[80.0, 12_000.0]),
                    ],
                    &[("script", 2), ("img", 2), ("beacon", 1)],
                ),
            ],
        ),
        beacon(
            "pv2",
            "/list",
            vec![
                frames(1, 70.0, &[("", 90.0), ("https://ads.example", 30.0)]),
                resources(&[("https://cdn.example", 0, 1, &[50.0])], &[("img", 1)]),
            ],
        ),
    ];
    let (_, stage2) = run(&settings, &beacons);
    let site = stage2
        .segment(&key("site", &["shop"]))
        .expect("site segment");
    assert_eq!(site.long_frames, 3);
    assert_eq!(site.long_frame_blocking_micros, 300_500_000);
    let names = site.names().expect("names");
    let scripts: Vec<(&str, u64, u64)> = names
        .script_origins
        .iter()
        .map(|(name, tally)| (&**name, tally.count, tally.value_micros))
        .collect();
    assert_eq!(
        scripts,
        [
            ("first-party", 1, 60_000_000),
            ("https://ads.example", 2, 231_000_000),
            ("unknown", 1, 90_000_000),
        ]
    );
    let cdn = names.resource_origins[&Arc::from("https://cdn.example")];
    assert_eq!((cdn.count, cdn.untimed, cdn.transfer_bytes), (3, 3, 0));
    // 50 ms is in the first bucket (le 0.05), 80 ms in the second, 12 s past the last bound.
    assert_eq!(cdn.buckets, [1, 1, 0, 0, 0, 0, 0, 0, 1]);
    let own = names.resource_origins[&Arc::from(FIRST_PARTY)];
    assert_eq!((own.count, own.untimed, own.transfer_bytes), (3, 0, 48_000));
    assert_eq!(own.duration_micros, 352_000_000);

    let text = crate::exposition::render(&stage2);
    for line in [
        r#"rum_long_frames_total{view="site",site="shop"} 3"#,
        r#"rum_long_frame_blocking_seconds_total{view="site",site="shop"} 0.3005"#,
        // Every view counts the frames, only views with actions keep origins.
        r#"rum_long_frames_total{view="site_device",site="shop",device="desktop"} 3"#,
        r#"rum_long_frame_script_seconds_total{view="site",site="shop",origin="https://ads.example"} 0.231"#,
        r#"rum_long_frame_script_seconds_total{view="site_route",site="shop",route="/list",origin="unknown"} 0.09"#,
        r#"rum_resource_duration_seconds_bucket{view="site",site="shop",origin="https://cdn.example",le="0.05"} 1"#,
        r#"rum_resource_duration_seconds_bucket{view="site",site="shop",origin="https://cdn.example",le="10"} 2"#,
        r#"rum_resource_duration_seconds_bucket{view="site",site="shop",origin="https://cdn.example",le="+Inf"} 3"#,
        r#"rum_resource_duration_seconds_count{view="site",site="shop",origin="first-party"} 3"#,
        r#"rum_resource_duration_seconds_sum{view="site",site="shop",origin="first-party"} 0.352"#,
        r#"rum_resources_untimed_total{view="site",site="shop",origin="https://cdn.example"} 3"#,
        r#"rum_resource_transfer_bytes_total{view="site",site="shop",origin="first-party"} 48000"#,
        r#"rum_resources_by_type_total{view="site",site="shop",type="img"} 3"#,
        r#"rum_resources_by_type_total{view="site",site="shop",type="script"} 2"#,
        // An initiator type outside the known set counts as other.
        r#"rum_resources_by_type_total{view="site",site="shop",type="other"} 1"#,
    ] {
        assert!(text.contains(line), "missing {line}");
    }
    assert!(!text.contains(r#"rum_long_frame_script_seconds_total{view="site_device""#));
    assert!(
        !text.contains(r#"type="fetch""#),
        "types without resources are left out"
    );
}

#[test]
fn origins_past_the_bound_fold_into_other_and_are_counted() {
    let settings = AggregatorSettings {
        top_names: 2,
        ..AggregatorSettings::default()
    };
    let beacons: Vec<Beacon> = (0..6)
        .map(|index| {
            let origin = format!("https://tp{index}.example");
            beacon(
                &format!("pv{index}"),
                "/",
                vec![
                    frames(1, 10.0, &[(&origin, 60.0)]),
                    resources(&[(&origin, 10, 0, &[5.0])], &[("script", 1)]),
                ],
            )
        })
        .collect();
    let (stage1, stage2) = run(&settings, &beacons);
    let names = stage2
        .segment(&key("site", &["shop"]))
        .and_then(|state| state.names())
        .expect("names");
    // Scripts and resources share the origin table: two origins admitted, four fold in each.
    assert_eq!(names.script_origins.len(), 3);
    assert_eq!(names.script_origins[&Arc::from(OTHER)].count, 4);
    assert_eq!(names.resource_origins.len(), 3);
    assert_eq!(names.resource_origins[&Arc::from(OTHER)].count, 4);
    assert_eq!(
        stage1.name_folds(NameKind::Origin) + stage2.name_folds(NameKind::Origin),
        8
    );
    let text = crate::exposition::render(&stage2);
    assert!(text.contains(
        r#"rum_resource_duration_seconds_count{view="site",site="shop",origin="__other__"} 4"#
    ));
}

#[test]
fn failed_call_groups_past_the_bound_fold_into_other_everywhere() {
    let settings = AggregatorSettings {
        top_names: 2,
        ..AggregatorSettings::default()
    };
    let beacons: Vec<Beacon> = (0..6)
        .map(|index| {
            beacon(
                &format!("pv{index}"),
                "/",
                vec![request("GET", &format!("/api/v{index}"), 500, 1.0)],
            )
        })
        .collect();
    let (stage1, stage2) = run(&settings, &beacons);
    let names = stage2
        .segment(&key("site", &["shop"]))
        .and_then(|state| state.names())
        .expect("names");
    assert_eq!(names.failed_requests.len(), 3);
    assert_eq!(names.failed_requests[&Arc::from(OTHER)].count, 4);
    assert_eq!(
        stage1.name_folds(NameKind::FailedRequest) + stage2.name_folds(NameKind::FailedRequest),
        4
    );
    let text = crate::exposition::render(&stage2);
    assert!(text.contains(
        r#"rum_request_failures_total{view="site",site="shop",method="__other__",endpoint="__other__",status="__other__"} 4"#
    ));
}

#[test]
fn names_repeated_in_a_chunk_resolve_alike_and_folds_count_per_use() {
    // Stage 1 remembers what a raw name resolved to until the flush: a repeated origin or call
    // group must land where the first one did, a folded one must fold (and count) every time,
    // and a new chunk starts over.
    let settings = AggregatorSettings {
        chunk_value_bound: 2,
        ..AggregatorSettings::default()
    };
    let page = |index: usize, origins: &[&str], method: &str| {
        let scripts: Vec<(&str, f64)> = origins.iter().map(|origin| (*origin, 10.0)).collect();
        beacon(
            &format!("pv{index}"),
            "/",
            vec![
                frames(1, 10.0, &scripts),
                calls(&[
                    (method, "/api/a", &[(20.0, 200), (30.0, 204)], None),
                    (method, "/api/b", &[(40.0, 500)], None),
                    ("GET", "/api/c", &[(50.0, 200)], None),
                ]),
                request(method, "/api/a", 503, 7.0),
            ],
        )
    };
    let site_partial = |stage1: &mut Stage1| {
        stage1
            .flush()
            .into_iter()
            .find(|partial| partial.view == "site")
            .expect("the site view's partial")
    };
    let mut stage1 = Stage1::new(settings);
    let origins = [
        "https://a.example",
        "https://b.example",
        "https://c.example",
    ];
    for (index, method) in ["GET", "get", "Get"].iter().enumerate() {
        crate::wire::BeaconView::of(&page(index, &origins, method), |view| stage1.ingest(view));
    }
    let partial = site_partial(&mut stage1);
    let scripts: Vec<(&str, u64)> = partial
        .script_origins
        .iter()
        .map(|tally| (tally.name.as_str(), tally.count))
        .collect();
    assert_eq!(
        scripts,
        [
            ("__other__", 3),
            ("https://a.example", 3),
            ("https://b.example", 3)
        ]
    );
    // "get" and "Get" are the group "GET"; the third group folds each time, and the failed
    // request's 5xx group is a third name too.
    let groups: Vec<(&str, u64)> = partial
        .calls
        .iter()
        .map(|tally| (tally.name.as_str(), tally.count))
        .collect();
    assert_eq!(
        groups,
        [
            ("GET /api/a 2xx", 6),
            ("GET /api/b 5xx", 3),
            ("__other__", 3)
        ]
    );
    let failed: Vec<(&str, u64)> = partial
        .failed_requests
        .iter()
        .map(|tally| (tally.name.as_str(), tally.count))
        .collect();
    assert_eq!(failed, [("__other__", 3)]);
    assert_eq!(stage1.name_folds(NameKind::Origin), 3);
    assert_eq!(stage1.name_folds(NameKind::FailedRequest), 6);

    // The next chunk resolves afresh: what folded before is admitted when it comes first.
    let reversed = [
        "https://c.example",
        "https://b.example",
        "https://a.example",
    ];
    crate::wire::BeaconView::of(&page(3, &reversed, "GET"), |view| stage1.ingest(view));
    let partial = site_partial(&mut stage1);
    let scripts: Vec<&str> = partial
        .script_origins
        .iter()
        .map(|tally| tally.name.as_str())
        .collect();
    assert_eq!(
        scripts,
        ["__other__", "https://b.example", "https://c.example"]
    );
    assert_eq!(stage1.name_folds(NameKind::Origin), 4);
}

#[test]
fn names_past_the_top_names_bound_fold_and_are_counted_once() {
    let settings = AggregatorSettings {
        top_names: 3,
        ..AggregatorSettings::default()
    };
    let beacons: Vec<Beacon> = (0..10)
        .map(|index| {
            beacon(
                &format!("pv{index}"),
                "/",
                vec![
                    action(&format!("button {index}"), None, (false, false, false)),
                    business(&format!("event {index}"), Some(1.0)),
                ],
            )
        })
        .collect();
    let (stage1, stage2) = run(&settings, &beacons);
    let names = stage2
        .segment(&key("site", &["shop"]))
        .and_then(|state| state.names())
        .expect("names");
    // The first three are admitted, seven fold; folds are counted once per occurrence (in the
    // first view that keeps names), wherever they happened.
    assert_eq!(names.actions.len(), 4);
    assert_eq!(names.actions[&Arc::from(OTHER)].count, 7);
    assert_eq!(names.events[&Arc::from(OTHER)].count, 7);
    assert_eq!(names.events[&Arc::from(OTHER)].value_micros, 7_000_000);
    for kind in [NameKind::Action, NameKind::Event] {
        assert_eq!(
            stage1.name_folds(kind) + stage2.name_folds(kind),
            7,
            "{kind:?}"
        );
    }
    // Counts are never lost to a fold.
    let total: u64 = names.actions.values().map(|tally| tally.count).sum();
    assert_eq!(total, 10);
}

#[test]
fn a_flood_of_distinct_names_stays_bounded_in_stage1_and_stage2() {
    let settings = AggregatorSettings {
        top_names: 5,
        chunk_value_bound: 20,
        ..AggregatorSettings::default()
    };
    let beacons: Vec<Beacon> = (0..2_000)
        .map(|index| {
            beacon(
                &format!("pv{index}"),
                "/",
                vec![action(
                    &format!("n{index}"),
                    Some(10.0),
                    (false, false, false),
                )],
            )
        })
        .collect();
    let (stage1, stage2) = run(&settings, &beacons);
    assert_eq!(
        stage1.name_folds(NameKind::Action),
        2_000 - 20,
        "the chunk bound folds in stage 1"
    );
    assert_eq!(stage2.name_folds(NameKind::Action), 20 - 5);
    let names = stage2
        .segment(&key("site", &["shop"]))
        .and_then(|state| state.names())
        .expect("names");
    assert_eq!(names.actions.len(), 6);
    assert_eq!(names.actions[&Arc::from(OTHER)].count, 2_000 - 5);
}

#[test]
fn names_survive_a_stage2_snapshot() {
    let settings = AggregatorSettings {
        top_names: 2,
        ..AggregatorSettings::default()
    };
    let beacons: Vec<Beacon> = (0..5)
        .map(|index| {
            beacon(
                &format!("pv{index}"),
                "/p",
                vec![
                    action(
                        &format!("a{}", index % 3),
                        Some(100.0),
                        (index == 0, false, false),
                    ),
                    business("purchase", Some(10.5)),
                    request("PUT", "/api/p", 503, 12.5),
                    frames(1, 75.0, &[("https://ads.example", 120.0)]),
                    resources(&[("https://cdn.example", 5, 1, &[33.0])], &[("img", 1)]),
                    calls(&[(
                        "GET",
                        "/api/p",
                        &[(20.0, 200), (25.0, 503)],
                        Some((TRACE_A, 25.0)),
                    )]),
                ],
            )
        })
        .collect();
    let (_, stage2) = run(&settings, &beacons);
    let before = crate::exposition::render(&stage2);
    for family in [
        "rum_request_failures_total",
        "rum_long_frame_script_seconds_total",
        "rum_resource_duration_seconds_bucket",
        "rum_resources_by_type_total",
    ] {
        assert!(before.contains(family), "the snapshot below holds {family}");
    }
    let state = stage2.export();
    let (mut restored, dropped) = Stage2::import(settings.clone(), &state);
    assert_eq!(dropped, 0);
    assert_eq!(
        crate::exposition::render(&restored),
        crate::exposition::render(&stage2)
    );
    assert_eq!(restored.export(), state);
    // The name tables came back too: a new name still folds, an admitted one still counts.
    let mut stage1 = Stage1::new(settings);
    for (index, name) in ["a0", "brand new"].into_iter().enumerate() {
        let later = beacon(
            &format!("later{index}"),
            "/p",
            vec![action(name, None, (false, false, false))],
        );
        crate::wire::BeaconView::of(&later, |view| stage1.ingest(view));
    }
    for partial in stage1.flush() {
        restored.apply(partial);
    }
    let names = restored
        .segment(&key("site", &["shop"]))
        .and_then(|state| state.names())
        .expect("names");
    assert_eq!(names.actions[&Arc::from("a0")].count, 3);
    assert!(!names.actions.contains_key(&Arc::from("brand new")));
}

#[test]
fn every_call_counts_by_endpoint_and_status_class_with_its_trace_as_exemplar() {
    let settings = AggregatorSettings::default();
    let beacons = [
        beacon(
            "pv1",
            "/cart",
            vec![calls(&[
                (
                    "GET",
                    "/api/items/:id",
                    &[(20.0, 200), (120.0, 200), (40.0, 404), (3_000.0, 0)],
                    Some((TRACE_A, 120.0)),
                ),
                ("post", "/api/cart", &[(300.0, 201)], None),
            ])],
        ),
        beacon(
            "pv2",
            "/list",
            vec![calls(&[(
                "GET",
                "/api/items/:id",
                &[(60.0, 204)],
                Some((TRACE_B, 60.0)),
            )])],
        ),
    ];
    let (_, stage2) = run(&settings, &beacons);
    let names = stage2
        .segment(&key("site", &["shop"]))
        .and_then(|state| state.names())
        .expect("names");
    let groups: Vec<(&str, u64, u64)> = names
        .calls
        .iter()
        .map(|(name, tally)| (&**name, tally.count, tally.duration_micros))
        .collect();
    assert_eq!(
        groups,
        [
            ("GET /api/items/:id 2xx", 3, 200_000_000),
            ("GET /api/items/:id 4xx", 1, 40_000_000),
            ("GET /api/items/:id network", 1, 3_000_000_000),
            ("POST /api/cart 2xx", 1, 300_000_000),
        ]
    );
    let ok = names.calls[&Arc::from("GET /api/items/:id 2xx")];
    // 20 ms in le 0.025, 60 ms in le 0.1, 120 ms in le 0.25.
    assert_eq!(ok.buckets, [1, 0, 1, 1, 0, 0, 0, 0, 0, 0, 0]);
    // Both page views' traced calls fell in this group; one exemplar, the latest (same
    // receive time: the later beacon's).
    let exemplar = ok.exemplar.expect("a traced call");
    assert_eq!(exemplar.trace_id, TRACE_B);
    assert_eq!(exemplar.value, 0.06);
    assert!(
        names.calls[&Arc::from("GET /api/items/:id 4xx")]
            .exemplar
            .is_none(),
        "the trace belongs to the call of its duration only"
    );
    // Calls are named, so only views with `actions = true` keep them.
    assert!(
        stage2
            .segment(&key("site_device", &["shop", "desktop"]))
            .and_then(|state| state.names())
            .is_none_or(|names| names.calls.is_empty())
    );

    let text = crate::exposition::render(&stage2);
    let series = r#"view="site",site="shop",method="GET",endpoint="/api/items/:id",status="2xx""#;
    for line in [
        format!(r#"rum_request_duration_seconds_bucket{{{series},le="0.025"}} 1"#),
        format!(r#"rum_request_duration_seconds_bucket{{{series},le="0.1"}} 2"#),
        format!(r#"rum_request_duration_seconds_bucket{{{series},le="+Inf"}} 3"#),
        format!(r#"rum_request_duration_seconds_count{{{series}}} 3"#),
        format!(r#"rum_request_duration_seconds_sum{{{series}}} 0.2"#),
        r#"rum_request_duration_seconds_count{view="site",site="shop",method="GET",endpoint="/api/items/:id",status="network"} 1"#.to_owned(),
        r#"rum_request_duration_seconds_count{view="site",site="shop",method="POST",endpoint="/api/cart",status="2xx"} 1"#.to_owned(),
    ] {
        assert!(text.contains(&line), "missing {line}");
    }
    assert!(!text.contains(" # {"), "no exemplar in the 0.0.4 text");
    // In OpenMetrics the traced call's bucket (60 ms: le 0.1) carries its trace, and only it.
    let open = crate::exposition::render_in(&stage2, crate::exposition::Format::OpenMetrics);
    let traced = format!(
        r#"rum_request_duration_seconds_bucket{{{series},le="0.1"}} 2 # {{trace_id="{}"}} 0.06 1763760001.000"#,
        "b2".repeat(16)
    );
    assert!(open.contains(&traced), "missing {traced}");
    assert_eq!(
        open.lines()
            .filter(
                |line| line.starts_with("rum_request_duration_seconds_bucket")
                    && line.contains(series)
                    && line.contains(" # {")
            )
            .count(),
        1,
        "one bucket of the series carries the exemplar"
    );
}

#[test]
fn a_traced_page_load_links_its_samples_as_exemplars_per_bucket() {
    let settings = AggregatorSettings::default();
    let vital = |name: VitalName, value: f64, id: &str| Event {
        kind: Some(event::Kind::Vital(Vital {
            name: name as i32,
            value,
            id: id.to_owned(),
            ..Vital::default()
        })),
    };
    let traced = |page_view: &str, trace: [u8; 16], lcp: f64, ttfb: f64| Beacon {
        trace_id: trace.to_vec(),
        ..beacon(
            page_view,
            "/p",
            vec![
                vital(VitalName::Lcp, lcp, "lcp"),
                vital(VitalName::Ttfb, ttfb, "ttfb"),
            ],
        )
    };
    let beacons = [
        traced("pv1", TRACE_A, 2_400.0, 180.0),
        traced("pv2", TRACE_B, 6_000.0, 190.0),
        // Without a trace: counted, no exemplar.
        beacon("pv3", "/p", vec![vital(VitalName::Lcp, 900.0, "lcp")]),
    ];
    let (_, stage2) = run(&settings, &beacons);
    let segment = stage2
        .segment(&key("site", &["shop"]))
        .expect("site segment");
    let lcp = MetricKind::Lcp;
    let at = |raw: f64| lcp.bucket_index(raw);
    let slow = segment.exemplar(lcp, at(6_000.0)).expect("pv2's LCP");
    assert_eq!((slow.trace_id, slow.value), (TRACE_B, 6.0));
    let good = segment.exemplar(lcp, at(2_400.0)).expect("pv1's LCP");
    assert_eq!(good.trace_id, TRACE_A);
    assert_eq!(segment.exemplar(lcp, at(900.0)), None, "pv3 named no trace");
    // Both TTFBs fall in one bucket: the later page view's trace is kept.
    let ttfb = MetricKind::Ttfb;
    assert_eq!(
        segment
            .exemplar(ttfb, ttfb.bucket_index(180.0))
            .map(|exemplar| exemplar.trace_id),
        Some(TRACE_B)
    );
    // Every view's segments get them (exemplars are no label).
    let device = stage2
        .segment(&key("site_device", &["shop", "desktop"]))
        .expect("device segment");
    assert!(device.exemplar(lcp, at(6_000.0)).is_some());

    // They survive a snapshot.
    let state = stage2.export();
    let (restored, _) = Stage2::import(settings, &state);
    assert_eq!(
        restored
            .segment(&key("site", &["shop"]))
            .and_then(|segment| segment.exemplar(lcp, at(6_000.0))),
        Some(slow)
    );
    assert_eq!(restored.export(), state);
}

#[test]
fn exemplars_appear_on_settled_buckets_in_openmetrics_only() {
    let settings = AggregatorSettings {
        allowed_lateness_minutes: 0,
        ..AggregatorSettings::default()
    };
    let vital = Event {
        kind: Some(event::Kind::Vital(Vital {
            name: VitalName::Lcp as i32,
            value: 2_400.0,
            id: "lcp".into(),
            ..Vital::default()
        })),
    };
    let beacons = [Beacon {
        trace_id: TRACE_A.to_vec(),
        ..beacon("pv1", "/p", vec![vital])
    }];
    let (_, mut stage2) = run(&settings, &beacons);
    // The minute settles once the clock is past it.
    stage2.advance(T0 + 3 * 60_000);
    let open = crate::exposition::render_in(&stage2, crate::exposition::Format::OpenMetrics);
    let line = format!(
        r#"rum_lcp_seconds_bucket{{view="site",site="shop",le="2.5"}} 1 # {{trace_id="{}"}} 2.4 1763760001.000"#,
        "a1".repeat(16)
    );
    assert!(open.contains(&line), "missing {line} in\n{open}");
    assert!(!crate::exposition::render(&stage2).contains(" # {"));
}
