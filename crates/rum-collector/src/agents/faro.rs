//! The Grafana Faro Web SDK, posting what it sends to Grafana Alloy's `faro.receiver`: one JSON
//! payload per batch, `{meta, measurements, exceptions, events, logs, traces}`, to `/collect` (or
//! `/collect/{app_key}`) with the site key in `x-api-key`.
//!
//! A payload becomes one native beacon. Its page view is Faro's navigation id (the
//! `navigation_entry_id` of its web-vitals measurements, or the `faroNavigationId` of its
//! performance events), which every batch of one page load carries in at least one item; batches
//! without one (a late error alone) join the page view by session and URL and do not count a page
//! view of their own. So a page view and each vital count once however many batches Faro sends.

use rum_schema::{BeaconRejection, DecodeReason};
use serde_json::{Map, Value, json};

use super::{
    NativeBeacon, RequestFacts, Translation, field_rejection, hashed_id, native_id, parse,
};

/// Every Faro field and what it becomes (docs/agents.md shows the same table).
pub const MAPPING: &[(&str, &str)] = &[
    ("meta.session.id (or the x-faro-session-id header)", "`sid`"),
    (
        "meta.page.id, else measurements[].context.navigation_entry_id, events[].attributes.faroNavigationId",
        "`pid` (the page id a site sets, in every batch; else Faro's navigation id: one page load)",
    ),
    ("meta.page.url (else the Referer header)", "`url`"),
    (
        "measurements[] of type web-vitals: values.lcp|inp|cls|fcp|ttfb",
        "a `vital` with `id` = context.id, `rating` = context.rating",
    ),
    (
        "web-vitals values and context (attribution)",
        "the vital's `attr`: LCP element, resource_load_delay, resource_load_duration, element_render_delay, time_to_first_byte; INP interaction_target, interaction_type, input_delay, processing_duration, presentation_delay; CLS largest_shift_target",
    ),
    (
        "context.navigation_type, navigation event attributes.type",
        "`nav` (back_forward as back-forward)",
    ),
    (
        "exceptions[]: type, value, stacktrace.frames",
        "an `error`: message `type: value`, source/line/col of the top frame, the frames as the stack; kind `unhandledrejection` for Faro's UnhandledRejection",
    ),
    (
        "events[] faro.performance.navigation",
        "a `nav` event: dnsLookupTime, tcpHandshakeTime, tlsNegotiationTime (https pages), ttfb, responseTime as download, pageLoadTime as domComplete, pageLoadTime - domProcessingTime as domInteractive, pageLoadTime + onLoadTime as load, transferSize, protocol",
    ),
    (
        "events[] faro.performance.resource with initiatorType fetch or xmlhttprequest",
        "a `request`: name as url, duration, responseStatus as status (method unknown: GET)",
    ),
    (
        "other measurements and events, logs, traces",
        "not translated: counted as rejected events (`unknown_event_type`)",
    ),
];

const VITALS: [(&str, &str); 5] = [
    ("lcp", "LCP"),
    ("inp", "INP"),
    ("cls", "CLS"),
    ("fcp", "FCP"),
    ("ttfb", "TTFB"),
];

/// Prefix of the ids made by hashing (ids not in the native form, session + URL).
const ID_PREFIX: &str = "faro";

/// Faro's placeholder for a value it does not know.
const UNKNOWN: &str = "unknown";

