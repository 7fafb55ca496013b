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

use std::borrow::Cow;

use regex::{Regex, RegexBuilder};

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

/// Compiled size limit for one `regex:` rule, so a pathological rule fails at load time instead of
/// taking memory from the collector.
const MAX_RULE_REGEX_BYTES: usize = 1 << 20;

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

/// One compiled route rule.
#[derive(Clone, Debug)]
enum RouteRule {
    /// `/products/:slug`, `/static/*`, `/docs/**`: matched segment by segment.
    Segments {
        pattern: Vec<PatternSegment>,
        /// Ends in `**`: matches any number (including zero) of further segments.
        open_ended: bool,
        /// The route produced on a match, sanitised and capped once at load time.
        route: String,
    },
    /// `regex:PATTERN => TEMPLATE`.
    Regex { regex: Regex, template: String },
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum PatternSegment {
    /// Matches the decoded segment exactly (paths are case sensitive).
    Literal(String),
    /// `:name` or `*`: matches any one segment.
    Any,
}

impl RouteRule {
    fn parse(rule: &str, limits: RouteLimits) -> Result<Self, RoutePolicyError> {
        let invalid = |reason| RoutePolicyError::InvalidRule {
            rule: rule.to_owned(),
            reason,
        };
        // The last `=>` separates the template: templates cannot contain one, patterns rarely do.
        let (matcher_text, template) = match rule.rsplit_once("=>") {
            Some((matcher, template)) => (matcher.trim(), Some(template.trim())),
            None => (rule.trim(), None),
        };
        if let Some(template) = template {
            check_template(template, limits).map_err(invalid)?;
        }
        if let Some(pattern) = matcher_text.strip_prefix("regex:") {
            let template = template.ok_or_else(|| invalid("a regex rule needs `=> /template`"))?;
            let regex = RegexBuilder::new(pattern.trim())
                .size_limit(MAX_RULE_REGEX_BYTES)
                .build()
                .map_err(|source| RoutePolicyError::InvalidRegex {
                    rule: rule.to_owned(),
                    source,
                })?;
            return Ok(Self::Regex {
                regex,
                template: template.to_owned(),
            });
        }
        if !matcher_text.starts_with('/') {
            return Err(invalid("a rule starts with `/` or `regex:`"));
        }
        let mut pattern = Vec::new();
        let mut open_ended = false;
        let mut default_template = String::new();
        for segment in matcher_text
            .split('/')
            .filter(|segment| !segment.is_empty())
        {
            if open_ended {
                return Err(invalid("`**` must be the last segment"));
            }
            default_template.push('/');
            default_template.push_str(segment);
            match segment {
                "**" => open_ended = true,
                "*" => pattern.push(PatternSegment::Any),
                "." | ".." => return Err(invalid("dot segments never match a normalised path")),
                _ if segment.contains('*') => {
                    return Err(invalid("`*` and `**` must be whole segments"));
                }
                _ => match segment.strip_prefix(':') {
                    Some(name) => {
                        let well_formed = !name.is_empty()
                            && name
                                .bytes()
                                .all(|byte| byte.is_ascii_alphanumeric() || byte == b'_');
                        if !well_formed {
                            return Err(invalid(
                                "a `:name` segment needs a name of letters, digits and `_`",
                            ));
                        }
                        pattern.push(PatternSegment::Any);
                    }
                    None => {
                        let decoded = decode_utf8_lossy(percent_decode(segment.as_bytes()));
                        pattern.push(PatternSegment::Literal(decoded.into_owned()));
                    }
                },
            }
        }
        let route_text = match template {
            Some(template) => template.to_owned(),
            None => {
                let default = if default_template.is_empty() {
                    "/".to_owned()
                } else {
                    default_template
                };
                check_template(&default, limits).map_err(invalid)?;
                default
            }
        };
        Ok(Self::Segments {
            pattern,
            open_ended,
            route: sanitised_route(&route_text, limits),
        })
    }
}

/// A template must already be a safe route: sanitising it at run time would silently change it.
fn check_template(template: &str, limits: RouteLimits) -> Result<(), &'static str> {
    if !template.starts_with('/') {
        return Err("the template must start with `/`");
    }
    if template.contains(['?', '#', '\\']) || template.chars().any(is_unsafe_char) {
        return Err("the template must not contain `?`, `#`, `\\` or control characters");
    }
    let segments = template.split('/').filter(|segment| !segment.is_empty());
    if segments
        .clone()
        .any(|segment| segment == "." || segment == "..")
    {
        return Err("the template must not contain `.` or `..` segments");
    }
    if segments
        .clone()
        .any(|segment| segment.len() > MAX_SEGMENT_BYTES)
    {
        return Err("a template segment is longer than 80 bytes");
    }
    if segments.count() > limits.max_segments {
        return Err("the template has more segments than `max_segments`");
    }
    if template.len() > limits.max_route_bytes {
        return Err("the template is longer than `max_route_bytes`");
    }
    Ok(())
}

