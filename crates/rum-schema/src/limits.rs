//! Per-beacon limits enforced while decoding, before any event is built.

/// BEACON.md: at most 256 events per beacon.
pub const DEFAULT_MAX_EVENTS: usize = 256;
/// BEACON.md: `url` is at most 2048 bytes; the same cap applies to every URL-like field.
pub const DEFAULT_MAX_URL_BYTES: usize = 2048;
/// Names, targets, messages and other short strings.
pub const DEFAULT_MAX_STRING_BYTES: usize = 1024;
/// Error stacks are the one long string a beacon carries.
pub const DEFAULT_MAX_STACK_BYTES: usize = 16 * 1024;

/// Caps that bound the work and memory one beacon can cost.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DecodeLimits {
    pub max_events: usize,
    pub max_url_bytes: usize,
    pub max_string_bytes: usize,
    pub max_stack_bytes: usize,
}

impl Default for DecodeLimits {
    fn default() -> Self {
        Self {
            max_events: DEFAULT_MAX_EVENTS,
            max_url_bytes: DEFAULT_MAX_URL_BYTES,
            max_string_bytes: DEFAULT_MAX_STRING_BYTES,
            max_stack_bytes: DEFAULT_MAX_STACK_BYTES,
        }
    }
}
