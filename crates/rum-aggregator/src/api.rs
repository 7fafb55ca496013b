//! The JSON endpoints the admin listener serves beside `/metrics` (docs/api.md): answered on the
//! stage-2 thread from the same state the exposition reads.
//!
//! - `GET /api/v1/errors?site=S&limit=N`: the most frequent error groups per site (all sites, or
//!   `site`), `limit` per site (default `aggregator.top_errors`, at most 1000).
//! - `GET /api/v1/sites`, `/api/v1/summary`, `/api/v1/breakdown`: what the built-in view reads
//!   ([`view`]).
//!
//! Bad input is a 400 with a JSON `{"error": reason}`; an unknown path is not answered here (the
//! listener says 404).

mod view;

use serde_json::json;

use crate::error_groups::{MAX_API_LIMIT, errors_json};
use crate::stage2::Stage2;

/// An answer: HTTP status and a JSON body.
pub type ApiAnswer = (u16, String);

/// Paths this module answers.
pub const PATHS: [&str; 4] = [
    "/api/v1/errors",
    "/api/v1/sites",
    "/api/v1/summary",
    "/api/v1/breakdown",
];

/// The answer to `path?query`, or `None` when the path is not an API path.
pub fn answer(stages: &[&Stage2], path: &str, query: &str) -> Option<ApiAnswer> {
    match path {
        "/api/v1/errors" => Some(errors(stages, query)),
        "/api/v1/sites" => Some(view::sites(stages, query)),
        "/api/v1/summary" => Some(view::summary(stages, query)),
        "/api/v1/breakdown" => Some(view::breakdown(stages, query)),
        _ => None,
    }
}

fn errors(stages: &[&Stage2], query: &str) -> ApiAnswer {
    let default_limit = stages
        .first()
        .map_or(20, |stage2| stage2.settings().top_errors);
    let mut site = None;
    let mut limit = default_limit;
    for (name, value) in parameters(query) {
        match name.as_str() {
            "site" => site = Some(value),
            "limit" => match value.parse::<usize>() {
                Ok(number) if (1..=MAX_API_LIMIT).contains(&number) => limit = number,
                _ => {
                    return bad_request(&format!(
                        "limit must be a whole number 1..{MAX_API_LIMIT}"
                    ));
                }
            },
            other => return bad_request(&format!("unknown parameter {other:?}; use site, limit")),
        }
    }
    if let Some(wanted) = &site {
        let known = stages
            .iter()
            .flat_map(|stage2| stage2.error_groups())
            .any(|(name, _)| &**name == wanted)
            || stages
                .iter()
                .flat_map(|stage2| stage2.segments())
                .any(|(key, _)| &*key.values[0] == wanted);
        if !known {
            return bad_request(&format!("unknown site {wanted:?} (no data for it here)"));
        }
    }
    (200, errors_json(stages, site.as_deref(), limit).to_string())
}

fn bad_request(reason: &str) -> ApiAnswer {
    (400, json!({ "error": reason }).to_string())
}

/// `a=1&b=x%20y` -> [("a", "1"), ("b", "x y")]; `+` is a space.
fn parameters(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            (decode(name), decode(value))
        })
        .collect()
}

fn decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let hex = |byte: u8| char::from(byte).to_digit(16).map(|digit| digit as u8);
    let mut out = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        let byte = bytes[index];
        let escaped = (byte == b'%' && index + 2 < bytes.len())
            .then(|| Some(hex(bytes[index + 1])? << 4 | hex(bytes[index + 2])?))
            .flatten();
        match (byte, escaped) {
            (_, Some(decoded)) => {
                out.push(decoded);
                index += 2;
            }
            (b'+', None) => out.push(b' '),
            (other, None) => out.push(other),
        }
        index += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::AggregatorSettings;

    #[test]
    fn bad_input_is_a_400_with_a_reason() {
        let stage2 = Stage2::new(AggregatorSettings::default());
        for (query, reason) in [
            ("limit=0", "limit must be"),
            ("limit=1001", "limit must be"),
            ("limit=ten", "limit must be"),
            ("window=5m", "unknown parameter \"window\""),
            ("site=nowhere", "unknown site \"nowhere\""),
        ] {
            let (status, body) = answer(&[&stage2], "/api/v1/errors", query).unwrap();
            assert_eq!(status, 400, "{query}");
            let body: serde_json::Value = serde_json::from_str(&body).unwrap();
            assert!(
                body["error"].as_str().unwrap().contains(reason),
                "{query}: {body}"
            );
        }
        let (status, body) = answer(&[&stage2], "/api/v1/errors", "").unwrap();
        assert_eq!((status, body.as_str()), (200, r#"{"sites":[]}"#));
        assert!(answer(&[&stage2], "/api/v1/nothing", "").is_none());
    }

    #[test]
    fn parameters_are_percent_decoded() {
        assert_eq!(
            parameters("site=my%20shop&limit=5&x"),
            vec![
                ("site".to_owned(), "my shop".to_owned()),
                ("limit".to_owned(), "5".to_owned()),
                ("x".to_owned(), String::new()),
            ]
        );
        assert_eq!(decode("a+b%2"), "a b%2");
        assert_eq!(decode("%zz%41"), "%zzA");
    }
}
