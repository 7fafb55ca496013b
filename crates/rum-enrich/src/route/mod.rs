//! URL privacy and route grouping: what of a page URL may be kept, and the bounded route template
//! it is grouped under.
//!
//! [`RoutePolicy::scrub`] takes the page URL of a validated beacon (absolute http(s), at most 2048
//! bytes) and returns:
//!
//! - the URL to keep: scheme, host and path, plus only the query parameters the site allow-listed.
//!   Userinfo and the fragment are always dropped, and by default so is the whole query string, which
//!   is where emails, tokens and campaign ids live;
//! - the route template (`/products/:id`), which is what later becomes a metric label.
//!
//! The route is built from the normalised path: percent-decoded once, `\` treated as `/` (as browsers
//! do), `.` and `..` resolved without ever climbing above the root, repeated and trailing slashes
//! removed (so `/about/` and `/about` are one route; the root is `/`). Per-site rules are tried first
//! and the first match wins; otherwise each segment goes through the id heuristics (see
//! [`RoutePolicy::scrub`]). Whatever the input, the route starts with `/`, holds at most
//! `max_segments` segments plus a `/:rest` suffix, fits in `max_route_bytes`, and contains no `?`,
//! `#`, `.`/`..` segment or control character: it is safe to use as a label.
//!
//! This module must never let a raw URL, query string or unbounded path become a route, and must
//! never panic on any input. The host is not part of the route (the site already is).
//!
//! Here: the policy, the id heuristics and the caps that make a route a safe label. `rule.rs`
//! parses and matches the per-site rules; `url.rs` cuts URLs into parts, percent-decodes the path
//! once, and reduces referrers to their origin.

mod rule;
#[cfg(test)]
mod tests;
mod url;

use std::borrow::Cow;

use self::rule::{RouteRule, render_path, segments_match};
use self::url::{
    UrlParts, decode_query_component, encode_reserved, host_and_port, normalised_segments,
    push_checked_origin, push_origin,
};
pub use self::url::{referrer_origin, strip_query_and_fragment};

/// Segments kept in a route before the rest collapses into `/:rest`: a site's `max_route_segments`
/// default, [`rum_config::DEFAULT_MAX_ROUTE_SEGMENTS`] (deep enough for real page hierarchies,
/// shallow enough that generated paths cannot fan out).
pub const DEFAULT_MAX_SEGMENTS: usize = rum_config::DEFAULT_MAX_ROUTE_SEGMENTS;

/// The default byte cap on a route template.
pub const DEFAULT_MAX_ROUTE_BYTES: usize = 256;

/// The smallest `max_route_bytes` accepted: room for a couple of placeholders and `/:rest`.
pub const MIN_ROUTE_BYTES: usize = 32;

/// The largest `max_route_bytes` accepted: a route is a label, not a URL.
pub const MAX_ROUTE_BYTES: usize = 1024;

/// The largest `max_segments` accepted.
pub const MAX_SEGMENTS: usize = 64;

/// A decoded segment longer than this that is not recognisably an id becomes `:long`: real page
/// names are shorter, and long free text is usually user content (search terms, titles).
pub const MAX_SEGMENT_BYTES: usize = 80;

/// What replaces the segments beyond the caps.
pub const REST_PLACEHOLDER: &str = ":rest";

const ID_PLACEHOLDER: &str = ":id";
const UUID_PLACEHOLDER: &str = ":uuid";
const HASH_PLACEHOLDER: &str = ":hash";
const EMAIL_PLACEHOLDER: &str = ":email";
const TOKEN_PLACEHOLDER: &str = ":token";
const LONG_PLACEHOLDER: &str = ":long";
const INVALID_PLACEHOLDER: &str = ":invalid";

/// Hex strings at least this long are hashes whatever their mix of letters and digits.
const MIN_PURE_HASH_CHARS: usize = 16;
/// Shorter hex strings count as hashes only with both letters and digits (short commit ids).
const MIN_MIXED_HASH_CHARS: usize = 8;
/// Random-looking tokens (session ids, base64, JWT pieces) are at least this long.
const MIN_TOKEN_CHARS: usize = 20;
/// File extensions kept after an id placeholder (`/article/123.html` -> `/article/:id.html`).
const MAX_EXTENSION_CHARS: usize = 5;