/// Translates one Faro payload (at most `max_items` items) into a native beacon.
pub fn translate(
    payload: &[u8],
    facts: &RequestFacts<'_>,
    session_header: Option<&str>,
    max_items: usize,
) -> Result<Translation, BeaconRejection> {
    let Value::Object(payload) = parse(payload)? else {
        return Err(BeaconRejection::new(
            DecodeReason::InvalidBeacon,
            "body must be a Faro payload object",
        ));
    };
    let meta = match payload.get("meta") {
        Some(Value::Object(meta)) => meta,
        found => return Err(field_rejection("meta", found.is_some(), "an object")),
    };
    let list = |name: &str| -> Result<&[Value], BeaconRejection> {
        match payload.get(name) {
            None | Some(Value::Null) => Ok(&[]),
            Some(Value::Array(items)) => Ok(items),
            Some(_) => Err(field_rejection(name, true, "an array")),
        }
    };
    let (measurements, exceptions, events, logs) = (
        list("measurements")?,
        list("exceptions")?,
        list("events")?,
        list("logs")?,
    );
    let items = measurements.len() + exceptions.len() + events.len() + logs.len();
    if items > max_items {
        return Err(BeaconRejection::new(
            DecodeReason::TooManyEvents,
            format!("{items} items, at most {max_items} are allowed"),
        ));
    }

    let url = text_at(meta, &["page", "url"])
        .or(facts.referer)
        .ok_or_else(|| {
            BeaconRejection::new(
                DecodeReason::MissingField,
                "no page URL: meta.page.url is absent and there is no Referer header",
            )
        })?;
    let session = text_at(meta, &["session", "id"])
        .or(session_header)
        .filter(|id| *id != UNKNOWN);
    // A page id the site sets (`faro.api.setPage`) is in every batch's meta, so it comes first;
    // else Faro's navigation id, which only some batches carry; else session + URL.
    let navigation = text_at(meta, &["page", "id"])
        .filter(|id| !id.is_empty() && *id != UNKNOWN)
        .or_else(|| navigation_id(measurements, events));
    let page_view = match navigation {
        Some(navigation) => native_id(navigation, ID_PREFIX),
        None => hashed_id(ID_PREFIX, &[session.unwrap_or(""), url]),
    };
    let session = session.map_or_else(|| page_view.clone(), |id| native_id(id, ID_PREFIX));

    let mut translation = Translation::default();
    let mut native_events = Vec::new();
    let mut navigation_type = None;
    for measurement in measurements {
        match vital(measurement) {
            Some((event, nav)) => {
                native_events.push(event);
                navigation_type = navigation_type.or(nav);
            }
            None => translation.rejected.push(DecodeReason::UnknownEventType),
        }
    }
    for exception in exceptions {
        match error(exception) {
            Some(event) => native_events.push(event),
            None => translation.rejected.push(DecodeReason::InvalidEvent),
        }
    }
    let https = url.starts_with("https:");
    for event in events {
        match performance_event(event, https) {
            Some((native, nav)) => {
                native_events.push(native);
                navigation_type = navigation_type.or(nav);
            }
            None => translation.rejected.push(DecodeReason::UnknownEventType),
        }
    }
    translation
        .rejected
        .extend(logs.iter().map(|_| DecodeReason::UnknownEventType));
    if payload
        .get("traces")
        .is_some_and(|traces| !traces.is_null())
    {
        translation.rejected.push(DecodeReason::UnknownEventType);
    }

    let beacon = json!({
        "v": 1,
        "sid": session,
        "pid": page_view,
        "url": url,
        "nav": navigation_type.unwrap_or("navigate"),
        "sent": facts.received_at_ms,
        "events": native_events,
    });
    translation.beacons.push(NativeBeacon {
        json: serde_json::to_vec(&beacon).expect("a JSON value serialises"),
        // Without Faro's navigation id the batch cannot tell its page load: it adds its events to
        // the segment but no page view of its own.
        counts_page_view: Some(navigation.is_some()),
    });
    Ok(translation)
}

/// `object[path[0]][path[1]]...` as a string.
fn text_at<'a>(object: &'a Map<String, Value>, path: &[&str]) -> Option<&'a str> {
    let (last, parents) = path.split_last()?;
    let mut current = object;
    for key in parents {
        current = current.get(*key)?.as_object()?;
    }
    current.get(*last)?.as_str()
}

/// The first known Faro navigation id among the payload's items.
fn navigation_id<'a>(measurements: &'a [Value], events: &'a [Value]) -> Option<&'a str> {
    let from_measurements = measurements.iter().filter_map(|measurement| {
        measurement
            .get("context")?
            .get("navigation_entry_id")?
            .as_str()
    });
    let from_events = events
        .iter()
        .filter_map(|event| event.get("attributes")?.get("faroNavigationId")?.as_str());
    from_measurements
        .chain(from_events)
        .find(|id| !id.is_empty() && *id != UNKNOWN)
}

/// A web-vitals measurement as a native vital, and its navigation type. `None` for other
/// measurement types.
fn vital(measurement: &Value) -> Option<(Value, Option<&str>)> {
    if measurement.get("type")?.as_str()? != "web-vitals" {
        return None;
    }
    let values = measurement.get("values")?.as_object()?;
    let (key, name) = VITALS.iter().find(|(key, _)| values.contains_key(*key))?;
    let context = measurement.get("context").and_then(Value::as_object);
    let context_text = |field: &str| context.and_then(|context| context.get(field)?.as_str());
    let mut vital = Map::new();
    vital.insert("type".into(), json!("vital"));
    vital.insert("name".into(), json!(name));
    vital.insert("value".into(), values[*key].clone());
    if let Some(id) = context_text("id") {
        vital.insert("id".into(), json!(id));
    }
    if let Some(rating) = context_text("rating") {
        vital.insert("rating".into(), json!(rating));
    }
    let mut attr = Map::new();
    let mut copy_value = |from: &str, to: &str| {
        if let Some(value) = values.get(from).filter(|value| value.is_number()) {
            attr.insert(to.into(), value.clone());
        }
    };
    match *name {
        "LCP" => {
            copy_value("resource_load_delay", "loadDelay");
            copy_value("resource_load_duration", "loadDuration");
            copy_value("element_render_delay", "renderDelay");
            copy_value("time_to_first_byte", "ttfb");
        }
        "INP" => {
            copy_value("input_delay", "inputDelay");
            copy_value("processing_duration", "processing");
            copy_value("presentation_delay", "presentation");
        }
        _ => {}
    }
    let target = match *name {
        "LCP" => context_text("element"),
        "INP" => context_text("interaction_target"),
        "CLS" => context_text("largest_shift_target"),
        _ => None,
    };
    if let Some(target) = target {
        attr.insert("target".into(), json!(target));
    }
    if *name == "INP"
        && let Some(kind) = context_text("interaction_type")
    {
        attr.insert("interactionType".into(), json!(kind));
    }
    if !attr.is_empty() {
        vital.insert("attr".into(), Value::Object(attr));
    }
    Some((Value::Object(vital), context_text("navigation_type")))
}

