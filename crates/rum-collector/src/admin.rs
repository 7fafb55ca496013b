//! The admin listener: `/metrics` (Prometheus text), `/healthz` (the process is alive), `/readyz`
//! (every readiness check passes), the JSON under `/api/` and the built-in view at `/` (a page that
//! reads them). Never on the public port.
//!
//! It runs on a thread of its own (`rum-admin`, a current-thread runtime), whatever else the process
//! does: a scrape of a large exposition (hundreds of MB at tens of thousands of segments) is copied
//! into sockets there, not on a worker that serves beacons. The body goes out as the chunks it was
//! rendered in, never concatenated. `rum collector`, `rum standalone` and `rum aggregator` all serve
//! their admin endpoints through [`AdminServer`].

use std::collections::VecDeque;
use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, LazyLock};
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{HeaderValue, Method, Request, Response, StatusCode, header};
use hyper::body::{Body, Frame, Incoming, SizeHint};
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::sync::oneshot;

/// Renders extra Prometheus families for `/metrics` (the aggregator's per-segment data).
/// Asynchronous: the text is made elsewhere (the aggregator renders on its own thread) while the
/// admin connection's task waits.
pub type ExtraMetrics = Arc<dyn Fn() -> Pin<Box<dyn Future<Output = String> + Send>> + Send + Sync>;

/// Answers a JSON endpoint under `/api/` (the aggregator's, docs/api.md): `(path, query)` ->
/// `Some((status, body))`, or `None` for a path it does not serve.
pub type ApiHandler = Arc<
    dyn Fn(String, String) -> Pin<Box<dyn Future<Output = Option<(u16, String)>> + Send>>
        + Send
        + Sync,
>;

/// Run before each render, to set gauges sampled at scrape time (sink queue depth).
pub type RefreshMetrics = Arc<dyn Fn() + Send + Sync>;

/// The admin listener is private; its header timeout need not follow the public one.
const ADMIN_HEADER_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// The built-in view: `sdk/dist/view.html`, one self-contained page (script and styles inline) that
/// reads `/api/v1/...` on this listener. `sdk/dist/` is committed and the SDK's tests
/// check it is what the sources build to, so a cargo-only build needs no Node (like `script.rs`).
const VIEW_HTML: &[u8] = include_bytes!("../../../sdk/dist/view.html");

/// The view's content security policy, sent as a header (see [`view_policy`]).
static VIEW_POLICY: LazyLock<HeaderValue> = LazyLock::new(|| view_policy(VIEW_HTML));

/// The policy the page's `<meta http-equiv="Content-Security-Policy">` carries (written by the SDK
/// build: its one inline script and stylesheet by their hashes, requests to this origin only), plus
/// `frame-ancestors 'none'`, which only a header can carry. A page without the tag gets a policy
/// that runs nothing: a broken build fails closed.
fn view_policy(html: &[u8]) -> HeaderValue {
    const META: &str = "<meta http-equiv=\"Content-Security-Policy\" content=\"";
    let text = String::from_utf8_lossy(html);
    let from_meta = text.find(META).and_then(|start| {
        let content = &text[start + META.len()..];
        content.find('"').map(|end| &content[..end])
    });
    let policy = match from_meta {
        Some(policy) => format!("{policy}; frame-ancestors 'none'"),
        None => "default-src 'none'; frame-ancestors 'none'".to_owned(),
    };
    HeaderValue::from_str(&policy)
        .unwrap_or_else(|_| HeaderValue::from_static("default-src 'none'"))
}

/// One readiness condition: `Err(why)` makes `/readyz` answer 503 with the reason.
pub type ReadinessCheck = Arc<dyn Fn() -> Result<(), String> + Send + Sync>;

/// The `/metrics` body: the process's metrics (metrics-exporter-prometheus) followed by every
/// extra renderer's families.
#[derive(Clone)]
pub struct MetricsExposition {
    prometheus: metrics_exporter_prometheus::PrometheusHandle,
    extra: Vec<ExtraMetrics>,
    refresh: Vec<RefreshMetrics>,
    /// The JSON endpoints served from the same data (the aggregator's `/api/v1/...`).
    api: Vec<ApiHandler>,
}

impl MetricsExposition {
    pub fn new(prometheus: metrics_exporter_prometheus::PrometheusHandle) -> Self {
        Self {
            prometheus,
            extra: Vec::new(),
            refresh: Vec::new(),
            api: Vec::new(),
        }
    }

    /// Adds families rendered by `render` after the process's own.
    pub fn with_extra(mut self, render: ExtraMetrics) -> Self {
        self.extra.push(render);
        self
    }

    /// Serves the JSON endpoints `api` answers under `/api/`.
    pub fn with_api(mut self, api: ApiHandler) -> Self {
        self.api.push(api);
        self
    }

