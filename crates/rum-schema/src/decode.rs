//! JSON beacon -> validated [`proto::Beacon`].
//!
//! One pass over the parsed document per object: each field is matched by name, validated and
//! converted. Beacon-level problems reject the whole beacon; a bad event rejects only that event.
//! Unknown fields and event types are ignored and counted (BEACON.md), as are malformed optional
//! hints (`conn`, `dev`, `rating`, `attr` members), which are dropped rather than costing the beacon.

use crate::json::JsonValue;
use crate::limits::DecodeLimits;
use crate::proto;
use crate::reason::DecodeReason;

/// Vital and timing values above one hour are not physical (DESIGN.md).
const MAX_DURATION_MS: f64 = 3_600_000.0;
/// CLS above 100 is not physical (DESIGN.md).
const MAX_CLS: f64 = 100.0;
/// `sid` and `pid`: 1..64 characters (BEACON.md).
const MAX_SESSION_ID_CHARS: usize = 64;
/// Vital ids (`v5-1763760000000-123...`) are longer than session ids.
const MAX_METRIC_ID_CHARS: usize = 128;
/// `sent` later than this (year ~2286) is not an epoch-milliseconds timestamp.
const MAX_EPOCH_MS: f64 = 1e13;
/// An action's loading time is capped at 10 s by the script.
const MAX_ACTION_MS: f64 = 10_000.0;
/// Errors, requests and clicks one action can carry.
const MAX_ACTION_COUNT: f64 = 10_000.0;
/// Action and business-event names: 100 characters (the script cuts them there).
const MAX_NAME_CHARS: usize = 100;
/// A business event's value (revenue, items): non-negative, at most a billion.
const MAX_EVENT_VALUE: f64 = 1e9;
/// Long animation frames one `loaf` event can count (the script sends one per beacon).
const MAX_LONG_FRAMES: f64 = 10_000.0;
/// Origins one `loaf` or `resources` event can name, and initiator types one `resources` event
/// can count (the script keeps the first 50 it sees).
pub const MAX_ORIGINS: usize = 50;
/// Resource durations one origin of a `resources` event can carry.
pub const MAX_RESOURCES_PER_ORIGIN: usize = 5_000;
/// An initiator type (`script`, `xmlhttprequest`, ...): a short word.
const MAX_INITIATOR_TYPE_BYTES: usize = 32;
/// An origin is `scheme://host:port`: hosts are at most 253 bytes.
const MAX_ORIGIN_BYTES: usize = 300;
/// Endpoints (method and URL) one `calls` event can carry (the script keeps the first 50 it sees).
pub const MAX_ENDPOINTS: usize = 50;
/// Calls one endpoint of a `calls` event can carry.
pub const MAX_CALLS_PER_ENDPOINT: usize = 5_000;
/// A method as the script sends it (it clips to 32).
const MAX_METHOD_BYTES: usize = 32;
/// HTTP status codes have three digits; 0 means a network error.
const MAX_HTTP_STATUS: f64 = 999.0;

/// Spare bytes [`BeaconDecoder::decode_vec`] appends to a body so simd-json can parse it where it
/// is; reserve them with the body to spare a reallocation.
pub const JSON_PADDING: usize = simd_json::INPUT_PADDING;

/// A kept tape grows to the largest beacon seen; past this many nodes (24 bytes each, 1.5 MB) it
/// is not kept.
const MAX_KEPT_TAPE_NODES: usize = 1 << 16;

/// simd-json's scratch space, reused across beacons on one thread instead of allocated for every
/// parse: its buffers (input-sized) and the tape's allocation (24 bytes per JSON value; a
/// summary beacon's tape is ~7 KB, which the allocator serves on its slow path).
struct SimdScratch {
    buffers: simd_json::Buffers,
    /// Empty between parses: `Tape::reset` drops every borrow before it is stored.
    tape: Option<simd_json::Tape<'static>>,
}

thread_local! {
    static SIMD_SCRATCH: std::cell::RefCell<SimdScratch> = std::cell::RefCell::new(SimdScratch {
        buffers: simd_json::Buffers::default(),
        tape: None,
    });
}

/// Which JSON parser builds the document the decoder walks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JsonParser {
    /// simd-json's tape: no maps built, strings borrowed from the (in-place unescaped) input.
    SimdJson,
    /// serde_json's `Value` tree; kept as the benchmark baseline.
    SerdeJson,
}

/// A beacon that passed validation, possibly with some events rejected.
#[derive(Debug, Clone, PartialEq)]
pub struct DecodedBeacon {
    /// The beacon without `site` and `received_at_ms`, which the edge fills in.
    pub beacon: proto::Beacon,
    /// Events that were rejected, by their index in the sent `events` array.
    pub rejected_events: Vec<EventRejection>,
    /// Object members this collector does not know (ignored, per BEACON.md).
    pub unknown_fields: u32,
    /// Events whose `type` this collector does not know (ignored, per BEACON.md).
    pub unknown_event_types: u32,
    /// Optional hints dropped because their value was malformed.
    pub dropped_hints: u32,
}

/// One rejected event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventRejection {
    pub index: usize,
    pub reason: DecodeReason,
    /// The offending member of the event (`value`, `name`, ...), or `""` for the event itself.
    pub field: &'static str,
}

/// Why a whole beacon was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}: {detail}", reason.as_str())]
pub struct BeaconRejection {
    pub reason: DecodeReason,
    /// A human-readable explanation naming the field.
    pub detail: String,
}

impl BeaconRejection {
    pub fn new(reason: DecodeReason, detail: impl Into<String>) -> Self {
        Self {
            reason,
            detail: detail.into(),
        }
    }
}

