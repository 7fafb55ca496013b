//! The admin listener: `/metrics` (Prometheus text), `/healthz` (the process is alive) and `/readyz`
//! (the sink can take data and the collector is not shutting down). Never on the public port.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use bytes::Bytes;
use http::{HeaderValue, Method, Request, Response, StatusCode, header};
use http_body_util::Full;

use crate::server::Shared;

/// Renders extra Prometheus families for `/metrics` (the aggregator's per-segment data in
/// `rum standalone`). Asynchronous: the text is made elsewhere (the aggregator renders on its own
/// thread) while the admin connection's task waits, so no collector worker is held meanwhile.
pub type ExtraMetrics = Arc<dyn Fn() -> Pin<Box<dyn Future<Output = String> + Send>> + Send + Sync>;

/// The `/metrics` body: the process's metrics (metrics-exporter-prometheus) followed by every
/// extra renderer's families.
#[derive(Clone)]
pub struct MetricsExposition {
    prometheus: metrics_exporter_prometheus::PrometheusHandle,
    extra: Vec<ExtraMetrics>,
}

impl MetricsExposition {
    pub fn new(prometheus: metrics_exporter_prometheus::PrometheusHandle) -> Self {
        Self {
            prometheus,
            extra: Vec::new(),
        }
    }

    /// Adds families rendered by `render` after the process's own.
    pub fn with_extra(mut self, render: ExtraMetrics) -> Self {
        self.extra.push(render);
        self
    }

    pub async fn render(&self) -> String {
        let mut text = self.prometheus.render();
        for render in &self.extra {
            let extra = render().await;
            if !text.is_empty() && !text.ends_with('\n') {
                text.push('\n');
            }
            text.push_str(&extra);
        }
        text
    }
}

pub(crate) async fn handle<B>(shared: &Arc<Shared>, request: &Request<B>) -> Response<Full<Bytes>> {
    if request.method() != Method::GET && request.method() != Method::HEAD {
        return text(StatusCode::METHOD_NOT_ALLOWED, "use GET\n");
    }
    match request.uri().path() {
        "/metrics" => {
            shared.sink.refresh_metrics();
            let mut response = text(StatusCode::OK, &shared.exposition.render().await);
            response.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
            );
            response
        }
        "/healthz" => text(StatusCode::OK, "ok\n"),
        "/readyz" => {
            if shared.shutting_down.load(Ordering::Relaxed) {
                text(StatusCode::SERVICE_UNAVAILABLE, "shutting down\n")
            } else if !shared.sink.is_ready() {
                text(StatusCode::SERVICE_UNAVAILABLE, "sink not ready\n")
            } else {
                text(StatusCode::OK, "ready\n")
            }
        }
        _ => text(
            StatusCode::NOT_FOUND,
            "not found; try /metrics, /healthz, /readyz\n",
        ),
    }
}

fn text(status: StatusCode, body: &str) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body.to_owned())));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}
