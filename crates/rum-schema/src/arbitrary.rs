//! Proptest strategies for arbitrary `rum.v1.Beacon`s, shared by the tests of every crate that
//! reads or writes the wire form (the encoder here, stage 1's projection decoder): empty, long and
//! non-ASCII strings; 0.0, -0.0, NaN and infinities; negative and unknown enum values; every
//! optional field present or absent.
//!
//! Built for tests only (`cfg(test)` here, the `arbitrary` feature for other crates' dev builds).

use proptest::prelude::*;

use crate::proto::{
    Action, Attribution, Beacon, BusinessEvent, Calls, Connection, Custom, Device, EndpointCalls,
    Enrichment, Error, Event, LongFrames, Navigation, OriginResources, Request, Resources,
    ScriptTime, TypeCount, Vital, event,
};

/// Empty, short, and longer than 127 bytes (a two-byte length), with non-ASCII text.
pub fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        "[a-zA-Z0-9/:_.-]{1,40}",
        "\\PC{0,12}",
        "[a-z]{120,400}",
    ]
}

/// Zero, negative zero, NaN, infinities and ordinary values: the cases `!= 0.0` decides on.
pub fn number() -> impl Strategy<Value = f64> {
    prop_oneof![
        Just(0.0),
        Just(-0.0),
        Just(f64::NAN),
        Just(f64::INFINITY),
        any::<f64>(),
        0.0f64..1e5,
    ]
}

pub fn optional_number() -> impl Strategy<Value = Option<f64>> {
    proptest::option::of(number())
}

pub fn small_int() -> impl Strategy<Value = u32> {
    prop_oneof![Just(0u32), 1u32..300, any::<u32>()]
}

pub fn any_i32() -> impl Strategy<Value = i32> {
    prop_oneof![Just(0i32), 0i32..8, any::<i32>()]
}

pub fn attribution() -> impl Strategy<Value = Attribution> {
    (
        (text(), text(), text(), text()),
        proptest::collection::vec(optional_number(), 8),
    )
        .prop_map(
            |((target, url, interaction_type, script), phases)| Attribution {
                target,
                url,
                ttfb_ms: phases[0],
                load_delay_ms: phases[1],
                load_duration_ms: phases[2],
                render_delay_ms: phases[3],
                interaction_type,
                input_delay_ms: phases[4],
                processing_ms: phases[5],
                presentation_ms: phases[6],
                script,
                script_duration_ms: phases[7],
            },
        )
}