/// A failed check on one field: the reason and the field's name.
type FieldError = (DecodeReason, &'static str);

/// Decodes and validates beacons under fixed [`DecodeLimits`].
#[derive(Debug, Clone, Default)]
pub struct BeaconDecoder {
    limits: DecodeLimits,
}

impl BeaconDecoder {
    pub fn new(limits: DecodeLimits) -> Self {
        Self { limits }
    }

    pub fn limits(&self) -> &DecodeLimits {
        &self.limits
    }

    /// Decodes a beacon body with simd-json. The body is used as scratch space (unescaped in place).
    pub fn decode(&self, body: &mut [u8]) -> Result<DecodedBeacon, BeaconRejection> {
        self.decode_with(JsonParser::SimdJson, body)
    }

    /// [`decode`](Self::decode) for a body the caller owns: [`JSON_PADDING`] bytes are appended to
    /// it (and removed again), so simd-json parses it in place instead of copying it into a padded
    /// buffer first. The content is scratch afterwards, as with `decode`.
    pub fn decode_vec(&self, body: &mut Vec<u8>) -> Result<DecodedBeacon, BeaconRejection> {
        let len = body.len();
        body.resize(len + JSON_PADDING, b' ');
        let decoded =
            self.decode_simd(|buffers, tape| simd_json::fill_tape_padded(body, len, buffers, tape));
        body.truncate(len);
        decoded
    }

    /// Fills the thread's reused tape with `fill` and decodes the document on it.
    fn decode_simd<'b>(
        &self,
        fill: impl FnOnce(&mut simd_json::Buffers, &mut simd_json::Tape<'b>) -> simd_json::Result<()>,
    ) -> Result<DecodedBeacon, BeaconRejection> {
        SIMD_SCRATCH.with_borrow_mut(|scratch| {
            let mut tape = scratch
                .tape
                .take()
                .unwrap_or_else(simd_json::Tape::null)
                .reset();
            let decoded = match fill(&mut scratch.buffers, &mut tape) {
                Ok(()) => self.decode_document(tape.as_value()),
                Err(error) => Err(BeaconRejection::new(
                    DecodeReason::MalformedJson,
                    error.to_string(),
                )),
            };
            let tape = tape.reset();
            if tape.0.capacity() <= MAX_KEPT_TAPE_NODES {
                scratch.tape = Some(tape);
            }
            decoded
        })
    }

    /// Decodes with the chosen parser; both give identical results on every input.
    pub fn decode_with(
        &self,
        parser: JsonParser,
        body: &mut [u8],
    ) -> Result<DecodedBeacon, BeaconRejection> {
        match parser {
            JsonParser::SimdJson => {
                self.decode_simd(|buffers, tape| simd_json::fill_tape(body, buffers, tape))
            }
            JsonParser::SerdeJson => {
                let value: serde_json::Value = serde_json::from_slice(body).map_err(|error| {
                    BeaconRejection::new(DecodeReason::MalformedJson, error.to_string())
                })?;
                self.decode_document(&value)
            }
        }
    }

    fn decode_document<'a, V: JsonValue<'a>>(
        &self,
        root: V,
    ) -> Result<DecodedBeacon, BeaconRejection> {
        let Some(fields) = root.fields() else {
            return Err(BeaconRejection::new(
                DecodeReason::InvalidBeacon,
                "the body must be a JSON object",
            ));
        };
        let mut decoded = DecodedBeacon {
            beacon: proto::Beacon::default(),
            rejected_events: Vec::new(),
            unknown_fields: 0,
            unknown_event_types: 0,
            dropped_hints: 0,
        };
        let mut version = None;
        let mut session_id = None;
        let mut page_view_id = None;
        let mut url = None;
        let mut referrer = None;
        let mut navigation = None;
        let mut sent = None;
        let mut sequence = None;
        let mut release = None;
        let mut environment = None;
        let mut sample_rate = None;
        let mut trace = None;
        let mut connection = None;
        let mut device = None;
        let mut events = None;
        for (key, value) in fields {
            match key {
                "v" => version = Some(value),
                "sid" => session_id = Some(value),
                "pid" => page_view_id = Some(value),
                "url" => url = Some(value),
                "ref" => referrer = Some(value),
                "nav" => navigation = Some(value),
                "sent" => sent = Some(value),
                "seq" => sequence = Some(value),
                "rel" => release = Some(value),
                "env" => environment = Some(value),
                "sr" => sample_rate = Some(value),
                "trace" => trace = Some(value),
                "conn" => connection = Some(value),
                "dev" => device = Some(value),
                "events" => events = Some(value),
                _ => decoded.unknown_fields += 1,
            }
        }

        // The version decides how everything else reads, so it is checked first.
        let version = required(version, "v")?;
        if version.as_f64() != Some(1.0) {
            return Err(BeaconRejection::new(
                DecodeReason::UnsupportedVersion,
                "field `v`: this collector speaks beacon format version 1",
            ));
        }
        decoded.beacon.version = 1;

        // The cheapest cap that bounds the most work comes before per-field work.
        let events = required(events, "events")?;
        let Some((event_count, event_values)) = events.elements() else {
            return Err(type_error("events", "an array"));
        };
        if event_count > self.limits.max_events {
            return Err(BeaconRejection::new(
                DecodeReason::TooManyEvents,
                format!(
                    "field `events`: {event_count} events, at most {} are allowed",
                    self.limits.max_events
                ),
            ));
        }

        decoded.beacon.session_id = session_identifier(required(session_id, "sid")?, "sid")?;
        decoded.beacon.page_view_id = session_identifier(required(page_view_id, "pid")?, "pid")?;
        decoded.beacon.url = page_url(required(url, "url")?, self.limits.max_url_bytes)?;
        decoded.beacon.referrer = match referrer {
            Some(value) if !value.is_null() => bounded_str(value, self.limits.max_url_bytes, "ref")
                .map_err(|error| field_rejection(error, "a string"))?
                .to_owned(),
            _ => String::new(),
        };
        decoded.beacon.navigation_type = navigation_type(required(navigation, "nav")?)? as i32;
        decoded.beacon.sent_at_ms = sent_timestamp(required(sent, "sent")?)?;
        if let Some(value) = sequence.filter(|value| !value.is_null()) {
            // Optional and only an ordering hint: a bad one is dropped and counted, the beacon kept.
            match whole_number(value, u32::MAX as f64, "seq") {
                Ok(sequence) => decoded.beacon.sequence = Some(sequence as u32),
                Err(_) => decoded.dropped_hints += 1,
            }
        }

        // Optional labels of the page: a malformed one is dropped and counted, the beacon kept.
        for (value, slot) in [
            (release, &mut decoded.beacon.release),
            (environment, &mut decoded.beacon.environment),
        ] {
            let Some(value) = value.filter(|value| !value.is_null()) else {
                continue;
            };
            match value.as_str().filter(|text| is_release_label(text)) {
                Some(text) => *slot = text.to_owned(),
                None => decoded.dropped_hints += 1,
            }
        }

        // The script's sample rate, 0 < rate <= 1 (a session with rate 0 sends nothing): like a
        // hint, a malformed one is dropped and counted, and the beacon reads as unsampled.
        if let Some(value) = sample_rate.filter(|value| !value.is_null()) {
            match value.as_f64().filter(|rate| *rate > 0.0 && *rate <= 1.0) {
                Some(rate) => decoded.beacon.sample_rate = Some(rate),
                None => decoded.dropped_hints += 1,
            }
        }

        // The page load's backend trace: only a link, so a malformed one is a dropped hint.
        if let Some(value) = trace.filter(|value| !value.is_null()) {
            match value.as_str().and_then(trace_id) {
                Some(id) => decoded.beacon.trace_id = id.to_vec(),
                None => decoded.dropped_hints += 1,
            }
        }

        if let Some(value) = connection.filter(|value| !value.is_null()) {
            decoded.beacon.connection = Some(self.connection(value, &mut decoded));
        }
        if let Some(value) = device.filter(|value| !value.is_null()) {
            decoded.beacon.device = Some(device_hints(value, &mut decoded));
        }

        decoded.beacon.events.reserve(event_count);
        for (index, value) in event_values.enumerate() {
            // Counters describe accepted events only: a rejected event's unknown members and
            // dropped hints are rolled back with it.
            let counters_before = (decoded.unknown_fields, decoded.dropped_hints);
            match self.event(value, &mut decoded) {
                Ok(Some(event)) => decoded.beacon.events.push(event),
                Ok(None) => decoded.unknown_event_types += 1,
                Err((reason, field)) => {
                    (decoded.unknown_fields, decoded.dropped_hints) = counters_before;
                    decoded.rejected_events.push(EventRejection {
                        index,
                        reason,
                        field,
                    });
                }
            }
        }
        Ok(decoded)
    }

    fn connection<'a, V: JsonValue<'a>>(
        &self,
        value: V,
        decoded: &mut DecodedBeacon,
    ) -> proto::Connection {
        let mut connection = proto::Connection::default();
        let Some(fields) = value.fields() else {
            decoded.dropped_hints += 1;
            return connection;
        };
        for (key, member) in fields {
            let kept = match key {
                "type" => bounded_str(member, self.limits.max_string_bytes, "type")
                    .map(|text| connection.effective_type = text.to_owned()),
                "rtt" => non_negative(member, "rtt").map(|n| connection.rtt_ms = Some(n)),
                "down" => non_negative(member, "down").map(|n| connection.downlink_mbps = Some(n)),
                "save" => member
                    .as_bool()
                    .ok_or((DecodeReason::InvalidFieldType, "save"))
                    .map(|flag| connection.save_data = Some(flag)),
                _ => {
                    decoded.unknown_fields += 1;
                    Ok(())
                }
            };
            if kept.is_err() {
                decoded.dropped_hints += 1;
            }
        }
        connection
    }

    /// Decodes one event: `Ok(None)` for an unknown (ignored) type.
    fn event<'a, V: JsonValue<'a>>(
        &self,
        value: V,
        decoded: &mut DecodedBeacon,
    ) -> Result<Option<proto::Event>, FieldError> {
        let Some(mut fields) = value.fields() else {
            return Err((DecodeReason::InvalidEvent, ""));
        };
        let event_type = fields
            .find(|(key, _)| *key == "type")
            .ok_or((DecodeReason::MissingField, "type"))?
            .1
            .as_str()
            .ok_or((DecodeReason::InvalidFieldType, "type"))?;
        let kind = match event_type {
            "vital" => proto::event::Kind::Vital(self.vital(value, decoded)?),
            "nav" => proto::event::Kind::Navigation(self.navigation(value, decoded)?),
            "error" => proto::event::Kind::Error(self.error(value, decoded)?),
            "request" => proto::event::Kind::Request(self.request(value, decoded)?),
            "custom" => proto::event::Kind::Custom(self.custom(value, decoded)?),
            "action" => proto::event::Kind::Action(self.action(value, decoded)?),
            "event" => proto::event::Kind::BusinessEvent(self.business_event(value, decoded)?),
            "loaf" => proto::event::Kind::LongFrames(self.long_frames(value, decoded)?),
            "resources" => proto::event::Kind::Resources(self.resources(value, decoded)?),
            "calls" => proto::event::Kind::Calls(self.calls(value, decoded)?),
            _ => return Ok(None),
        };
        Ok(Some(proto::Event { kind: Some(kind) }))
    }

    fn vital<'a, V: JsonValue<'a>>(
        &self,
        value: V,
        decoded: &mut DecodedBeacon,
    ) -> Result<proto::Vital, FieldError> {
        let mut vital = proto::Vital::default();
        let mut name = None;
        let mut number = None;
        let mut id = None;
        for (key, member) in event_fields(value) {
            match key {
                "type" => {}
                "name" => name = Some(member),
                "value" => number = Some(member),
                "id" => id = Some(member),
                "rating" => match member.as_str().and_then(rating) {
                    Some(parsed) => vital.client_rating = parsed as i32,
                    None => decoded.dropped_hints += 1,
                },
                "attr" => {
                    if !member.is_null() {
                        vital.attribution = Some(self.attribution(member, decoded));
                    }
                }
                _ => decoded.unknown_fields += 1,
            }
        }
        let name = name.ok_or((DecodeReason::MissingField, "name"))?;
        let name = name
            .as_str()
            .ok_or((DecodeReason::InvalidFieldType, "name"))?;
        let name = vital_name(name).ok_or((DecodeReason::UnknownVitalName, "name"))?;
        vital.name = name as i32;
        let maximum = if name == proto::VitalName::Cls {
            MAX_CLS
        } else {
            MAX_DURATION_MS
        };
        vital.value = bounded_number(
            number.ok_or((DecodeReason::MissingField, "value"))?,
            maximum,
            "value",
        )?;
        vital.id = metric_identifier(id.ok_or((DecodeReason::MissingField, "id"))?)?.to_owned();
        Ok(vital)
    }

    fn attribution<'a, V: JsonValue<'a>>(
        &self,
        value: V,
        decoded: &mut DecodedBeacon,
    ) -> proto::Attribution {
        let mut attribution = proto::Attribution::default();
        let Some(fields) = value.fields() else {
            decoded.dropped_hints += 1;
            return attribution;
        };
        let string_limit = self.limits.max_string_bytes;
        let url_limit = self.limits.max_url_bytes;
        for (key, member) in fields {
            let kept =
                match key {
                    "target" => bounded_str(member, string_limit, "target")
                        .map(|text| attribution.target = text.to_owned()),
                    "url" => bounded_str(member, url_limit, "url")
                        .map(|text| attribution.url = text.to_owned()),
                    "interactionType" => bounded_str(member, string_limit, "interactionType")
                        .map(|text| attribution.interaction_type = text.to_owned()),
                    "ttfb" => duration(member, "ttfb").map(|n| attribution.ttfb_ms = Some(n)),
                    "loadDelay" => {
                        duration(member, "loadDelay").map(|n| attribution.load_delay_ms = Some(n))
                    }
                    "loadDuration" => duration(member, "loadDuration")
                        .map(|n| attribution.load_duration_ms = Some(n)),
                    "renderDelay" => duration(member, "renderDelay")
                        .map(|n| attribution.render_delay_ms = Some(n)),
                    "inputDelay" => {
                        duration(member, "inputDelay").map(|n| attribution.input_delay_ms = Some(n))
                    }
                    "processing" => {
                        duration(member, "processing").map(|n| attribution.processing_ms = Some(n))
                    }
                    "presentation" => duration(member, "presentation")
                        .map(|n| attribution.presentation_ms = Some(n)),
                    "script" => bounded_str(member, url_limit, "script")
                        .map(|text| attribution.script = text.to_owned()),
                    "scriptDuration" => duration(member, "scriptDuration")
                        .map(|n| attribution.script_duration_ms = Some(n)),
                    _ => {
                        decoded.unknown_fields += 1;
                        Ok(())
                    }
                };
            if kept.is_err() {
                decoded.dropped_hints += 1;
            }
        }
        attribution
    }

    fn navigation<'a, V: JsonValue<'a>>(
        &self,
        value: V,
        decoded: &mut DecodedBeacon,
    ) -> Result<proto::Navigation, FieldError> {
        let mut navigation = proto::Navigation::default();
        for (key, member) in event_fields(value) {
            match key {
                "type" => {}
                "dns" => navigation.dns_ms = Some(duration(member, "dns")?),
                "connect" => navigation.connect_ms = Some(duration(member, "connect")?),
                "tls" => navigation.tls_ms = Some(duration(member, "tls")?),
                "ttfb" => navigation.ttfb_ms = Some(duration(member, "ttfb")?),
                "download" => navigation.download_ms = Some(duration(member, "download")?),
                "domInteractive" => {
                    navigation.dom_interactive_ms = Some(duration(member, "domInteractive")?)
                }
                "domComplete" => {
                    navigation.dom_complete_ms = Some(duration(member, "domComplete")?)
                }
                "load" => navigation.load_ms = Some(duration(member, "load")?),
                "transferSize" => {
                    navigation.transfer_size_bytes =
                        Some(whole_number(member, u64::MAX as f64, "transferSize")? as u64)
                }
                "protocol" => {
                    navigation.protocol =
                        bounded_str(member, self.limits.max_string_bytes, "protocol")?.to_owned()
                }
                _ => decoded.unknown_fields += 1,
            }
        }
        Ok(navigation)
    }

    fn error<'a, V: JsonValue<'a>>(
        &self,
        value: V,
        decoded: &mut DecodedBeacon,
    ) -> Result<proto::Error, FieldError> {
        let mut error = proto::Error::default();
        let string_limit = self.limits.max_string_bytes;
        for (key, member) in event_fields(value) {
            match key {
                "type" => {}
                "kind" => error.kind = bounded_str(member, string_limit, "kind")?.to_owned(),
                "message" => {
                    error.message = bounded_str(member, string_limit, "message")?.to_owned()
                }
                "source" => {
                    error.source =
                        bounded_str(member, self.limits.max_url_bytes, "source")?.to_owned()
                }
                "line" => error.line = Some(whole_number(member, u32::MAX as f64, "line")? as u32),
                "col" => error.column = Some(whole_number(member, u32::MAX as f64, "col")? as u32),
                "stack" => {
                    error.stack =
                        bounded_str(member, self.limits.max_stack_bytes, "stack")?.to_owned()
                }
                _ => decoded.unknown_fields += 1,
            }
        }
        if error.kind.is_empty() {
            error.kind = "error".to_owned();
        }
        Ok(error)
    }

    fn request<'a, V: JsonValue<'a>>(
        &self,
        value: V,
        decoded: &mut DecodedBeacon,
    ) -> Result<proto::Request, FieldError> {
        let mut request = proto::Request::default();
        let mut url = None;
        let mut duration_ms = None;
        for (key, member) in event_fields(value) {
            match key {
                "type" => {}
                "url" => url = Some(bounded_str(member, self.limits.max_url_bytes, "url")?),
                "method" => {
                    request.method =
                        bounded_str(member, self.limits.max_string_bytes, "method")?.to_owned()
                }
                "status" => {
                    request.status = whole_number(member, MAX_HTTP_STATUS, "status")? as u32
                }
                "duration" => duration_ms = Some(duration(member, "duration")?),
                _ => decoded.unknown_fields += 1,
            }
        }
        request.url = url.ok_or((DecodeReason::MissingField, "url"))?.to_owned();
        request.duration_ms = duration_ms.ok_or((DecodeReason::MissingField, "duration"))?;
        Ok(request)
    }

    fn custom<'a, V: JsonValue<'a>>(
        &self,
        value: V,
        decoded: &mut DecodedBeacon,
    ) -> Result<proto::Custom, FieldError> {
        let mut name = None;
        let mut number = None;
        for (key, member) in event_fields(value) {
            match key {
                "type" => {}
                "name" => name = Some(bounded_str(member, self.limits.max_string_bytes, "name")?),
                "value" => number = Some(duration(member, "value")?),
                _ => decoded.unknown_fields += 1,
            }
        }
        let name = name.ok_or((DecodeReason::MissingField, "name"))?;
        if name.is_empty() {
            return Err((DecodeReason::MissingField, "name"));
        }
        Ok(proto::Custom {
            name: name.to_owned(),
            value: number.ok_or((DecodeReason::MissingField, "value"))?,
        })
    }
}

impl BeaconDecoder {
    fn action<'a, V: JsonValue<'a>>(
        &self,
        value: V,
        decoded: &mut DecodedBeacon,
    ) -> Result<proto::Action, FieldError> {
        let mut action = proto::Action::default();
        let mut name = None;
        let count = |member: V, field| whole_number(member, MAX_ACTION_COUNT, field);
        for (key, member) in event_fields(value) {
            match key {
                "type" => {}
                "name" => name = Some(event_name(member)?),
                "kind" => match member.as_str().and_then(action_kind) {
                    Some(kind) => action.kind = kind as i32,
                    None => decoded.dropped_hints += 1,
                },
                "dur" => {
                    action.duration_ms = Some(bounded_number(member, MAX_ACTION_MS, "dur")?);
                }
                "errors" => action.errors = count(member, "errors")? as u32,
                "requests" => action.requests = count(member, "requests")? as u32,
                "clicks" => match count(member, "clicks") {
                    Ok(clicks) if clicks >= 1.0 => action.clicks = Some(clicks as u32),
                    _ => decoded.dropped_hints += 1,
                },
                "frustration" => frustration(member, &mut action, decoded),
                _ => decoded.unknown_fields += 1,
            }
        }
        action.name = name.ok_or((DecodeReason::MissingField, "name"))?.to_owned();
        Ok(action)
    }

    fn business_event<'a, V: JsonValue<'a>>(
        &self,
        value: V,
        decoded: &mut DecodedBeacon,
    ) -> Result<proto::BusinessEvent, FieldError> {
        let mut business = proto::BusinessEvent::default();
        let mut name = None;
        for (key, member) in event_fields(value) {
            match key {
                "type" => {}
                "name" => name = Some(event_name(member)?),
                "value" => {
                    business.value = Some(bounded_number(member, MAX_EVENT_VALUE, "value")?);
                }
                _ => decoded.unknown_fields += 1,
            }
        }
        business.name = name.ok_or((DecodeReason::MissingField, "name"))?.to_owned();
        Ok(business)
    }
}

impl BeaconDecoder {
    fn long_frames<'a, V: JsonValue<'a>>(
        &self,
        value: V,
        decoded: &mut DecodedBeacon,
    ) -> Result<proto::LongFrames, FieldError> {
        let mut frames = proto::LongFrames::default();
        let mut count = None;
        for (key, member) in event_fields(value) {
            match key {
                "type" => {}
                "count" => count = Some(whole_number(member, MAX_LONG_FRAMES, "count")? as u32),
                "blocking" => frames.blocking_ms = duration(member, "blocking")?,
                "scripts" => {
                    let origins = member
                        .fields()
                        .ok_or((DecodeReason::InvalidFieldType, "scripts"))?;
                    for (origin, time) in origins {
                        admit_origin(origin, frames.scripts.len(), "scripts")?;
                        frames.scripts.push(proto::ScriptTime {
                            origin: origin.to_owned(),
                            duration_ms: duration(time, "scripts")?,
                        });
                    }
                }
                _ => decoded.unknown_fields += 1,
            }
        }
        let count = count.ok_or((DecodeReason::MissingField, "count"))?;
        if count == 0 {
            return Err((DecodeReason::ValueOutOfRange, "count"));
        }
        frames.count = count;
        Ok(frames)
    }

    fn resources<'a, V: JsonValue<'a>>(
        &self,
        value: V,
        decoded: &mut DecodedBeacon,
    ) -> Result<proto::Resources, FieldError> {
        let mut resources = proto::Resources::default();
        for (key, member) in event_fields(value) {
            match key {
                "type" => {}
                "origins" => {
                    let origins = member
                        .fields()
                        .ok_or((DecodeReason::InvalidFieldType, "origins"))?;
                    for (origin, summary) in origins {
                        admit_origin(origin, resources.origins.len(), "origins")?;
                        resources
                            .origins
                            .push(origin_resources(origin, summary, decoded)?);
                    }
                }
                "types" => {
                    let types = member
                        .fields()
                        .ok_or((DecodeReason::InvalidFieldType, "types"))?;
                    for (name, count) in types {
                        if resources.types.len() == MAX_ORIGINS {
                            return Err((DecodeReason::ValueOutOfRange, "types"));
                        }
                        if name.len() > MAX_INITIATOR_TYPE_BYTES {
                            return Err((DecodeReason::StringTooLong, "types"));
                        }
                        resources.types.push(proto::TypeCount {
                            r#type: name.to_owned(),
                            count: whole_number(count, u32::MAX as f64, "types")? as u32,
                        });
                    }
                }
                _ => decoded.unknown_fields += 1,
            }
        }
        Ok(resources)
    }
}

impl BeaconDecoder {
    fn calls<'a, V: JsonValue<'a>>(
        &self,
        value: V,
        decoded: &mut DecodedBeacon,
    ) -> Result<proto::Calls, FieldError> {
        let mut calls = proto::Calls::default();
        for (key, member) in event_fields(value) {
            match key {
                "type" => {}
                "endpoints" => {
                    let endpoints = member
                        .fields()
                        .ok_or((DecodeReason::InvalidFieldType, "endpoints"))?;
                    for (key, summary) in endpoints {
                        if calls.endpoints.len() == MAX_ENDPOINTS {
                            return Err((DecodeReason::ValueOutOfRange, "endpoints"));
                        }
                        let endpoint = self.endpoint_calls(key, summary, decoded)?;
                        calls.endpoints.push(endpoint);
                    }
                }
                _ => decoded.unknown_fields += 1,
            }
        }
        Ok(calls)
    }

    /// One endpoint of a `calls` event: the key `METHOD url`, the value
    /// `{"durations": [ms, ...], "status": [n, ...], "trace": "<32 hex>", "traced": ms}`.
    fn endpoint_calls<'a, V: JsonValue<'a>>(
        &self,
        key: &str,
        summary: V,
        decoded: &mut DecodedBeacon,
    ) -> Result<proto::EndpointCalls, FieldError> {
        let (method, url) = key
            .split_once(' ')
            .filter(|(method, url)| !method.is_empty() && !url.is_empty())
            .ok_or((DecodeReason::InvalidFieldType, "endpoints"))?;
        if method.len() > MAX_METHOD_BYTES || url.len() > self.limits.max_url_bytes {
            return Err((DecodeReason::StringTooLong, "endpoints"));
        }
        let fields = summary
            .fields()
            .ok_or((DecodeReason::InvalidFieldType, "endpoints"))?;
        let mut calls = proto::EndpointCalls {
            method: method.to_owned(),
            url: url.to_owned(),
            ..proto::EndpointCalls::default()
        };
        let mut trace = None;
        let mut traced = None;
        for (key, member) in fields {
            match key {
                "durations" => {
                    let (len, elements) = bounded_elements(member, "durations")?;
                    calls.durations_ms.reserve(len);
                    for element in elements {
                        calls.durations_ms.push(duration(element, "durations")?);
                    }
                }
                "status" => {
                    let (len, elements) = bounded_elements(member, "status")?;
                    calls.statuses.reserve(len);
                    for element in elements {
                        calls
                            .statuses
                            .push(whole_number(element, MAX_HTTP_STATUS, "status")? as u32);
                    }
                }
                "trace" => trace = Some(member),
                "traced" => traced = Some(member),
                _ => decoded.unknown_fields += 1,
            }
        }
        if calls.durations_ms.is_empty() {
            return Err((DecodeReason::MissingField, "durations"));
        }
        if calls.statuses.len() != calls.durations_ms.len() {
            return Err((DecodeReason::ValueOutOfRange, "status"));
        }
        // The trace is a link, not a measurement: a malformed one (or half of one) is a dropped
        // hint and the calls are kept.
        match (trace, traced) {
            (None, None) => {}
            (Some(trace), Some(traced)) => {
                match (
                    trace.as_str().and_then(trace_id),
                    duration(traced, "traced"),
                ) {
                    (Some(id), Ok(ms)) => {
                        calls.trace_id = id.to_vec();
                        calls.traced_ms = Some(ms);
                    }
                    _ => decoded.dropped_hints += 1,
                }
            }
            _ => decoded.dropped_hints += 1,
        }
        Ok(calls)
    }
}

/// The elements of a `calls` endpoint's array: 1..[`MAX_CALLS_PER_ENDPOINT`] of them.
fn bounded_elements<'a, V: JsonValue<'a>>(
    member: V,
    field: &'static str,
) -> Result<(usize, impl Iterator<Item = V>), FieldError> {
    let (len, elements) = member
        .elements()
        .ok_or((DecodeReason::InvalidFieldType, field))?;
    if len > MAX_CALLS_PER_ENDPOINT {
        return Err((DecodeReason::ValueOutOfRange, field));
    }
    Ok((len, elements))
}

/// A W3C trace id: 32 hex digits, not all zero (the spec's invalid id), as its 16 bytes.
pub fn trace_id(text: &str) -> Option<[u8; 16]> {
    let digits = text.as_bytes();
    if digits.len() != 32 {
        return None;
    }
    let mut id = [0; 16];
    for (byte, pair) in id.iter_mut().zip(digits.chunks_exact(2)) {
        let high = (pair[0] as char).to_digit(16)?;
        let low = (pair[1] as char).to_digit(16)?;
        *byte = (high << 4 | low) as u8;
    }
    id.iter().any(|byte| *byte != 0).then_some(id)
}

/// One more origin key of a `loaf` or `resources` event, `held` already read: at most
/// [`MAX_ORIGINS`] of them, each at most [`MAX_ORIGIN_BYTES`].
fn admit_origin(origin: &str, held: usize, field: &'static str) -> Result<(), FieldError> {
    if held == MAX_ORIGINS {
        return Err((DecodeReason::ValueOutOfRange, field));
    }
    if origin.len() > MAX_ORIGIN_BYTES {
        return Err((DecodeReason::StringTooLong, field));
    }
    Ok(())
}

/// One origin of a `resources` event: `{"bytes": n, "untimed": n, "durations": [ms, ...]}`.
fn origin_resources<'a, V: JsonValue<'a>>(
    origin: &str,
    summary: V,
    decoded: &mut DecodedBeacon,
) -> Result<proto::OriginResources, FieldError> {
    let fields = summary
        .fields()
        .ok_or((DecodeReason::InvalidFieldType, "origins"))?;
    let mut resources = proto::OriginResources {
        origin: origin.to_owned(),
        ..proto::OriginResources::default()
    };
    let mut durations = None;
    for (key, member) in fields {
        match key {
            // A petabyte: past any page, inside f64's exact integers.
            "bytes" => resources.transfer_bytes = whole_number(member, 1e15, "bytes")? as u64,
            "untimed" => {
                resources.untimed = whole_number(member, u32::MAX as f64, "untimed")? as u32
            }
            "durations" => {
                let (len, elements) = member
                    .elements()
                    .ok_or((DecodeReason::InvalidFieldType, "durations"))?;
                if len > MAX_RESOURCES_PER_ORIGIN {
                    return Err((DecodeReason::ValueOutOfRange, "durations"));
                }
                let mut values = Vec::with_capacity(len);
                for element in elements {
                    values.push(duration(element, "durations")?);
                }
                durations = Some(values);
            }
            _ => decoded.unknown_fields += 1,
        }
    }
    resources.durations_ms = durations.ok_or((DecodeReason::MissingField, "durations"))?;
    if resources.durations_ms.is_empty() {
        return Err((DecodeReason::ValueOutOfRange, "durations"));
    }
    if resources.untimed as usize > resources.durations_ms.len() {
        return Err((DecodeReason::ValueOutOfRange, "untimed"));
    }
    Ok(resources)
}

/// An action or business-event name: 1..100 characters.
fn event_name<'a, V: JsonValue<'a>>(value: V) -> Result<&'a str, FieldError> {
    let name = value
        .as_str()
        .ok_or((DecodeReason::InvalidFieldType, "name"))?;
    if name.trim().is_empty() {
        return Err((DecodeReason::MissingField, "name"));
    }
    // Bytes first: a long string is refused without counting its characters.
    if name.len() > MAX_NAME_CHARS * 4 || name.chars().count() > MAX_NAME_CHARS {
        return Err((DecodeReason::StringTooLong, "name"));
    }
    Ok(name)
}

