//! Error groups through both stages: one group per cause across values and deploys, sessions and
//! routes, the fold past the chunk bound, the Space-Saving bound, snapshots and the JSON answer.

use std::sync::Arc;

use rum_schema::proto::{Beacon, Enrichment, Error, Event, event};

use super::*;
use crate::settings::AggregatorSettings;
use crate::stage1::Stage1;
use crate::stage2::Stage2;

const T0: i64 = 1_763_760_000_000;

fn error(message: &str, stack: &str) -> Event {
    Event {
        kind: Some(event::Kind::Error(Error {
            kind: "error".into(),
            message: message.into(),
            stack: stack.into(),
            ..Error::default()
        })),
    }
}

fn beacon(session: &str, page_view: &str, route: &str, at: i64, events: Vec<Event>) -> Beacon {
    Beacon {
        version: 1,
        site: "shop".into(),
        session_id: session.into(),
        page_view_id: page_view.into(),
        url: format!("https://shop.example.com{route}"),
        received_at_ms: at,
        enrichment: Some(Enrichment {
            route: route.into(),
            ..Enrichment::default()
        }),
        events,
        ..Beacon::default()
    }
}

fn run(settings: &AggregatorSettings, beacons: &[Beacon]) -> (Stage1, Stage2) {
    crate::tests::aggregate_both(settings, beacons, T0)
}

fn groups(stage2: &Stage2) -> Vec<(u64, u64, u64, Group)> {
    let (_, errors) = stage2
        .error_groups()
        .next()
        .expect("the site has error groups");
    errors
        .top(100)
        .into_iter()
        .map(|(fingerprint, counted)| {
            (
                fingerprint,
                counted.count,
                counted.value.sessions.count(),
                counted.value.clone(),
            )
        })
        .collect()
}

#[test]
fn one_cause_is_one_group_across_values_sessions_and_deploys() {
    let settings = AggregatorSettings::default();
    let checkout_v1 = "TypeError: Cannot read properties of undefined (reading 'id')\n    at pay (https://shop.example.com/static/main.1a2b3c4d.js:1:100)";
    let checkout_v2 = "TypeError: Cannot read properties of undefined (reading 'sku')\n    at pay (https://shop.example.com/static/main.9f8e7d6c.js:1:180)";
    let other =
        "ReferenceError: foo is not defined\n    at init (https://shop.example.com/app.js:3:1)";
    let mut beacons = Vec::new();
    for index in 0..30 {
        let (message, stack) = if index % 3 == 2 {
            ("ReferenceError: foo is not defined", other)
        } else if index % 2 == 0 {
            (
                "TypeError: Cannot read properties of undefined (reading 'id')",
                checkout_v1,
            )
        } else {
            (
                "TypeError: Cannot read properties of undefined (reading 'sku')",
                checkout_v2,
            )
        };
        let route = if index < 25 { "/checkout" } else { "/cart" };
        beacons.push(beacon(
            &format!("s{}", index % 12),
            &format!("pv{index}"),
            route,
            T0 + index * 1_000,
            vec![error(message, stack)],
        ));
    }
    let (_, stage2) = run(&settings, &beacons);
    let groups = groups(&stage2);
    assert_eq!(groups.len(), 2, "{groups:?}");
    let (_, count, sessions, group) = &groups[0];
    assert_eq!(*count, 20);
    assert_eq!(
        group.message,
        "TypeError: Cannot read properties of undefined (reading <str>)"
    );
    assert_eq!(group.frame, "pay /static/main.<h>.js");
    // Sessions s0..s11 that hit it: index % 3 != 2 covers every residue mod 12 except 2, 5, 8, 11.
    assert_eq!(*sessions, 8);
    assert_eq!(group.routes.get("/checkout"), Some(&17));
    assert_eq!(group.routes.get("/cart"), Some(&3));
    assert_eq!(group.first_ms, T0);
    assert_eq!(group.last_ms, T0 + 28_000);
    assert!(
        group.sample_stack.contains("main.1a2b3c4d.js"),
        "the first occurrence is the sample"
    );
    assert_eq!(groups[1].1, 10);

    let text = crate::exposition::render(&stage2);
    let fingerprint = groups[0].0;
    // The label: the fingerprint's prefix and the message's first 60 characters.
    let line = format!(
        "rum_error_group_total{{site=\"shop\",error=\"{:08x} TypeError: Cannot read properties of undefined (reading <str\",kind=\"error\"}} 20",
        fingerprint >> 32
    );
    assert!(text.contains(&line), "missing {line} in\n{text}");
    assert!(text.contains("rum_error_group_sessions{site=\"shop\",error="));

    let answer = errors_json(&[&stage2], Some("shop"), 1);
    let site = &answer["sites"][0];
    assert_eq!(site["site"], "shop");
    assert_eq!(site["occurrences"], 30);
    assert_eq!(site["groups"].as_array().unwrap().len(), 1);
    assert_eq!(site["groups"][0]["occurrences"], 20);
    assert_eq!(site["groups"][0]["occurrences_at_least"], 20);
    assert_eq!(site["groups"][0]["sessions"], 8);
    assert_eq!(site["groups"][0]["routes"][0]["route"], "/cart");
    assert_eq!(
        errors_json(&[&stage2], Some("nope"), 5)["sites"]
            .as_array()
            .unwrap()
            .len(),
        0
    );
}