/// Errors in a site's route policy. Each names the rule or key at fault.
#[derive(Debug, thiserror::Error)]
pub enum RoutePolicyError {
    /// A route rule is malformed.
    #[error("route rule `{rule}`: {reason}")]
    InvalidRule {
        /// The rule as configured.
        rule: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A `regex:` rule does not compile.
    #[error("route rule `{rule}`: invalid regex: {source}")]
    InvalidRegex {
        /// The rule as configured.
        rule: String,
        /// The regex compiler's complaint.
        source: regex::Error,
    },
    /// A limit is outside its accepted range.
    #[error("`{key}` must be between {min} and {max}, got {value}")]
    InvalidLimit {
        /// The configuration key.
        key: &'static str,
        /// The configured value.
        value: usize,
        /// The smallest accepted value.
        min: usize,
        /// The largest accepted value.
        max: usize,
    },
}

/// A site's URL privacy and route settings, as configured.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RoutePolicyConfig {
    /// Query parameter names kept in the URL (exact, case-sensitive, compared after decoding).
    /// Default: none, so no query string survives.
    pub allowed_query_params: Vec<String>,
    /// Route rules, tried in order; the first match wins over the heuristics. Forms:
    /// `/products/:slug` (a `:name` segment matches one segment and stays in the route),
    /// `/static/*/img` (`*` matches one segment), `/docs/**` (`**`, last only, matches the rest),
    /// each optionally followed by `=> /template`; and `regex:PATTERN => /template`, where the
    /// template may use `${1}` or `${name}` captures. The regex sees the normalised path.
    pub rules: Vec<String>,
    /// Segments kept before `/:rest`.
    pub max_segments: usize,
    /// Byte cap on the route.
    pub max_route_bytes: usize,
}

impl Default for RoutePolicyConfig {
    fn default() -> Self {
        Self {
            allowed_query_params: Vec::new(),
            rules: Vec::new(),
            max_segments: DEFAULT_MAX_SEGMENTS,
            max_route_bytes: DEFAULT_MAX_ROUTE_BYTES,
        }
    }
}

/// A compiled [`RoutePolicyConfig`].
#[derive(Clone, Debug)]
pub struct RoutePolicy {
    allowed_query_params: Vec<String>,
    rules: Vec<RouteRule>,
    limits: RouteLimits,
}

#[derive(Clone, Copy, Debug)]
struct RouteLimits {
    max_segments: usize,
    max_route_bytes: usize,
}

impl Default for RoutePolicy {
    fn default() -> Self {
        Self {
            allowed_query_params: Vec::new(),
            rules: Vec::new(),
            limits: RouteLimits {
                max_segments: DEFAULT_MAX_SEGMENTS,
                max_route_bytes: DEFAULT_MAX_ROUTE_BYTES,
            },
        }
    }
}

/// What [`RoutePolicy::scrub`] keeps of a page URL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScrubbedUrl {
    /// Scheme, host (lowercased, default port dropped), path and allow-listed query parameters.
    /// The path is kept as sent, ids included: this is stored with the beacon, never used as a label.
    pub url: String,
    /// The bounded route template: the only form of the URL that may become a label.
    pub route: String,
    /// Whether a site rule or the heuristics produced the route.
    pub route_origin: RouteOrigin,
}

/// How a route was derived. [`RouteOrigin::as_str`] gives the metric label.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RouteOrigin {
    /// A per-site rule matched.
    Rule,
    /// No rule matched; the id heuristics grouped the path.
    Heuristic,
}

impl RouteOrigin {
    /// Every origin, so callers can register one counter per label up front.
    pub const ALL: [Self; 2] = [Self::Rule, Self::Heuristic];

    /// The stable, lowercase metric label.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Rule => "rule",
            Self::Heuristic => "heuristic",
        }
    }
}

