//! The five-vital beacon mix shared by the criterion bench and the instruction-count example.

use rum_schema::proto::{Beacon, Enrichment, Event, Vital, VitalName, event};

pub const T0: i64 = 1_763_760_000_000;

pub fn five_vital_beacon(index: u64, routes: u64) -> Beacon {
    let vital = |name: VitalName, value: f64, id: &str| Event {
        kind: Some(event::Kind::Vital(Vital {
            name: name as i32,
            value,
            id: id.to_owned(),
            ..Vital::default()
        })),
    };
    let jitter = (index * 7919 % 1000) as f64;
    Beacon {
        version: 1,
        site: "shop".into(),
        session_id: format!("s{}", index / 5),
        page_view_id: format!("pv{index}"),
        url: "https://shop.example.com/products/42".into(),
        received_at_ms: T0 + (index % 50_000) as i64,
        enrichment: Some(Enrichment {
            route: format!("/products/{}", index % routes),
            country: ["DE", "US", "FR", "GB", "IN"][(index % 5) as usize].into(),
            device_class: ["desktop", "mobile", "tablet"][(index % 3) as usize].into(),
            browser: ["Chrome", "Safari", "Firefox", "Edge"][(index % 4) as usize].into(),
            ..Enrichment::default()
        }),
        events: vec![
            vital(VitalName::Lcp, 1200.0 + jitter * 3.0, "v-lcp"),
            vital(VitalName::Inp, 80.0 + jitter / 4.0, "v-inp"),
            vital(VitalName::Cls, jitter / 10_000.0, "v-cls"),
            vital(VitalName::Fcp, 700.0 + jitter, "v-fcp"),
            vital(VitalName::Ttfb, 150.0 + jitter / 2.0, "v-ttfb"),
        ],
        ..Beacon::default()
    }
}
