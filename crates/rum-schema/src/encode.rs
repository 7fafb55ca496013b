//! A one-pass protobuf encoder for [`Beacon`], writing byte for byte what prost's derived
//! `encode_to_vec` writes.
//!
//! prost walks a message once for its length and again to write it, and recomputes a nested
//! message's length at every level it sits in (an attribution's four times: for the beacon, the
//! event, the vital and itself). This writes each nested message once behind a one-byte length
//! placeholder and moves the body along in the rare case its length needs more bytes. The collector
//! encodes every beacon it accepts, so this is on its hot path (benches/README.md has the figures).
//!
//! Every struct is destructured in full: a field added to the .proto does not compile here until it
//! is encoded. A property test checks the bytes equal prost's on arbitrary beacons.

use crate::proto::{
    Action, Attribution, Beacon, BusinessEvent, Calls, Connection, Custom, Device, EndpointCalls,
    Enrichment, Error, Event, LongFrames, Navigation, OriginResources, Request, Resources,
    ScriptTime, TypeCount, Vital, event,
};

/// `beacon` as protobuf; prost's `Message::decode` reads it back.
pub fn encode_beacon(beacon: &Beacon) -> Vec<u8> {
    let mut writer = Writer {
        buf: Vec::with_capacity(estimated_len(beacon)),
    };
    writer.beacon(beacon);
    writer.buf
}

