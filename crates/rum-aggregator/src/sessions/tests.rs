//! Sessions and funnels: step order (A,A,B,C converts once; B before A does not), the window,
//! arrival order not mattering, session end by idleness, the table's bound under a flood, and
//! snapshots; then through both stages from beacons.

use std::sync::Arc;

use rum_schema::proto::{
    Action, Beacon, BusinessEvent, Enrichment, Event, SessionActivity, SessionOccurrence, event,
};

use super::funnel::{Funnel, Step};
use super::*;
use crate::settings::AggregatorSettings;
use crate::stage2::Stage2;
use crate::view::OTHER;

/// A fixed instant (minute-aligned).
const T0: i64 = 1_763_760_000_000;
const MINUTE: i64 = 60_000;

fn checkout() -> Funnel {
    Funnel {
        name: Arc::from("checkout"),
        site: Some(Arc::from("shop")),
        window_ms: 30 * MINUTE,
        steps: vec![
            Step::Route(Arc::from("/cart")),
            Step::Action(Arc::from("Checkout")),
            Step::Event(Arc::from("purchase")),
        ],
    }
}

fn settings(capacity: usize) -> SessionSettings {
    SessionSettings {
        enabled: true,
        capacity,
        idle_ms: 30 * MINUTE,
        funnels: vec![checkout()].into(),
    }
}

fn occurrence(at_ms: i64, kind: OccurrenceKind, name: &str) -> SessionOccurrence {
    SessionOccurrence {
        at_ms,
        order: 0,
        kind: kind.to_proto() as i32,
        name: name.to_owned(),
    }
}

const A: (OccurrenceKind, &str) = (OccurrenceKind::PageView, "/cart");
const B: (OccurrenceKind, &str) = (OccurrenceKind::Action, "Checkout");
const C: (OccurrenceKind, &str) = (OccurrenceKind::Event, "purchase");

/// One activity per occurrence, a second apart from `T0`, for session `key`.
fn walk(key: u64, steps: &[(OccurrenceKind, &str)]) -> Vec<SessionActivity> {
    steps
        .iter()
        .enumerate()
        .map(|(index, (kind, name))| {
            let at = T0 + 1_000 * index as i64;
            SessionActivity {
                session: key,
                first_ms: at,
                last_ms: at,
                occurrences: vec![occurrence(at, *kind, name)],
            }
        })
        .collect()
}

fn shop() -> Arc<str> {
    Arc::from("shop")
}

fn funnel_counts(sessions: &Sessions) -> Vec<u64> {
    let (_, site) = sessions.sites().next().expect("a site");
    site.funnels[0].reached.clone()
}

#[test]
fn a_repeated_step_counts_once_and_a_b_c_converts_once() {
    let mut sessions = Sessions::new(settings(100), 100);
    for activity in walk(1, &[A, A, B, C]) {
        sessions.apply(&shop(), &activity);
    }
    sessions.settle(T0 + MINUTE);
    assert_eq!(funnel_counts(&sessions), [1, 1, 1]);
    // Time to step: from the first A (T0) to B (the third occurrence, +2 s) and C (+3 s).
    let (_, site) = sessions.sites().next().unwrap();
    assert_eq!(site.funnels[0].times[1].sum_ms, 2_000);
    assert_eq!(site.funnels[0].times[2].sum_ms, 3_000);
    assert_eq!(site.funnels[0].times[0].count(), 1);
}

#[test]
fn a_step_before_the_first_does_not_count() {
    let mut sessions = Sessions::new(settings(100), 100);
    for activity in walk(1, &[B, A, C]) {
        sessions.apply(&shop(), &activity);
    }
    sessions.settle(T0 + MINUTE);
    assert_eq!(
        funnel_counts(&sessions),
        [1, 0, 0],
        "B came before A; C needs B"
    );
}

