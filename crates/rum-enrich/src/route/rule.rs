//! Per-site route rules: `/products/:slug` (a named segment), `/static/*` (any one segment),
//! `/docs/**` (the rest), each optionally `=> /template`, and `regex:PATTERN => /template`; parsed
//! once when the policy is built, then matched against the normalised path of every beacon.
//!
//! A rule must fail when it is loaded, never on a request: templates are checked to already be
//! safe routes (leading `/`, no `?`, `#`, `\`, control characters or dot segments, within the
//! caps), and a regex gets a compiled size limit. A regex capture is user input, so it must never
//! reach a route except through the same sanitising and caps as the heuristics' output.

use std::borrow::Cow;

use regex::{Regex, RegexBuilder};

use super::url::{encode_reserved, percent_decoded};
use super::{MAX_SEGMENT_BYTES, RouteLimits, RoutePolicyError, is_unsafe_char, sanitised_route};

/// Compiled size limit for one `regex:` rule, so a pathological rule fails at load time instead of
/// taking memory from the collector.
const MAX_RULE_REGEX_BYTES: usize = 1 << 20;

/// One compiled route rule.
#[derive(Clone, Debug)]
pub(super) enum RouteRule {
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
pub(super) enum PatternSegment {
    /// Matches the decoded segment exactly (paths are case sensitive).
    Literal(String),
    /// `:name` or `*`: matches any one segment.
    Any,
}

impl RouteRule {
    pub(super) fn parse(rule: &str, limits: RouteLimits) -> Result<Self, RoutePolicyError> {
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
                        let decoded = percent_decoded(segment);
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

pub(super) fn segments_match(
    pattern: &[PatternSegment],
    open_ended: bool,
    segments: &[Cow<'_, str>],
) -> bool {
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
pub(super) fn render_path(segments: &[Cow<'_, str>]) -> String {
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