impl RoutePolicy {
    /// Validates the limits and compiles the rules. Errors name the key or the rule.
    pub fn new(config: &RoutePolicyConfig) -> Result<Self, RoutePolicyError> {
        check_limit("max_segments", config.max_segments, 1, MAX_SEGMENTS)?;
        check_limit(
            "max_route_bytes",
            config.max_route_bytes,
            MIN_ROUTE_BYTES,
            MAX_ROUTE_BYTES,
        )?;
        let limits = RouteLimits {
            max_segments: config.max_segments,
            max_route_bytes: config.max_route_bytes,
        };
        let rules = config
            .rules
            .iter()
            .map(|rule| RouteRule::parse(rule, limits))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self {
            allowed_query_params: config.allowed_query_params.clone(),
            rules,
            limits,
        })
    }

    /// The URL to keep and its route template.
    ///
    /// Without a rule match, each segment of the normalised path is classified, in this order:
    /// control, invisible or undecodable characters -> `:invalid`; `local@domain.tld` -> `:email`;
    /// `8-4-4-4-12` hex -> `:uuid`; all digits -> `:id`; hex of 16+ characters, or 8+ mixing
    /// letters and digits -> `:hash`; 20+ characters of base64/base64url that mix upper case, lower
    /// case and digits (or letters and digits without separators) -> `:token`; anything else longer
    /// than [`MAX_SEGMENT_BYTES`] -> `:long`. An id followed by a short extension keeps the extension
    /// (`123.html` -> `:id.html`). Other segments are kept as decoded, case preserved, with `/`, `\`,
    /// `?` and `#` re-encoded. Input that is not an absolute URL is read as a path; it still yields a
    /// safe route.
    pub fn scrub(&self, url: &str) -> ScrubbedUrl {
        let parts = UrlParts::split(url);
        let mut kept = String::with_capacity(url.len().min(256));
        if let (Some(scheme), Some(authority)) = (parts.scheme, parts.authority) {
            let (host, port) = host_and_port(authority);
            push_origin(&mut kept, scheme, host, port);
        }
        kept.push_str(if parts.path.is_empty() {
            "/"
        } else {
            parts.path
        });
        if let Some(query) = parts.query {
            self.push_allowed_query(&mut kept, query);
        }
        let segments = normalised_segments(parts.path);
        let (route, route_origin) = match self.route_by_rule(&segments) {
            Some(route) => (route, RouteOrigin::Rule),
            None => (
                join_capped(
                    segments.iter().map(|segment| classify_segment(segment)),
                    self.limits,
                ),
                RouteOrigin::Heuristic,
            ),
        };
        ScrubbedUrl {
            url: kept,
            route,
            route_origin,
        }
    }

    /// The endpoint template of a fetch/XHR URL, so failed calls group by endpoint: the path
    /// through the id heuristics of [`scrub`](Self::scrub) (site rules name pages, not APIs),
    /// under the same caps, prefixed by the host when the call leaves `page_origin` (the page's
    /// scrubbed origin): `/api/cart/:id`, `api.example.com/v1/users/:uuid`. A host that is not a
    /// plain name or IP literal is left out.
    pub fn endpoint(&self, url: &str, page_origin: &str) -> String {
        let parts = UrlParts::split(url);
        let segments = normalised_segments(parts.path);
        // One buffer: the call's origin is written first, to compare with the page's, and
        // becomes the host prefix or is cleared before the path is appended.
        let mut endpoint = String::with_capacity(url.len().min(256) + 8);
        if push_checked_origin(&mut endpoint, url) {
            if endpoint == page_origin {
                endpoint.clear();
            } else {
                let host_start = endpoint.find("://").map_or(0, |at| at + 3);
                endpoint.drain(..host_start);
            }
        }
        push_joined_capped(
            &mut endpoint,
            segments.iter().map(|segment| classify_segment(segment)),
            self.limits,
        );
        endpoint
    }

    fn push_allowed_query(&self, kept: &mut String, query: &str) {
        if self.allowed_query_params.is_empty() {
            return;
        }
        let mut separator = '?';
        for pair in query.split('&') {
            let raw_name = pair.split('=').next().unwrap_or_default();
            if raw_name.is_empty() {
                continue;
            }
            let name = decode_query_component(raw_name);
            if self
                .allowed_query_params
                .iter()
                .any(|allowed| *allowed == name)
            {
                kept.push(separator);
                kept.push_str(pair);
                separator = '&';
            }
        }
    }

    fn route_by_rule(&self, segments: &[Cow<'_, str>]) -> Option<String> {
        if self.rules.is_empty() {
            return None;
        }
        // Rendered once, and only if some regex rule needs the path as text.
        let mut rendered_path: Option<String> = None;
        for rule in &self.rules {
            match rule {
                RouteRule::Segments {
                    pattern,
                    open_ended,
                    route,
                } => {
                    if segments_match(pattern, *open_ended, segments) {
                        return Some(route.clone());
                    }
                }
                RouteRule::Regex { regex, template } => {
                    let path = rendered_path.get_or_insert_with(|| render_path(segments));
                    if let Some(captures) = regex.captures(path) {
                        let mut expanded = String::new();
                        captures.expand(template, &mut expanded);
                        return Some(sanitised_route(&expanded, self.limits));
                    }
                }
            }
        }
        None
    }
}

