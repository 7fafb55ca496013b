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
    #[error("the spool could not store the beacon durably; retry later")]
    SpoolFailed { retry_after_secs: u64 },
    #[error("too many beacons for this site; retry later")]
    SiteRateLimited { retry_after_secs: u64 },
    #[error("too many beacons from this network; retry later")]
    NetworkRateLimited { retry_after_secs: u64 },
    #[error("collector memory is above its high watermark; retry later")]
    MemoryPressure { retry_after_secs: u64 },
}

rum_ledger::drop_reasons! {
    /// Every reason the edge itself (not the beacon decoder) refuses a request for.
    pub enum EdgeReason in Edge {
        NotFound = "not_found",
        MethodNotAllowed = "method_not_allowed",
        MissingKey = "missing_key",
        UnknownKey = "unknown_key",
        OriginNotAllowed = "origin_not_allowed",
        UnsupportedMediaType = "unsupported_media_type",
        UnsupportedEncoding = "unsupported_encoding",
        BodyTooLarge = "body_too_large",
        DecompressedTooLarge = "decompressed_too_large",
        InvalidGzip = "invalid_gzip",
        BodyTimeout = "body_timeout",
        BodyReadError = "body_read_error",
        Overloaded = "overloaded",
        SinkClosed = "sink_closed",
        SinkRejected = "sink_rejected",
        SpoolFailed = "spool_failed",
        SiteRateLimited = "site_rate_limited",
        NetworkRateLimited = "network_rate_limited",
        MemoryPressure = "memory_pressure",
    }
}

/// Why a request was refused, as the ledger counts it: by the edge, or by the beacon decoder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    Edge(EdgeReason),
    Decode(DecodeReason),
}

impl Refusal {
    pub fn as_str(self) -> &'static str {
        match self {
            Refusal::Edge(reason) => reason.as_str(),
            Refusal::Decode(reason) => reason.as_str(),
        }
    }
}

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
            HttpError::Overloaded { .. }
            | HttpError::SinkClosed { .. }
            | HttpError::SpoolFailed { .. }
            | HttpError::MemoryPressure { .. } => StatusCode::SERVICE_UNAVAILABLE,
            HttpError::SiteRateLimited { .. } | HttpError::NetworkRateLimited { .. } => {
                StatusCode::TOO_MANY_REQUESTS
            }
            HttpError::SinkRejected(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// Why, as the ledger counts it (a closed set; exhaustive, so a new variant needs a reason).
    pub fn refusal(&self) -> Refusal {
        Refusal::Edge(match self {
            HttpError::NotFound => EdgeReason::NotFound,
            HttpError::MethodNotAllowed => EdgeReason::MethodNotAllowed,
            HttpError::MissingKey => EdgeReason::MissingKey,
            HttpError::UnknownKey => EdgeReason::UnknownKey,
            HttpError::OriginNotAllowed => EdgeReason::OriginNotAllowed,
            HttpError::UnsupportedMediaType => EdgeReason::UnsupportedMediaType,
            HttpError::UnsupportedEncoding => EdgeReason::UnsupportedEncoding,
            HttpError::BodyTooLarge { .. } => EdgeReason::BodyTooLarge,
            HttpError::DecompressedTooLarge { .. } => EdgeReason::DecompressedTooLarge,
            HttpError::InvalidGzip(_) => EdgeReason::InvalidGzip,
            HttpError::BodyTimeout => EdgeReason::BodyTimeout,
            HttpError::BodyRead(_) => EdgeReason::BodyReadError,
            HttpError::Beacon(rejection) => return Refusal::Decode(rejection.reason),
            HttpError::Overloaded { .. } => EdgeReason::Overloaded,
            HttpError::SinkClosed { .. } => EdgeReason::SinkClosed,
            HttpError::SinkRejected(_) => EdgeReason::SinkRejected,
            HttpError::SpoolFailed { .. } => EdgeReason::SpoolFailed,
            HttpError::SiteRateLimited { .. } => EdgeReason::SiteRateLimited,
            HttpError::NetworkRateLimited { .. } => EdgeReason::NetworkRateLimited,
            HttpError::MemoryPressure { .. } => EdgeReason::MemoryPressure,
        })
    }

    /// The machine-readable reason (snake_case, a closed set).
    pub fn reason(&self) -> &'static str {
        self.refusal().as_str()
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
            | HttpError::SinkClosed { retry_after_secs }
            | HttpError::SpoolFailed { retry_after_secs }
            | HttpError::SiteRateLimited { retry_after_secs }
            | HttpError::NetworkRateLimited { retry_after_secs }
            | HttpError::MemoryPressure { retry_after_secs } => Some(retry_after_secs),
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