fn action_kind(text: &str) -> Option<proto::ActionKind> {
    Some(match text {
        "click" => proto::ActionKind::Click,
        "tap" => proto::ActionKind::Tap,
        "key" => proto::ActionKind::Key,
        "submit" => proto::ActionKind::Submit,
        _ => return None,
    })
}

/// `frustration`: an array of `rage`, `dead`, `error`. A hint: an unknown entry or a malformed
/// array is dropped and counted, the action kept.
fn frustration<'a, V: JsonValue<'a>>(
    value: V,
    action: &mut proto::Action,
    decoded: &mut DecodedBeacon,
) {
    let Some((_, signals)) = value.elements() else {
        decoded.dropped_hints += 1;
        return;
    };
    for signal in signals {
        match signal.as_str() {
            Some("rage") => action.rage = true,
            Some("dead") => action.dead = true,
            Some("error") => action.error_click = true,
            _ => decoded.dropped_hints += 1,
        }
    }
}

/// The fields of a value already known to be an object (checked in [`BeaconDecoder::event`]).
fn event_fields<'a, V: JsonValue<'a>>(value: V) -> impl Iterator<Item = (&'a str, V)> {
    value.fields().into_iter().flatten()
}

fn device_hints<'a, V: JsonValue<'a>>(value: V, decoded: &mut DecodedBeacon) -> proto::Device {
    let mut device = proto::Device::default();
    let Some(fields) = value.fields() else {
        decoded.dropped_hints += 1;
        return device;
    };
    let small = |member: V, field| whole_number(member, u32::MAX as f64, field).map(|n| n as u32);
    for (key, member) in fields {
        let kept = match key {
            "mem" => non_negative(member, "mem").map(|n| device.memory_gib = Some(n)),
            "cores" => small(member, "cores").map(|n| device.cores = Some(n)),
            "touch" => small(member, "touch").map(|n| device.max_touch_points = Some(n)),
            "vw" => small(member, "vw").map(|n| device.viewport_width = Some(n)),
            "vh" => small(member, "vh").map(|n| device.viewport_height = Some(n)),
            "sw" => small(member, "sw").map(|n| device.screen_width = Some(n)),
            "sh" => small(member, "sh").map(|n| device.screen_height = Some(n)),
            _ => {
                decoded.unknown_fields += 1;
                Ok(())
            }
        };
        if kept.is_err() {
            decoded.dropped_hints += 1;
        }
    }
    device
}