fn segments_match(pattern: &[PatternSegment], open_ended: bool, segments: &[Cow<'_, str>]) -> bool {
    let length_ok = if open_ended {
        segments.len() >= pattern.len()
    } else {
        segments.len() == pattern.len()
    };
    length_ok
        && pattern
            .iter()
            .zip(segments)
            .all(|(expected, segment)| match expected {
                PatternSegment::Any => true,
                PatternSegment::Literal(literal) => literal == segment,
            })
}

/// The normalised path as regex rules see it: `/a/b`, `/` for the root, with `/`, `\`, `?` and `#`
/// inside a decoded segment re-encoded so that segment boundaries stay unambiguous.
fn render_path(segments: &[Cow<'_, str>]) -> String {
    if segments.is_empty() {
        return "/".to_owned();
    }
    let mut path = String::new();
    for segment in segments {
        path.push('/');
        path.push_str(&encode_reserved(segment));
    }
    path
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
    let rest_suffix_len = 1 + REST_PLACEHOLDER.len();
    let mut route = String::new();
    let mut segments = segments.enumerate().peekable();
    while let Some((index, segment)) = segments.next() {
        let is_last = segments.peek().is_none();
        let reserve = if is_last { 0 } else { rest_suffix_len };
        if index == limits.max_segments
            || route.len() + 1 + segment.len() + reserve > limits.max_route_bytes
        {
            route.push('/');
            route.push_str(REST_PLACEHOLDER);
            return route;
        }
        route.push('/');
        route.push_str(&segment);
    }
    if route.is_empty() {
        route.push('/');
    }
    route
}

/// The path's segments: split on `/` and `\`, percent-decoded once, empty and `.` segments dropped,
/// `..` removing its parent but never climbing above the root. Decoding first means `%2e%2e` is a
/// `..` too, as it is to browsers and servers.
fn normalised_segments(path: &str) -> Vec<Cow<'_, str>> {
    let mut segments: Vec<Cow<'_, str>> = Vec::new();
    for raw in path.split(['/', '\\']) {
        if raw.is_empty() {
            continue;
        }
        let decoded = decode_utf8_lossy(percent_decode(raw.as_bytes()));
        match decoded.as_ref() {
            "." => {}
            ".." => {
                segments.pop();
            }
            _ => segments.push(decoded),
        }
    }
    segments
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
        if short_extension {
            if let Some(placeholder) = id_placeholder(stem) {
                return Cow::Owned(format!("{placeholder}.{extension}"));
            }
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
    let Some((local, domain)) = segment.split_once('@') else {
        return false;
    };
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

/// `/`, `\`, `?` and `#` inside a decoded segment, percent-encoded again so they cannot act as
/// separators in the route.
fn encode_reserved(segment: &str) -> Cow<'_, str> {
    if !segment.contains(['/', '\\', '?', '#']) {
        return Cow::Borrowed(segment);
    }
    let mut encoded = String::with_capacity(segment.len() + 6);
    for character in segment.chars() {
        match character {
            '/' => encoded.push_str("%2F"),
            '\\' => encoded.push_str("%5C"),
            '?' => encoded.push_str("%3F"),
            '#' => encoded.push_str("%23"),
            other => encoded.push(other),
        }
    }
    Cow::Owned(encoded)
}

/// One pass of percent-decoding. Malformed escapes (`%zz`, a trailing `%`) stay as they are; no
/// second pass, so `%252e` is the text `%2e`, not a dot.
fn percent_decode(input: &[u8]) -> Cow<'_, [u8]> {
    if !input.contains(&b'%') {
        return Cow::Borrowed(input);
    }
    let mut decoded = Vec::with_capacity(input.len());
    let mut index = 0;
    while index < input.len() {
        let escaped = match input.get(index..index + 3) {
            Some([b'%', high, low]) => hex_value(*high).zip(hex_value(*low)),
            _ => None,
        };
        match escaped {
            Some((high, low)) => {
                decoded.push(high << 4 | low);
                index += 3;
            }
            None => {
                decoded.push(input[index]);
                index += 1;
            }
        }
    }
    Cow::Owned(decoded)
}

fn hex_value(digit: u8) -> Option<u8> {
    match digit {
        b'0'..=b'9' => Some(digit - b'0'),
        b'a'..=b'f' => Some(digit - b'a' + 10),
        b'A'..=b'F' => Some(digit - b'A' + 10),
        _ => None,
    }
}

fn decode_utf8_lossy(bytes: Cow<'_, [u8]>) -> Cow<'_, str> {
    match bytes {
        Cow::Borrowed(bytes) => String::from_utf8_lossy(bytes),
        Cow::Owned(bytes) => match String::from_utf8(bytes) {
            Ok(text) => Cow::Owned(text),
            Err(error) => Cow::Owned(String::from_utf8_lossy(error.as_bytes()).into_owned()),
        },
    }
}

/// A query parameter name as a form would decode it (`+` is a space).
fn decode_query_component(raw: &str) -> Cow<'_, str> {
    if raw.contains('+') {
        let spaced = raw.replace('+', " ");
        Cow::Owned(decode_utf8_lossy(percent_decode(spaced.as_bytes())).into_owned())
    } else {
        decode_utf8_lossy(percent_decode(raw.as_bytes()))
    }
}

/// A URL cut into the parts scrubbing needs. Fragment and userinfo are never looked at again.
struct UrlParts<'a> {
    scheme: Option<&'a str>,
    authority: Option<&'a str>,
    path: &'a str,
    query: Option<&'a str>,
}

