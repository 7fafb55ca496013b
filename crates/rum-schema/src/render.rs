//! [`proto::Beacon`] -> JSON in the shape of BEACON.md, plus what the edge added (`site`, `recv`,
//! `enrich`). Used by `rum tail` so an operator reads beacons in the format the browser sent.
//!
//! Optional members absent from the proto are left out, so a beacon that went through the edge
//! renders as the JSON that was sent (minus unknown members), plus the edge's fields.

use serde_json::{Map, Value, json};

use crate::proto;

/// Renders one beacon as a JSON object.
pub fn beacon_to_json(beacon: &proto::Beacon) -> Value {
    let mut object = Map::new();
    object.insert("v".into(), json!(beacon.version));
    object.insert("site".into(), json!(beacon.site));
    object.insert("sid".into(), json!(beacon.session_id));
    object.insert("pid".into(), json!(beacon.page_view_id));
    object.insert("url".into(), json!(beacon.url));
    if !beacon.referrer.is_empty() {
        object.insert("ref".into(), json!(beacon.referrer));
    }
    object.insert(
        "nav".into(),
        json!(navigation_name(beacon.navigation_type())),
    );
    object.insert("sent".into(), json!(beacon.sent_at_ms));
    if let Some(sequence) = beacon.sequence {
        object.insert("seq".into(), json!(sequence));
    }
    if !beacon.release.is_empty() {
        object.insert("rel".into(), json!(beacon.release));
    }
    if !beacon.environment.is_empty() {
        object.insert("env".into(), json!(beacon.environment));
    }
    if let Some(rate) = beacon.sample_rate {
        object.insert("sr".into(), json!(rate));
    }
    if !beacon.trace_id.is_empty() {
        object.insert("trace".into(), json!(hex(&beacon.trace_id)));
    }
    if beacon.agent() != proto::Agent::Rum {
        object.insert("agent".into(), json!(beacon.agent().as_str_name()));
    }
    if let Some(counts) = beacon.counts_page_view {
        object.insert("counts_page_view".into(), json!(counts));
    }
    object.insert("recv".into(), json!(beacon.received_at_ms));
    if let Some(connection) = &beacon.connection {
        object.insert("conn".into(), connection_to_json(connection));
    }
    if let Some(device) = &beacon.device {
        object.insert("dev".into(), device_to_json(device));
    }
    let events = beacon.events.iter().filter_map(event_to_json).collect();
    object.insert("events".into(), Value::Array(events));
    if let Some(enrichment) = &beacon.enrichment {
        object.insert("enrich".into(), enrichment_to_json(enrichment));
    }
    Value::Object(object)
}

/// Inserts `key: value` when the value is present.
fn put<T: Into<Value>>(object: &mut Map<String, Value>, key: &str, value: Option<T>) {
    if let Some(value) = value {
        object.insert(key.into(), value.into());
    }
}

/// Inserts `key: text` when the text is not empty.
fn put_text(object: &mut Map<String, Value>, key: &str, text: &str) {
    if !text.is_empty() {
        object.insert(key.into(), Value::String(text.to_owned()));
    }
}

fn connection_to_json(connection: &proto::Connection) -> Value {
    let mut object = Map::new();
    put_text(&mut object, "type", &connection.effective_type);
    put(&mut object, "rtt", connection.rtt_ms);
    put(&mut object, "down", connection.downlink_mbps);
    put(&mut object, "save", connection.save_data);
    Value::Object(object)
}

fn device_to_json(device: &proto::Device) -> Value {
    let mut object = Map::new();
    put(&mut object, "mem", device.memory_gib);
    put(&mut object, "cores", device.cores);
    put(&mut object, "touch", device.max_touch_points);
    put(&mut object, "vw", device.viewport_width);
    put(&mut object, "vh", device.viewport_height);
    put(&mut object, "sw", device.screen_width);
    put(&mut object, "sh", device.screen_height);
    Value::Object(object)
}