fn required<T>(value: Option<T>, field: &'static str) -> Result<T, BeaconRejection> {
    value.ok_or_else(|| {
        BeaconRejection::new(
            DecodeReason::MissingField,
            format!("field `{field}` is required"),
        )
    })
}

fn type_error(field: &str, expected: &str) -> BeaconRejection {
    BeaconRejection::new(
        DecodeReason::InvalidFieldType,
        format!("field `{field}` must be {expected}"),
    )
}

/// Turns a field check's error into a beacon rejection with a readable detail.
fn field_rejection((reason, field): FieldError, expected: &str) -> BeaconRejection {
    match reason {
        DecodeReason::StringTooLong => {
            BeaconRejection::new(reason, format!("field `{field}` is longer than allowed"))
        }
        DecodeReason::InvalidFieldType => type_error(field, expected),
        _ => BeaconRejection::new(reason, format!("field `{field}` is invalid")),
    }
}

fn bounded_str<'a, V: JsonValue<'a>>(
    value: V,
    max_bytes: usize,
    field: &'static str,
) -> Result<&'a str, FieldError> {
    let text = value
        .as_str()
        .ok_or((DecodeReason::InvalidFieldType, field))?;
    if text.len() > max_bytes {
        return Err((DecodeReason::StringTooLong, field));
    }
    Ok(text)
}

