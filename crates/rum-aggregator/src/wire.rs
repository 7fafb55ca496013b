//! What stage 1 reads of a `rum.v1.Beacon`: a projection with the same field numbers and only the
//! fields aggregation uses. Protobuf decoders skip unknown fields, so the URL, referrer, session id,
//! attribution, error messages and stacks are stepped over without being copied into `String`s
//! (decoding the full message was a third of stage 1's time).
//!
//! String fields are read as `Bytes` (same wire type): decoding from a `Bytes` buffer slices them
//! without a copy or an allocation, and [`text`] checks UTF-8 on use.
//!
//! Field numbers must match `proto/rum/v1/beacon.proto`; the tests check the projection against a
//! fully populated beacon.

use bytes::Bytes;
use rum_schema::proto::{NavigationType, VitalName};

/// A string field's text; invalid UTF-8 (never written by the collector) reads as empty.
pub fn text(bytes: &Bytes) -> &str {
    std::str::from_utf8(bytes).unwrap_or("")
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct BeaconView {
    #[prost(bytes = "bytes", tag = "2")]
    pub site: Bytes,
    #[prost(bytes = "bytes", tag = "4")]
    pub page_view_id: Bytes,
    #[prost(enumeration = "NavigationType", tag = "7")]
    pub navigation_type: i32,
    #[prost(int64, tag = "9")]
    pub received_at_ms: i64,
    #[prost(message, optional, tag = "10")]
    pub connection: Option<ConnectionView>,
    #[prost(message, repeated, tag = "12")]
    pub events: Vec<EventView>,
    #[prost(message, optional, tag = "13")]
    pub enrichment: Option<EnrichmentView>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct ConnectionView {
    #[prost(bytes = "bytes", tag = "1")]
    pub effective_type: Bytes,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct EnrichmentView {
    #[prost(bytes = "bytes", tag = "1")]
    pub country: Bytes,
    #[prost(bytes = "bytes", tag = "5")]
    pub browser: Bytes,
    #[prost(bytes = "bytes", tag = "9")]
    pub device_class: Bytes,
    #[prost(bytes = "bytes", tag = "11")]
    pub route: Bytes,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct EventView {
    #[prost(oneof = "EventKind", tags = "1, 2, 3, 4, 5")]
    pub kind: Option<EventKind>,
}

#[derive(Clone, PartialEq, prost::Oneof)]
pub enum EventKind {
    #[prost(message, tag = "1")]
    Vital(VitalView),
    #[prost(message, tag = "2")]
    Navigation(NavigationView),
    #[prost(message, tag = "3")]
    Error(ErrorView),
    #[prost(message, tag = "4")]
    Request(RequestView),
    #[prost(message, tag = "5")]
    Custom(CustomView),
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct VitalView {
    #[prost(enumeration = "VitalName", tag = "1")]
    pub name: i32,
    #[prost(double, tag = "2")]
    pub value: f64,
    #[prost(bytes = "bytes", tag = "3")]
    pub id: Bytes,
}

/// Navigation timing phases (ms), without the protocol string.
#[derive(Clone, PartialEq, prost::Message)]
pub struct NavigationView {
    #[prost(double, optional, tag = "1")]
    pub dns_ms: Option<f64>,
    #[prost(double, optional, tag = "2")]
    pub connect_ms: Option<f64>,
    #[prost(double, optional, tag = "3")]
    pub tls_ms: Option<f64>,
    #[prost(double, optional, tag = "5")]
    pub download_ms: Option<f64>,
    #[prost(double, optional, tag = "6")]
    pub dom_interactive_ms: Option<f64>,
    #[prost(double, optional, tag = "7")]
    pub dom_complete_ms: Option<f64>,
    #[prost(double, optional, tag = "8")]
    pub load_ms: Option<f64>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct ErrorView {
    #[prost(bytes = "bytes", tag = "1")]
    pub kind: Bytes,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct RequestView {
    #[prost(uint32, tag = "3")]
    pub status: u32,
    #[prost(double, tag = "4")]
    pub duration_ms: f64,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct CustomView {}

impl BeaconView {
    /// The projection of a full beacon (tests, benches, and callers holding a decoded beacon).
    pub fn of(beacon: &rum_schema::proto::Beacon) -> BeaconView {
        use prost::Message;
        BeaconView::decode(beacon.encode_to_vec().as_slice())
            .expect("a beacon's own encoding decodes")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost::Message;
    use rum_schema::proto::{
        Attribution, Beacon, Connection, Custom, Device, Enrichment, Error, Event, Navigation,
        Request, Vital, event,
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
                    })),
                },
                Event {
                    kind: Some(event::Kind::Custom(Custom {
                        name: "render".into(),
                        value: 3.0,
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
        let view = BeaconView::decode(Bytes::from(beacon.encode_to_vec())).expect("decodes");
        assert_eq!(text(&view.site), "shop");
        assert_eq!(text(&view.page_view_id), "pv-1");
        assert_eq!(view.navigation_type(), NavigationType::BackForwardCache);
        assert_eq!(view.received_at_ms, 1_763_760_000_123);
        assert_eq!(
            view.connection.as_ref().map(|c| text(&c.effective_type)),
            Some("4g")
        );
        let enrichment = view.enrichment.as_ref().expect("enrichment");
        assert_eq!(
            (
                text(&enrichment.country),
                text(&enrichment.browser),
                text(&enrichment.device_class),
                text(&enrichment.route)
            ),
            ("DE", "Chrome", "mobile", "/products/:id")
        );
        let kinds: Vec<&EventKind> = view.events.iter().filter_map(|e| e.kind.as_ref()).collect();
        assert!(
            matches!(kinds[0], EventKind::Vital(v) if v.name() == VitalName::Inp && v.value == 168.0 && text(&v.id) == "v5-1")
        );
        assert!(
            matches!(kinds[1], EventKind::Navigation(n) if n.dns_ms == Some(12.0) && n.load_ms == Some(1200.0))
        );
        assert!(matches!(kinds[2], EventKind::Error(e) if text(&e.kind) == "unhandledrejection"));
        assert!(
            matches!(kinds[3], EventKind::Request(r) if r.status == 503 && r.duration_ms == 812.0)
        );
        assert!(matches!(kinds[4], EventKind::Custom(_)));
    }
}
