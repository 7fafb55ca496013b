//! Google's web-vitals library, posting its metric objects as its README's `sendToAnalytics` does:
//! `JSON.stringify(metric)` by `navigator.sendBeacon` (or keepalive `fetch`), one metric per
//! request, or an array of them.
//!
//! web-vitals has no page-view identity: every metric gets its own id (`v5-<ms>-<13 random digits>`,
//! the ms being when that metric's observer started; CLS starts at FCP), so the metrics of one page
//! load share nothing that ties them together. Each metric therefore becomes a beacon of its own
//! whose page view is the metric id (so a re-sent value replaces the earlier one, counted once), and
//! page views are counted from the LCP reports alone (`counts_page_view`), the metric both of the
//! README's examples send once per page load. There are no sessions: each beacon's session is its
//! page view.

use rum_schema::{BeaconRejection, DecodeReason};
use serde_json::{Map, Value, json};

use super::{NativeBeacon, RequestFacts, Translation, field_rejection, native_id, parse};

/// Every web-vitals field and what it becomes (docs/agents.md shows the same table).
pub const MAPPING: &[(&str, &str)] = &[
    (
        "name",
        "a `vital` event's `name`: LCP, INP, CLS, FCP, TTFB (FID, gone since web-vitals 4, is refused as `unknown_vital_name`, counted as a rejected event)",
    ),
    (
        "value",
        "the vital's `value` (the latest value; a re-sent metric replaces it)",
    ),
    (
        "id",
        "the vital's `id`, and the beacon's `pid` and `sid` (one page view per metric)",
    ),
    ("rating", "the vital's `rating`"),
    (
        "navigationType",
        "`nav` (the same names as BEACON.md; `navigate` when absent)",
    ),
    (
        "page_location, url, href, page",
        "`url` (the first present), else the `Referer` header",
    ),
    (
        "delta, entries, attribution",
        "ignored: the value is already the latest, and entries are not needed",
    ),
    (
        "(none)",
        "`sent` is the receive time; page views are the LCP reports",
    ),
];

/// Fields a site's snippet may carry the page URL in, in the order they are tried.
const URL_FIELDS: [&str; 4] = ["page_location", "url", "href", "page"];

/// The metrics the native format has (and web-vitals 4 and 5 report).
const VITALS: [&str; 5] = ["LCP", "INP", "CLS", "FCP", "TTFB"];

/// The metric whose reports count as page views.
const PAGE_VIEW_METRIC: &str = "LCP";

/// Translates one web-vitals payload (at most `max_metrics` metrics) into native beacons.
pub fn translate(
    payload: &[u8],
    facts: &RequestFacts<'_>,
    max_metrics: usize,
) -> Result<Translation, BeaconRejection> {
    let metrics = match parse(payload)? {
        Value::Array(metrics) => metrics,
        metric @ Value::Object(_) => vec![metric],
        _ => {
            return Err(BeaconRejection::new(
                DecodeReason::InvalidBeacon,
                "body must be a web-vitals metric object or an array of them",
            ));
        }
    };
    if metrics.len() > max_metrics {
        return Err(BeaconRejection::new(
            DecodeReason::TooManyEvents,
            format!(
                "{} metrics, at most {max_metrics} are allowed",
                metrics.len()
            ),
        ));
    }
    let mut translation = Translation::default();
    let mut first_refusal = None;
    for metric in &metrics {
        match beacon_of(metric, facts) {
            Ok(beacon) => translation.beacons.push(beacon),
            Err(rejection) => {
                translation.rejected.push(rejection.reason);
                first_refusal.get_or_insert(rejection);
            }
        }
    }
    match (translation.beacons.is_empty(), first_refusal) {
        // Nothing usable: the request is refused, with the first metric's reason.
        (true, Some(rejection)) => Err(rejection),
        (true, None) => Err(BeaconRejection::new(
            DecodeReason::InvalidBeacon,
            "the array holds no metric",
        )),
        _ => Ok(translation),
    }
}