fn finite_number<'a, V: JsonValue<'a>>(value: V, field: &'static str) -> Result<f64, FieldError> {
    let number = value
        .as_f64()
        .ok_or((DecodeReason::InvalidFieldType, field))?;
    if !number.is_finite() {
        return Err((DecodeReason::ValueOutOfRange, field));
    }
    Ok(number)
}

fn bounded_number<'a, V: JsonValue<'a>>(
    value: V,
    maximum: f64,
    field: &'static str,
) -> Result<f64, FieldError> {
    let number = finite_number(value, field)?;
    if !(0.0..=maximum).contains(&number) {
        return Err((DecodeReason::ValueOutOfRange, field));
    }
    Ok(number)
}

fn duration<'a, V: JsonValue<'a>>(value: V, field: &'static str) -> Result<f64, FieldError> {
    bounded_number(value, MAX_DURATION_MS, field)
}

fn non_negative<'a, V: JsonValue<'a>>(value: V, field: &'static str) -> Result<f64, FieldError> {
    bounded_number(value, f64::MAX, field)
}

fn whole_number<'a, V: JsonValue<'a>>(
    value: V,
    maximum: f64,
    field: &'static str,
) -> Result<f64, FieldError> {
    let number = bounded_number(value, maximum, field)?;
    if number.fract() != 0.0 {
        return Err((DecodeReason::ValueOutOfRange, field));
    }
    Ok(number)
}