#[test]
fn the_chunk_bound_folds_new_fingerprints_and_counts_them() {
    let settings = AggregatorSettings {
        chunk_value_bound: 10,
        ..AggregatorSettings::default()
    };
    let beacons: Vec<Beacon> = (0..50)
        .map(|index| {
            let message = format!(
                "Error in module{}",
                [
                    "a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k", "l", "m", "n", "o"
                ][index % 15]
            );
            beacon(
                "s",
                &format!("pv{index}"),
                "/",
                T0,
                vec![error(&message, "")],
            )
        })
        .collect();
    let (stage1, stage2) = run(&settings, &beacons);
    let groups = groups(&stage2);
    let other = groups
        .iter()
        .find(|(fingerprint, ..)| *fingerprint == OTHER_FINGERPRINT)
        .expect("an __other__ group");
    assert_eq!(stage1.error_group_folds(), other.1);
    let total: u64 = groups.iter().map(|group| group.1).sum();
    assert_eq!(total, 50, "no occurrence is lost to a fold");
    assert_eq!(groups.len(), 11);
}

#[test]
fn the_site_table_holds_the_heavy_hitters_within_its_bound_and_survives_a_snapshot() {
    let settings = AggregatorSettings {
        error_groups: 8,
        top_errors: 3,
        ..AggregatorSettings::default()
    };
    let mut stage1 = Stage1::new(settings.clone());
    let mut stage2 = Stage2::for_partition(settings.clone());
    stage2.advance(T0);
    // Three heavy causes (100 each) among 300 one-off ones, one chunk per 20 beacons: with 8
    // entries the bound is 600 / 8 = 75, so each heavy cause must be in the table and on top.
    let mut heavy_truth = [0u64; 3];
    for index in 0..600usize {
        let message = if index % 2 == 0 {
            let cause = index / 2 % 3;
            heavy_truth[cause] += 1;
            format!("Heavy failure {}", ["alpha", "beta", "gamma"][cause])
        } else {
            format!(
                "Rare failure {}",
                fingerprint::fingerprint("x", &index.to_string(), "")
            )
        };
        // Digits spelled as letters: distinct words the normaliser keeps apart.
        let message: String = message
            .chars()
            .map(|c| c.to_digit(10).map_or(c, |d| char::from(b'a' + d as u8)))
            .collect();
        crate::wire::BeaconView::of(
            &beacon(
                "s",
                &format!("pv{index}"),
                "/",
                T0 + index as i64,
                vec![error(&message, "")],
            ),
            |view| stage1.ingest(view),
        );
        if index % 20 == 19 {
            for partial in stage1.flush() {
                stage2.apply(partial);
            }
        }
    }
    let (_, errors) = stage2.error_groups().next().unwrap();
    let bound = errors.total() / errors.capacity() as u64;
    let top: Vec<(u64, u64, u64, String)> = errors
        .top(3)
        .into_iter()
        .map(|(fingerprint, counted)| {
            (
                fingerprint,
                counted.count,
                counted.error,
                counted.value.message.clone(),
            )
        })
        .collect();
    for (_, count, error, message) in &top {
        assert!(message.starts_with("Heavy failure"), "{message}");
        let cause = ["alpha", "beta", "gamma"]
            .iter()
            .position(|name| message.ends_with(name))
            .unwrap();
        let truth = heavy_truth[cause];
        assert!(
            *count >= truth && count - truth <= *error && *error <= bound,
            "{count} vs {truth}, error {error}, bound {bound}"
        );
    }
    let text = crate::exposition::render(&stage2);
    assert_eq!(
        text.matches("rum_error_group_total{").count(),
        3,
        "top_errors = 3"
    );

    let state = stage2.export();
    let (restored, _) = Stage2::import(settings, &state);
    assert_eq!(crate::exposition::render(&restored), text);
    assert_eq!(restored.export(), state);
}

#[test]
fn session_sets_switch_to_a_sketch_and_stay_close() {
    let mut sessions = Sessions::default();
    for index in 0..5_000u64 {
        sessions.insert(session_hash("shop", index.to_string().as_bytes()));
    }
    assert!(matches!(sessions, Sessions::Many(_)));
    let estimate = sessions.count() as f64;
    assert!((estimate - 5_000.0).abs() < 500.0, "{estimate}");
    let mut few = Sessions::default();
    few.insert(1);
    few.insert(1);
    few.insert(2);
    assert_eq!(few.count(), 2);
    few.merge(&sessions);
    assert!(matches!(few, Sessions::Many(_)));
}

#[test]
fn hosts_are_read_from_page_urls() {
    assert_eq!(host_of("https://shop.example.com/a?b"), "shop.example.com");
    assert_eq!(host_of("http://user@h.io:8080/"), "h.io");
    assert_eq!(host_of(""), "");
    let _ = Arc::<str>::from("x");
}