fn check_limit(
    key: &'static str,
    value: usize,
    min: usize,
    max: usize,
) -> Result<(), RoutePolicyError> {
    if (min..=max).contains(&value) {
        Ok(())
    } else {
        Err(RoutePolicyError::InvalidLimit {
            key,
            value,
            min,
            max,
        })
    }
}

/// A regex rule's expanded template, made safe: captures carry user input, so every segment is
/// checked as heuristics output is, then the caps apply.
fn sanitised_route(expanded: &str, limits: RouteLimits) -> String {
    let segments = expanded
        .split(['/', '\\'])
        .filter(|segment| !segment.is_empty())
        .map(|segment| -> Cow<'_, str> {
            if segment == "." || segment == ".." || segment.chars().any(is_unsafe_char) {
                Cow::Borrowed(INVALID_PLACEHOLDER)
            } else if segment.len() > MAX_SEGMENT_BYTES {
                Cow::Borrowed(LONG_PLACEHOLDER)
            } else {
                encode_reserved(segment)
            }
        });
    join_capped(segments, limits)
}

/// Joins route segments under both caps. Every segment but the last reserves room for `/:rest`, so
/// the suffix always fits when a later segment does not.
fn join_capped<'s>(segments: impl Iterator<Item = Cow<'s, str>>, limits: RouteLimits) -> String {
    // Most routes fit in 64 bytes: one allocation instead of growing from 8 (callgrind, issue 20).
    let mut route = String::with_capacity(limits.max_route_bytes.min(64));
    push_joined_capped(&mut route, segments, limits);
    route
}

/// [`join_capped`] appended to `out`: the caps count only what this appends.
fn push_joined_capped<'s>(
    out: &mut String,
    segments: impl Iterator<Item = Cow<'s, str>>,
    limits: RouteLimits,
) {
    let start = out.len();
    let rest_suffix_len = 1 + REST_PLACEHOLDER.len();
    let mut segments = segments.enumerate().peekable();
    while let Some((index, segment)) = segments.next() {
        let is_last = segments.peek().is_none();
        let reserve = if is_last { 0 } else { rest_suffix_len };
        if index == limits.max_segments
            || out.len() - start + 1 + segment.len() + reserve > limits.max_route_bytes
        {
            out.push('/');
            out.push_str(REST_PLACEHOLDER);
            return;
        }
        out.push('/');
        out.push_str(&segment);
    }
    if out.len() == start {
        out.push('/');
    }
}