#[test]
fn the_order_chunks_arrive_in_does_not_matter() {
    let mut in_order = Sessions::new(settings(100), 100);
    let mut reversed = Sessions::new(settings(100), 100);
    let activities = walk(7, &[A, B, A, C]);
    for activity in &activities {
        in_order.apply(&shop(), activity);
    }
    for activity in activities.iter().rev() {
        reversed.apply(&shop(), activity);
    }
    in_order.settle(T0 + MINUTE);
    reversed.settle(T0 + MINUTE);
    assert_eq!(funnel_counts(&in_order), [1, 1, 1]);
    assert_eq!(in_order.export(), reversed.export());
}

#[test]
fn occurrences_wait_until_they_are_final() {
    let mut sessions = Sessions::new(settings(100), 100);
    for activity in walk(1, &[A, B]) {
        sessions.apply(&shop(), &activity);
    }
    // The point is at T0 + 1 s: A (T0) is final, B (T0 + 1 s) is not yet.
    sessions.settle(T0 + 1_000);
    assert_eq!(funnel_counts(&sessions), [1, 0, 0]);
    sessions.settle(T0 + MINUTE);
    assert_eq!(funnel_counts(&sessions), [1, 1, 0]);
}

#[test]
fn steps_past_the_window_do_not_count() {
    let mut sessions = Sessions::new(settings(100), 100);
    let late = T0 + 30 * MINUTE + 1;
    sessions.apply(&shop(), &walk(1, &[A])[0]);
    sessions.apply(
        &shop(),
        &SessionActivity {
            session: 1,
            first_ms: late,
            last_ms: late,
            occurrences: vec![occurrence(late, B.0, B.1)],
        },
    );
    sessions.settle(T0 + 40 * MINUTE);
    assert_eq!(funnel_counts(&sessions), [1, 0, 0]);
    // 30 min exactly is within the window.
    let mut sessions = Sessions::new(settings(100), 100);
    let edge = T0 + 30 * MINUTE;
    sessions.apply(&shop(), &walk(1, &[A])[0]);
    sessions.apply(
        &shop(),
        &SessionActivity {
            session: 1,
            first_ms: edge,
            last_ms: edge,
            occurrences: vec![occurrence(edge, B.0, B.1)],
        },
    );
    sessions.settle(T0 + 40 * MINUTE);
    assert_eq!(funnel_counts(&sessions), [1, 1, 0]);
}

#[test]
fn funnels_of_another_site_are_not_followed() {
    let mut sessions = Sessions::new(settings(100), 100);
    for activity in walk(1, &[A, B, C]) {
        sessions.apply(&Arc::from("news"), &activity);
    }
    sessions.settle(T0 + MINUTE);
    let (_, site) = sessions.sites().next().unwrap();
    assert_eq!(site.funnels[0].reached, [0, 0, 0]);
}

#[test]
fn an_idle_session_ends_with_its_duration_bounce_entry_and_exit() {
    let mut sessions = Sessions::new(settings(100), 100);
    let pages = [
        (T0, "/home"),
        (T0 + 90_000, "/cart"),
        (T0 + 200_000, "/done"),
    ];
    for (at, route) in pages {
        sessions.apply(
            &shop(),
            &SessionActivity {
                session: 1,
                first_ms: at,
                last_ms: at + 5_000,
                occurrences: vec![occurrence(at, OccurrenceKind::PageView, route)],
            },
        );
    }
    sessions.apply(&shop(), &walk(2, &[(OccurrenceKind::PageView, "/home")])[0]);
    // Still within 30 min of the last beacon: nothing ended.
    sessions.settle(T0 + 205_000 + 30 * MINUTE);
    assert_eq!(
        sessions.sites().next().unwrap().1.ended.sessions,
        1,
        "session 2 ended"
    );
    sessions.settle(T0 + 205_001 + 30 * MINUTE);
    let (_, site) = sessions.sites().next().unwrap();
    let ended = &site.ended;
    assert_eq!(ended.sessions, 2);
    assert_eq!(ended.bounces, 1);
    assert_eq!(ended.page_views, 4);
    // Session 1: 205 s (the first beacon to the last one's end); session 2: 0 s.
    assert_eq!(ended.duration.sum_ms, 205_000);
    assert_eq!(ended.duration.counts[0], 1, "0 s is in the first bucket");
    assert_eq!(ended.duration.counts[4], 1, "205 s is in the 300 s bucket");
    assert_eq!(ended.entries.counts[&Arc::from("/home")], 2);
    assert_eq!(ended.exits.counts[&Arc::from("/done")], 1);
    assert_eq!(ended.exits.counts[&Arc::from("/home")], 1);
    assert_eq!(site.active(), 0);
    assert_eq!(sessions.tracked(), 0);
}

