//! What stage 1 reads of a `rum.v1.Beacon`: a zero-copy projection decoded by hand, with the same
//! field numbers and only the fields aggregation uses. Every other field (URL, referrer, session
//! id, attribution, error messages and stacks, ...) is stepped over by its wire type, as any
//! protobuf decoder does with unknown fields.
//!
//! Why by hand: prost's generated decoder for the projection (with `Bytes` string fields) was a
//! fifth of stage 1's instructions, mostly its per-field dispatch, reference counts on the shared
//! buffer and the growth of the events vector. This one borrows every string from the payload
//! (`&[u8]`, checked as UTF-8 only where a label needs it, see [`text`]) and allocates one vector
//! per beacon. It follows prost's semantics for what the collector writes: the last value of a
//! scalar wins, a repeated sub-message merges, a oneof takes its last variant; a wrong wire type
//! for a known field, a truncated field or a group is an error.
//!
//! Field numbers must match `proto/rum/v1/beacon.proto`; the tests check the projection against a
//! fully populated beacon and against prost's decoder on random beacons.

use rum_schema::proto::{NavigationType, VitalName};

/// A string field's text; invalid UTF-8 (never written by the collector) reads as empty.
pub fn text(bytes: &[u8]) -> &str {
    std::str::from_utf8(bytes).unwrap_or("")
}

/// Why a payload is not a beacon.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    #[error("truncated field")]
    Truncated,
    #[error("varint longer than 10 bytes")]
    VarintTooLong,
    #[error("field {field} has wire type {wire_type}, not {expected}")]
    WireType {
        field: u32,
        wire_type: u8,
        expected: u8,
    },
    #[error("unsupported wire type {0} (groups are not used by rum.v1)")]
    UnsupportedWireType(u8),
    #[error("field number 0")]
    FieldZero,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct BeaconView<'a> {
    pub site: &'a [u8],
    pub session_id: &'a [u8],
    pub page_view_id: &'a [u8],
    /// The page URL (scrubbed at the edge): error grouping tells in-app stack frames by its host.
    pub url: &'a [u8],
    pub navigation_type: i32,
    pub received_at_ms: i64,
    /// The beacon's place in its page view's send order (`seq`); `None` from older scripts.
    pub sequence: Option<u32>,
    /// `Some(false)`: not a page view of its own (a translated agent metric); absent means it is.
    pub counts_page_view: Option<bool>,
    /// The page's release (`rel`), empty when it did not say.
    pub release: &'a [u8],
    /// The fraction of sessions kept when it was sent; `None`: every session (1).
    pub sample_rate: Option<f64>,
    /// The page load's backend trace id (16 bytes; empty when the page named none).
    pub trace_id: &'a [u8],
    pub connection: Option<ConnectionView<'a>>,
    pub events: Vec<EventView<'a>>,
    pub enrichment: Option<EnrichmentView<'a>>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct ConnectionView<'a> {
    pub effective_type: &'a [u8],
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct EnrichmentView<'a> {
    pub country: &'a [u8],
    pub browser: &'a [u8],
    pub device_class: &'a [u8],
    pub route: &'a [u8],
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct EventView<'a> {
    pub kind: Option<EventKind<'a>>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum EventKind<'a> {
    Vital(VitalView<'a>),
    Navigation(NavigationView),
    Error(ErrorView<'a>),
    Request(RequestView<'a>),
    Custom(CustomView),
    Action(ActionView<'a>),
    BusinessEvent(BusinessEventView<'a>),
    // Boxed: these own vectors, and the common events must not pay for their size and drops.
    LongFrames(Box<LongFramesView<'a>>),
    Resources(Box<ResourcesView<'a>>),
    Calls(Box<CallsView<'a>>),
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct VitalView<'a> {
    pub name: i32,
    pub value: f64,
    pub id: &'a [u8],
}

impl VitalView<'_> {
    /// The vital's name; an unknown number reads as unspecified (as prost's accessor does).
    pub fn name(&self) -> VitalName {
        VitalName::try_from(self.name).unwrap_or_default()
    }
}

/// Navigation timing phases (ms), without the protocol string: each phase's value and whether the
/// beacon carried it, in [`NavigationView::FIELDS`] order. Compact on purpose: as seven
/// `Option<f64>`s it was the largest event, and every event (a vital too) was 120 bytes to move.
#[derive(Clone, Default, PartialEq)]
pub struct NavigationView {
    values: [f64; NAVIGATION_PHASES],
    /// Bit `i` set: phase `i` was carried.
    present: u8,
}

/// Phases a navigation event carries (dns, connect, tls, download, dom interactive, dom complete,
/// load).
pub const NAVIGATION_PHASES: usize = 7;

impl NavigationView {
    /// The field number of each phase in `rum.v1.Navigation` (4 is the protocol, not read).
    pub const FIELDS: [u32; NAVIGATION_PHASES] = [1, 2, 3, 5, 6, 7, 8];

    /// The phases in [`FIELDS`](Self::FIELDS) order, `None` where the beacon did not carry one.
    pub fn from_phases(phases: [Option<f64>; NAVIGATION_PHASES]) -> Self {
        let mut navigation = Self::default();
        for (index, phase) in phases.into_iter().enumerate() {
            if let Some(value) = phase {
                navigation.set(index, value);
            }
        }
        navigation
    }

    /// Each phase (dns, connect, tls, download, dom interactive, dom complete, load), `None`
    /// where the beacon did not carry it.
    pub fn phases(&self) -> [Option<f64>; NAVIGATION_PHASES] {
        std::array::from_fn(|index| {
            (self.present & (1 << index) != 0).then_some(self.values[index])
        })
    }

    fn set(&mut self, index: usize, value: f64) {
        self.values[index] = value;
        self.present |= 1 << index;
    }
}

impl std::fmt::Debug for NavigationView {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_tuple("NavigationView")
            .field(&self.phases())
            .finish()
    }
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct ErrorView<'a> {
    pub kind: &'a [u8],
    pub message: &'a [u8],
    pub stack: &'a [u8],
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct RequestView<'a> {
    pub method: &'a [u8],
    pub status: u32,
    pub duration_ms: f64,
    /// The endpoint template the edge derived (empty from an older collector).
    pub endpoint: &'a [u8],
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct CustomView {}

/// A user action without its kind and counts of caused calls (stage 1 keeps names, loading time and
/// frustration signals).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ActionView<'a> {
    pub name: &'a [u8],
    pub duration_ms: Option<f64>,
    pub rage: bool,
    pub dead: bool,
    pub error_click: bool,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct BusinessEventView<'a> {
    pub name: &'a [u8],
    pub value: Option<f64>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct LongFramesView<'a> {
    pub count: u32,
    pub blocking_ms: f64,
    /// (origin, script time in ms), in the beacon's order.
    pub scripts: Vec<(&'a [u8], f64)>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct ResourcesView<'a> {
    pub origins: Vec<OriginResourcesView<'a>>,
    /// (initiator type, resources), in the beacon's order.
    pub types: Vec<(&'a [u8], u32)>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct OriginResourcesView<'a> {
    pub origin: &'a [u8],
    pub transfer_bytes: u64,
    pub untimed: u32,
    pub durations_ms: Durations<'a>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct CallsView<'a> {
    pub endpoints: Vec<EndpointCallsView<'a>>,
}

/// The calls of one method and URL, without the URL (the edge's endpoint template names them).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EndpointCallsView<'a> {
    pub method: &'a [u8],
    pub endpoint: &'a [u8],
    pub durations_ms: Durations<'a>,
    pub statuses: Statuses<'a>,
    /// The slowest traced call's trace id (16 bytes; empty when none) and duration.
    pub trace_id: &'a [u8],
    pub traced_ms: Option<f64>,
}

/// A repeated double, borrowed where it can be: the first packed run as its bytes (what proto3
/// writers send: one run), anything else (more runs, unpacked elements) copied out.
/// Compared and shown by value, however the values arrived.
#[derive(Clone, Default)]
pub struct Durations<'a> {
    packed: &'a [u8],
    more: Vec<f64>,
}

impl PartialEq for Durations<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.iter().eq(other.iter())
    }
}

impl std::fmt::Debug for Durations<'_> {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.debug_list().entries(self.iter()).finish()
    }
}

impl Durations<'_> {
    pub fn len(&self) -> usize {
        self.packed.len() / 8 + self.more.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The values in wire order.
    pub fn iter(&self) -> impl Iterator<Item = f64> + '_ {
        self.packed
            .chunks_exact(8)
            .map(|bytes| f64::from_le_bytes(bytes.try_into().expect("chunks of 8 bytes")))
            .chain(self.more.iter().copied())
    }
}

/// A repeated uint32, borrowed like [`Durations`]: the first packed run as its bytes, anything else
/// copied out. A malformed varint in the packed run was refused when it was read.
#[derive(Clone, Default)]
pub struct Statuses<'a> {
    packed: &'a [u8],
    more: Vec<u32>,
}

impl PartialEq for Statuses<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.iter().eq(other.iter())
    }
}

impl std::fmt::Debug for Statuses<'_> {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.debug_list().entries(self.iter()).finish()
    }
}