/// One metric as a native beacon. Its values go in as sent: the native decoder judges them.
fn beacon_of(metric: &Value, facts: &RequestFacts<'_>) -> Result<NativeBeacon, BeaconRejection> {
    let Value::Object(fields) = metric else {
        return Err(BeaconRejection::new(
            DecodeReason::InvalidEvent,
            "a metric must be an object",
        ));
    };
    let id = match fields.get("id") {
        Some(Value::String(id)) if !id.is_empty() => id,
        found => return Err(field_rejection("id", found.is_some(), "a non-empty string")),
    };
    // A metric the native format does not have (FID, from web-vitals 3) would leave an empty
    // beacon: refused here instead, as the decoder would refuse the event.
    if let Some(name) = fields.get("name").and_then(Value::as_str)
        && !VITALS.contains(&name)
    {
        return Err(BeaconRejection::new(
            DecodeReason::UnknownVitalName,
            format!("`{name}` is not one of LCP, INP, CLS, FCP, TTFB"),
        ));
    }
    let url = URL_FIELDS
        .iter()
        .find_map(|field| fields.get(*field).and_then(Value::as_str))
        .or(facts.referer)
        .ok_or_else(|| {
            BeaconRejection::new(
                DecodeReason::MissingField,
                "no page URL: none of page_location, url, href, page, and no Referer header",
            )
        })?;
    let page_view = page_view_id(id);
    let mut vital = Map::new();
    vital.insert("type".into(), json!("vital"));
    vital.insert("id".into(), json!(id));
    for field in ["name", "value", "rating"] {
        if let Some(value) = fields.get(field) {
            vital.insert(field.into(), value.clone());
        }
    }
    let beacon = json!({
        "v": 1,
        "sid": page_view,
        "pid": page_view,
        "url": url,
        "nav": fields.get("navigationType").cloned().unwrap_or_else(|| json!("navigate")),
        "sent": facts.received_at_ms,
        "events": [Value::Object(vital)],
    });
    let counts_page_view = fields.get("name").and_then(Value::as_str) == Some(PAGE_VIEW_METRIC);
    Ok(NativeBeacon {
        json: serde_json::to_vec(&beacon).expect("a JSON value serialises"),
        counts_page_view: Some(counts_page_view),
    })
}