fn is_id_char(byte: u8) -> bool {
    ID_CHARS[usize::from(byte)] & SESSION_ID != 0
}

/// Which bytes ids may hold, one lookup per byte instead of five comparisons (ids are checked on
/// every beacon: its session, its page view and each metric; callgrind, issue 20).
const SESSION_ID: u8 = 1;
const METRIC_ID: u8 = 2;
static ID_CHARS: [u8; 256] = {
    let mut table = [0u8; 256];
    let mut byte = 0;
    while byte < 256 {
        let b = byte as u8;
        if b.is_ascii_alphanumeric() || b == b'_' || b == b'-' {
            table[byte] = SESSION_ID | METRIC_ID;
        } else if b == b'.' || b == b':' {
            table[byte] = METRIC_ID;
        }
        byte += 1;
    }
    table
};

/// `sid` and `pid`: 1..64 characters of `[A-Za-z0-9_-]`.
fn session_identifier<'a, V: JsonValue<'a>>(
    value: V,
    field: &'static str,
) -> Result<String, BeaconRejection> {
    let text = value
        .as_str()
        .ok_or_else(|| type_error(field, "a string"))?;
    let well_formed =
        (1..=MAX_SESSION_ID_CHARS).contains(&text.len()) && text.bytes().all(is_id_char);
    if !well_formed {
        return Err(BeaconRejection::new(
            DecodeReason::InvalidId,
            format!(
                "field `{field}` must be 1..{MAX_SESSION_ID_CHARS} characters of [A-Za-z0-9_-]"
            ),
        ));
    }
    Ok(text.to_owned())
}