#[test]
fn a_flood_of_sessions_stays_within_capacity_and_evictions_are_counted() {
    let capacity = 1_000;
    let mut sessions = Sessions::new(settings(capacity), 100);
    let flood = 100_000u64;
    for key in 0..flood {
        let at = T0 + key as i64;
        sessions.apply(
            &shop(),
            &SessionActivity {
                session: key,
                first_ms: at,
                last_ms: at,
                occurrences: vec![
                    occurrence(at, OccurrenceKind::PageView, "/cart"),
                    occurrence(at, B.0, B.1),
                ],
            },
        );
        assert!(sessions.tracked() <= capacity);
    }
    assert_eq!(sessions.tracked(), capacity);
    assert_eq!(sessions.evicted(), flood - capacity as u64);
    // Evicted sessions still count: every one reached the first two steps once.
    sessions.settle(T0 + 2 * MINUTE);
    assert_eq!(funnel_counts(&sessions), [flood, flood, 0]);
    let (_, site) = sessions.sites().next().unwrap();
    assert_eq!(site.ended.sessions, flood - capacity as u64);
    assert!(
        sessions.bytes() < capacity * 400 + 4096,
        "{} bytes for {capacity} sessions",
        sessions.bytes()
    );
}

#[test]
fn memory_per_100k_tracked_sessions() {
    let mut sessions = Sessions::new(settings(100_000), 100);
    for key in 0..100_000u64 {
        let at = T0 + key as i64;
        sessions.apply(
            &shop(),
            &SessionActivity {
                session: key,
                first_ms: at,
                last_ms: at,
                occurrences: vec![occurrence(at, OccurrenceKind::PageView, "/cart")],
            },
        );
    }
    sessions.settle(T0 + 2 * MINUTE);
    let bytes = sessions.bytes();
    // Recorded in benches/README.md: 224 bytes per tracked session (22.4 MB per 100k).
    assert!(
        bytes / 100_000 <= 256,
        "{} bytes per session",
        bytes / 100_000
    );
}

#[test]
fn entry_routes_past_the_bound_fold_and_are_counted() {
    let mut sessions = Sessions::new(settings(100), 2);
    for key in 0..5u64 {
        let route = format!("/r{key}");
        sessions.apply(
            &shop(),
            &SessionActivity {
                session: key,
                first_ms: T0,
                last_ms: T0,
                occurrences: vec![occurrence(T0, OccurrenceKind::PageView, &route)],
            },
        );
    }
    sessions.settle(T0 + 31 * MINUTE);
    let (_, site) = sessions.sites().next().unwrap();
    assert_eq!(site.ended.entries.counts.len(), 3);
    assert_eq!(site.ended.entries.counts[&Arc::from(OTHER)], 3);
    assert_eq!(sessions.route_folds(), 6, "3 entries and 3 exits");
}

#[test]
fn a_snapshot_restores_tracked_sessions_and_counts() {
    let mut sessions = Sessions::new(settings(100), 100);
    for activity in walk(1, &[A, B]).into_iter().chain(walk(2, &[A])) {
        sessions.apply(&shop(), &activity);
    }
    sessions.settle(T0 + 1_000);
    let saved = sessions.export();
    let mut restored = Sessions::new(settings(100), 100);
    restored.import(&saved, sessions.evicted(), i64::MIN);
    assert_eq!(restored.export(), saved);
    // Both go on the same way: B is read, then C arrives.
    for target in [&mut sessions, &mut restored] {
        target.apply(&shop(), &walk(1, &[A, A, A, C])[3]);
        target.settle(T0 + MINUTE);
    }
    assert_eq!(funnel_counts(&restored), [2, 1, 1]);
    assert_eq!(restored.export(), sessions.export());
}