impl<'a> UrlParts<'a> {
    fn split(url: &'a str) -> Self {
        let without_fragment = url.split_once('#').map_or(url, |(before, _)| before);
        let (scheme, authority, path_and_query) = match split_scheme(without_fragment) {
            Some((scheme, after_scheme)) => {
                let authority_end = after_scheme
                    .find(['/', '\\', '?'])
                    .unwrap_or(after_scheme.len());
                let (authority, rest) = after_scheme.split_at(authority_end);
                (Some(scheme), Some(authority), rest)
            }
            None => (None, None, without_fragment),
        };
        let (path, query) = match path_and_query.split_once('?') {
            Some((path, query)) => (path, Some(query)),
            None => (path_and_query, None),
        };
        Self {
            scheme,
            authority,
            path,
            query,
        }
    }
}

/// `scheme` and what follows `://`, if `text` starts with a syntactically valid scheme.
fn split_scheme(text: &str) -> Option<(&str, &str)> {
    let (scheme, rest) = text.split_once("://")?;
    let mut bytes = scheme.bytes();
    let valid = bytes
        .next()
        .is_some_and(|first| first.is_ascii_alphabetic())
        && bytes.all(|byte| byte.is_ascii_alphanumeric() || matches!(byte, b'+' | b'-' | b'.'));
    valid.then_some((scheme, rest))
}

/// Host and port of an authority: userinfo dropped, host lowercased, an IPv6 literal kept in
/// brackets. `None` when the port is not a number.
fn host_and_port(authority: &str) -> (&str, Option<&str>) {
    let host_port = authority
        .rsplit_once('@')
        .map_or(authority, |(_, after)| after);
    let port_separator = match host_port.rfind(']') {
        Some(bracket) => host_port[bracket..].find(':').map(|colon| bracket + colon),
        None => host_port.rfind(':'),
    };
    match port_separator {
        Some(colon) => (&host_port[..colon], Some(&host_port[colon + 1..])),
        None => (host_port, None),
    }
}

fn is_default_port(scheme: &str, port: &str) -> bool {
    port.is_empty()
        || (scheme.eq_ignore_ascii_case("http") && port == "80")
        || (scheme.eq_ignore_ascii_case("https") && port == "443")
}

/// `scheme://host[:port]`, scheme and host lowercased in place (no copies: this runs twice per
/// beacon), the port left out when it is the scheme's default.
fn push_origin(kept: &mut String, scheme: &str, host: &str, port: Option<&str>) {
    let start = kept.len();
    kept.push_str(scheme);
    kept.push_str("://");
    kept.push_str(host);
    kept[start..].make_ascii_lowercase();
    if let Some(port) = port.filter(|port| !is_default_port(scheme, port)) {
        kept.push(':');
        kept.push_str(port);
    }
}

/// The longest host name DNS allows.
const MAX_HOST_BYTES: usize = 253;

/// A referrer reduced to its origin: `https://www.google.com/search?q=x` -> `https://www.google.com`.
///
/// Scheme and host are lowercased, userinfo and default ports (80 for http, 443 for https) dropped.
/// Empty for empty or unparseable input, and for hosts that are not plain ASCII names or IP
/// literals (browsers send punycode; anything else was not sent by one).
/// Cuts a URL found inside an event (a request URL, an LCP resource, an error's script) at its query
/// or fragment: those can carry tokens and personal data, and no per-site allow-list applies there.
pub fn strip_query_and_fragment(url: &mut String) {
    if let Some(cut) = url.find(['?', '#']) {
        url.truncate(cut);
    }
}