/// Vital ids: 1..128 characters of `[A-Za-z0-9_.:-]` (web-vitals ids contain dots in some versions).
fn metric_identifier<'a, V: JsonValue<'a>>(value: V) -> Result<&'a str, FieldError> {
    let text = value
        .as_str()
        .ok_or((DecodeReason::InvalidFieldType, "id"))?;
    let well_formed = (1..=MAX_METRIC_ID_CHARS).contains(&text.len())
        && text
            .bytes()
            .all(|byte| ID_CHARS[usize::from(byte)] & METRIC_ID != 0);
    if !well_formed {
        return Err((DecodeReason::InvalidId, "id"));
    }
    Ok(text)
}

/// An absolute http(s) URL with a non-empty host and no whitespace or control characters.
fn page_url<'a, V: JsonValue<'a>>(value: V, max_bytes: usize) -> Result<String, BeaconRejection> {
    let text = value
        .as_str()
        .ok_or_else(|| type_error("url", "a string"))?;
    if text.len() > max_bytes {
        return Err(BeaconRejection::new(
            DecodeReason::StringTooLong,
            format!("field `url` is longer than {max_bytes} bytes"),
        ));
    }
    let after_scheme = strip_prefix_ignore_case(text, "https://")
        .or_else(|| strip_prefix_ignore_case(text, "http://"));
    // The authority (up to the first `/`, `?` or `#`) is not empty.
    let host_present = after_scheme.is_some_and(|rest| {
        rest.bytes()
            .next()
            .is_some_and(|first| !matches!(first, b'/' | b'?' | b'#'))
    });
    let clean = !text.bytes().any(|byte| byte <= b' ' || byte == 0x7f);
    if !host_present || !clean {
        return Err(BeaconRejection::new(
            DecodeReason::InvalidUrl,
            "field `url` must be an absolute http(s) URL",
        ));
    }
    Ok(text.to_owned())
}