/// The metric id as a page-view id: itself in the native form (web-vitals' own ids are), else a
/// stable `wv-` hash of it.
fn page_view_id(id: &str) -> String {
    native_id(id, "wv")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What Chromium 156 with web-vitals 5.3.0 reported on one page load (`JSON.stringify(metric)`
    /// as sendToAnalytics sends it; LCP's entries trimmed to one).
    const RECORDED: &[&str] = &[
        r#"{"name":"TTFB","value":276.90000000596046,"rating":"good","delta":276.90000000596046,"entries":[{"name":"http://t.test/","entryType":"navigation","startTime":0,"duration":364.5}],"id":"v5-1796194241883-8047688214015","navigationType":"navigate"}"#,
        r#"{"name":"LCP","value":364,"rating":"good","delta":364,"entries":[{"name":"","entryType":"largest-contentful-paint","startTime":364,"size":1320}],"id":"v5-1796194241881-6840620664844","navigationType":"navigate"}"#,
        r#"{"name":"CLS","value":0,"rating":"good","delta":0,"entries":[],"id":"v5-1796194241935-9315844640221","navigationType":"navigate"}"#,
        r#"{"name":"INP","value":72,"rating":"good","delta":72,"entries":[],"id":"v5-1796194241883-1021576206475","navigationType":"navigate"}"#,
    ];

    const FACTS: RequestFacts<'static> = RequestFacts {
        referer: Some("https://shop.example/products/42"),
        received_at_ms: 1_796_194_250_000,
    };

    fn native(beacon: &NativeBeacon) -> Value {
        serde_json::from_slice(&beacon.json).unwrap()
    }

    #[test]
    fn a_recorded_metric_becomes_one_native_beacon() {
        let translation = translate(RECORDED[1].as_bytes(), &FACTS, 256).unwrap();
        assert!(translation.rejected.is_empty());
        let [beacon] = &translation.beacons[..] else {
            panic!("one beacon: {translation:?}")
        };
        assert_eq!(
            beacon.counts_page_view,
            Some(true),
            "LCP counts the page view"
        );
        assert_eq!(
            native(beacon),
            json!({
                "v": 1,
                "sid": "v5-1796194241881-6840620664844",
                "pid": "v5-1796194241881-6840620664844",
                "url": "https://shop.example/products/42",
                "nav": "navigate",
                "sent": 1_796_194_250_000_i64,
                "events": [{"type": "vital", "id": "v5-1796194241881-6840620664844",
                            "name": "LCP", "value": 364, "rating": "good"}],
            })
        );
    }

    #[test]
    fn an_array_gives_one_beacon_per_metric_and_only_lcp_counts_a_page_view() {
        let payload = format!("[{}]", RECORDED.join(","));
        let translation = translate(payload.as_bytes(), &FACTS, 256).unwrap();
        let counted: Vec<Option<bool>> = translation
            .beacons
            .iter()
            .map(|beacon| beacon.counts_page_view)
            .collect();
        assert_eq!(counted, [Some(false), Some(true), Some(false), Some(false)]);
    }

    #[test]
    fn the_page_url_comes_from_the_payload_before_the_referer() {
        let metric =
            r#"{"name":"CLS","value":0.1,"id":"v5-1-2","page_location":"https://a.example/x"}"#;
        let beacon = &translate(metric.as_bytes(), &FACTS, 256).unwrap().beacons[0];
        assert_eq!(native(beacon)["url"], "https://a.example/x");
        let no_referer = RequestFacts {
            referer: None,
            ..FACTS
        };
        let error = translate(RECORDED[2].as_bytes(), &no_referer, 256).unwrap_err();
        assert_eq!(error.reason, DecodeReason::MissingField);
    }

    #[test]
    fn a_bad_metric_costs_only_itself() {
        let payload = format!(
            r#"[{}, 7, {{"name":"LCP","value":1}}, {{"name":"LCP","value":1,"id":5}}, {{"name":"FID","value":3,"id":"v3-1-2"}}]"#,
            RECORDED[1]
        );
        let translation = translate(payload.as_bytes(), &FACTS, 256).unwrap();
        assert_eq!(translation.beacons.len(), 1);
        assert_eq!(
            translation.rejected,
            [
                DecodeReason::InvalidEvent,
                DecodeReason::MissingField,
                DecodeReason::InvalidFieldType,
                DecodeReason::UnknownVitalName
            ]
        );
    }

    #[test]
    fn malformed_payloads_are_refused_with_a_reason() {
        let cases: [(&[u8], DecodeReason); 5] = [
            (b"not json", DecodeReason::MalformedJson),
            (b"\"LCP\"", DecodeReason::InvalidBeacon),
            (b"[]", DecodeReason::InvalidBeacon),
            (b"[1, 2]", DecodeReason::InvalidEvent),
            (br#"{"name":"LCP"}"#, DecodeReason::MissingField),
        ];
        for (payload, reason) in cases {
            let error = translate(payload, &FACTS, 256).unwrap_err();
            assert_eq!(error.reason, reason, "{}", String::from_utf8_lossy(payload));
        }
        let huge = format!("[{}]", vec![RECORDED[2]; 257].join(","));
        assert_eq!(
            translate(huge.as_bytes(), &FACTS, 256).unwrap_err().reason,
            DecodeReason::TooManyEvents
        );
    }

    #[test]
    fn ids_outside_the_native_form_are_hashed_stably() {
        assert_eq!(page_view_id("v5-1-2"), "v5-1-2");
        let custom = page_view_id("my.id/with:odd chars");
        assert!(custom.starts_with("wv-") && custom.len() == 19, "{custom}");
        assert_eq!(custom, page_view_id("my.id/with:odd chars"));
        assert_ne!(custom, page_view_id("my.id/with:odd chars2"));
        assert!(page_view_id(&"x".repeat(65)).starts_with("wv-"));
    }

    #[test]
    fn the_mapping_names_every_field_translated() {
        let documented: String = MAPPING.iter().map(|(field, _)| *field).collect();
        for field in ["name", "value", "id", "rating", "navigationType"]
            .into_iter()
            .chain(URL_FIELDS)
        {
            assert!(documented.contains(field), "{field} is not in MAPPING");
        }
    }
}