/// The route form of one decoded segment (see [`RoutePolicy::scrub`] for the order).
fn classify_segment<'s>(segment: &'s str) -> Cow<'s, str> {
    if segment.chars().any(is_unsafe_char) {
        return Cow::Borrowed(INVALID_PLACEHOLDER);
    }
    if let Some(placeholder) = id_placeholder(segment) {
        return Cow::Borrowed(placeholder);
    }
    if segment.len() > MAX_SEGMENT_BYTES {
        return Cow::Borrowed(LONG_PLACEHOLDER);
    }
    if let Some((stem, extension)) = segment.rsplit_once('.') {
        let short_extension = (1..=MAX_EXTENSION_CHARS).contains(&extension.len())
            && extension.bytes().all(|byte| byte.is_ascii_alphanumeric());
        if short_extension && let Some(placeholder) = id_placeholder(stem) {
            return Cow::Owned(format!("{placeholder}.{extension}"));
        }
    }
    encode_reserved(segment)
}

/// The placeholder for a segment that is an identifier rather than a page name.
fn id_placeholder(segment: &str) -> Option<&'static str> {
    if segment.is_empty() {
        None
    } else if is_email(segment) {
        Some(EMAIL_PLACEHOLDER)
    } else if is_uuid(segment) {
        Some(UUID_PLACEHOLDER)
    } else if segment.bytes().all(|byte| byte.is_ascii_digit()) {
        Some(ID_PLACEHOLDER)
    } else if is_hash(segment) {
        Some(HASH_PLACEHOLDER)
    } else if is_token(segment) {
        Some(TOKEN_PLACEHOLDER)
    } else {
        None
    }
}

fn is_email(segment: &str) -> bool {
    // A byte loop: segments are short, and most have no `@` (memchr's set-up costs more).
    let Some(at) = segment.bytes().position(|byte| byte == b'@') else {
        return false;
    };
    let (local, domain) = (&segment[..at], &segment[at + 1..]);
    !local.is_empty()
        && !domain.contains('@')
        && domain.contains('.')
        && domain.split('.').all(|label| !label.is_empty())
}

fn is_uuid(segment: &str) -> bool {
    let bytes = segment.as_bytes();
    bytes.len() == 36
        && bytes.iter().enumerate().all(|(index, byte)| match index {
            8 | 13 | 18 | 23 => *byte == b'-',
            _ => byte.is_ascii_hexdigit(),
        })
}

fn is_hash(segment: &str) -> bool {
    if !segment.bytes().all(|byte| byte.is_ascii_hexdigit()) {
        return false;
    }
    let has_digit = segment.bytes().any(|byte| byte.is_ascii_digit());
    let has_letter = segment.bytes().any(|byte| byte.is_ascii_alphabetic());
    segment.len() >= MIN_PURE_HASH_CHARS
        || (segment.len() >= MIN_MIXED_HASH_CHARS && has_digit && has_letter)
}

/// Random-looking: long, from a base64/base64url/JWT alphabet, and either mixing upper case, lower
/// case and digits, or letters and digits with no word separators. Slugs (`my-long-article-2024`)
/// have separators and one case, so they are kept.
fn is_token(segment: &str) -> bool {
    if segment.len() < MIN_TOKEN_CHARS {
        return false;
    }
    let mut has_upper = false;
    let mut has_lower = false;
    let mut has_digit = false;
    let mut has_separator = false;
    for byte in segment.bytes() {
        match byte {
            b'A'..=b'Z' => has_upper = true,
            b'a'..=b'z' => has_lower = true,
            b'0'..=b'9' => has_digit = true,
            b'-' | b'_' | b'.' | b'~' => has_separator = true,
            b'+' | b'=' => {}
            _ => return false,
        }
    }
    has_digit && ((has_upper && has_lower) || (!has_separator && (has_upper || has_lower)))
}

/// Characters that must never reach a label: controls, the replacement character left by invalid
/// UTF-8, and invisible or bidirectional formatting characters that make a label read as something
/// it is not.
fn is_unsafe_char(character: char) -> bool {
    character.is_control()
        || matches!(
            character,
            '\u{FFFD}'
                | '\u{00AD}'
                | '\u{200B}'..='\u{200F}'
                | '\u{2028}'..='\u{202E}'
                | '\u{2060}'..='\u{2064}'
                | '\u{2066}'..='\u{2069}'
                | '\u{FEFF}'
        )
}