impl Statuses<'_> {
    /// The values in wire order (truncated to 32 bits, as prost reads a `uint32`).
    pub fn iter(&self) -> impl Iterator<Item = u32> + '_ {
        let mut packed = Reader::new(self.packed);
        std::iter::from_fn(move || {
            if packed.rest.is_empty() {
                return None;
            }
            packed.varint().ok().map(|value| value as u32)
        })
        .chain(self.more.iter().copied())
    }
}

/// Events a beacon usually carries (five vitals, navigation, an error or two); more grow the vector.
const EVENTS_CAPACITY: usize = 8;

const VARINT: u8 = 0;
const FIXED64: u8 = 1;
const LENGTH_DELIMITED: u8 = 2;
const FIXED32: u8 = 5;

/// A cursor over one message's bytes. Every method the hot loops call is inlined and the others
/// take the bytes, not the cursor, so a message's cursor stays in registers: with `&mut self`
/// reaching an out-of-line call it lived on the stack, stored and reloaded at every field.
struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        Self { rest: bytes }
    }

    /// Keys and most lengths are one byte: that case stays inline at every call site.
    #[inline(always)]
    fn varint(&mut self) -> Result<u64, WireError> {
        if let Some((&byte, rest)) = self.rest.split_first()
            && byte < 0x80
        {
            self.rest = rest;
            return Ok(u64::from(byte));
        }
        let (value, length) = long_varint(self.rest)?;
        self.rest = &self.rest[length..];
        Ok(value)
    }

    /// The next field's number and wire type; `None` at the end of the message.
    #[inline(always)]
    fn key(&mut self) -> Result<Option<(u32, u8)>, WireError> {
        if self.rest.is_empty() {
            return Ok(None);
        }
        let key = self.varint()?;
        let field = (key >> 3) as u32;
        if field == 0 {
            return Err(WireError::FieldZero);
        }
        Ok(Some((field, (key & 7) as u8)))
    }

    #[inline(always)]
    fn take(&mut self, length: usize) -> Result<&'a [u8], WireError> {
        if self.rest.len() < length {
            return Err(WireError::Truncated);
        }
        let (taken, rest) = self.rest.split_at(length);
        self.rest = rest;
        Ok(taken)
    }

    #[inline(always)]
    fn bytes(&mut self) -> Result<&'a [u8], WireError> {
        let length = self.varint()?;
        let length = usize::try_from(length).map_err(|_| WireError::Truncated)?;
        self.take(length)
    }

    #[inline(always)]
    fn double(&mut self) -> Result<f64, WireError> {
        let bytes: [u8; 8] = self.take(8)?.try_into().expect("took 8 bytes");
        Ok(f64::from_le_bytes(bytes))
    }

    #[inline(always)]
    fn skip(&mut self, wire_type: u8) -> Result<(), WireError> {
        let length = skipped_length(self.rest, wire_type)?;
        self.rest = &self.rest[length..];
        Ok(())
    }
}

/// A varint of more than one byte (or none): its value and length.
fn long_varint(bytes: &[u8]) -> Result<(u64, usize), WireError> {
    let mut value = 0u64;
    for (position, byte) in bytes.iter().copied().enumerate().take(10) {
        value |= u64::from(byte & 0x7f) << (7 * position);
        if byte < 0x80 {
            return Ok((value, position + 1));
        }
    }
    if bytes.len() >= 10 {
        Err(WireError::VarintTooLong)
    } else {
        Err(WireError::Truncated)
    }
}

/// How many bytes a field of `wire_type` takes at the start of `bytes` (after its key).
fn skipped_length(bytes: &[u8], wire_type: u8) -> Result<usize, WireError> {
    let mut reader = Reader::new(bytes);
    match wire_type {
        VARINT => reader.varint().map(drop),
        FIXED64 => reader.take(8).map(drop),
        LENGTH_DELIMITED => reader.bytes().map(drop),
        FIXED32 => reader.take(4).map(drop),
        other => Err(WireError::UnsupportedWireType(other)),
    }?;
    Ok(bytes.len() - reader.rest.len())
}

#[inline(always)]
fn expect(field: u32, wire_type: u8, expected: u8) -> Result<(), WireError> {
    if wire_type == expected {
        Ok(())
    } else {
        Err(WireError::WireType {
            field,
            wire_type,
            expected,
        })
    }
}