    /// The first answer of an API handler for `path?query`.
    async fn api(&self, path: &str, query: &str) -> Option<(u16, String)> {
        for handler in &self.api {
            if let Some(answer) = handler(path.to_owned(), query.to_owned()).await {
                return Some(answer);
            }
        }
        None
    }

    /// Runs `refresh` before every render.
    pub fn with_refresh(mut self, refresh: RefreshMetrics) -> Self {
        self.refresh.push(refresh);
        self
    }

    /// The exposition as the chunks it was rendered in (no copy of the large ones).
    pub async fn render_chunks(&self) -> Vec<Bytes> {
        for refresh in &self.refresh {
            refresh();
        }
        let mut own = self.prometheus.render();
        if !own.is_empty() && !own.ends_with('\n') {
            own.push('\n');
        }
        let mut chunks = vec![Bytes::from(own)];
        for render in &self.extra {
            let mut extra = render().await;
            if !extra.is_empty() && !extra.ends_with('\n') {
                extra.push('\n');
            }
            chunks.push(Bytes::from(extra));
        }
        chunks
    }

    /// The exposition as one string (tests and tools).
    pub async fn render(&self) -> String {
        let chunks = self.render_chunks().await;
        let mut text = String::with_capacity(chunks.iter().map(Bytes::len).sum());
        for chunk in chunks {
            text.push_str(&String::from_utf8_lossy(&chunk));
        }
        text
    }
}

/// What the admin endpoints answer from.
#[derive(Clone)]
pub struct AdminState {
    pub exposition: MetricsExposition,
    pub readiness: Vec<ReadinessCheck>,
    pub status: Vec<StatusLine>,
}

/// A line `/readyz` adds below its verdict (e.g. what the spool holds), when there is one.
pub type StatusLine = Arc<dyn Fn() -> Option<String> + Send + Sync>;

impl AdminState {
    pub fn new(exposition: MetricsExposition) -> Self {
        Self {
            exposition,
            readiness: Vec::new(),
            status: Vec::new(),
        }
    }

    /// Adds a line to `/readyz`'s answer.
    pub fn with_status(mut self, line: StatusLine) -> Self {
        self.status.push(line);
        self
    }

    /// Adds a condition `/readyz` requires.
    pub fn with_readiness(mut self, check: ReadinessCheck) -> Self {
        self.readiness.push(check);
        self
    }
}

/// A bound admin listener, not yet serving.
pub struct AdminServer {
    listener: std::net::TcpListener,
}

/// The running admin thread; dropping it (or [`stop`](Self::stop)) ends it.
pub struct RunningAdmin {
    stop: Option<oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl RunningAdmin {
    /// Stops accepting and ends the thread (open connections are dropped).
    pub fn stop(mut self) {
        self.shut_down();
    }

    fn shut_down(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _already_gone = stop.send(());
        }
        if let Some(thread) = self.thread.take()
            && thread.join().is_err()
        {
            tracing::error!("the admin thread panicked");
        }
    }
}

impl Drop for RunningAdmin {
    fn drop(&mut self) {
        self.shut_down();
    }
}

/// The name of the admin listener's thread.
pub const ADMIN_THREAD_NAME: &str = "rum-admin";

impl AdminServer {
    /// Binds `address` (port 0 picks a free port).
    pub fn bind(address: SocketAddr) -> std::io::Result<Self> {
        let listener = std::net::TcpListener::bind(address)?;
        listener.set_nonblocking(true)?;
        Ok(Self { listener })
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves on a thread of its own until the returned handle is stopped or dropped.
    pub fn spawn(self, state: AdminState) -> std::io::Result<RunningAdmin> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let (stop, stopped) = oneshot::channel();
        let listener = self.listener;
        let state = Arc::new(state);
        let thread = std::thread::Builder::new()
            .name(ADMIN_THREAD_NAME.to_owned())
            .spawn(move || {
                runtime.block_on(async move {
                    match tokio::net::TcpListener::from_std(listener) {
                        Ok(listener) => serve(listener, state, stopped).await,
                        Err(error) => tracing::error!(%error, "cannot serve the admin listener"),
                    }
                })
            })?;
        Ok(RunningAdmin {
            stop: Some(stop),
            thread: Some(thread),
        })
    }
}

async fn serve(
    listener: tokio::net::TcpListener,
    state: Arc<AdminState>,
    mut stopped: oneshot::Receiver<()>,
) {
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(ADMIN_HEADER_TIMEOUT);
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((stream, _peer)) = accepted else { continue };
                let state = Arc::clone(&state);
                let service = service_fn(move |request: Request<Incoming>| {
                    let state = Arc::clone(&state);
                    async move { Ok::<_, Infallible>(handle(&state, &request).await) }
                });
                let connection = http.serve_connection(TokioIo::new(stream), service);
                tokio::spawn(async move {
                    if let Err(error) = connection.await {
                        tracing::debug!(%error, "admin connection ended with an error");
                    }
                });
            }
            _ = &mut stopped => return,
        }
    }
}

