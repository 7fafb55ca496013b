//! Serves the browser script (`sdk/dist/rum.js`, embedded at build time) on the public listener:
//!
//! - `GET /rum.js`: short-cached (`max-age=300`) so a new release reaches pages within minutes;
//! - `GET /rum-<hash>.js`: the same bytes under a content-hashed name, cached for a year
//!   (`immutable`), for pages that pin a release. `/rum.js` names it in `X-Rum-Script-Path`.
//!
//! Both carry a strong `ETag` (content hash; `If-None-Match` answers 304), `Content-Type:
//! text/javascript`, gzip when the client accepts it (`Vary: Accept-Encoding`), and
//! `Access-Control-Allow-Origin: *` so `<script crossorigin>` works. The script is compressed once at
//! startup; the request path only picks a prepared body.

use std::io::Write;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Response, StatusCode, header};
use http_body_util::Full;

/// The built script. `sdk/dist/` is committed, and the SDK's tests check it is exactly what the
/// sources build to, so a cargo-only build needs no Node.
const SCRIPT: &[u8] = include_bytes!("../../../sdk/dist/rum.js");

const SHORT_CACHE: &str = "public, max-age=300";
const LONG_CACHE: &str = "public, max-age=31536000, immutable";

/// The script in its served forms.
pub(crate) struct BrowserScript {
    raw: Bytes,
    gzip: Bytes,
    etag: HeaderValue,
    /// `/rum-<hash>.js`.
    versioned_path: String,
}

/// FNV-1a 64: a stable content hash for the ETag and the versioned name (not a security boundary).
fn content_hash(bytes: &[u8]) -> u64 {
    rum_schema::stable_hash::fnv1a(bytes)
}

impl BrowserScript {
    pub(crate) fn embedded() -> Self {
        Self::new(SCRIPT)
    }

    fn new(script: &[u8]) -> Self {
        let hash = format!("{:016x}", content_hash(script));
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        encoder
            .write_all(script)
            .expect("compressing into memory cannot fail");
        let gzip = encoder
            .finish()
            .expect("compressing into memory cannot fail");
        Self {
            raw: Bytes::copy_from_slice(script),
            gzip: Bytes::from(gzip),
            etag: HeaderValue::from_str(&format!("\"{hash}\"")).expect("hex is a valid header"),
            versioned_path: format!("/rum-{}.js", &hash[..12]),
        }
    }

    pub(crate) fn versioned_path(&self) -> &str {
        &self.versioned_path
    }

    /// Whether `path` is one of the script's paths.
    pub(crate) fn serves(&self, path: &str) -> bool {
        path == "/rum.js" || path == self.versioned_path
    }

    /// The response to a GET or HEAD of `path` (one of [`serves`](Self::serves)).
    pub(crate) fn respond(
        &self,
        path: &str,
        headers: &HeaderMap,
        head_only: bool,
    ) -> Response<Full<Bytes>> {
        let cache = if path == "/rum.js" {
            SHORT_CACHE
        } else {
            LONG_CACHE
        };
        let mut response = Response::new(Full::new(Bytes::new()));
        let out = response.headers_mut();
        out.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
        out.insert(header::ETAG, self.etag.clone());
        out.insert(header::VARY, HeaderValue::from_static("Accept-Encoding"));
        out.insert(
            header::ACCESS_CONTROL_ALLOW_ORIGIN,
            HeaderValue::from_static("*"),
        );
        out.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/javascript; charset=utf-8"),
        );
        out.insert(
            "x-rum-script-path",
            HeaderValue::from_str(&self.versioned_path).expect("ascii path"),
        );
        let not_modified = headers
            .get_all(header::IF_NONE_MATCH)
            .iter()
            .filter_map(|value| value.to_str().ok())
            .flat_map(|value| value.split(','))
            .any(|tag| {
                let tag = tag.trim().trim_start_matches("W/");
                tag == "*" || tag.as_bytes() == self.etag.as_bytes()
            });
        if not_modified {
            *response.status_mut() = StatusCode::NOT_MODIFIED;
            return response;
        }
        let accepts_gzip = headers
            .get_all(header::ACCEPT_ENCODING)
            .iter()
            .filter_map(|value| value.to_str().ok())
            .flat_map(|value| value.split(','))
            .any(|coding| {
                let mut parts = coding.split(';');
                let name = parts.next().unwrap_or("").trim();
                let refused = parts.any(|parameter| {
                    parameter
                        .trim()
                        .strip_prefix("q=")
                        .and_then(|q| q.trim().parse::<f32>().ok())
                        == Some(0.0)
                });
                name.eq_ignore_ascii_case("gzip") && !refused
            });
        let body = if accepts_gzip {
            response
                .headers_mut()
                .insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
            self.gzip.clone()
        } else {
            self.raw.clone()
        };
        response
            .headers_mut()
            .insert(header::CONTENT_LENGTH, HeaderValue::from(body.len()));
        if !head_only {
            *response.body_mut() = Full::new(body);
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        pairs
            .iter()
            .map(|(name, value)| {
                (
                    http::HeaderName::from_static(name),
                    HeaderValue::from_static(value),
                )
            })
            .collect()
    }

    #[test]
    fn gzip_only_when_accepted() {
        let script = BrowserScript::new(b"console.log('rum')");
        let plain = script.respond("/rum.js", &HeaderMap::new(), false);
        assert!(plain.headers().get(header::CONTENT_ENCODING).is_none());
        let gzip = script.respond(
            "/rum.js",
            &headers(&[("accept-encoding", "br, gzip")]),
            false,
        );
        assert_eq!(gzip.headers()[header::CONTENT_ENCODING], "gzip");
        let refused = script.respond(
            "/rum.js",
            &headers(&[("accept-encoding", "gzip;q=0")]),
            false,
        );
        assert!(refused.headers().get(header::CONTENT_ENCODING).is_none());
    }

    #[test]
    fn etag_revalidation_and_cache_lifetimes() {
        let script = BrowserScript::new(b"console.log('rum')");
        let first = script.respond("/rum.js", &HeaderMap::new(), false);
        assert_eq!(first.headers()[header::CACHE_CONTROL], SHORT_CACHE);
        let etag = first.headers()[header::ETAG]
            .to_str()
            .expect("ascii")
            .to_owned();
        let mut conditional = HeaderMap::new();
        conditional.insert(
            header::IF_NONE_MATCH,
            HeaderValue::from_str(&etag).expect("ascii"),
        );
        assert_eq!(
            script.respond("/rum.js", &conditional, false).status(),
            StatusCode::NOT_MODIFIED
        );
        let versioned = script.versioned_path().to_owned();
        assert!(script.serves(&versioned));
        assert_eq!(
            script
                .respond(&versioned, &HeaderMap::new(), false)
                .headers()[header::CACHE_CONTROL],
            LONG_CACHE
        );
        // Another build of the script gets another name and tag.
        let other = BrowserScript::new(b"console.log('rum 2')");
        assert_ne!(other.versioned_path(), versioned);
    }

    #[test]
    fn the_embedded_script_is_the_sdk_build() {
        let script = BrowserScript::embedded();
        assert!(!script.raw.is_empty());
        assert!(script.gzip.len() < script.raw.len());
    }
}