/// Reads each field of one message: `read` handles the fields it knows and returns `false` for
/// the others, which are skipped.
#[inline(always)]
fn for_each_field<'a>(
    bytes: &'a [u8],
    mut read: impl FnMut(&mut Reader<'a>, u32, u8) -> Result<bool, WireError>,
) -> Result<(), WireError> {
    let mut reader = Reader::new(bytes);
    while let Some((field, wire_type)) = reader.key()? {
        if !read(&mut reader, field, wire_type)? {
            reader.skip(wire_type)?;
        }
    }
    Ok(())
}

/// A string (or bytes) field.
#[inline(always)]
fn read_bytes<'a>(
    reader: &mut Reader<'a>,
    field: u32,
    wire_type: u8,
) -> Result<&'a [u8], WireError> {
    expect(field, wire_type, LENGTH_DELIMITED)?;
    reader.bytes()
}

#[inline(always)]
fn read_double(reader: &mut Reader<'_>, field: u32, wire_type: u8) -> Result<f64, WireError> {
    expect(field, wire_type, FIXED64)?;
    reader.double()
}

#[inline(always)]
fn read_varint(reader: &mut Reader<'_>, field: u32, wire_type: u8) -> Result<u64, WireError> {
    expect(field, wire_type, VARINT)?;
    reader.varint()
}

/// A key as `field << 3 | wire type`, the field number cut to 32 bits as [`Reader::key`] cuts it,
/// so a hot loop can match a known field and its wire type in one comparison.
#[inline(always)]
fn normalized_key(key: u64) -> u64 {
    key & ((u64::from(u32::MAX) << 3) | 7)
}

/// What a field a hot loop did not match is: field 0 is an error, a field `known` names (with
/// the wire type it must have) came with another wire type (an error), anything else is skipped.
#[inline(never)]
fn other_field(reader: &mut Reader<'_>, key: u64, known: &[(u32, u8)]) -> Result<(), WireError> {
    let field = (key >> 3) as u32;
    let wire_type = (key & 7) as u8;
    if field == 0 {
        return Err(WireError::FieldZero);
    }
    if let Some((_, expected)) = known.iter().find(|(number, _)| *number == field) {
        expect(field, wire_type, *expected)?;
    }
    reader.skip(wire_type)
}

const fn key_of(field: u32, wire_type: u8) -> u64 {
    ((field as u64) << 3) | wire_type as u64
}

/// `rum.v1.Beacon`'s fields the projection reads, with their wire types.
const BEACON_FIELDS: [(u32, u8); 14] = [
    (2, LENGTH_DELIMITED),
    (3, LENGTH_DELIMITED),
    (4, LENGTH_DELIMITED),
    (5, LENGTH_DELIMITED),
    (7, VARINT),
    (9, VARINT),
    (10, LENGTH_DELIMITED),
    (12, LENGTH_DELIMITED),
    (13, LENGTH_DELIMITED),
    (14, VARINT),
    (16, VARINT),
    (17, LENGTH_DELIMITED),
    (19, FIXED64),
    (20, LENGTH_DELIMITED),
];
const ENRICHMENT_FIELDS: [(u32, u8); 4] = [
    (1, LENGTH_DELIMITED),
    (5, LENGTH_DELIMITED),
    (9, LENGTH_DELIMITED),
    (11, LENGTH_DELIMITED),
];
const VITAL_FIELDS: [(u32, u8); 3] = [(1, VARINT), (2, FIXED64), (3, LENGTH_DELIMITED)];

impl<'a> BeaconView<'a> {
    /// Decodes the projection from a `rum.v1.Beacon` payload, borrowing its strings.
    ///
    /// The hot messages (the beacon, its enrichment, events and vitals) match each field by its
    /// whole key, one comparison for a known field of the right wire type; everything else goes
    /// through [`other_field`], which errs or skips as a field-by-field decoder does.
    pub fn decode(payload: &'a [u8]) -> Result<BeaconView<'a>, WireError> {
        let mut beacon = BeaconView {
            events: Vec::with_capacity(EVENTS_CAPACITY),
            ..BeaconView::default()
        };
        let mut reader = Reader::new(payload);
        while !reader.rest.is_empty() {
            let key = normalized_key(reader.varint()?);
            const SITE: u64 = key_of(2, LENGTH_DELIMITED);
            const SESSION_ID: u64 = key_of(3, LENGTH_DELIMITED);
            const PAGE_VIEW_ID: u64 = key_of(4, LENGTH_DELIMITED);
            const URL: u64 = key_of(5, LENGTH_DELIMITED);
            const NAVIGATION_TYPE: u64 = key_of(7, VARINT);
            const RECEIVED_AT_MS: u64 = key_of(9, VARINT);
            const CONNECTION: u64 = key_of(10, LENGTH_DELIMITED);
            const EVENTS: u64 = key_of(12, LENGTH_DELIMITED);
            const ENRICHMENT: u64 = key_of(13, LENGTH_DELIMITED);
            const SEQUENCE: u64 = key_of(14, VARINT);
            const COUNTS_PAGE_VIEW: u64 = key_of(16, VARINT);
            const RELEASE: u64 = key_of(17, LENGTH_DELIMITED);
            const SAMPLE_RATE: u64 = key_of(19, FIXED64);
            const TRACE_ID: u64 = key_of(20, LENGTH_DELIMITED);
            match key {
                EVENTS => {
                    let message = reader.bytes()?;
                    beacon.events.push(decode_event(message)?);
                }
                SITE => beacon.site = reader.bytes()?,
                SESSION_ID => beacon.session_id = reader.bytes()?,
                PAGE_VIEW_ID => beacon.page_view_id = reader.bytes()?,
                URL => beacon.url = reader.bytes()?,
                NAVIGATION_TYPE => beacon.navigation_type = reader.varint()? as i32,
                RECEIVED_AT_MS => beacon.received_at_ms = reader.varint()? as i64,
                SEQUENCE => beacon.sequence = Some(reader.varint()? as u32),
                COUNTS_PAGE_VIEW => beacon.counts_page_view = Some(reader.varint()? != 0),
                RELEASE => beacon.release = reader.bytes()?,
                SAMPLE_RATE => beacon.sample_rate = Some(reader.double()?),
                TRACE_ID => beacon.trace_id = reader.bytes()?,
                CONNECTION => {
                    let message = reader.bytes()?;
                    let connection = beacon.connection.get_or_insert_with(Default::default);
                    connection.effective_type =
                        merge_first_field(message, connection.effective_type)?;
                }
                ENRICHMENT => {
                    let message = reader.bytes()?;
                    let enrichment = beacon.enrichment.get_or_insert_with(Default::default);
                    decode_enrichment(message, enrichment)?;
                }
                _ => other_field(&mut reader, key, &BEACON_FIELDS)?,
            }
        }
        Ok(beacon)
    }

    /// Runs `read` on the projection of a full beacon (tests, benches, and callers holding a
    /// decoded beacon): encodes it, as the sink would, and decodes the view from that.
    pub fn of<T>(beacon: &rum_schema::proto::Beacon, read: impl FnOnce(&BeaconView<'_>) -> T) -> T {
        use prost::Message;
        let payload = beacon.encode_to_vec();
        read(&BeaconView::decode(&payload).expect("a beacon's own encoding decodes"))
    }

    /// The navigation type; an unknown number reads as unspecified (as prost's accessor does).
    pub fn navigation_type(&self) -> NavigationType {
        NavigationType::try_from(self.navigation_type).unwrap_or_default()
    }
}

fn decode_enrichment<'a>(
    message: &'a [u8],
    enrichment: &mut EnrichmentView<'a>,
) -> Result<(), WireError> {
    let mut reader = Reader::new(message);
    while !reader.rest.is_empty() {
        let key = normalized_key(reader.varint()?);
        const COUNTRY: u64 = key_of(1, LENGTH_DELIMITED);
        const BROWSER: u64 = key_of(5, LENGTH_DELIMITED);
        const DEVICE_CLASS: u64 = key_of(9, LENGTH_DELIMITED);
        const ROUTE: u64 = key_of(11, LENGTH_DELIMITED);
        match key {
            COUNTRY => enrichment.country = reader.bytes()?,
            BROWSER => enrichment.browser = reader.bytes()?,
            DEVICE_CLASS => enrichment.device_class = reader.bytes()?,
            ROUTE => enrichment.route = reader.bytes()?,
            _ => other_field(&mut reader, key, &ENRICHMENT_FIELDS)?,
        }
    }
    Ok(())
}

/// One event: its oneof member (in practice one field spanning the message; a repeated member
/// merges into the same variant and replaces a different one, as prost does).
#[inline(always)]
fn decode_event(message: &[u8]) -> Result<EventView<'_>, WireError> {
    // The common case, a vital alone: key 0x0a, a one-byte length, the whole message.
    if let [0x0a, length, body @ ..] = message
        && *length < 0x80
        && usize::from(*length) == body.len()
    {
        let mut vital = VitalView::default();
        decode_vital(body, &mut vital)?;
        return Ok(EventView {
            kind: Some(EventKind::Vital(vital)),
        });
    }
    decode_event_fields(message)
}

