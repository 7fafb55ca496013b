//! URLs as scrubbing reads them: a page URL cut into scheme, authority, path and query (borrowed,
//! no allocation), the path normalised into percent-decoded segments, separators re-encoded inside a
//! segment, and a referrer reduced to its origin.
//!
//! This module must never decode twice (`%252e` is the text `%2e`, not a dot), never panic on any
//! input (every cut is at an ASCII character), and never keep userinfo or a fragment.

use std::borrow::Cow;

/// The path's segments: split on `/` and `\`, percent-decoded once, empty and `.` segments dropped,
/// `..` removing its parent but never climbing above the root. Decoding first means `%2e%2e` is a
/// `..` too, as it is to browsers and servers.
pub(super) fn normalised_segments(path: &str) -> Vec<Cow<'_, str>> {
    // Room for most paths up front: growing from 4 to 8 cost an allocation and a copy a URL.
    let mut segments: Vec<Cow<'_, str>> = Vec::with_capacity(8);
    for raw in path.split(['/', '\\']) {
        if raw.is_empty() {
            continue;
        }
        let decoded = percent_decoded(raw);
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

/// `/`, `\`, `?` and `#` inside a decoded segment, percent-encoded again so they cannot act as
/// separators in the route.
pub(super) fn encode_reserved(segment: &str) -> Cow<'_, str> {
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

/// One pass of percent-decoding, then UTF-8 with invalid sequences replaced by U+FFFD (which the
/// route turns into `:invalid`). Malformed escapes (`%zz`, a trailing `%`) stay as they are; no
/// second pass, so `%252e` is the text `%2e`, not a dot. Borrows when nothing was decoded.
pub(super) fn percent_decoded(text: &str) -> Cow<'_, str> {
    percent_encoding::percent_decode_str(text).decode_utf8_lossy()
}

/// A query parameter name as a form would decode it (`+` is a space).
pub(super) fn decode_query_component(raw: &str) -> Cow<'_, str> {
    if raw.contains('+') {
        let spaced = raw.replace('+', " ");
        Cow::Owned(percent_decoded(&spaced).into_owned())
    } else {
        percent_decoded(raw)
    }
}

/// A URL cut into the parts scrubbing needs. Fragment and userinfo are never looked at again.
pub(super) struct UrlParts<'a> {
    pub(super) scheme: Option<&'a str>,
    pub(super) authority: Option<&'a str>,
    pub(super) path: &'a str,
    pub(super) query: Option<&'a str>,
}

impl<'a> UrlParts<'a> {
    pub(super) fn split(url: &'a str) -> Self {
        let without_fragment = url.split_once('#').map_or(url, |(before, _)| before);
        let (scheme, authority, path_and_query) = match split_scheme(without_fragment) {
            Some((scheme, after_scheme)) => {
                let authority_end =
                    position_of_any(after_scheme, b"/\\?").unwrap_or(after_scheme.len());
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

/// The first byte of `text` that is one of `set` (ASCII only, so the index is a char boundary).
/// A byte loop: `str::find` with a char array decodes every character and costs several times
/// more on the URLs of a beacon (callgrind, issue 20).
#[inline]
pub(super) fn position_of_any(text: &str, set: &[u8]) -> Option<usize> {
    debug_assert!(set.is_ascii());
    text.bytes().position(|byte| set.contains(&byte))
}

/// `scheme` and what follows `://`, if `text` starts with a syntactically valid scheme.
fn split_scheme(text: &str) -> Option<(&str, &str)> {
    // The first `://` is at the first `:` or the scheme before it holds a `:` and is invalid
    // anyway: one byte search instead of a substring search's set-up.
    let colon = text.bytes().position(|byte| byte == b':')?;
    let (scheme, rest) = (&text[..colon], text[colon + 1..].strip_prefix("//")?);
    let mut bytes = scheme.bytes();
    let valid = bytes
        .next()
        .is_some_and(|first| first.is_ascii_alphabetic())
        && bytes.all(|byte| byte.is_ascii_alphanumeric() || matches!(byte, b'+' | b'-' | b'.'));
    valid.then_some((scheme, rest))
}

/// Host and port of an authority: userinfo dropped, host lowercased, an IPv6 literal kept in
/// brackets. `None` when the port is not a number.
pub(super) fn host_and_port(authority: &str) -> (&str, Option<&str>) {
    // Byte loops: an authority is a few dozen bytes, where `memrchr`'s set-up costs more than
    // the scan (callgrind, issue 20). Every cut is at an ASCII byte, so at a char boundary.
    let last = |text: &str, wanted: u8| text.bytes().rposition(|byte| byte == wanted);
    let host_port = last(authority, b'@').map_or(authority, |at| &authority[at + 1..]);
    let port_separator = match last(host_port, b']') {
        Some(bracket) => host_port[bracket..]
            .bytes()
            .position(|byte| byte == b':')
            .map(|colon| bracket + colon),
        None => last(host_port, b':'),
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
pub(super) fn push_origin(kept: &mut String, scheme: &str, host: &str, port: Option<&str>) {
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

/// Cuts a URL found inside an event (a request URL, an LCP resource, an error's script) at its query
/// or fragment: those can carry tokens and personal data, and no per-site allow-list applies there.
pub fn strip_query_and_fragment(url: &mut String) {
    if let Some(cut) = position_of_any(url, b"?#") {
        url.truncate(cut);
    }
}

/// A referrer reduced to its origin: `https://www.google.com/search?q=x` -> `https://www.google.com`.
///
/// Scheme and host are lowercased, userinfo and default ports (80 for http, 443 for https) dropped.
/// Empty for empty or unparseable input, and for hosts that are not plain ASCII names or IP
/// literals (browsers send punycode; anything else was not sent by one).
pub fn referrer_origin(referrer: &str) -> String {
    let mut origin = String::new();
    push_checked_origin(&mut origin, referrer);
    origin
}

/// Appends [`referrer_origin`]'s answer for `url` to `out`; `false` (and nothing appended) when
/// that answer is empty. Lets a caller reuse one buffer for the origin and what follows it.
pub(super) fn push_checked_origin(out: &mut String, url: &str) -> bool {
    let Some((scheme, after_scheme)) = split_scheme(url.trim()) else {
        return false;
    };
    let authority_end = position_of_any(after_scheme, b"/\\?#").unwrap_or(after_scheme.len());
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
        return false;
    }
    out.reserve(scheme.len() + 3 + host.len() + 6);
    push_origin(out, scheme, host, port);
    true
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::{split_scheme, strip_query_and_fragment};

    proptest! {
        /// `split_scheme` looks for the first `:` only; the scheme it finds is the one before the
        /// first `://`, which is the definition.
        #[test]
        fn the_scheme_ends_at_the_first_separator(text in "[a-zA-Z0-9+.:/ -]{0,24}") {
            let by_definition = text.split_once("://").filter(|(scheme, _)| {
                let mut bytes = scheme.bytes();
                bytes.next().is_some_and(|first| first.is_ascii_alphabetic())
                    && bytes.all(|byte| byte.is_ascii_alphanumeric() || matches!(byte, b'+' | b'-' | b'.'))
            });
            prop_assert_eq!(split_scheme(&text), by_definition);
        }
    }

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