pub fn event() -> BoxedStrategy<Event> {
    let vital = (
        any_i32(),
        number(),
        text(),
        any_i32(),
        proptest::option::of(attribution()),
    )
        .prop_map(|(name, value, id, client_rating, attribution)| {
            event::Kind::Vital(Vital {
                name,
                value,
                id,
                client_rating,
                attribution,
            })
        });
    let navigation = (
        proptest::collection::vec(optional_number(), 8),
        proptest::option::of(any::<u64>()),
        text(),
    )
        .prop_map(|(phases, transfer_size_bytes, protocol)| {
            event::Kind::Navigation(Navigation {
                dns_ms: phases[0],
                connect_ms: phases[1],
                tls_ms: phases[2],
                ttfb_ms: phases[3],
                download_ms: phases[4],
                dom_interactive_ms: phases[5],
                dom_complete_ms: phases[6],
                load_ms: phases[7],
                transfer_size_bytes,
                protocol,
            })
        });
    let error = (
        (text(), text(), text(), text()),
        proptest::option::of(small_int()),
        proptest::option::of(small_int()),
    )
        .prop_map(|((kind, message, source, stack), line, column)| {
            event::Kind::Error(Error {
                kind,
                message,
                source,
                line,
                column,
                stack,
            })
        });
    let request = (text(), text(), small_int(), number(), text()).prop_map(
        |(url, method, status, duration_ms, endpoint)| {
            event::Kind::Request(Request {
                url,
                method,
                status,
                duration_ms,
                endpoint,
            })
        },
    );
    let custom =
        (text(), number()).prop_map(|(name, value)| event::Kind::Custom(Custom { name, value }));
    let action = (
        (text(), -1..6i32, proptest::option::of(number())),
        (small_int(), small_int(), proptest::option::of(small_int())),
        (any::<bool>(), any::<bool>(), any::<bool>()),
    )
        .prop_map(
            |((name, kind, duration_ms), (errors, requests, clicks), (rage, dead, error_click))| {
                event::Kind::Action(Action {
                    name,
                    kind,
                    duration_ms,
                    errors,
                    requests,
                    clicks,
                    rage,
                    dead,
                    error_click,
                })
            },
        );
    let business = (text(), proptest::option::of(number()))
        .prop_map(|(name, value)| event::Kind::BusinessEvent(BusinessEvent { name, value }));
    let script = (text(), number()).prop_map(|(origin, duration_ms)| ScriptTime {
        origin,
        duration_ms,
    });
    let frames = (
        small_int(),
        number(),
        proptest::collection::vec(script, 0..4),
    )
        .prop_map(|(count, blocking_ms, scripts)| {
            event::Kind::LongFrames(LongFrames {
                count,
                blocking_ms,
                scripts,
            })
        });
    let origin = (
        text(),
        any::<u64>(),
        small_int(),
        proptest::collection::vec(number(), 0..4),
    )
        .prop_map(
            |(origin, transfer_bytes, untimed, durations_ms)| OriginResources {
                origin,
                transfer_bytes,
                untimed,
                durations_ms,
            },
        );
    let type_count = (text(), small_int()).prop_map(|(r#type, count)| TypeCount { r#type, count });
    let resources = (
        proptest::collection::vec(origin, 0..3),
        proptest::collection::vec(type_count, 0..3),
    )
        .prop_map(|(origins, types)| event::Kind::Resources(Resources { origins, types }));
    let endpoint = (
        (text(), text(), text()),
        proptest::collection::vec(number(), 0..4),
        proptest::collection::vec(any::<u32>(), 0..4),
        (
            proptest::collection::vec(any::<u8>(), 0..17),
            optional_number(),
        ),
    )
        .prop_map(
            |((method, url, endpoint), durations_ms, statuses, (trace_id, traced_ms))| {
                EndpointCalls {
                    method,
                    url,
                    endpoint,
                    durations_ms,
                    statuses,
                    trace_id,
                    traced_ms,
                }
            },
        );
    let calls = proptest::collection::vec(endpoint, 0..3)
        .prop_map(|endpoints| event::Kind::Calls(Calls { endpoints }));
    // Boxed arms: the unboxed union of seven tuple strategies overflowed a test thread's stack
    // in debug builds.
    proptest::option::of(prop_oneof![
        vital.boxed(),
        navigation.boxed(),
        error.boxed(),
        request.boxed(),
        custom.boxed(),
        action.boxed(),
        business.boxed(),
        frames.boxed(),
        resources.boxed(),
        calls.boxed(),
    ])
    .prop_map(|kind| Event { kind })
    .boxed()
}

pub fn connection() -> impl Strategy<Value = Connection> {
    (
        text(),
        optional_number(),
        optional_number(),
        proptest::option::of(any::<bool>()),
    )
        .prop_map(
            |(effective_type, rtt_ms, downlink_mbps, save_data)| Connection {
                effective_type,
                rtt_ms,
                downlink_mbps,
                save_data,
            },
        )
}

pub fn device() -> impl Strategy<Value = Device> {
    (
        optional_number(),
        proptest::collection::vec(proptest::option::of(small_int()), 6),
    )
        .prop_map(|(memory_gib, counts)| Device {
            memory_gib,
            cores: counts[0],
            max_touch_points: counts[1],
            viewport_width: counts[2],
            viewport_height: counts[3],
            screen_width: counts[4],
            screen_height: counts[5],
        })
}

pub fn enrichment() -> impl Strategy<Value = Enrichment> {
    (
        proptest::collection::vec(text(), 10),
        small_int(),
        any::<bool>(),
        any::<i64>(),
    )
        .prop_map(|(texts, asn, is_bot, clock_skew_ms)| {
            let mut texts = texts.into_iter();
            let mut next = || texts.next().unwrap_or_default();
            Enrichment {
                country: next(),
                region: next(),
                city: next(),
                asn,
                browser: next(),
                browser_major: next(),
                os: next(),
                os_version: next(),
                device_class: next(),
                is_bot,
                route: next(),
                client_network: next(),
                clock_skew_ms,
            }
        })
}

pub fn beacon() -> impl Strategy<Value = Beacon> {
    (
        (small_int(), text(), text(), text(), text(), text()),
        (
            any_i32(),
            any::<i64>(),
            any::<i64>(),
            proptest::option::of(small_int()),
            (any_i32(), proptest::option::of(any::<bool>())),
        ),
        proptest::option::of(connection()),
        proptest::option::of(device()),
        proptest::collection::vec(event(), 0..12),
        (
            proptest::option::of(enrichment()),
            (
                text(),
                text(),
                proptest::option::of(number()),
                proptest::collection::vec(any::<u8>(), 0..17),
            ),
        ),
    )
        .prop_map(
            |(
                (version, site, session_id, page_view_id, url, referrer),
                (navigation_type, sent_at_ms, received_at_ms, sequence, (agent, counts_page_view)),
                connection,
                device,
                events,
                (enrichment, (release, environment, sample_rate, trace_id)),
            )| Beacon {
                version,
                site,
                session_id,
                page_view_id,
                url,
                referrer,
                navigation_type,
                sent_at_ms,
                received_at_ms,
                connection,
                device,
                events,
                enrichment,
                sequence,
                agent,
                counts_page_view,
                release,
                environment,
                sample_rate,
                trace_id,
            },
        )
}