fn strip_prefix_ignore_case<'t>(text: &'t str, prefix: &str) -> Option<&'t str> {
    let head = text.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &text[prefix.len()..])
}

fn navigation_type<'a, V: JsonValue<'a>>(
    value: V,
) -> Result<proto::NavigationType, BeaconRejection> {
    use proto::NavigationType as Nav;
    let text = value
        .as_str()
        .ok_or_else(|| type_error("nav", "a string"))?;
    Ok(match text {
        "navigate" => Nav::Navigate,
        "reload" => Nav::Reload,
        "back-forward" => Nav::BackForward,
        "back-forward-cache" => Nav::BackForwardCache,
        "prerender" => Nav::Prerender,
        "restore" => Nav::Restore,
        "soft" => Nav::Soft,
        _ => {
            return Err(BeaconRejection::new(
                DecodeReason::InvalidNavigationType,
                "field `nav` must be one of navigate, reload, back-forward, back-forward-cache, \
                 prerender, restore, soft",
            ));
        }
    })
}

fn sent_timestamp<'a, V: JsonValue<'a>>(value: V) -> Result<i64, BeaconRejection> {
    let number = value
        .as_f64()
        .ok_or_else(|| type_error("sent", "a number (ms since the epoch)"))?;
    if !(number.is_finite() && number > 0.0 && number < MAX_EPOCH_MS) {
        return Err(BeaconRejection::new(
            DecodeReason::InvalidTimestamp,
            "field `sent` must be milliseconds since the Unix epoch",
        ));
    }
    Ok(number as i64)
}

fn vital_name(name: &str) -> Option<proto::VitalName> {
    Some(match name {
        "LCP" => proto::VitalName::Lcp,
        "INP" => proto::VitalName::Inp,
        "CLS" => proto::VitalName::Cls,
        "FCP" => proto::VitalName::Fcp,
        "TTFB" => proto::VitalName::Ttfb,
        _ => return None,
    })
}

fn rating(text: &str) -> Option<proto::Rating> {
    Some(match text {
        "good" => proto::Rating::Good,
        "needs-improvement" => proto::Rating::NeedsImprovement,
        "poor" => proto::Rating::Poor,
        _ => return None,
    })
}

/// A release or environment label: 1..64 characters of `[A-Za-z0-9_.+:@/-]` (versions, commit
/// hashes, `production`), so it can be a metric label as it is.
pub fn is_release_label(text: &str) -> bool {
    (1..=64).contains(&text.len())
        && text
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || b"_.+:@/-".contains(&byte))
}

#[cfg(test)]
mod tests;
