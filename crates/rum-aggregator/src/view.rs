//! Views (configured group-bys) and the segments they produce.
//!
//! A beacon contributes to one segment per view: the view's dimensions evaluated on the beacon
//! (after top-N folding). Views never form the cross product of all dimensions; each is listed in
//! config, so the number of series is a choice the operator makes.

use std::sync::Arc;

use rum_schema::proto::NavigationType;

use crate::wire::{BeaconView, text};

/// Label value for an empty or missing dimension.
pub const UNKNOWN: &str = "unknown";
/// Label value for everything folded by top-N or a budget.
pub const OTHER: &str = "__other__";
/// Adds `weight` for `key` in a table of at most `limit` named keys plus `__other__`: a key new
/// past the limit counts under `__other__`. Returns whether it folded (a bounded label's table:
/// an error group's routes, a site's entry and exit routes).
pub fn count_bounded<K>(
    counts: &mut std::collections::BTreeMap<K, u64>,
    key: &str,
    limit: usize,
    weight: u64,
) -> bool
where
    K: Ord + std::borrow::Borrow<str> + for<'a> From<&'a str>,
{
    if let Some(count) = counts.get_mut(key) {
        *count += weight;
        return false;
    }
    let named = counts
        .keys()
        .filter(|known| (*known).borrow() != OTHER)
        .count();
    let (key, folded) = if named < limit {
        (key, false)
    } else {
        (OTHER, key != OTHER)
    };
    *counts.entry(K::from(key)).or_insert(0) += weight;
    folded
}

/// Longest label value kept; longer values are cut (routes are capped at the edge already).
pub const MAX_LABEL_VALUE_BYTES: usize = 128;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Dimension {
    Site,
    Route,
    Device,
    Country,
    Browser,
    Connection,
    Navigation,
    /// The page's release (`rel`): its values are bounded to the most recent ones per site
    /// (`aggregator.releases`), not the most frequent.
    Release,
}

/// Number of [`Dimension`]s.
pub const DIMENSION_COUNT: usize = 8;

impl Dimension {
    pub const ALL: [Dimension; DIMENSION_COUNT] = [
        Dimension::Site,
        Dimension::Route,
        Dimension::Device,
        Dimension::Country,
        Dimension::Browser,
        Dimension::Connection,
        Dimension::Navigation,
        Dimension::Release,
    ];

    /// The Prometheus label name.
    pub fn label(self) -> &'static str {
        match self {
            Dimension::Site => "site",
            Dimension::Route => "route",
            Dimension::Device => "device",
            Dimension::Country => "country",
            Dimension::Browser => "browser",
            Dimension::Connection => "connection",
            Dimension::Navigation => "navigation",
            Dimension::Release => "release",
        }
    }

    pub fn from_label(label: &str) -> Option<Dimension> {
        Dimension::ALL.into_iter().find(|d| d.label() == label)
    }

    pub fn index(self) -> usize {
        self as usize
    }

    /// The raw (unfolded) value of this dimension for a beacon.
    pub fn raw_value<'a>(self, beacon: &BeaconView<'a>) -> &'a str {
        let value = match self.raw_bytes(beacon) {
            Some(bytes) => text(bytes),
            None => navigation_label(beacon.navigation_type()),
        };
        if value.is_empty() { UNKNOWN } else { value }
    }

    /// The string field this dimension reads, unchecked (`None` for navigation, an enum).
    fn raw_bytes<'a>(self, beacon: &BeaconView<'a>) -> Option<&'a [u8]> {
        let enrichment = beacon.enrichment.as_ref();
        Some(match self {
            Dimension::Site => beacon.site,
            Dimension::Route => enrichment.map_or(b"", |e| e.route),
            Dimension::Device => enrichment.map_or(b"", |e| e.device_class),
            Dimension::Country => enrichment.map_or(b"", |e| e.country),
            Dimension::Browser => enrichment.map_or(b"", |e| e.browser),
            Dimension::Connection => beacon.connection.as_ref().map_or(b"", |c| c.effective_type),
            Dimension::Navigation => return None,
            Dimension::Release => beacon.release,
        })
    }

    /// Appends this dimension's raw value to a cache key (length-prefixed, so that concatenated
    /// values cannot run into each other), without checking it as UTF-8: the key only has to map
    /// equal raw values to equal labels, which [`raw_value`](Self::raw_value) does.
    pub fn append_raw_key(self, beacon: &BeaconView, key: &mut Vec<u8>) {
        match self.raw_bytes(beacon) {
            Some(raw) => {
                key.extend_from_slice(&(raw.len() as u32).to_le_bytes());
                key.extend_from_slice(raw);
            }
            None => key.extend_from_slice(&beacon.navigation_type.to_le_bytes()),
        }
    }
}