fn event_to_json(event: &proto::Event) -> Option<Value> {
    use proto::event::Kind;
    let mut object = Map::new();
    match event.kind.as_ref()? {
        Kind::Vital(vital) => {
            object.insert("type".into(), json!("vital"));
            object.insert("name".into(), json!(vital_name(vital.name())));
            object.insert("value".into(), json!(vital.value));
            object.insert("id".into(), json!(vital.id));
            if let Some(rating) = rating_name(vital.client_rating()) {
                object.insert("rating".into(), json!(rating));
            }
            if let Some(attribution) = &vital.attribution {
                object.insert("attr".into(), attribution_to_json(attribution));
            }
        }
        Kind::Navigation(navigation) => {
            object.insert("type".into(), json!("nav"));
            put(&mut object, "dns", navigation.dns_ms);
            put(&mut object, "connect", navigation.connect_ms);
            put(&mut object, "tls", navigation.tls_ms);
            put(&mut object, "ttfb", navigation.ttfb_ms);
            put(&mut object, "download", navigation.download_ms);
            put(&mut object, "domInteractive", navigation.dom_interactive_ms);
            put(&mut object, "domComplete", navigation.dom_complete_ms);
            put(&mut object, "load", navigation.load_ms);
            put(&mut object, "transferSize", navigation.transfer_size_bytes);
            put_text(&mut object, "protocol", &navigation.protocol);
        }
        Kind::Error(error) => {
            object.insert("type".into(), json!("error"));
            put_text(&mut object, "kind", &error.kind);
            put_text(&mut object, "message", &error.message);
            put_text(&mut object, "source", &error.source);
            put(&mut object, "line", error.line);
            put(&mut object, "col", error.column);
            put_text(&mut object, "stack", &error.stack);
        }
        Kind::Request(request) => {
            object.insert("type".into(), json!("request"));
            object.insert("url".into(), json!(request.url));
            put_text(&mut object, "method", &request.method);
            object.insert("status".into(), json!(request.status));
            object.insert("duration".into(), json!(request.duration_ms));
            put_text(&mut object, "endpoint", &request.endpoint);
        }
        Kind::Custom(custom) => {
            object.insert("type".into(), json!("custom"));
            object.insert("name".into(), json!(custom.name));
            object.insert("value".into(), json!(custom.value));
        }
        Kind::Action(action) => {
            object.insert("type".into(), json!("action"));
            object.insert("name".into(), json!(action.name));
            object.insert("kind".into(), json!(action_kind(action.kind())));
            put(&mut object, "dur", action.duration_ms);
            object.insert("errors".into(), json!(action.errors));
            object.insert("requests".into(), json!(action.requests));
            put(&mut object, "clicks", action.clicks);
            let signals: Vec<&str> = [
                (action.rage, "rage"),
                (action.dead, "dead"),
                (action.error_click, "error"),
            ]
            .into_iter()
            .filter_map(|(seen, name)| seen.then_some(name))
            .collect();
            if !signals.is_empty() {
                object.insert("frustration".into(), json!(signals));
            }
        }
        Kind::BusinessEvent(business) => {
            object.insert("type".into(), json!("event"));
            object.insert("name".into(), json!(business.name));
            put(&mut object, "value", business.value);
        }
        Kind::LongFrames(frames) => {
            object.insert("type".into(), json!("loaf"));
            object.insert("count".into(), json!(frames.count));
            object.insert("blocking".into(), json!(frames.blocking_ms));
            let scripts: Map<String, Value> = frames
                .scripts
                .iter()
                .map(|script| (script.origin.clone(), json!(script.duration_ms)))
                .collect();
            object.insert("scripts".into(), Value::Object(scripts));
        }
        Kind::Resources(resources) => {
            object.insert("type".into(), json!("resources"));
            let origins: Map<String, Value> = resources
                .origins
                .iter()
                .map(|origin| {
                    let mut fields = Map::new();
                    put(&mut fields, "bytes", Some(origin.transfer_bytes));
                    put(&mut fields, "untimed", Some(origin.untimed));
                    fields.insert("durations".into(), json!(origin.durations_ms));
                    (origin.origin.clone(), Value::Object(fields))
                })
                .collect();
            object.insert("origins".into(), Value::Object(origins));
            let types: Map<String, Value> = resources
                .types
                .iter()
                .map(|count| (count.r#type.clone(), json!(count.count)))
                .collect();
            object.insert("types".into(), Value::Object(types));
        }
        Kind::Calls(calls) => {
            object.insert("type".into(), json!("calls"));
            let endpoints: Map<String, Value> = calls
                .endpoints
                .iter()
                .map(|calls| {
                    let mut fields = Map::new();
                    fields.insert("durations".into(), json!(calls.durations_ms));
                    fields.insert("status".into(), json!(calls.statuses));
                    if !calls.trace_id.is_empty() {
                        fields.insert("trace".into(), json!(hex(&calls.trace_id)));
                    }
                    put(&mut fields, "traced", calls.traced_ms);
                    if !calls.endpoint.is_empty() {
                        fields.insert("endpoint".into(), json!(calls.endpoint));
                    }
                    (
                        format!("{} {}", calls.method, calls.url),
                        Value::Object(fields),
                    )
                })
                .collect();
            object.insert("endpoints".into(), Value::Object(endpoints));
        }
    }
    Some(Value::Object(object))
}

/// Bytes as lowercase hex digits (trace ids as the W3C spells them).
fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

/// The beacon spelling of an action kind (BEACON "What this collector adds").
pub fn action_kind(kind: proto::ActionKind) -> &'static str {
    match kind {
        proto::ActionKind::Click => "click",
        proto::ActionKind::Tap => "tap",
        proto::ActionKind::Key => "key",
        proto::ActionKind::Submit => "submit",
    }
}

fn attribution_to_json(attribution: &proto::Attribution) -> Value {
    let mut object = Map::new();
    put_text(&mut object, "target", &attribution.target);
    put_text(&mut object, "url", &attribution.url);
    put(&mut object, "ttfb", attribution.ttfb_ms);
    put(&mut object, "loadDelay", attribution.load_delay_ms);
    put(&mut object, "loadDuration", attribution.load_duration_ms);
    put(&mut object, "renderDelay", attribution.render_delay_ms);
    put_text(
        &mut object,
        "interactionType",
        &attribution.interaction_type,
    );
    put(&mut object, "inputDelay", attribution.input_delay_ms);
    put(&mut object, "processing", attribution.processing_ms);
    put(&mut object, "presentation", attribution.presentation_ms);
    put_text(&mut object, "script", &attribution.script);
    put(
        &mut object,
        "scriptDuration",
        attribution.script_duration_ms,
    );
    Value::Object(object)
}

fn enrichment_to_json(enrichment: &proto::Enrichment) -> Value {
    let mut object = Map::new();
    put_text(&mut object, "country", &enrichment.country);
    put_text(&mut object, "region", &enrichment.region);
    put_text(&mut object, "city", &enrichment.city);
    put(
        &mut object,
        "asn",
        (enrichment.asn != 0).then_some(enrichment.asn),
    );
    put_text(&mut object, "browser", &enrichment.browser);
    put_text(&mut object, "browserMajor", &enrichment.browser_major);
    put_text(&mut object, "os", &enrichment.os);
    put_text(&mut object, "osVersion", &enrichment.os_version);
    put_text(&mut object, "device", &enrichment.device_class);
    put(&mut object, "bot", enrichment.is_bot.then_some(true));
    put_text(&mut object, "route", &enrichment.route);
    put_text(&mut object, "network", &enrichment.client_network);
    put(
        &mut object,
        "clockSkew",
        (enrichment.clock_skew_ms != 0).then_some(enrichment.clock_skew_ms),
    );
    Value::Object(object)
}

/// BEACON.md's name for a navigation type.
pub fn navigation_name(navigation: proto::NavigationType) -> &'static str {
    use proto::NavigationType as Nav;
    match navigation {
        Nav::Unspecified => "unspecified",
        Nav::Navigate => "navigate",
        Nav::Reload => "reload",
        Nav::BackForward => "back-forward",
        Nav::BackForwardCache => "back-forward-cache",
        Nav::Prerender => "prerender",
        Nav::Restore => "restore",
        Nav::Soft => "soft",
    }
}

/// BEACON.md's name for a vital.
pub fn vital_name(name: proto::VitalName) -> &'static str {
    match name {
        proto::VitalName::Unspecified => "unspecified",
        proto::VitalName::Lcp => "LCP",
        proto::VitalName::Inp => "INP",
        proto::VitalName::Cls => "CLS",
        proto::VitalName::Fcp => "FCP",
        proto::VitalName::Ttfb => "TTFB",
    }
}

fn rating_name(rating: proto::Rating) -> Option<&'static str> {
    match rating {
        proto::Rating::Unspecified => None,
        proto::Rating::Good => Some("good"),
        proto::Rating::NeedsImprovement => Some("needs-improvement"),
        proto::Rating::Poor => Some("poor"),
    }
}