#[inline(never)]
fn decode_event_fields(message: &[u8]) -> Result<EventView<'_>, WireError> {
    let mut event = EventView::default();
    for_each_field(message, |reader, field, wire_type| {
        if !(1..=10).contains(&field) {
            return Ok(false);
        }
        let body = read_bytes(reader, field, wire_type)?;
        // A oneof member merges into the same variant and replaces a different one.
        event.kind = Some(match (field, event.kind.take()) {
            (1, Some(EventKind::Vital(mut vital))) => {
                decode_vital(body, &mut vital)?;
                EventKind::Vital(vital)
            }
            (1, _) => {
                let mut vital = VitalView::default();
                decode_vital(body, &mut vital)?;
                EventKind::Vital(vital)
            }
            (2, Some(EventKind::Navigation(navigation))) => {
                EventKind::Navigation(decode_navigation(body, navigation)?)
            }
            (2, _) => EventKind::Navigation(decode_navigation(body, NavigationView::default())?),
            (3, Some(EventKind::Error(error))) => EventKind::Error(decode_error(body, error)?),
            (3, _) => EventKind::Error(decode_error(body, ErrorView::default())?),
            (4, Some(EventKind::Request(request))) => {
                EventKind::Request(decode_request(body, request)?)
            }
            (4, _) => EventKind::Request(decode_request(body, RequestView::default())?),
            (6, Some(EventKind::Action(action))) => EventKind::Action(decode_action(body, action)?),
            (6, _) => EventKind::Action(decode_action(body, ActionView::default())?),
            (7, Some(EventKind::BusinessEvent(business))) => {
                EventKind::BusinessEvent(decode_business_event(body, business)?)
            }
            (7, _) => {
                EventKind::BusinessEvent(decode_business_event(body, BusinessEventView::default())?)
            }
            (8, Some(EventKind::LongFrames(frames))) => {
                EventKind::LongFrames(Box::new(decode_long_frames(body, *frames)?))
            }
            (8, _) => EventKind::LongFrames(Box::new(decode_long_frames(
                body,
                LongFramesView::default(),
            )?)),
            (9, Some(EventKind::Resources(resources))) => {
                EventKind::Resources(Box::new(decode_resources(body, *resources)?))
            }
            (9, _) => {
                EventKind::Resources(Box::new(decode_resources(body, ResourcesView::default())?))
            }
            (10, Some(EventKind::Calls(calls))) => {
                EventKind::Calls(Box::new(decode_calls(body, *calls)?))
            }
            (10, _) => EventKind::Calls(Box::new(decode_calls(body, CallsView::default())?)),
            _ => {
                // Custom: nothing of it is read, but it must still be well formed.
                for_each_field(body, |_, _, _| Ok(false))?;
                EventKind::Custom(CustomView {})
            }
        });
        Ok(true)
    })?;
    Ok(event)
}

#[inline(always)]
fn decode_vital<'a>(body: &'a [u8], vital: &mut VitalView<'a>) -> Result<(), WireError> {
    let mut reader = Reader::new(body);
    while !reader.rest.is_empty() {
        let key = normalized_key(reader.varint()?);
        const NAME: u64 = key_of(1, VARINT);
        const VALUE: u64 = key_of(2, FIXED64);
        const ID: u64 = key_of(3, LENGTH_DELIMITED);
        match key {
            NAME => vital.name = reader.varint()? as i32,
            VALUE => vital.value = reader.double()?,
            ID => vital.id = reader.bytes()?,
            _ => other_field(&mut reader, key, &VITAL_FIELDS)?,
        }
    }
    Ok(())
}

fn decode_navigation(
    body: &[u8],
    mut navigation: NavigationView,
) -> Result<NavigationView, WireError> {
    for_each_field(body, |reader, field, wire_type| {
        let Some(index) = NavigationView::FIELDS
            .iter()
            .position(|number| *number == field)
        else {
            return Ok(false);
        };
        navigation.set(index, read_double(reader, field, wire_type)?);
        Ok(true)
    })?;
    Ok(navigation)
}

fn decode_error<'a>(body: &'a [u8], mut error: ErrorView<'a>) -> Result<ErrorView<'a>, WireError> {
    for_each_field(body, |reader, field, wire_type| {
        let slot = match field {
            1 => &mut error.kind,
            2 => &mut error.message,
            6 => &mut error.stack,
            _ => return Ok(false),
        };
        *slot = read_bytes(reader, field, wire_type)?;
        Ok(true)
    })?;
    Ok(error)
}