fn beacon(session: &str, page_view: &str, route: &str, at: i64, events: Vec<Event>) -> Beacon {
    Beacon {
        version: 1,
        site: "shop".into(),
        session_id: session.into(),
        page_view_id: page_view.into(),
        url: format!("https://shop.example{route}"),
        received_at_ms: at,
        enrichment: Some(Enrichment {
            route: route.into(),
            device_class: "desktop".into(),
            ..Enrichment::default()
        }),
        events,
        ..Beacon::default()
    }
}

fn action(name: &str) -> Event {
    Event {
        kind: Some(event::Kind::Action(Action {
            name: name.to_owned(),
            ..Action::default()
        })),
    }
}

fn purchase() -> Event {
    Event {
        kind: Some(event::Kind::BusinessEvent(BusinessEvent {
            name: "purchase".into(),
            value: Some(10.0),
        })),
    }
}

#[test]
fn beacons_walk_the_funnel_through_both_stages() {
    let mut settings = AggregatorSettings::default();
    settings.sessions = self::settings(100);
    let at = T0 + 1_000;
    let beacons = [
        // s1: the whole funnel over three page views (the cart page's later beacon adds nothing).
        beacon("s1", "p1", "/cart", at, vec![]),
        beacon("s1", "p1", "/cart", at + 10, vec![action("Checkout")]),
        beacon("s1", "p2", "/pay", at + 20, vec![purchase()]),
        // s2: only the cart; s3: the action and the purchase without the cart.
        beacon("s2", "p3", "/cart", at, vec![]),
        beacon("s3", "p4", "/pay", at, vec![action("Checkout"), purchase()]),
    ];
    let (_, mut stage2) = crate::tests::aggregate_both(&settings, &beacons, T0);
    // Nothing is final until the minute is past the allowed lateness (2 min by default).
    let text = crate::exposition::render(&stage2);
    assert!(text.contains(
        r#"rum_funnel_sessions_total{site="shop",funnel="checkout",step="1",target="route:/cart"} 0"#
    ));
    stage2.advance(T0 + 3 * MINUTE);
    let text = crate::exposition::render(&stage2);
    for line in [
        r#"rum_funnel_sessions_total{site="shop",funnel="checkout",step="1",target="route:/cart"} 2"#,
        r#"rum_funnel_sessions_total{site="shop",funnel="checkout",step="2",target="action:Checkout"} 1"#,
        r#"rum_funnel_sessions_total{site="shop",funnel="checkout",step="3",target="event:purchase"} 1"#,
        r#"rum_funnel_conversions_total{site="shop",funnel="checkout"} 1"#,
        r#"rum_funnel_step_seconds_bucket{site="shop",funnel="checkout",step="3",le="1"} 1"#,
        r#"rum_sessions_active{site="shop"} 3"#,
        r#"rum_sessions_total{site="shop"} 0"#,
    ] {
        assert!(text.contains(line), "missing {line}\n{text}");
    }
    // Half an hour later every session ended.
    stage2.advance(T0 + 40 * MINUTE);
    let text = crate::exposition::render(&stage2);
    for line in [
        r#"rum_sessions_total{site="shop"} 3"#,
        r#"rum_session_bounces_total{site="shop"} 2"#,
        r#"rum_session_page_views_total{site="shop"} 4"#,
        r#"rum_session_entries_total{site="shop",route="/cart"} 2"#,
        r#"rum_session_exits_total{site="shop",route="/pay"} 2"#,
        r#"rum_session_duration_seconds_count{site="shop"} 3"#,
        r#"rum_sessions_active{site="shop"} 0"#,
        r#"rum_aggregator_sessions_evicted_total 0"#,
    ] {
        assert!(text.contains(line), "missing {line}\n{text}");
    }
    // And a stage-2 snapshot keeps all of it.
    let (restored, _) = Stage2::import(settings.clone(), &stage2.export());
    assert_eq!(
        crate::exposition::render(&restored),
        crate::exposition::render(&stage2)
    );
}
