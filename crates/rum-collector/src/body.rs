//! Reading a beacon body under its caps: bytes on the wire, time, and bytes after decompression.

use std::io::Read;
use std::time::Duration;

use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;

use crate::error::HttpError;
use crate::limits::EdgeLimits;

/// Caps applied while the body streams in, before any parsing.
#[derive(Debug, Clone, Copy)]
pub(crate) struct BodyLimits {
    pub max_body_bytes: usize,
    pub max_decompressed_bytes: usize,
    pub timeout: Duration,
}

/// Reads the raw body; stops at `max_body_bytes + 1` without buffering more. Waits for one of
/// `limits.max_concurrent_bodies` slots first; the wait counts against the body timeout, so a
/// flood of slow bodies cannot hold the edge longer than that.
///
/// The bytes land in one vector with `spare` bytes of room after them (the JSON parser's padding),
/// sized from `declared_length` when the client sent one: the body is copied once, from hyper's
/// buffer, instead of collected into a list of chunks and then copied again.
pub(crate) async fn read_body(
    body: Incoming,
    declared_length: Option<u64>,
    spare: usize,
    limits: &BodyLimits,
    edge: &EdgeLimits,
) -> Result<Vec<u8>, HttpError> {
    let mut limited = Limited::new(body, limits.max_body_bytes);
    let read = async {
        let _slot = match edge.bodies.try_acquire() {
            Ok(slot) => slot,
            Err(_) => {
                edge.body_slot_waits.increment(1);
                edge.bodies
                    .acquire()
                    .await
                    .map_err(|_| HttpError::BodyRead("shutting down".into()))?
            }
        };
        let expected = declared_length.map_or(INITIAL_CAPACITY, |length| {
            usize::try_from(length).map_or(limits.max_body_bytes, |length| {
                length.min(limits.max_body_bytes)
            })
        });
        let mut bytes = Vec::with_capacity(expected + spare);
        while let Some(frame) = limited.frame().await {
            let frame = frame.map_err(|error| classify(error, limits))?;
            if let Ok(data) = frame.into_data() {
                bytes.extend_from_slice(&data);
            }
        }
        Ok(bytes)
    };
    match tokio::time::timeout(limits.timeout, read).await {
        Err(_elapsed) => Err(HttpError::BodyTimeout),
        Ok(result) => result,
    }
}

/// Room for a body sent without `Content-Length` (chunked): most beacons fit.
const INITIAL_CAPACITY: usize = 4096;

fn classify(error: Box<dyn std::error::Error + Send + Sync>, limits: &BodyLimits) -> HttpError {
    if error.is::<http_body_util::LengthLimitError>() {
        HttpError::BodyTooLarge {
            limit: limits.max_body_bytes,
        }
    } else {
        HttpError::BodyRead(error.to_string())
    }
}

/// Inflates a gzip body, reading at most `max_decompressed_bytes + 1` bytes of output: a gzip bomb is
/// refused after that much work, never inflated in full.
pub fn gunzip(compressed: &[u8], max_decompressed_bytes: usize) -> Result<Vec<u8>, HttpError> {
    let decoder = flate2::read::GzDecoder::new(compressed);
    let mut inflated = Vec::with_capacity(
        compressed
            .len()
            .saturating_mul(4)
            .min(max_decompressed_bytes),
    );
    decoder
        .take(max_decompressed_bytes as u64 + 1)
        .read_to_end(&mut inflated)
        .map_err(|error| HttpError::InvalidGzip(error.to_string()))?;
    if inflated.len() > max_decompressed_bytes {
        return Err(HttpError::DecompressedTooLarge {
            limit: max_decompressed_bytes,
        });
    }
    Ok(inflated)
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        encoder.write_all(data).unwrap();
        encoder.finish().unwrap()
    }

    #[test]
    fn inflates_within_the_cap() {
        assert_eq!(gunzip(&gzip(b"{\"v\":1}"), 100).unwrap(), b"{\"v\":1}");
        assert_eq!(gunzip(&gzip(&[b'a'; 100]), 100).unwrap().len(), 100);
    }

    #[test]
    fn a_bomb_is_refused_without_inflating_it() {
        // 64 MiB of zeros compresses to ~64 KiB; the cap stops inflation at 256 KiB + 1.
        let bomb = gzip(&vec![0u8; 64 << 20]);
        assert!(bomb.len() < 100 << 10);
        assert!(matches!(
            gunzip(&bomb, 256 << 10),
            Err(HttpError::DecompressedTooLarge { .. })
        ));
    }

    #[test]
    fn garbage_is_invalid_gzip() {
        assert!(matches!(
            gunzip(b"not gzip", 100),
            Err(HttpError::InvalidGzip(_))
        ));
    }
}