fn navigation_label(navigation: NavigationType) -> &'static str {
    match navigation {
        NavigationType::Unspecified => UNKNOWN,
        other => rum_schema::render::navigation_name(other),
    }
}

/// A configured view.
#[derive(Debug, Clone, PartialEq)]
pub struct View {
    pub name: Arc<str>,
    pub dimensions: Vec<Dimension>,
    /// Whether the navigation-phase histograms are kept for this view's segments.
    pub navigation: bool,
    /// Whether actions (and their loading-time histogram) and business events are kept.
    pub actions: bool,
    /// Whether estimated totals (counts weighed by 1 / sample rate) are exported.
    pub estimated: bool,
}

impl View {
    /// Types `[[aggregator.views]]` entry `index`; errors name the key.
    pub fn from_config(
        config: &rum_config::ViewConfig,
        index: usize,
    ) -> Result<View, rum_config::ConfigError> {
        let key = format!("aggregator.views[{index}].dimensions");
        let known = || {
            Dimension::ALL
                .iter()
                .map(|dimension| dimension.label())
                .collect::<Vec<_>>()
                .join(", ")
        };
        let mut dimensions: Vec<Dimension> = Vec::with_capacity(config.dimensions.len());
        for label in &config.dimensions {
            match Dimension::from_label(label) {
                Some(dimension) if !dimensions.contains(&dimension) => dimensions.push(dimension),
                _ => {
                    return Err(rum_config::ConfigError::invalid(
                        key,
                        format!("{label:?} is unknown or repeated; use {}", known()),
                    ));
                }
            }
        }
        if dimensions.first() != Some(&Dimension::Site) {
            return Err(rum_config::ConfigError::invalid(
                key,
                "must start with \"site\" (segments never mix sites)",
            ));
        }
        Ok(View {
            name: config.name.as_str().into(),
            dimensions,
            navigation: config.navigation,
            actions: config.actions,
            estimated: config.estimated,
        })
    }
}

/// One segment: a view and the (folded) values of its dimensions, in the view's order.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SegmentKey {
    pub view: Arc<str>,
    pub values: Box<[Arc<str>]>,
}

impl SegmentKey {
    /// The site (every view starts with it).
    pub fn site(&self) -> &str {
        self.values.first().map_or(UNKNOWN, |site| site)
    }

    /// The same view with every dimension but the site folded: where a segment goes when its site
    /// is over its segment budget.
    pub fn folded(&self) -> SegmentKey {
        let other: Arc<str> = Arc::from(OTHER);
        SegmentKey {
            view: self.view.clone(),
            values: self
                .values
                .iter()
                .enumerate()
                .map(|(index, value)| {
                    if index == 0 {
                        value.clone()
                    } else {
                        other.clone()
                    }
                })
                .collect(),
        }
    }

    pub fn is_folded(&self) -> bool {
        self.values.len() > 1 && self.values[1..].iter().all(|value| &**value == OTHER)
    }
}

/// Cuts a label value to [`MAX_LABEL_VALUE_BYTES`] on a character boundary.
pub fn bounded_label(value: &str) -> &str {
    if value.len() <= MAX_LABEL_VALUE_BYTES {
        return value;
    }
    let mut end = MAX_LABEL_VALUE_BYTES;
    while !value.is_char_boundary(end) {
        end -= 1;
    }
    &value[..end]
}