async fn handle<B>(state: &AdminState, request: &Request<B>) -> Response<Chunks> {
    if request.method() != Method::GET && request.method() != Method::HEAD {
        return text(StatusCode::METHOD_NOT_ALLOWED, "use GET\n");
    }
    match request.uri().path() {
        "/" | "/index.html" => view(),
        "/metrics" => {
            let chunks = state.exposition.render_chunks().await;
            let mut response = Response::new(Chunks::new(chunks));
            response.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
            );
            response
        }
        "/healthz" => text(StatusCode::OK, "ok\n"),
        "/readyz" => {
            let (status, mut body) = match state.readiness.iter().find_map(|check| check().err()) {
                Some(reason) => (StatusCode::SERVICE_UNAVAILABLE, format!("{reason}\n")),
                None => (StatusCode::OK, "ready\n".to_owned()),
            };
            for line in state.status.iter().filter_map(|line| line()) {
                body.push_str(&line);
                body.push('\n');
            }
            text(status, &body)
        }
        path if path.starts_with("/api/") => {
            let query = request.uri().query().unwrap_or("");
            match state.exposition.api(path, query).await {
                Some((status, body)) => {
                    let mut response = text(
                        StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
                        &body,
                    );
                    response.headers_mut().insert(
                        header::CONTENT_TYPE,
                        HeaderValue::from_static("application/json"),
                    );
                    response
                }
                None => text(
                    StatusCode::NOT_FOUND,
                    "not found; the API serves /api/v1/errors, /api/v1/sites, /api/v1/summary, \
                     /api/v1/breakdown and /api/v1/alerts (docs/api.md)\n",
                ),
            }
        }
        _ => text(
            StatusCode::NOT_FOUND,
            "not found; try / (the view), /metrics, /healthz, /readyz, /api/v1/errors\n",
        ),
    }
}

/// The built-in view: never cached without revalidation (a new build shows at the next load), never
/// framed, nothing loaded from elsewhere.
fn view() -> Response<Chunks> {
    let mut response = Response::new(Chunks::new(vec![Bytes::from_static(VIEW_HTML)]));
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert(header::CONTENT_SECURITY_POLICY, VIEW_POLICY.clone());
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    response
}

fn text(status: StatusCode, body: &str) -> Response<Chunks> {
    let mut response = Response::new(Chunks::new(vec![Bytes::from(body.to_owned())]));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

/// A response body sent as the chunks it was made of, with its exact length known up front.
pub struct Chunks {
    chunks: VecDeque<Bytes>,
    remaining: u64,
}

impl Chunks {
    fn new(chunks: Vec<Bytes>) -> Self {
        let chunks: VecDeque<Bytes> = chunks
            .into_iter()
            .filter(|chunk| !chunk.is_empty())
            .collect();
        let remaining = chunks.iter().map(|chunk| chunk.len() as u64).sum();
        Self { chunks, remaining }
    }
}

impl Body for Chunks {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        _context: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        let this = self.get_mut();
        Poll::Ready(this.chunks.pop_front().map(|chunk| {
            this.remaining -= chunk.len() as u64;
            Ok(Frame::data(chunk))
        }))
    }

    fn is_end_stream(&self) -> bool {
        self.chunks.is_empty()
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.remaining)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    #[tokio::test]
    async fn chunks_are_sent_in_order_with_their_exact_length() {
        let body = Chunks::new(vec![
            Bytes::from_static(b"a 1\n"),
            Bytes::new(),
            Bytes::from_static(b"b 2\n"),
        ]);
        assert_eq!(body.size_hint().exact(), Some(8));
        let collected = body.collect().await.expect("infallible").to_bytes();
        assert_eq!(&collected[..], b"a 1\nb 2\n");
    }

    #[test]
    fn the_view_policy_is_the_pages_own_and_allows_no_inline_code_but_its_own() {
        let policy = VIEW_POLICY.to_str().expect("ascii policy");
        for directive in [
            "default-src 'none'",
            "script-src 'sha256-",
            "style-src 'sha256-",
            "connect-src 'self'",
            "frame-ancestors 'none'",
        ] {
            assert!(
                policy.contains(directive),
                "{directive} missing from {policy}"
            );
        }
        for loose in ["unsafe-inline", "unsafe-eval", "http:", "https:", "*"] {
            assert!(!policy.contains(loose), "{loose} in {policy}");
        }
        // A page without the tag (a broken build) runs nothing.
        assert_eq!(
            view_policy(b"<!doctype html><script>alert(1)</script>"),
            "default-src 'none'; frame-ancestors 'none'"
        );
    }
}