pub fn referrer_origin(referrer: &str) -> String {
    let Some((scheme, after_scheme)) = split_scheme(referrer.trim()) else {
        return String::new();
    };
    let authority_end = after_scheme
        .find(['/', '\\', '?', '#'])
        .unwrap_or(after_scheme.len());
    let (host, port) = host_and_port(&after_scheme[..authority_end]);
    let host_ok = if let Some(literal) = host.strip_prefix('[') {
        literal
            .strip_suffix(']')
            .is_some_and(|inside| inside.parse::<std::net::Ipv6Addr>().is_ok())
    } else {
        !host.is_empty()
            && host.len() <= MAX_HOST_BYTES
            && host
                .bytes()
                .all(|byte| byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_'))
    };
    let port_ok = port.is_none_or(|port| {
        port.is_empty()
            || (port.len() <= 5
                && port.bytes().all(|byte| byte.is_ascii_digit())
                && port.parse::<u16>().is_ok())
    });
    if !host_ok || !port_ok {
        return String::new();
    }
    let mut origin = String::with_capacity(scheme.len() + 3 + host.len() + 6);
    push_origin(&mut origin, scheme, host, port);
    origin
}

#[cfg(test)]
mod event_url_tests {
    use super::strip_query_and_fragment;

    #[test]
    fn event_urls_lose_query_and_fragment() {
        for (input, expected) in [
            (
                "https://api.example.com/cart?token=secret",
                "https://api.example.com/cart",
            ),
            (
                "https://cdn.example.com/hero.jpg#x",
                "https://cdn.example.com/hero.jpg",
            ),
            ("/relative/path?q=1#f", "/relative/path"),
            ("https://example.com/plain", "https://example.com/plain"),
            ("", ""),
        ] {
            let mut url = input.to_owned();
            strip_query_and_fragment(&mut url);
            assert_eq!(url, expected);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn policy_with_rules(rules: &[&str]) -> RoutePolicy {
        RoutePolicy::new(&RoutePolicyConfig {
            rules: rules.iter().map(|rule| (*rule).to_owned()).collect(),
            ..RoutePolicyConfig::default()
        })
        .expect("valid test policy")
    }

    fn route(url: &str) -> String {
        RoutePolicy::default().scrub(url).route
    }

    fn assert_route_is_safe(route: &str, max_bytes: usize) {
        assert!(route.len() <= max_bytes, "too long: {route:?}");
        assert!(route.starts_with('/'), "no leading slash: {route:?}");
        assert!(!route.contains(['?', '#']), "query or fragment: {route:?}");
        assert!(!route.chars().any(is_unsafe_char), "unsafe char: {route:?}");
        assert!(
            !route
                .split('/')
                .any(|segment| segment == "." || segment == ".."),
            "dot segment: {route:?}"
        );
    }

    // --- URL to keep ---

    #[test]
    fn no_query_string_or_fragment_survives_by_default() {
        let scrubbed = RoutePolicy::default()
            .scrub("https://shop.example.com/products/42?utm_source=mail&email=a%40b.c#reviews");
        assert_eq!(scrubbed.url, "https://shop.example.com/products/42");
        assert_eq!(scrubbed.route, "/products/:id");
        assert_eq!(scrubbed.route_origin, RouteOrigin::Heuristic);
    }

    #[test]
    fn allow_listed_query_params_survive_in_order() {
        let policy = RoutePolicy::new(&RoutePolicyConfig {
            allowed_query_params: vec!["page".to_owned(), "sort by".to_owned()],
            ..RoutePolicyConfig::default()
        })
        .expect("valid policy");
        let scrubbed = policy
            .scrub("https://example.com/list?token=s3cr3t&page=2&sort+by=price&Page=9&page#x");
        assert_eq!(
            scrubbed.url,
            "https://example.com/list?page=2&sort+by=price&page"
        );
        assert_eq!(scrubbed.route, "/list");
        let nothing_allowed = policy.scrub("https://example.com/list?token=s3cr3t");
        assert_eq!(nothing_allowed.url, "https://example.com/list");
    }

    #[test]
    fn userinfo_default_ports_and_host_case_are_normalised() {
        let policy = RoutePolicy::default();
        assert_eq!(
            policy
                .scrub("HTTPS://user:pa%40ss@Shop.Example.COM:443/A/b")
                .url,
            "https://shop.example.com/A/b"
        );
        assert_eq!(
            policy.scrub("http://example.com:80?x=1").url,
            "http://example.com/"
        );
        assert_eq!(
            policy.scrub("http://example.com:8080/").url,
            "http://example.com:8080/"
        );
        assert_eq!(
            policy.scrub("https://[2001:DB8::1]:8443/x").url,
            "https://[2001:db8::1]:8443/x"
        );
    }

    // --- heuristics ---

    #[test]
    fn numeric_ids_become_id() {
        assert_eq!(
            route("https://e.com/users/123/orders/4567"),
            "/users/:id/orders/:id"
        );
        assert_eq!(route("https://e.com/"), "/");
        assert_eq!(route("https://e.com"), "/");
    }

    #[test]
    fn uuids_become_uuid() {
        assert_eq!(
            route("https://e.com/o/3F2504E0-4F89-11D3-9A0C-0305E82C3301/items"),
            "/o/:uuid/items"
        );
        assert_eq!(
            route("https://e.com/o/3f2504e0-4f89-11d3-9a0c-0305e82c3301"),
            "/o/:uuid"
        );
    }

    #[test]
    fn hex_hashes_become_hash() {
        assert_eq!(
            route("https://e.com/commit/da39a3ee5e6b4b0d3255bfef95601890afd80709"),
            "/commit/:hash"
        );
        assert_eq!(route("https://e.com/c/3f2a9c1d"), "/c/:hash");
        assert_eq!(route("https://e.com/c/deadbeefdeadbeef"), "/c/:hash");
        // Short, or all letters: words, not hashes.
        assert_eq!(route("https://e.com/c/deadbeef"), "/c/deadbeef");
        assert_eq!(route("https://e.com/c/facade"), "/c/facade");
        assert_eq!(route("https://e.com/c/abc123"), "/c/abc123");
    }

    #[test]
    fn emails_become_email() {
        assert_eq!(
            route("https://e.com/users/jane.doe@example.com/profile"),
            "/users/:email/profile"
        );
        assert_eq!(
            route("https://e.com/users/jane.doe%40example.com"),
            "/users/:email"
        );
        assert_eq!(route("https://e.com/@jane"), "/@jane");
    }

    #[test]
    fn random_tokens_become_token_but_slugs_stay() {
        assert_eq!(
            route("https://e.com/reset/aZ3kP9qLm2XvB7nR4tYw8"),
            "/reset/:token"
        );
        assert_eq!(
            route("https://e.com/s/eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOjEyM30.abc_DEF-123"),
            "/s/:token"
        );
        assert_eq!(route("https://e.com/i/k3j4h5g6f7d8s9a0q1w2e3"), "/i/:token");
        assert_eq!(
            route("https://e.com/blog/how-we-cut-lcp-in-half-2024"),
            "/blog/how-we-cut-lcp-in-half-2024"
        );
        assert_eq!(
            route("https://e.com/Products/BlueShirt"),
            "/Products/BlueShirt"
        );
    }

    #[test]
    fn ids_keep_a_short_extension() {
        assert_eq!(
            route("https://e.com/article/123456.html"),
            "/article/:id.html"
        );
        assert_eq!(route("https://e.com/a/3f2a9c1d8e7b6a5f.js"), "/a/:hash.js");
        assert_eq!(route("https://e.com/docs/intro.html"), "/docs/intro.html");
    }

    #[test]
    fn trailing_and_repeated_slashes_do_not_split_routes() {
        assert_eq!(route("https://e.com/about/"), "/about");
        assert_eq!(route("https://e.com//about//team/"), "/about/team");
        assert_eq!(route("https://e.com/about"), "/about");
    }

    #[test]
    fn paths_keep_their_case_and_decoded_unicode() {
        assert_eq!(route("https://e.com/Docs/README"), "/Docs/README");
        assert_eq!(route("https://e.com/caf%C3%A9/men%C3%BC"), "/café/menü");
        assert_eq!(route("https://e.com/café"), "/café");
    }

    // --- hostile paths ---

    #[test]
    fn traversal_never_climbs_above_the_root() {
        assert_eq!(route("https://e.com/a/b/../c"), "/a/c");
        assert_eq!(route("https://e.com/../../etc/passwd"), "/etc/passwd");
        assert_eq!(route("https://e.com/a/./b/."), "/a/b");
        assert_eq!(route("https://e.com/a/%2e%2e/%2E%2E/%2e/x"), "/x");
        assert_eq!(route("https://e.com/a/.%2e/b"), "/b");
        assert_eq!(route("https://e.com/a\\..\\b"), "/b");
        // One decoding pass only: `%252e%252e` is the literal text `%2e%2e`.
        assert_eq!(route("https://e.com/a/%252e%252e"), "/a/%2e%2e");
    }

    #[test]
    fn encoded_separators_stay_inside_their_segment() {
        assert_eq!(route("https://e.com/files/a%2Fb"), "/files/a%2Fb");
        assert_eq!(
            route("https://e.com/files/..%2F..%2Fetc"),
            "/files/..%2F..%2Fetc"
        );
        assert_eq!(route("https://e.com/q/a%3Fb%23c%5Cd"), "/q/a%3Fb%23c%5Cd");
    }

    #[test]
    fn control_invisible_and_invalid_bytes_are_replaced() {
        assert_eq!(route("https://e.com/a%00b/c"), "/:invalid/c");
        assert_eq!(route("https://e.com/a%0d%0aSet-Cookie"), "/:invalid");
        assert_eq!(route("https://e.com/%FF%FE"), "/:invalid");
        assert_eq!(route("https://e.com/admin%E2%80%AEnimda"), "/:invalid");
        assert_eq!(route("https://e.com/x%zz%"), "/x%zz%");
    }

    #[test]
    fn long_segments_become_long() {
        let title = "a-very-long-free-text-title-".repeat(5);
        assert_eq!(
            route(&format!("https://e.com/search/{title}")),
            "/search/:long"
        );
    }

    #[test]
    fn deep_paths_collapse_into_rest() {
        assert_eq!(
            route("https://e.com/a/b/c/d/e/f/g/h/i/j/k"),
            "/a/b/c/d/e/f/g/h/:rest"
        );
        assert_eq!(route("https://e.com/a/b/c/d/e/f/g/h"), "/a/b/c/d/e/f/g/h");
        let small = RoutePolicy::new(&RoutePolicyConfig {
            max_segments: 2,
            ..RoutePolicyConfig::default()
        })
        .expect("valid policy");
        assert_eq!(small.scrub("https://e.com/a/b/c").route, "/a/b/:rest");
    }

    #[test]
    fn byte_cap_cuts_at_a_segment_boundary() {
        let policy = RoutePolicy::new(&RoutePolicyConfig {
            max_route_bytes: MIN_ROUTE_BYTES,
            ..RoutePolicyConfig::default()
        })
        .expect("valid policy");
        let scrubbed = policy.scrub("https://e.com/aaaaaaaaaa/bbbbbbbbbb/cccccccccc/dddddddddd");
        assert_eq!(scrubbed.route, "/aaaaaaaaaa/bbbbbbbbbb/:rest");
        let exact = policy.scrub("https://e.com/aaaaaaaaaa/bbbbbbbbbb/ccccccccc");
        assert_eq!(exact.route, "/aaaaaaaaaa/bbbbbbbbbb/ccccccccc");
        assert_eq!(exact.route.len(), MIN_ROUTE_BYTES);
    }

    #[test]
    fn very_long_hostile_url_gives_a_bounded_route() {
        let path = "%2e%2e/%00/%F0%9F%92%A9/x/".repeat(200);
        let scrubbed = RoutePolicy::default().scrub(&format!("https://e.com/{path}?q=1#f"));
        assert_route_is_safe(&scrubbed.route, DEFAULT_MAX_ROUTE_BYTES);
        // Each `..` removes the `x` before it, so the `x` survives only at the end, beyond the cap.
        assert_eq!(
            scrubbed.route,
            "/:invalid/💩/:invalid/💩/:invalid/💩/:invalid/💩/:rest"
        );
    }

    #[test]
    fn non_urls_are_read_as_paths() {
        let policy = RoutePolicy::default();
        assert_eq!(policy.scrub("").route, "/");
        assert_eq!(policy.scrub("users/42?x").route, "/users/:id");
        assert_eq!(policy.scrub("users/42?x").url, "users/42");
        assert_eq!(
            policy.scrub("javascript:alert(1)").route,
            "/javascript:alert(1)"
        );
    }

    // --- per-site rules ---

    #[test]
    fn named_segment_rules_win_over_heuristics() {
        let policy = policy_with_rules(&["/products/:slug", "/products/:slug/reviews/:review"]);
        let scrubbed = policy.scrub("https://e.com/products/blue-shirt-123?ref=x");
        assert_eq!(scrubbed.route, "/products/:slug");
        assert_eq!(scrubbed.route_origin, RouteOrigin::Rule);
        // A numeric slug is still the rule's `:slug`, not the heuristics' `:id`.
        assert_eq!(
            policy.scrub("https://e.com/products/42").route,
            "/products/:slug"
        );
        assert_eq!(
            policy.scrub("https://e.com/products/42/reviews/7/").route,
            "/products/:slug/reviews/:review"
        );
        // Literals are case sensitive and lengths must agree.
        let unmatched = policy.scrub("https://e.com/Products/42");
        assert_eq!(unmatched.route, "/Products/:id");
        assert_eq!(unmatched.route_origin, RouteOrigin::Heuristic);
        assert_eq!(
            policy.scrub("https://e.com/products/a/b").route,
            "/products/a/b"
        );
    }

    #[test]
    fn glob_rules_match_one_segment_or_the_rest() {
        let policy = policy_with_rules(&["/static/*/img", "/docs/** => /docs", "/assets/**", "/"]);
        assert_eq!(
            policy.scrub("https://e.com/static/v2/img").route,
            "/static/*/img"
        );
        assert_eq!(
            policy.scrub("https://e.com/static/v2/img/x").route,
            "/static/v2/img/x"
        );
        assert_eq!(policy.scrub("https://e.com/docs").route, "/docs");
        assert_eq!(
            policy.scrub("https://e.com/docs/guide/install/linux").route,
            "/docs"
        );
        assert_eq!(policy.scrub("https://e.com/assets/a/b").route, "/assets/**");
        let root = policy.scrub("https://e.com/?x=1");
        assert_eq!(
            (root.route.as_str(), root.route_origin),
            ("/", RouteOrigin::Rule)
        );
    }

    #[test]
    fn rules_match_the_normalised_decoded_path() {
        let policy = policy_with_rules(&["/café/:item"]);
        assert_eq!(
            policy.scrub("https://e.com/x/../caf%C3%A9//latte/").route,
            "/café/:item"
        );
    }

    #[test]
    fn regex_rules_expand_their_template() {
        let policy = policy_with_rules(&[
            r"regex:^/blog/(\d{4})/[^/]+$ => /blog/${1}/:post",
            r"regex:^/(?P<lang>[a-z]{2})/shop(/.*)?$ => /${lang}/shop",
        ]);
        let scrubbed = policy.scrub("https://e.com/blog/2024/hello-world");
        assert_eq!(scrubbed.route, "/blog/2024/:post");
        assert_eq!(scrubbed.route_origin, RouteOrigin::Rule);
        assert_eq!(
            policy.scrub("https://e.com/de/shop/cart/42").route,
            "/de/shop"
        );
        assert_eq!(
            policy.scrub("https://e.com/blog/2024/a/b").route,
            "/blog/:id/a/b"
        );
    }

    #[test]
    fn regex_captures_are_sanitised() {
        let policy = policy_with_rules(&[r"regex:^/p/(.*)$ => /p/${1}"]);
        let scrubbed = policy.scrub("https://e.com/p/..x/%00/a%3Fb/..%2F/c/d/e/f/g/h/i/j");
        assert_route_is_safe(&scrubbed.route, DEFAULT_MAX_ROUTE_BYTES);
        assert_eq!(scrubbed.route, "/p/..x/:invalid/a%3Fb/..%2F/c/d/e/:rest");
        // A capture can be a bare `..` even though the path it came from has no dot segments.
        let dots = policy_with_rules(&[r"regex:^/a/(\.+)x$ => /a/${1}"]);
        assert_eq!(dots.scrub("https://e.com/a/..x").route, "/a/:invalid");
    }

    #[test]
    fn first_matching_rule_wins() {
        let policy = policy_with_rules(&["/a/:first", "/a/*", "regex:^/a/.*$ => /a/regex"]);
        assert_eq!(policy.scrub("https://e.com/a/b").route, "/a/:first");
    }

    #[test]
    fn rule_errors_name_the_rule() {
        for (rule, expected) in [
            ("products/:slug", "a rule starts with `/` or `regex:`"),
            ("/docs/**/more", "`**` must be the last segment"),
            ("/img*/x", "`*` and `**` must be whole segments"),
            (
                "/a/:",
                "a `:name` segment needs a name of letters, digits and `_`",
            ),
            (
                "/a/:bad-name",
                "a `:name` segment needs a name of letters, digits and `_`",
            ),
            ("/a/../b", "dot segments never match a normalised path"),
            ("regex:^/a$", "a regex rule needs `=> /template`"),
            ("/a => a", "the template must start with `/`"),
            (
                "/a => /a?x",
                "the template must not contain `?`, `#`, `\\` or control characters",
            ),
            (
                "/a => /a\\b",
                "the template must not contain `?`, `#`, `\\` or control characters",
            ),
            (
                "/a => /../a",
                "the template must not contain `.` or `..` segments",
            ),
            (
                "/a => /1/2/3/4/5/6/7/8/9",
                "the template has more segments than `max_segments`",
            ),
        ] {
            let error = RoutePolicy::new(&RoutePolicyConfig {
                rules: vec!["/fine".to_owned(), rule.to_owned()],
                ..RoutePolicyConfig::default()
            })
            .expect_err(rule);
            assert_eq!(
                error.to_string(),
                format!("route rule `{rule}`: {expected}")
            );
        }
        let error = RoutePolicy::new(&RoutePolicyConfig {
            rules: vec!["regex:^/a(b => /a".to_owned()],
            ..RoutePolicyConfig::default()
        })
        .expect_err("bad regex");
        assert!(
            error
                .to_string()
                .starts_with("route rule `regex:^/a(b => /a`: invalid regex:"),
            "{error}"
        );
        let long_segment = format!("/a => /{}", "x".repeat(MAX_SEGMENT_BYTES + 1));
        let error = RoutePolicy::new(&RoutePolicyConfig {
            rules: vec![long_segment.clone()],
            ..RoutePolicyConfig::default()
        })
        .expect_err("long template segment");
        assert_eq!(
            error.to_string(),
            format!(
                "route rule `{long_segment}`: a template segment is longer than {MAX_SEGMENT_BYTES} bytes"
            )
        );
        let long_template = format!("/a => /{}", "x".repeat(DEFAULT_MAX_ROUTE_BYTES));
        assert!(
            RoutePolicy::new(&RoutePolicyConfig {
                rules: vec![long_template],
                ..RoutePolicyConfig::default()
            })
            .is_err()
        );
    }

    #[test]
    fn limits_are_validated_by_key() {
        let error = RoutePolicy::new(&RoutePolicyConfig {
            max_segments: 0,
            ..RoutePolicyConfig::default()
        })
        .expect_err("zero segments");
        assert_eq!(
            error.to_string(),
            "`max_segments` must be between 1 and 64, got 0"
        );
        let error = RoutePolicy::new(&RoutePolicyConfig {
            max_route_bytes: 8,
            ..RoutePolicyConfig::default()
        })
        .expect_err("tiny cap");
        assert_eq!(
            error.to_string(),
            "`max_route_bytes` must be between 32 and 1024, got 8"
        );
    }

    #[test]
    fn origin_labels_are_stable() {
        let labels: Vec<&str> = RouteOrigin::ALL.iter().map(|o| o.as_str()).collect();
        assert_eq!(labels, ["rule", "heuristic"]);
    }

    // --- referrers ---

    #[test]
    fn referrers_reduce_to_their_origin() {
        for (referrer, origin) in [
            ("https://www.google.com/", "https://www.google.com"),
            (
                "https://www.google.com/search?q=secret#x",
                "https://www.google.com",
            ),
            (
                "HTTPS://User:Pw@WWW.Example.COM:443/path",
                "https://www.example.com",
            ),
            ("http://example.com:80", "http://example.com"),
            ("http://example.com:8080/a", "http://example.com:8080"),
            ("https://example.com:/a", "https://example.com"),
            ("https://[2001:DB8::1]:443/", "https://[2001:db8::1]"),
            ("https://[2001:db8::1]:8443/", "https://[2001:db8::1]:8443"),
            ("https://203.0.113.7/x", "https://203.0.113.7"),
            (
                "android-app://com.google.android.gm/",
                "android-app://com.google.android.gm",
            ),
            ("  https://e.com?x  ", "https://e.com"),
        ] {
            assert_eq!(referrer_origin(referrer), origin, "{referrer}");
        }
    }

    #[test]
    fn unparseable_referrers_are_empty() {
        for referrer in [
            "",
            "   ",
            "www.google.com",
            "/relative/path",
            "javascript:alert(1)",
            "data:text/html,hi",
            "https://",
            "https:///path",
            "https://user@/x",
            "https://exa mple.com/",
            "https://bücher.de/",
            "https://e.com:99999/",
            "https://e.com:8o/",
            "https://[not-v6]/",
            "https://e.com%00.evil/",
            "1https://e.com/",
        ] {
            assert_eq!(referrer_origin(referrer), "", "{referrer:?}");
        }
    }

    // --- properties ---

    fn hostile_path() -> impl Strategy<Value = String> {
        proptest::string::string_regex(
            "([/\\\\.?#%@:+=_-]|%2[eEfF]|%00|%0[aAdD]|%[0-9a-fA-F]{2}|[a-zA-Z0-9]{1,30}|\\.\\.|é|\u{202E}|\u{0}){0,400}",
        )
        .expect("valid strategy regex")
    }

    proptest! {
        #[test]
        fn any_string_gives_a_safe_bounded_route(input in any::<String>()) {
            let policy = RoutePolicy::default();
            assert_route_is_safe(&policy.scrub(&input).route, DEFAULT_MAX_ROUTE_BYTES);
            let as_url = format!("https://e.com/{input}");
            let scrubbed = policy.scrub(&as_url);
            assert_route_is_safe(&scrubbed.route, DEFAULT_MAX_ROUTE_BYTES);
            prop_assert!(!scrubbed.url.contains(['?', '#']));
        }

        #[test]
        fn hostile_paths_give_a_safe_bounded_route(
            path in hostile_path(),
            max_route_bytes in MIN_ROUTE_BYTES..=DEFAULT_MAX_ROUTE_BYTES,
            max_segments in 2usize..=12,
        ) {
            let policy = RoutePolicy::new(&RoutePolicyConfig {
                max_route_bytes,
                max_segments,
                rules: vec![r"regex:^/r/(.*)$ => /r/${1}".to_owned()],
                ..RoutePolicyConfig::default()
            })
            .expect("valid policy");
            for url in [format!("https://e.com/{path}"), format!("https://e.com/r/{path}")] {
                let scrubbed = policy.scrub(&url);
                assert_route_is_safe(&scrubbed.route, max_route_bytes);
                let segment_count = scrubbed.route.split('/').filter(|s| !s.is_empty()).count();
                prop_assert!(segment_count <= max_segments + 1, "{}", scrubbed.route);
                prop_assert!(!scrubbed.url.contains(['?', '#']));
            }
        }

        #[test]
        fn referrer_origin_never_keeps_a_path_or_query(input in any::<String>()) {
            let origin = referrer_origin(&input);
            if !origin.is_empty() {
                let after_scheme = origin.split_once("://").map(|(_, rest)| rest).unwrap_or("");
                prop_assert!(!after_scheme.contains(['/', '?', '#', '@']), "{}", origin);
            }
        }
    }
}
