//! The one HTTP error type of the edge: each variant maps to a status and a machine-readable reason.

use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode, header};
use http_body_util::Full;
use rum_schema::{BeaconRejection, DecodeReason};

/// Why a request was refused. `reason()` is what clients and metric labels see.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error("no such endpoint")]
    NotFound,
    #[error("method not allowed; use POST (or OPTIONS for CORS preflight)")]
    MethodNotAllowed,
    #[error("the `key` query parameter is required")]
    MissingKey,
    #[error("unknown site key")]
    UnknownKey,
    #[error("origin is not allowed for this site")]
    OriginNotAllowed,
    #[error("content type must be text/plain or application/json")]
    UnsupportedMediaType,
    #[error("content encoding must be gzip or none")]
    UnsupportedEncoding,
    #[error("body is larger than {limit} bytes")]
    BodyTooLarge { limit: usize },
    #[error("body inflates to more than {limit} bytes")]
    DecompressedTooLarge { limit: usize },
    #[error("body is not valid gzip: {0}")]
    InvalidGzip(String),
    #[error("body was not received in time")]
    BodyTimeout,
    #[error("body could not be read: {0}")]
    BodyRead(String),
    #[error("{0}")]
    Beacon(#[from] BeaconRejection),
    #[error("collector is overloaded; retry later")]
    Overloaded { retry_after_secs: u64 },
    #[error("collector is shutting down; retry later")]
    SinkClosed { retry_after_secs: u64 },
    #[error("the sink refused the beacon: {0}")]
    SinkRejected(String),
}

/// Every reason the edge itself (not the beacon decoder) can give, for pre-registering counters.
pub(crate) const EDGE_REASONS: [&str; 15] = [
    "not_found",
    "method_not_allowed",
    "missing_key",
    "unknown_key",
    "origin_not_allowed",
    "unsupported_media_type",
    "unsupported_encoding",
    "body_too_large",
    "decompressed_too_large",
    "invalid_gzip",
    "body_timeout",
    "body_read_error",
    "overloaded",
    "sink_closed",
    "sink_rejected",
];

impl HttpError {
    pub fn status(&self) -> StatusCode {
        match self {
            HttpError::NotFound => StatusCode::NOT_FOUND,
            HttpError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            HttpError::MissingKey => StatusCode::BAD_REQUEST,
            HttpError::UnknownKey | HttpError::OriginNotAllowed => StatusCode::FORBIDDEN,
            HttpError::UnsupportedMediaType | HttpError::UnsupportedEncoding => {
                StatusCode::UNSUPPORTED_MEDIA_TYPE
            }
            HttpError::BodyTooLarge { .. } | HttpError::DecompressedTooLarge { .. } => {
                StatusCode::PAYLOAD_TOO_LARGE
            }
            HttpError::InvalidGzip(_) | HttpError::BodyRead(_) => StatusCode::BAD_REQUEST,
            HttpError::BodyTimeout => StatusCode::REQUEST_TIMEOUT,
            HttpError::Beacon(rejection) if rejection.reason == DecodeReason::TooManyEvents => {
                StatusCode::PAYLOAD_TOO_LARGE
            }
            HttpError::Beacon(_) => StatusCode::BAD_REQUEST,
            HttpError::Overloaded { .. } | HttpError::SinkClosed { .. } => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            HttpError::SinkRejected(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The machine-readable reason (snake_case, a closed set).
    pub fn reason(&self) -> &'static str {
        match self {
            HttpError::NotFound => "not_found",
            HttpError::MethodNotAllowed => "method_not_allowed",
            HttpError::MissingKey => "missing_key",
            HttpError::UnknownKey => "unknown_key",
            HttpError::OriginNotAllowed => "origin_not_allowed",
            HttpError::UnsupportedMediaType => "unsupported_media_type",
            HttpError::UnsupportedEncoding => "unsupported_encoding",
            HttpError::BodyTooLarge { .. } => "body_too_large",
            HttpError::DecompressedTooLarge { .. } => "decompressed_too_large",
            HttpError::InvalidGzip(_) => "invalid_gzip",
            HttpError::BodyTimeout => "body_timeout",
            HttpError::BodyRead(_) => "body_read_error",
            HttpError::Beacon(rejection) => rejection.reason.as_str(),
            HttpError::Overloaded { .. } => "overloaded",
            HttpError::SinkClosed { .. } => "sink_closed",
            HttpError::SinkRejected(_) => "sink_rejected",
        }
    }

    /// `{"error": reason, "detail": text}`, with `Retry-After` when retrying helps.
    pub fn into_response(self) -> Response<Full<Bytes>> {
        let detail = match &self {
            HttpError::Beacon(rejection) => rejection.detail.clone(),
            other => other.to_string(),
        };
        let body = serde_json::json!({ "error": self.reason(), "detail": detail });
        let mut response = json_response(self.status(), &body);
        let retry_after = match self {
            HttpError::Overloaded { retry_after_secs }
            | HttpError::SinkClosed { retry_after_secs } => Some(retry_after_secs),
            _ => None,
        };
        if let Some(seconds) = retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        if matches!(response.status(), StatusCode::METHOD_NOT_ALLOWED) {
            response
                .headers_mut()
                .insert(header::ALLOW, HeaderValue::from_static("POST, OPTIONS"));
        }
        response
    }
}

pub(crate) fn json_response(status: StatusCode, body: &serde_json::Value) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body.to_string())));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}