/// Field 1 (a string) of a message whose other fields the projection skips: its last occurrence,
/// or `current` when the message does not carry it (a merge, as prost does).
fn merge_first_field<'a>(message: &'a [u8], current: &'a [u8]) -> Result<&'a [u8], WireError> {
    let mut value = current;
    for_each_field(message, |reader, field, wire_type| {
        if field != 1 {
            return Ok(false);
        }
        value = read_bytes(reader, field, wire_type)?;
        Ok(true)
    })?;
    Ok(value)
}

fn decode_action<'a>(
    body: &'a [u8],
    mut action: ActionView<'a>,
) -> Result<ActionView<'a>, WireError> {
    for_each_field(body, |reader, field, wire_type| {
        match field {
            1 => action.name = read_bytes(reader, field, wire_type)?,
            3 => action.duration_ms = Some(read_double(reader, field, wire_type)?),
            7 => action.rage = read_varint(reader, field, wire_type)? != 0,
            8 => action.dead = read_varint(reader, field, wire_type)? != 0,
            9 => action.error_click = read_varint(reader, field, wire_type)? != 0,
            _ => return Ok(false),
        }
        Ok(true)
    })?;
    Ok(action)
}

fn decode_business_event<'a>(
    body: &'a [u8],
    mut business: BusinessEventView<'a>,
) -> Result<BusinessEventView<'a>, WireError> {
    for_each_field(body, |reader, field, wire_type| {
        match field {
            1 => business.name = read_bytes(reader, field, wire_type)?,
            2 => business.value = Some(read_double(reader, field, wire_type)?),
            _ => return Ok(false),
        }
        Ok(true)
    })?;
    Ok(business)
}

fn decode_long_frames<'a>(
    body: &'a [u8],
    mut frames: LongFramesView<'a>,
) -> Result<LongFramesView<'a>, WireError> {
    for_each_field(body, |reader, field, wire_type| {
        match field {
            1 => frames.count = read_varint(reader, field, wire_type)? as u32,
            2 => frames.blocking_ms = read_double(reader, field, wire_type)?,
            3 => {
                let script = read_bytes(reader, field, wire_type)?;
                let mut origin: &[u8] = &[];
                let mut duration_ms = 0.0;
                for_each_field(script, |reader, field, wire_type| {
                    match field {
                        1 => origin = read_bytes(reader, field, wire_type)?,
                        2 => duration_ms = read_double(reader, field, wire_type)?,
                        _ => return Ok(false),
                    }
                    Ok(true)
                })?;
                if frames.scripts.is_empty() {
                    frames.scripts.reserve(4);
                }
                frames.scripts.push((origin, duration_ms));
            }
            _ => return Ok(false),
        }
        Ok(true)
    })?;
    Ok(frames)
}

fn decode_resources<'a>(
    body: &'a [u8],
    mut resources: ResourcesView<'a>,
) -> Result<ResourcesView<'a>, WireError> {
    for_each_field(body, |reader, field, wire_type| {
        match field {
            1 => {
                let message = read_bytes(reader, field, wire_type)?;
                if resources.origins.is_empty() {
                    // One allocation for a page's usual handful of origins.
                    resources.origins.reserve(8);
                }
                resources.origins.push(decode_origin_resources(message)?);
            }
            2 => {
                let message = read_bytes(reader, field, wire_type)?;
                let mut name: &[u8] = &[];
                let mut count = 0;
                for_each_field(message, |reader, field, wire_type| {
                    match field {
                        1 => name = read_bytes(reader, field, wire_type)?,
                        2 => count = read_varint(reader, field, wire_type)? as u32,
                        _ => return Ok(false),
                    }
                    Ok(true)
                })?;
                if resources.types.is_empty() {
                    resources.types.reserve(8);
                }
                resources.types.push((name, count));
            }
            _ => return Ok(false),
        }
        Ok(true)
    })?;
    Ok(resources)
}

fn decode_origin_resources(message: &[u8]) -> Result<OriginResourcesView<'_>, WireError> {
    let mut origin = OriginResourcesView::default();
    for_each_field(message, |reader, field, wire_type| {
        match field {
            1 => origin.origin = read_bytes(reader, field, wire_type)?,
            2 => origin.transfer_bytes = read_varint(reader, field, wire_type)?,
            3 => origin.untimed = read_varint(reader, field, wire_type)? as u32,
            4 => read_durations(reader, field, wire_type, &mut origin.durations_ms)?,
            _ => return Ok(false),
        }
        Ok(true)
    })?;
    Ok(origin)
}

/// One occurrence of a repeated double: packed (how proto3 writers send it) or a single element
/// (which a parser must accept as well).
fn read_durations<'a>(
    reader: &mut Reader<'a>,
    field: u32,
    wire_type: u8,
    durations: &mut Durations<'a>,
) -> Result<(), WireError> {
    if wire_type != LENGTH_DELIMITED {
        durations.more.push(read_double(reader, field, wire_type)?);
        return Ok(());
    }
    let packed = reader.bytes()?;
    if packed.len() % 8 != 0 {
        return Err(WireError::Truncated);
    }
    if durations.packed.is_empty() && durations.more.is_empty() {
        durations.packed = packed;
    } else {
        durations.more.extend(
            packed
                .chunks_exact(8)
                .map(|bytes| f64::from_le_bytes(bytes.try_into().expect("chunks of 8 bytes"))),
        );
    }
    Ok(())
}

fn decode_calls<'a>(body: &'a [u8], mut calls: CallsView<'a>) -> Result<CallsView<'a>, WireError> {
    for_each_field(body, |reader, field, wire_type| {
        if field != 1 {
            return Ok(false);
        }
        let message = read_bytes(reader, field, wire_type)?;
        if calls.endpoints.is_empty() {
            calls.endpoints.reserve(4);
        }
        calls.endpoints.push(decode_endpoint_calls(message)?);
        Ok(true)
    })?;
    Ok(calls)
}

fn decode_endpoint_calls(message: &[u8]) -> Result<EndpointCallsView<'_>, WireError> {
    let mut calls = EndpointCallsView::default();
    for_each_field(message, |reader, field, wire_type| {
        match field {
            1 => calls.method = read_bytes(reader, field, wire_type)?,
            3 => calls.endpoint = read_bytes(reader, field, wire_type)?,
            4 => read_durations(reader, field, wire_type, &mut calls.durations_ms)?,
            5 if wire_type == LENGTH_DELIMITED => {
                let packed = reader.bytes()?;
                // Checked here, so iterating never meets a malformed varint.
                let mut check = Reader::new(packed);
                while !check.rest.is_empty() {
                    check.varint()?;
                }
                let statuses = &mut calls.statuses;
                if statuses.packed.is_empty() && statuses.more.is_empty() {
                    statuses.packed = packed;
                } else {
                    statuses.more.extend(
                        Statuses {
                            packed,
                            more: Vec::new(),
                        }
                        .iter(),
                    );
                }
            }
            5 => calls
                .statuses
                .more
                .push(read_varint(reader, field, wire_type)? as u32),
            6 => calls.trace_id = read_bytes(reader, field, wire_type)?,
            7 => calls.traced_ms = Some(read_double(reader, field, wire_type)?),
            _ => return Ok(false),
        }
        Ok(true)
    })?;
    Ok(calls)
}

