//! The floor under the collector's CPU cost per beacon: the HTTP stack the collector is built on
//! (hyper 1.x HTTP/1.1 on tokio, one worker thread, the collector's header-read timeout and body
//! time limit) reading each POST body in full and answering 202 with a short JSON body, and nothing
//! else: no JSON parsing, validation, enrichment, encoding or sink.
//!
//! `benches/load/collector_vs_nginx.sh` runs it beside nginx and the collector under the same load,
//! so the gap between nginx and the collector splits into what the HTTP stack costs and what the
//! beacon work costs. It is a measuring stick, not a server to deploy.
//!
//! Usage: `cargo run --release -p rum-collector --example hyper_floor -- 127.0.0.1:8080`

use std::convert::Infallible;
use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode, header};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};

/// The collector's defaults for `collector.max_body_bytes` and `collector.body_timeout`.
const MAX_BODY_BYTES: usize = rum_config::DEFAULT_MAX_BODY_BYTES as usize;
const BODY_TIMEOUT: Duration = Duration::from_secs(rum_config::DEFAULT_BODY_TIMEOUT_SECS);

fn main() -> std::io::Result<()> {
    let address: SocketAddr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:8080".to_owned())
        .parse()
        .map_err(|error| std::io::Error::new(std::io::ErrorKind::InvalidInput, error))?;
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?
        .block_on(serve(address))
}

async fn serve(address: SocketAddr) -> std::io::Result<()> {
    let listener = tokio::net::TcpListener::bind(address).await?;
    eprintln!("hyper_floor listening on {}", listener.local_addr()?);
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(std::time::Duration::from_secs(
            rum_config::DEFAULT_HEADER_TIMEOUT_SECS,
        ));
    loop {
        let Ok((stream, _peer)) = listener.accept().await else {
            continue;
        };
        let connection = http.serve_connection(TokioIo::new(stream), service_fn(answer));
        tokio::spawn(async move {
            let _ = connection.await;
        });
    }
}

/// Reads the body under the collector's limits, then answers as the collector does to a beacon
/// whose every event was accepted.
async fn answer(request: http::Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let body = Limited::new(request.into_body(), MAX_BODY_BYTES);
    let status = match tokio::time::timeout(BODY_TIMEOUT, body.collect())
        .await
        .map(|collected| collected.map(http_body_util::Collected::to_bytes))
    {
        Ok(Ok(bytes)) if !bytes.is_empty() => StatusCode::ACCEPTED,
        _ => StatusCode::BAD_REQUEST,
    };
    let mut response = Response::new(Full::new(Bytes::from_static(
        br#"{"accepted":1,"rejected":[]}"#,
    )));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    headers.insert(header::VARY, HeaderValue::from_static("Origin"));
    Ok(response)
}