/// Room for `beacon` without growing the buffer in the common case: its strings, ~48 bytes per
/// small event, and the repeated parts of the summary events (calls, resources, long frames,
/// errors) by their sizes. Growing costs a copy of what is written so far, which the exit beacons'
/// summaries paid several times (callgrind, issue 20). Shallow: no nested message is measured.
fn estimated_len(beacon: &Beacon) -> usize {
    let events: usize = beacon
        .events
        .iter()
        .map(|event| match &event.kind {
            Some(event::Kind::Calls(calls)) => calls
                .endpoints
                .iter()
                .map(|endpoint| {
                    40 + endpoint.method.len()
                        + endpoint.url.len()
                        + endpoint.endpoint.len()
                        + 9 * endpoint.durations_ms.len()
                        + 3 * endpoint.statuses.len()
                        + endpoint.trace_id.len()
                })
                .sum::<usize>(),
            Some(event::Kind::Resources(resources)) => {
                resources
                    .origins
                    .iter()
                    .map(|origin| 24 + origin.origin.len() + 9 * origin.durations_ms.len())
                    .sum::<usize>()
                    + resources
                        .types
                        .iter()
                        .map(|count| 12 + count.r#type.len())
                        .sum::<usize>()
            }
            Some(event::Kind::LongFrames(frames)) => {
                24 + frames
                    .scripts
                    .iter()
                    .map(|script| 16 + script.origin.len())
                    .sum::<usize>()
            }
            Some(event::Kind::Error(error)) => {
                32 + error.kind.len() + error.message.len() + error.source.len() + error.stack.len()
            }
            Some(event::Kind::Vital(vital)) => {
                48 + vital.id.len()
                    + vital.attribution.as_ref().map_or(0, |attribution| {
                        64 + attribution.target.len()
                            + attribution.url.len()
                            + attribution.interaction_type.len()
                            + attribution.script.len()
                    })
            }
            _ => 48,
        })
        .sum();
    160 + beacon.url.len() + beacon.referrer.len() + events
}

const VARINT: u32 = 0;
const FIXED64: u32 = 1;
const LENGTH_DELIMITED: u32 = 2;

struct Writer {
    buf: Vec<u8>,
}

impl Writer {
    fn beacon(&mut self, beacon: &Beacon) {
        let Beacon {
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
        } = beacon;
        self.uint32(1, *version);
        self.string(2, site);
        self.string(3, session_id);
        self.string(4, page_view_id);
        self.string(5, url);
        self.string(6, referrer);
        self.int32(7, *navigation_type);
        self.int64(8, *sent_at_ms);
        self.int64(9, *received_at_ms);
        if let Some(connection) = connection {
            self.message(10, |writer| writer.connection(connection));
        }
        if let Some(device) = device {
            self.message(11, |writer| writer.device(device));
        }
        for event in events {
            self.message(12, |writer| writer.event(event));
        }
        if let Some(enrichment) = enrichment {
            self.message(13, |writer| writer.enrichment(enrichment));
        }
        self.optional_uint32(14, *sequence);
        self.int32(15, *agent);
        if let Some(counts) = counts_page_view {
            self.key(16, VARINT);
            self.buf.push(u8::from(*counts));
        }
        self.string(17, release);
        self.string(18, environment);
        self.optional_double(19, *sample_rate);
        self.bytes(20, trace_id);
    }

    fn connection(&mut self, connection: &Connection) {
        let Connection {
            effective_type,
            rtt_ms,
            downlink_mbps,
            save_data,
        } = connection;
        self.string(1, effective_type);
        self.optional_double(2, *rtt_ms);
        self.optional_double(3, *downlink_mbps);
        if let Some(save_data) = save_data {
            self.key(4, VARINT);
            self.buf.push(u8::from(*save_data));
        }
    }

    fn device(&mut self, device: &Device) {
        let Device {
            memory_gib,
            cores,
            max_touch_points,
            viewport_width,
            viewport_height,
            screen_width,
            screen_height,
        } = device;
        self.optional_double(1, *memory_gib);
        self.optional_uint32(2, *cores);
        self.optional_uint32(3, *max_touch_points);
        self.optional_uint32(4, *viewport_width);
        self.optional_uint32(5, *viewport_height);
        self.optional_uint32(6, *screen_width);
        self.optional_uint32(7, *screen_height);
    }

    fn event(&mut self, event: &Event) {
        let Event { kind } = event;
        match kind {
            None => {}
            Some(event::Kind::Vital(vital)) => self.message(1, |writer| writer.vital(vital)),
            Some(event::Kind::Navigation(navigation)) => {
                self.message(2, |writer| writer.navigation(navigation));
            }
            Some(event::Kind::Error(error)) => self.message(3, |writer| writer.error(error)),
            Some(event::Kind::Request(request)) => {
                self.message(4, |writer| writer.request(request));
            }
            Some(event::Kind::Custom(custom)) => self.message(5, |writer| writer.custom(custom)),
            Some(event::Kind::Action(action)) => self.message(6, |writer| writer.action(action)),
            Some(event::Kind::BusinessEvent(business)) => {
                self.message(7, |writer| writer.business_event(business));
            }
            Some(event::Kind::LongFrames(frames)) => {
                self.message(8, |writer| writer.long_frames(frames));
            }
            Some(event::Kind::Resources(resources)) => {
                self.message(9, |writer| writer.resources(resources));
            }
            Some(event::Kind::Calls(calls)) => self.message(10, |writer| writer.calls(calls)),
        }
    }

    fn vital(&mut self, vital: &Vital) {
        let Vital {
            name,
            value,
            id,
            client_rating,
            attribution,
        } = vital;
        self.int32(1, *name);
        self.double(2, *value);
        self.string(3, id);
        self.int32(4, *client_rating);
        if let Some(attribution) = attribution {
            self.message(5, |writer| writer.attribution(attribution));
        }
    }

    fn attribution(&mut self, attribution: &Attribution) {
        let Attribution {
            target,
            url,
            ttfb_ms,
            load_delay_ms,
            load_duration_ms,
            render_delay_ms,
            interaction_type,
            input_delay_ms,
            processing_ms,
            presentation_ms,
            script,
            script_duration_ms,
        } = attribution;
        self.string(1, target);
        self.string(2, url);
        self.optional_double(3, *ttfb_ms);
        self.optional_double(4, *load_delay_ms);
        self.optional_double(5, *load_duration_ms);
        self.optional_double(6, *render_delay_ms);
        self.string(7, interaction_type);
        self.optional_double(8, *input_delay_ms);
        self.optional_double(9, *processing_ms);
        self.optional_double(10, *presentation_ms);
        self.string(11, script);
        self.optional_double(12, *script_duration_ms);
    }

    fn navigation(&mut self, navigation: &Navigation) {
        let Navigation {
            dns_ms,
            connect_ms,
            tls_ms,
            ttfb_ms,
            download_ms,
            dom_interactive_ms,
            dom_complete_ms,
            load_ms,
            transfer_size_bytes,
            protocol,
        } = navigation;
        self.optional_double(1, *dns_ms);
        self.optional_double(2, *connect_ms);
        self.optional_double(3, *tls_ms);
        self.optional_double(4, *ttfb_ms);
        self.optional_double(5, *download_ms);
        self.optional_double(6, *dom_interactive_ms);
        self.optional_double(7, *dom_complete_ms);
        self.optional_double(8, *load_ms);
        if let Some(bytes) = transfer_size_bytes {
            self.key(9, VARINT);
            self.varint(*bytes);
        }
        self.string(10, protocol);
    }

    fn error(&mut self, error: &Error) {
        let Error {
            kind,
            message,
            source,
            line,
            column,
            stack,
        } = error;
        self.string(1, kind);
        self.string(2, message);
        self.string(3, source);
        self.optional_uint32(4, *line);
        self.optional_uint32(5, *column);
        self.string(6, stack);
    }

    fn request(&mut self, request: &Request) {
        let Request {
            url,
            method,
            status,
            duration_ms,
            endpoint,
        } = request;
        self.string(1, url);
        self.string(2, method);
        self.uint32(3, *status);
        self.double(4, *duration_ms);
        self.string(5, endpoint);
    }

    fn custom(&mut self, custom: &Custom) {
        let Custom { name, value } = custom;
        self.string(1, name);
        self.double(2, *value);
    }

    fn action(&mut self, action: &Action) {
        let Action {
            name,
            kind,
            duration_ms,
            errors,
            requests,
            clicks,
            rage,
            dead,
            error_click,
        } = action;
        self.string(1, name);
        self.int32(2, *kind);
        self.optional_double(3, *duration_ms);
        self.uint32(4, *errors);
        self.uint32(5, *requests);
        self.optional_uint32(6, *clicks);
        self.bool(7, *rage);
        self.bool(8, *dead);
        self.bool(9, *error_click);
    }

    fn business_event(&mut self, business: &BusinessEvent) {
        let BusinessEvent { name, value } = business;
        self.string(1, name);
        self.optional_double(2, *value);
    }

    fn long_frames(&mut self, frames: &LongFrames) {
        let LongFrames {
            count,
            blocking_ms,
            scripts,
        } = frames;
        self.uint32(1, *count);
        self.double(2, *blocking_ms);
        for script in scripts {
            self.message(3, |writer| {
                let ScriptTime {
                    origin,
                    duration_ms,
                } = script;
                writer.string(1, origin);
                writer.double(2, *duration_ms);
            });
        }
    }

    fn resources(&mut self, resources: &Resources) {
        let Resources { origins, types } = resources;
        for origin in origins {
            self.message(1, |writer| {
                let OriginResources {
                    origin,
                    transfer_bytes,
                    untimed,
                    durations_ms,
                } = origin;
                writer.string(1, origin);
                writer.uint64(2, *transfer_bytes);
                writer.uint32(3, *untimed);
                writer.packed_doubles(4, durations_ms);
            });
        }
        for count in types {
            self.message(2, |writer| {
                let TypeCount { r#type, count } = count;
                writer.string(1, r#type);
                writer.uint32(2, *count);
            });
        }
    }

    fn calls(&mut self, calls: &Calls) {
        let Calls { endpoints } = calls;
        for endpoint in endpoints {
            self.message(1, |writer| {
                let EndpointCalls {
                    method,
                    url,
                    endpoint,
                    durations_ms,
                    statuses,
                    trace_id,
                    traced_ms,
                } = endpoint;
                writer.string(1, method);
                writer.string(2, url);
                writer.string(3, endpoint);
                writer.packed_doubles(4, durations_ms);
                writer.packed_uint32s(5, statuses);
                writer.bytes(6, trace_id);
                writer.optional_double(7, *traced_ms);
            });
        }
    }

    fn enrichment(&mut self, enrichment: &Enrichment) {
        let Enrichment {
            country,
            region,
            city,
            asn,
            browser,
            browser_major,
            os,
            os_version,
            device_class,
            is_bot,
            route,
            client_network,
            clock_skew_ms,
        } = enrichment;
        self.string(1, country);
        self.string(2, region);
        self.string(3, city);
        self.uint32(4, *asn);
        self.string(5, browser);
        self.string(6, browser_major);
        self.string(7, os);
        self.string(8, os_version);
        self.string(9, device_class);
        self.bool(10, *is_bot);
        self.string(11, route);
        self.string(12, client_network);
        self.int64(13, *clock_skew_ms);
    }

    // Scalars. proto3 leaves out a plain field holding its default (prost compares with `!=`, so
    // -0.0 is left out and NaN written); an `optional` field is written whenever it is set.

    fn bool(&mut self, field: u32, value: bool) {
        if value {
            self.key(field, VARINT);
            self.buf.push(1);
        }
    }

    fn uint64(&mut self, field: u32, value: u64) {
        if value != 0 {
            self.key(field, VARINT);
            self.varint(value);
        }
    }

    /// A packed `repeated double` (proto3's default for repeated scalars, as prost writes it).
    fn packed_doubles(&mut self, field: u32, values: &[f64]) {
        if !values.is_empty() {
            self.key(field, LENGTH_DELIMITED);
            self.varint((values.len() * 8) as u64);
            for value in values {
                self.buf.extend_from_slice(&value.to_le_bytes());
            }
        }
    }

    /// A packed `repeated uint32`, as prost writes it.
    fn packed_uint32s(&mut self, field: u32, values: &[u32]) {
        if !values.is_empty() {
            self.key(field, LENGTH_DELIMITED);
            let length: usize = values
                .iter()
                .map(|value| varint_into(u64::from(*value), &mut [0; 10]))
                .sum();
            self.varint(length as u64);
            for value in values {
                self.varint(u64::from(*value));
            }
        }
    }

    fn uint32(&mut self, field: u32, value: u32) {
        if value != 0 {
            self.key(field, VARINT);
            self.varint(u64::from(value));
        }
    }

    fn optional_uint32(&mut self, field: u32, value: Option<u32>) {
        if let Some(value) = value {
            self.key(field, VARINT);
            self.varint(u64::from(value));
        }
    }

    /// int32 and enums: a negative value is sign-extended to ten bytes, as protobuf specifies.
    fn int32(&mut self, field: u32, value: i32) {
        if value != 0 {
            self.key(field, VARINT);
            self.varint(i64::from(value) as u64);
        }
    }

    fn int64(&mut self, field: u32, value: i64) {
        if value != 0 {
            self.key(field, VARINT);
            self.varint(value as u64);
        }
    }

    fn double(&mut self, field: u32, value: f64) {
        if value != 0.0 {
            self.key(field, FIXED64);
            self.buf.extend_from_slice(&value.to_le_bytes());
        }
    }

    fn optional_double(&mut self, field: u32, value: Option<f64>) {
        if let Some(value) = value {
            self.key(field, FIXED64);
            self.buf.extend_from_slice(&value.to_le_bytes());
        }
    }

    fn string(&mut self, field: u32, text: &str) {
        self.bytes(field, text.as_bytes());
    }

    fn bytes(&mut self, field: u32, bytes: &[u8]) {
        if !bytes.is_empty() {
            self.key(field, LENGTH_DELIMITED);
            self.varint(bytes.len() as u64);
            self.buf.extend_from_slice(bytes);
        }
    }

    /// A nested message, written whenever it is present (even when empty).
    fn message(&mut self, field: u32, body: impl FnOnce(&mut Self)) {
        self.key(field, LENGTH_DELIMITED);
        let placeholder = self.buf.len();
        self.buf.push(0);
        body(self);
        let length = self.buf.len() - placeholder - 1;
        if length < 0x80 {
            self.buf[placeholder] = length as u8;
        } else {
            let mut prefix = [0u8; 10];
            let used = varint_into(length as u64, &mut prefix);
            self.buf
                .splice(placeholder..=placeholder, prefix[..used].iter().copied());
        }
    }

    fn key(&mut self, field: u32, wire_type: u32) {
        self.varint(u64::from(field << 3 | wire_type));
    }

    fn varint(&mut self, mut value: u64) {
        while value >= 0x80 {
            self.buf.push(value as u8 | 0x80);
            value >>= 7;
        }
        self.buf.push(value as u8);
    }
}

/// Writes `value` as a varint at the start of `out`; returns how many bytes it took.
fn varint_into(mut value: u64, out: &mut [u8; 10]) -> usize {
    let mut used = 0;
    while value >= 0x80 {
        out[used] = value as u8 | 0x80;
        value >>= 7;
        used += 1;
    }
    out[used] = value as u8;
    used + 1
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::arbitrary::beacon;
    use crate::proto::{NavigationType, VitalName};
    use proptest::prelude::*;
    use prost::Message;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        #[test]
        fn writes_what_prost_writes(beacon in beacon()) {
            prop_assert_eq!(encode_beacon(&beacon), beacon.encode_to_vec());
        }
    }

    #[test]
    fn a_typical_beacon_round_trips_through_prost() {
        let beacon = Beacon {
            version: 1,
            site: "shop".into(),
            session_id: "s1".into(),
            page_view_id: "pv1".into(),
            url: "https://shop.example.com/products/:id".into(),
            navigation_type: NavigationType::Navigate as i32,
            sent_at_ms: 1_764_000_000_000,
            received_at_ms: 1_764_000_000_120,
            events: vec![Event {
                kind: Some(event::Kind::Vital(Vital {
                    name: VitalName::Lcp as i32,
                    value: 1_840.5,
                    id: "v5-1".into(),
                    attribution: Some(Attribution {
                        // Longer than 127 bytes: the nested lengths take two bytes.
                        target: "div#hero>img".repeat(20),
                        ..Attribution::default()
                    }),
                    ..Vital::default()
                })),
            }],
            ..Beacon::default()
        };
        let bytes = encode_beacon(&beacon);
        assert_eq!(Beacon::decode(bytes.as_slice()).expect("decodes"), beacon);
        assert_eq!(bytes, beacon.encode_to_vec());
    }
}
