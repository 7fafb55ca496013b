//! The decoder `wire.rs` had before its hot messages matched whole keys (issue 20), kept as the
//! reference the tests compare the current one with: the same answer, beacon or error, for every
//! payload.

use super::*;

const EVENTS_CAPACITY: usize = 8;

const VARINT: u8 = 0;
const FIXED64: u8 = 1;
const LENGTH_DELIMITED: u8 = 2;
const FIXED32: u8 = 5;

/// A cursor over one message's bytes.
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
        self.long_varint()
    }

    fn long_varint(&mut self) -> Result<u64, WireError> {
        let mut value = 0u64;
        for (position, byte) in self.rest.iter().copied().enumerate().take(10) {
            value |= u64::from(byte & 0x7f) << (7 * position);
            if byte < 0x80 {
                self.rest = &self.rest[position + 1..];
                return Ok(value);
            }
        }
        if self.rest.len() >= 10 {
            Err(WireError::VarintTooLong)
        } else {
            Err(WireError::Truncated)
        }
    }

    /// The next field's number and wire type; `None` at the end of the message.
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

    fn take(&mut self, length: usize) -> Result<&'a [u8], WireError> {
        if self.rest.len() < length {
            return Err(WireError::Truncated);
        }
        let (taken, rest) = self.rest.split_at(length);
        self.rest = rest;
        Ok(taken)
    }

    fn bytes(&mut self) -> Result<&'a [u8], WireError> {
        let length = self.varint()?;
        let length = usize::try_from(length).map_err(|_| WireError::Truncated)?;
        self.take(length)
    }

    fn double(&mut self) -> Result<f64, WireError> {
        let bytes: [u8; 8] = self.take(8)?.try_into().expect("took 8 bytes");
        Ok(f64::from_le_bytes(bytes))
    }

    fn skip(&mut self, wire_type: u8) -> Result<(), WireError> {
        match wire_type {
            VARINT => self.varint().map(drop),
            FIXED64 => self.take(8).map(drop),
            LENGTH_DELIMITED => self.bytes().map(drop),
            FIXED32 => self.take(4).map(drop),
            other => Err(WireError::UnsupportedWireType(other)),
        }
    }
}

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
fn read_bytes<'a>(
    reader: &mut Reader<'a>,
    field: u32,
    wire_type: u8,
) -> Result<&'a [u8], WireError> {
    expect(field, wire_type, LENGTH_DELIMITED)?;
    reader.bytes()
}

fn read_double(reader: &mut Reader<'_>, field: u32, wire_type: u8) -> Result<f64, WireError> {
    expect(field, wire_type, FIXED64)?;
    reader.double()
}

fn read_varint(reader: &mut Reader<'_>, field: u32, wire_type: u8) -> Result<u64, WireError> {
    expect(field, wire_type, VARINT)?;
    reader.varint()
}

pub fn decode(payload: &[u8]) -> Result<BeaconView<'_>, WireError> {
    let mut beacon = BeaconView {
        events: Vec::with_capacity(EVENTS_CAPACITY),
        ..BeaconView::default()
    };
    for_each_field(payload, |reader, field, wire_type| {
        match field {
            2 => beacon.site = read_bytes(reader, field, wire_type)?,
            3 => beacon.session_id = read_bytes(reader, field, wire_type)?,
            4 => beacon.page_view_id = read_bytes(reader, field, wire_type)?,
            5 => beacon.url = read_bytes(reader, field, wire_type)?,
            7 => beacon.navigation_type = read_varint(reader, field, wire_type)? as i32,
            9 => beacon.received_at_ms = read_varint(reader, field, wire_type)? as i64,
            14 => beacon.sequence = Some(read_varint(reader, field, wire_type)? as u32),
            16 => beacon.counts_page_view = Some(read_varint(reader, field, wire_type)? != 0),
            17 => beacon.release = read_bytes(reader, field, wire_type)?,
            19 => beacon.sample_rate = Some(read_double(reader, field, wire_type)?),
            20 => beacon.trace_id = read_bytes(reader, field, wire_type)?,
            10 => {
                let message = read_bytes(reader, field, wire_type)?;
                let connection = beacon.connection.get_or_insert_with(Default::default);
                connection.effective_type = merge_first_field(message, connection.effective_type)?;
            }
            12 => {
                let message = read_bytes(reader, field, wire_type)?;
                beacon.events.push(decode_event(message)?);
            }
            13 => {
                let message = read_bytes(reader, field, wire_type)?;
                let enrichment = beacon.enrichment.get_or_insert_with(Default::default);
                for_each_field(message, |reader, field, wire_type| {
                    let slot = match field {
                        1 => &mut enrichment.country,
                        5 => &mut enrichment.browser,
                        9 => &mut enrichment.device_class,
                        11 => &mut enrichment.route,
                        _ => return Ok(false),
                    };
                    *slot = read_bytes(reader, field, wire_type)?;
                    Ok(true)
                })?;
            }
            _ => return Ok(false),
        }
        Ok(true)
    })?;
    Ok(beacon)
}

fn decode_event(message: &[u8]) -> Result<EventView<'_>, WireError> {
    let mut event = EventView::default();
    for_each_field(message, |reader, field, wire_type| {
        if !(1..=10).contains(&field) {
            return Ok(false);
        }
        let body = read_bytes(reader, field, wire_type)?;
        // A oneof member merges into the same variant and replaces a different one.
        event.kind = Some(match (field, event.kind.take()) {
            (1, Some(EventKind::Vital(vital))) => EventKind::Vital(decode_vital(body, vital)?),
            (1, _) => EventKind::Vital(decode_vital(body, VitalView::default())?),
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

fn decode_vital<'a>(body: &'a [u8], mut vital: VitalView<'a>) -> Result<VitalView<'a>, WireError> {
    for_each_field(body, |reader, field, wire_type| {
        match field {
            1 => vital.name = read_varint(reader, field, wire_type)? as i32,
            2 => vital.value = read_double(reader, field, wire_type)?,
            3 => vital.id = read_bytes(reader, field, wire_type)?,
            _ => return Ok(false),
        }
        Ok(true)
    })?;
    Ok(vital)
}

fn decode_navigation(body: &[u8], navigation: NavigationView) -> Result<NavigationView, WireError> {
    let mut phases = navigation.phases();
    for_each_field(body, |reader, field, wire_type| {
        let slot = match field {
            1 => &mut phases[0],
            2 => &mut phases[1],
            3 => &mut phases[2],
            5 => &mut phases[3],
            6 => &mut phases[4],
            7 => &mut phases[5],
            8 => &mut phases[6],
            _ => return Ok(false),
        };
        *slot = Some(read_double(reader, field, wire_type)?);
        Ok(true)
    })?;
    Ok(NavigationView::from_phases(phases))
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