/// A Faro exception as a native error. `None` when it is not an object.
fn error(exception: &Value) -> Option<Value> {
    let exception = exception.as_object()?;
    let text = |field: &str| exception.get(field).and_then(Value::as_str).unwrap_or("");
    let (kind, value) = (text("type"), text("value"));
    let message = match (kind.is_empty(), value.is_empty()) {
        (false, false) => format!("{kind}: {value}"),
        (false, true) => kind.to_owned(),
        _ => value.to_owned(),
    };
    let frames: Vec<&Map<String, Value>> = exception
        .get("stacktrace")
        .and_then(|stack| stack.get("frames"))
        .and_then(Value::as_array)
        .map(|frames| frames.iter().filter_map(Value::as_object).collect())
        .unwrap_or_default();
    let mut event = Map::new();
    event.insert("type".into(), json!("error"));
    let unhandled = kind == "UnhandledRejection";
    event.insert(
        "kind".into(),
        json!(if unhandled {
            "unhandledrejection"
        } else {
            "error"
        }),
    );
    event.insert("message".into(), json!(message));
    if let Some(top) = frames.first() {
        if let Some(file) = top.get("filename").and_then(Value::as_str) {
            event.insert("source".into(), json!(file));
        }
        for (from, to) in [("lineno", "line"), ("colno", "col")] {
            if let Some(number) = top.get(from).filter(|value| value.is_u64()) {
                event.insert(to.into(), number.clone());
            }
        }
        let stack: Vec<String> = frames
            .iter()
            .map(|frame| {
                let field = |name: &str| {
                    frame
                        .get(name)
                        .map(|value| match value {
                            Value::String(text) => text.clone(),
                            other => other.to_string(),
                        })
                        .unwrap_or_default()
                };
                format!(
                    "at {} ({}:{}:{})",
                    field("function"),
                    field("filename"),
                    field("lineno"),
                    field("colno")
                )
            })
            .collect();
        event.insert("stack".into(), json!(stack.join("\n")));
    }
    Some(Value::Object(event))
}

/// Faro's performance events as native `nav` and `request` events, with the navigation type of a
/// navigation event. `None` for any other event.
fn performance_event(event: &Value, https: bool) -> Option<(Value, Option<&str>)> {
    let name = event.get("name")?.as_str()?;
    let attributes = event.get("attributes")?.as_object()?;
    // Faro sends its timings as strings of whole milliseconds.
    let number = |field: &str| -> Option<f64> {
        let value = attributes.get(field)?;
        value
            .as_f64()
            .or_else(|| value.as_str()?.parse::<f64>().ok())
            .filter(|number| number.is_finite())
    };
    match name {
        "faro.performance.navigation" => {
            let mut nav = Map::new();
            nav.insert("type".into(), json!("nav"));
            let mut put = |field: &str, value: Option<f64>| {
                if let Some(value) = value {
                    nav.insert(field.into(), json!(value));
                }
            };
            put("dns", number("dnsLookupTime"));
            put("connect", number("tcpHandshakeTime"));
            // Faro's tlsNegotiationTime is connectEnd - secureConnectionStart, which without TLS
            // (secureConnectionStart 0) is connectEnd itself, not a TLS time.
            put("tls", number("tlsNegotiationTime").filter(|_| https));
            put("ttfb", number("ttfb"));
            put("download", number("responseTime"));
            let page_load = number("pageLoadTime");
            put("domComplete", page_load);
            put(
                "domInteractive",
                page_load
                    .zip(number("domProcessingTime"))
                    .map(|(load, processing)| (load - processing).max(0.0)),
            );
            put(
                "load",
                page_load
                    .zip(number("onLoadTime"))
                    .map(|(load, on_load)| load + on_load),
            );
            if let Some(size) = number("transferSize") {
                nav.insert("transferSize".into(), json!(size as u64));
            }
            if let Some(protocol) = attributes.get("protocol").and_then(Value::as_str) {
                nav.insert("protocol".into(), json!(protocol));
            }
            let navigation_type =
                attributes
                    .get("type")
                    .and_then(Value::as_str)
                    .map(|kind| match kind {
                        "back_forward" => "back-forward",
                        other => other,
                    });
            Some((Value::Object(nav), navigation_type))
        }
        "faro.performance.resource" => {
            let initiator = attributes.get("initiatorType")?.as_str()?;
            if initiator != "fetch" && initiator != "xmlhttprequest" {
                return None;
            }
            let request = json!({
                "type": "request",
                "url": attributes.get("name")?.as_str()?,
                "method": "GET",
                "status": number("responseStatus").map_or(0, |status| status as u64),
                "duration": number("duration")?,
            });
            Some((request, None))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests;