fn decode_request<'a>(
    body: &'a [u8],
    mut request: RequestView<'a>,
) -> Result<RequestView<'a>, WireError> {
    for_each_field(body, |reader, field, wire_type| {
        match field {
            2 => request.method = read_bytes(reader, field, wire_type)?,
            5 => request.endpoint = read_bytes(reader, field, wire_type)?,
            3 => request.status = read_varint(reader, field, wire_type)? as u32,
            4 => request.duration_ms = read_double(reader, field, wire_type)?,
            _ => return Ok(false),
        }
        Ok(true)
    })?;
    Ok(request)
}

#[cfg(test)]
mod reference;

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use prost::Message;
    use rum_schema::proto::{
        Action, Attribution, Beacon, BusinessEvent, Calls, Connection, Custom, Device,
        EndpointCalls, Enrichment, Error, Event, Navigation, Request, Vital, event,
    };

    #[test]
    fn the_projection_reads_what_the_full_message_holds() {
        let beacon = Beacon {
            version: 1,
            site: "shop".into(),
            session_id: "s".repeat(40),
            page_view_id: "pv-1".into(),
            url: "https://shop.example.com/products/42".into(),
            referrer: "https://www.google.com".into(),
            navigation_type: NavigationType::BackForwardCache as i32,
            sent_at_ms: 1,
            received_at_ms: 1_763_760_000_123,
            sequence: Some(3),
            counts_page_view: Some(false),
            agent: rum_schema::proto::Agent::WebVitals as i32,
            release: "2026.12.1+abc123".into(),
            environment: "production".into(),
            sample_rate: Some(0.1),
            trace_id: vec![0xab; 16],
            connection: Some(Connection {
                effective_type: "4g".into(),
                rtt_ms: Some(50.0),
                ..Connection::default()
            }),
            device: Some(Device {
                cores: Some(8),
                ..Device::default()
            }),
            events: vec![
                Event {
                    kind: Some(event::Kind::Vital(Vital {
                        name: VitalName::Inp as i32,
                        value: 168.0,
                        id: "v5-1".into(),
                        attribution: Some(Attribution {
                            target: "button#buy".into(),
                            ..Attribution::default()
                        }),
                        ..Vital::default()
                    })),
                },
                Event {
                    kind: Some(event::Kind::Navigation(Navigation {
                        dns_ms: Some(12.0),
                        load_ms: Some(1200.0),
                        protocol: "h2".into(),
                        ..Navigation::default()
                    })),
                },
                Event {
                    kind: Some(event::Kind::Error(Error {
                        kind: "unhandledrejection".into(),
                        message: "boom".into(),
                        stack: "at f".into(),
                        ..Error::default()
                    })),
                },
                Event {
                    kind: Some(event::Kind::Request(Request {
                        url: "https://api.example.com/cart".into(),
                        method: "POST".into(),
                        status: 503,
                        duration_ms: 812.0,
                        endpoint: "api.example.com/cart".into(),
                    })),
                },
                Event {
                    kind: Some(event::Kind::Custom(Custom {
                        name: "render".into(),
                        value: 3.0,
                    })),
                },
                Event {
                    kind: Some(event::Kind::Action(Action {
                        name: "Add to cart".into(),
                        duration_ms: Some(412.5),
                        requests: 1,
                        clicks: Some(4),
                        rage: true,
                        error_click: true,
                        ..Action::default()
                    })),
                },
                Event {
                    kind: Some(event::Kind::BusinessEvent(BusinessEvent {
                        name: "purchase".into(),
                        value: Some(59.9),
                    })),
                },
                Event {
                    kind: Some(event::Kind::Calls(Calls {
                        endpoints: vec![EndpointCalls {
                            method: "GET".into(),
                            url: "https://api.example.com/items/42".into(),
                            endpoint: "api.example.com/items/:id".into(),
                            durations_ms: vec![12.5, 300.0],
                            // 300 needs two varint bytes: the packed run is read varint by varint.
                            statuses: vec![200, 300],
                            trace_id: vec![0xcd; 16],
                            traced_ms: Some(300.0),
                        }],
                    })),
                },
            ],
            enrichment: Some(Enrichment {
                country: "DE".into(),
                city: "Berlin".into(),
                browser: "Chrome".into(),
                device_class: "mobile".into(),
                route: "/products/:id".into(),
                ..Enrichment::default()
            }),
        };
        let payload = beacon.encode_to_vec();
        let view = BeaconView::decode(&payload).expect("decodes");
        assert_eq!(text(view.site), "shop");
        assert_eq!(text(view.page_view_id), "pv-1");
        assert_eq!(view.navigation_type(), NavigationType::BackForwardCache);
        assert_eq!(view.received_at_ms, 1_763_760_000_123);
        assert_eq!(view.sequence, Some(3));
        assert_eq!(view.counts_page_view, Some(false));
        assert_eq!(view.trace_id, [0xab; 16]);
        assert_eq!(
            view.connection.as_ref().map(|c| text(c.effective_type)),
            Some("4g")
        );
        let enrichment = view.enrichment.as_ref().expect("enrichment");
        assert_eq!(
            (
                text(enrichment.country),
                text(enrichment.browser),
                text(enrichment.device_class),
                text(enrichment.route)
            ),
            ("DE", "Chrome", "mobile", "/products/:id")
        );
        let kinds: Vec<&EventKind> = view.events.iter().filter_map(|e| e.kind.as_ref()).collect();
        assert!(
            matches!(kinds[0], EventKind::Vital(v) if v.name() == VitalName::Inp && v.value == 168.0 && text(v.id) == "v5-1")
        );
        assert!(
            matches!(kinds[1], EventKind::Navigation(n) if n.phases() == [Some(12.0), None, None, None, None, None, Some(1200.0)])
        );
        assert!(matches!(kinds[2], EventKind::Error(e) if text(e.kind) == "unhandledrejection"));
        assert!(
            matches!(kinds[3], EventKind::Request(r) if r.status == 503 && r.duration_ms == 812.0)
        );
        assert!(matches!(kinds[4], EventKind::Custom(_)));
        assert!(
            matches!(kinds[5], EventKind::Action(a) if text(a.name) == "Add to cart" && a.duration_ms == Some(412.5) && a.rage && !a.dead && a.error_click)
        );
        assert!(
            matches!(kinds[6], EventKind::BusinessEvent(b) if text(b.name) == "purchase" && b.value == Some(59.9))
        );
        let EventKind::Calls(calls) = kinds[7] else {
            panic!("calls eighth");
        };
        let endpoint = &calls.endpoints[0];
        assert_eq!(text(endpoint.method), "GET");
        assert_eq!(text(endpoint.endpoint), "api.example.com/items/:id");
        assert_eq!(
            endpoint.durations_ms.iter().collect::<Vec<_>>(),
            [12.5, 300.0]
        );
        assert_eq!(endpoint.statuses.iter().collect::<Vec<_>>(), [200, 300]);
        assert_eq!(
            (endpoint.trace_id, endpoint.traced_ms),
            (&[0xcd; 16][..], Some(300.0))
        );
    }

    /// The fields of prost's full decode that the projection keeps, in the projection's shape.
    fn projected(beacon: &Beacon) -> BeaconView<'_> {
        BeaconView {
            site: beacon.site.as_bytes(),
            session_id: beacon.session_id.as_bytes(),
            page_view_id: beacon.page_view_id.as_bytes(),
            url: beacon.url.as_bytes(),
            navigation_type: beacon.navigation_type,
            received_at_ms: beacon.received_at_ms,
            sequence: beacon.sequence,
            counts_page_view: beacon.counts_page_view,
            release: beacon.release.as_bytes(),
            sample_rate: beacon.sample_rate,
            trace_id: &beacon.trace_id,
            connection: beacon.connection.as_ref().map(|connection| ConnectionView {
                effective_type: connection.effective_type.as_bytes(),
            }),
            events: beacon
                .events
                .iter()
                .map(|event| EventView {
                    kind: event.kind.as_ref().map(|kind| match kind {
                        event::Kind::Vital(vital) => EventKind::Vital(VitalView {
                            name: vital.name,
                            value: vital.value,
                            id: vital.id.as_bytes(),
                        }),
                        event::Kind::Navigation(navigation) => {
                            EventKind::Navigation(NavigationView::from_phases([
                                navigation.dns_ms,
                                navigation.connect_ms,
                                navigation.tls_ms,
                                navigation.download_ms,
                                navigation.dom_interactive_ms,
                                navigation.dom_complete_ms,
                                navigation.load_ms,
                            ]))
                        }
                        event::Kind::Error(error) => EventKind::Error(ErrorView {
                            kind: error.kind.as_bytes(),
                            message: error.message.as_bytes(),
                            stack: error.stack.as_bytes(),
                        }),
                        event::Kind::Request(request) => EventKind::Request(RequestView {
                            method: request.method.as_bytes(),
                            status: request.status,
                            duration_ms: request.duration_ms,
                            endpoint: request.endpoint.as_bytes(),
                        }),
                        event::Kind::Custom(_) => EventKind::Custom(CustomView {}),
                        event::Kind::Action(action) => EventKind::Action(ActionView {
                            name: action.name.as_bytes(),
                            duration_ms: action.duration_ms,
                            rage: action.rage,
                            dead: action.dead,
                            error_click: action.error_click,
                        }),
                        event::Kind::BusinessEvent(business) => {
                            EventKind::BusinessEvent(BusinessEventView {
                                name: business.name.as_bytes(),
                                value: business.value,
                            })
                        }
                        event::Kind::LongFrames(frames) => {
                            EventKind::LongFrames(Box::new(LongFramesView {
                                count: frames.count,
                                blocking_ms: frames.blocking_ms,
                                scripts: frames
                                    .scripts
                                    .iter()
                                    .map(|script| (script.origin.as_bytes(), script.duration_ms))
                                    .collect(),
                            }))
                        }
                        event::Kind::Resources(resources) => {
                            EventKind::Resources(Box::new(ResourcesView {
                                origins: resources
                                    .origins
                                    .iter()
                                    .map(|origin| OriginResourcesView {
                                        origin: origin.origin.as_bytes(),
                                        transfer_bytes: origin.transfer_bytes,
                                        untimed: origin.untimed,
                                        durations_ms: Durations {
                                            packed: &[],
                                            more: origin.durations_ms.clone(),
                                        },
                                    })
                                    .collect(),
                                types: resources
                                    .types
                                    .iter()
                                    .map(|count| (count.r#type.as_bytes(), count.count))
                                    .collect(),
                            }))
                        }
                        event::Kind::Calls(calls) => EventKind::Calls(Box::new(CallsView {
                            endpoints: calls
                                .endpoints
                                .iter()
                                .map(|endpoint| EndpointCallsView {
                                    method: endpoint.method.as_bytes(),
                                    endpoint: endpoint.endpoint.as_bytes(),
                                    durations_ms: Durations {
                                        packed: &[],
                                        more: endpoint.durations_ms.clone(),
                                    },
                                    statuses: Statuses {
                                        packed: &[],
                                        more: endpoint.statuses.clone(),
                                    },
                                    trace_id: &endpoint.trace_id,
                                    traced_ms: endpoint.traced_ms,
                                })
                                .collect(),
                        })),
                    }),
                })
                .collect(),
            enrichment: beacon.enrichment.as_ref().map(|enrichment| EnrichmentView {
                country: enrichment.country.as_bytes(),
                browser: enrichment.browser.as_bytes(),
                device_class: enrichment.device_class.as_bytes(),
                route: enrichment.route.as_bytes(),
            }),
        }
    }

    /// NaN != NaN: compare doubles by their bits.
    fn same(left: &BeaconView<'_>, right: &BeaconView<'_>) -> bool {
        format!("{left:?}") == format!("{right:?}")
    }

    proptest! {
        #[test]
        fn the_projection_agrees_with_prost_on_random_beacons(beacon in rum_schema::arbitrary::beacon()) {
            let payload = beacon.encode_to_vec();
            let view = BeaconView::decode(&payload).expect("decodes");
            let full = Beacon::decode(payload.as_slice()).expect("prost decodes");
            prop_assert!(same(&view, &projected(&full)), "{view:?} != {:?}", projected(&full));
        }

        #[test]
        fn truncated_or_mangled_payloads_error_without_panicking(
            beacon in rum_schema::arbitrary::beacon(),
            cut in any::<prop::sample::Index>(),
            flip in any::<prop::sample::Index>(),
            byte in any::<u8>(),
        ) {
            let payload = beacon.encode_to_vec();
            if !payload.is_empty() {
                let truncated = &payload[..cut.index(payload.len())];
                // prost is the reference: where it rejects a truncation, so must the projection
                // (the projection may reject more: it refuses groups).
                if Beacon::decode(truncated).is_err() {
                    prop_assert!(BeaconView::decode(truncated).is_err());
                }
                // A flipped byte may still be a valid beacon or not: either answer is right; what
                // is tested is that the decoder returns one (no panic, no endless loop).
                let mut mangled = payload.clone();
                mangled[flip.index(payload.len())] = byte;
                let _either_answer = BeaconView::decode(&mangled);
            }
        }
    }

    /// The decoder's answer on `payload`, beacon or error, is the reference decoder's (the one
    /// before hot messages matched whole keys), shown alike (doubles by their Debug text).
    fn agrees_with_reference(payload: &[u8]) -> Result<(), TestCaseError> {
        let current = format!("{:?}", BeaconView::decode(payload));
        let reference = format!("{:?}", reference::decode(payload));
        prop_assert_eq!(current, reference, "payload {:?}", payload);
        Ok(())
    }

    /// One message of protobuf-shaped bytes: up to 6 fields drawn from `fields` (number, the wire
    /// type it has in rum.v1; 0 and numbers past 32 bits among them), mostly with that wire type and
    /// otherwise any, whose length-delimited payloads come from `payload`.
    fn soup(fields: Vec<(u64, u8)>, payload: BoxedStrategy<Vec<u8>>) -> BoxedStrategy<Vec<u8>> {
        let field = (
            prop::sample::select(fields),
            prop::option::weighted(0.15, 0u8..8),
            payload,
            any::<u64>(),
        );
        prop::collection::vec(field, 0..6)
            .prop_map(|fields| {
                let mut bytes = Vec::new();
                for ((field, proper), other, payload, number) in fields {
                    let wire_type = other.unwrap_or(proper);
                    let key = (field << 3) | u64::from(wire_type);
                    prost::encoding::encode_varint(key, &mut bytes);
                    match wire_type {
                        VARINT => prost::encoding::encode_varint(number % 1000, &mut bytes),
                        FIXED64 => bytes.extend_from_slice(&number.to_le_bytes()),
                        FIXED32 => bytes.extend_from_slice(&(number as u32).to_le_bytes()),
                        LENGTH_DELIMITED => {
                            prost::encoding::encode_varint(payload.len() as u64, &mut bytes);
                            bytes.extend_from_slice(&payload);
                        }
                        _ => bytes.extend_from_slice(&payload[..payload.len().min(2)]),
                    }
                }
                bytes
            })
            .boxed()
    }

    /// Beacon-shaped soup: top-level fields whose payloads are event soups (whose members are
    /// vital-shaped soups), enrichment soups or random bytes, so the hot decoders meet known
    /// fields with wrong wire types, unknown fields, field 0 and truncations where they nest.
    /// Events and vitals are drawn most often (listed many times), field 0 seldom.
    fn beacon_soup() -> BoxedStrategy<Vec<u8>> {
        const LD: u8 = LENGTH_DELIMITED;
        let leaf = prop::collection::vec(any::<u8>(), 0..10).boxed();
        let huge = u64::from(u32::MAX) + 2;
        let often = |field: (u64, u8), times: usize| std::iter::repeat_n(field, times);
        let vital = soup(
            [(0, VARINT), (4, VARINT), (5, LD), (huge + 1, VARINT)]
                .into_iter()
                .chain(often((1, VARINT), 4))
                .chain(often((2, FIXED64), 4))
                .chain(often((3, LD), 4))
                .collect(),
            leaf.clone(),
        );
        let event = soup(
            [(0, LD), (huge, LD)]
                .into_iter()
                .chain((2..=11).map(|field| (field, LD)))
                .chain(often((1, LD), 20))
                .collect(),
            vital,
        );
        let enrichment = soup(
            [0, 2, 12, huge]
                .map(|field| (field, LD))
                .into_iter()
                .chain(
                    [1, 5, 9, 11]
                        .into_iter()
                        .flat_map(|field| often((field, LD), 3)),
                )
                .collect(),
            leaf.clone(),
        );
        let member = prop_oneof![3 => event, 1 => enrichment, 1 => leaf].boxed();
        let varints = [1, 7, 8, 9, 14, 16];
        let top = (0..=21)
            .map(|field| match field {
                _ if varints.contains(&field) => (field, VARINT),
                19 => (field, FIXED64),
                _ => (field, LD),
            })
            .chain([(huge + 8, VARINT), (1 << 40, LD)])
            .chain(often((12, LD), 24))
            .chain(often((13, LD), 4))
            .collect();
        soup(top, member)
    }

    proptest! {
        #[test]
        fn the_decoder_answers_as_the_reference_does_on_beacons(
            beacon in rum_schema::arbitrary::beacon(),
            cut in any::<prop::sample::Index>(),
            flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
        ) {
            let payload = beacon.encode_to_vec();
            agrees_with_reference(&payload)?;
            if !payload.is_empty() {
                agrees_with_reference(&payload[..cut.index(payload.len())])?;
                let mut mangled = payload.clone();
                for (at, byte) in flips {
                    mangled[at.index(payload.len())] = byte;
                }
                agrees_with_reference(&mangled)?;
            }
        }

        #[test]
        fn the_decoder_answers_as_the_reference_does_on_field_soup(payload in beacon_soup()) {
            agrees_with_reference(&payload)?;
        }
    }

    #[test]
    fn malformed_payloads_name_what_is_wrong() {
        assert_eq!(
            BeaconView::decode(&[0x12, 0x05, b'a']),
            Err(WireError::Truncated)
        );
        assert_eq!(BeaconView::decode(&[0x00]), Err(WireError::FieldZero));
        assert_eq!(
            BeaconView::decode(&[0xff; 11]),
            Err(WireError::VarintTooLong)
        );
        // site (field 2) sent as a varint
        assert_eq!(
            BeaconView::decode(&[0x10, 0x01]),
            Err(WireError::WireType {
                field: 2,
                wire_type: 0,
                expected: 2
            })
        );
        // field 15 (one the projection skips) as a start-group
        assert_eq!(
            BeaconView::decode(&[0x7b]),
            Err(WireError::UnsupportedWireType(3))
        );
        assert_eq!(BeaconView::decode(&[]), Ok(BeaconView::default()));
        // An event whose vital has a two-byte length (0x82 0x01: 130) that happens to equal,
        // read as one byte, what follows it: the vital is 129 bytes short, not a vital of 130.
        let mut event = vec![0x0a, 0x82, 0x01];
        event.resize(132, 0x08);
        // Field 12 (events), length 132 (0x84 0x01).
        let mut payload = vec![0x62, 0x84, 0x01];
        payload.extend_from_slice(&event);
        assert_eq!(BeaconView::decode(&payload), Err(WireError::Truncated));
        assert_eq!(reference::decode(&payload), Err(WireError::Truncated));
    }
}
