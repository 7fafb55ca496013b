//! The admin listener: `/metrics` (Prometheus text 0.0.4, or OpenMetrics 1.0.0 with exemplars for
//! a scraper that asks for it, see [`negotiate`]), `/healthz` (the process is alive), `/readyz`
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

/// Renders extra families for `/metrics` (the aggregator's per-segment data) in the format
/// asked for, without `# EOF` (the exposition writes it once, last). Asynchronous: the text is made
/// elsewhere (the aggregator renders on its own thread) while the admin connection's task waits.
pub type ExtraMetrics =
    Arc<dyn Fn(MetricsFormat) -> Pin<Box<dyn Future<Output = String> + Send>> + Send + Sync>;

/// The text format of a `/metrics` answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MetricsFormat {
    /// Prometheus text 0.0.4: what `/metrics` always answered, and still does for any client that
    /// does not name OpenMetrics (`curl`, `*/*`, `text/plain`).
    #[default]
    PrometheusText,
    /// OpenMetrics 1.0.0: the only text format with exemplars (trace ids on histogram buckets).
    /// Prometheus asks for it first.
    OpenMetrics,
}

impl MetricsFormat {
    pub fn content_type(self) -> &'static str {
        match self {
            MetricsFormat::PrometheusText => "text/plain; version=0.0.4; charset=utf-8",
            MetricsFormat::OpenMetrics => {
                "application/openmetrics-text; version=1.0.0; charset=utf-8"
            }
        }
    }

    pub fn is_openmetrics(self) -> bool {
        self == MetricsFormat::OpenMetrics
    }
}

/// The format to answer a `/metrics` request whose `Accept` headers are `accept` in.
///
/// OpenMetrics when a media range names `application/openmetrics-text` (no version, 1.0.0 or
/// 0.0.1: both are answered as 1.0.0) with a q-value above 0 and at least as high as the best one
/// the 0.0.4 text matches (`text/plain`, `text/*`, `*/*`); the 0.0.4 text otherwise, including for
/// no `Accept` at all or one naming only formats not served (protobuf): a scraper that does not
/// ask for OpenMetrics gets exactly what it always got. Prometheus's default,
/// `application/openmetrics-text;version=1.0.0;q=0.5,...,text/plain;version=0.0.4;q=0.3,*/*;q=0.2`
/// (older releases: no q on the first), gets OpenMetrics.
pub fn negotiate<'a>(accept: impl IntoIterator<Item = &'a str>) -> MetricsFormat {
    let mut openmetrics = 0.0_f32;
    let mut text = 0.0_f32;
    for range in accept.into_iter().flat_map(|value| value.split(',')) {
        let mut parts = range.split(';');
        let media = parts.next().unwrap_or("").trim().to_ascii_lowercase();
        let mut quality = 1.0_f32;
        let mut version = None;
        for parameter in parts {
            let Some((name, value)) = parameter.split_once('=') else {
                continue;
            };
            let value = value.trim().trim_matches('"');
            match name.trim().to_ascii_lowercase().as_str() {
                // An unreadable q-value counts as a refusal, not as the default 1.
                "q" => quality = value.parse::<f32>().unwrap_or(0.0).clamp(0.0, 1.0),
                "version" => version = Some(value.to_owned()),
                _ => {}
            }
        }
        match media.as_str() {
            "application/openmetrics-text"
                if version
                    .as_deref()
                    .is_none_or(|version| version == "1.0.0" || version == "0.0.1") =>
            {
                openmetrics = openmetrics.max(quality);
            }
            "text/plain" | "text/*" | "*/*" => text = text.max(quality),
            _ => {}
        }
    }
    if openmetrics > 0.0 && openmetrics >= text {
        MetricsFormat::OpenMetrics
    } else {
        MetricsFormat::PrometheusText
    }
}

/// The OpenMetrics form of the metrics exporter's Prometheus text (small: the process's own
/// metrics). Per family `# TYPE` then `# HELP`; a counter's family is its name without `_total`
/// (its samples keep it); the blank lines between families and any other comment dropped (neither
/// is allowed in OpenMetrics); `"` in help escaped.
///
/// Every counter this workspace registers ends in `_total`; one that did not would be typed
/// `unknown` here rather than renamed: its samples keep their name, so every query and rule
/// written against it keeps working (only its metadata type changes).
pub fn openmetrics_from_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 64);
    // A `# HELP` waits for its `# TYPE` (the exporter writes HELP first): (name, help).
    let mut help: Option<(&str, &str)> = None;
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            flush_help(&mut out, help.take(), None);
            let (name, description) = rest.split_once(' ').unwrap_or((rest, ""));
            help = Some((name, description));
            continue;
        }
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').unwrap_or((rest, "unknown"));
            let (family, kind) = match kind {
                "counter" => match name.strip_suffix("_total") {
                    Some(family) => (family, kind),
                    None => (name, "unknown"),
                },
                // 0.0.4's `untyped` is OpenMetrics' `unknown`.
                "untyped" => (name, "unknown"),
                _ => (name, kind),
            };
            let matching = match help.take() {
                Some(pending) if pending.0 == name => Some(pending),
                other => {
                    flush_help(&mut out, other, None);
                    None
                }
            };
            out.push_str("# TYPE ");
            out.push_str(family);
            out.push(' ');
            out.push_str(kind);
            out.push('\n');
            flush_help(&mut out, matching, Some(family));
            continue;
        }
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        flush_help(&mut out, help.take(), None);
        out.push_str(line);
        out.push('\n');
    }
    flush_help(&mut out, help.take(), None);
    out
}

/// Writes a pending `# HELP` under `family` (its own name when `None`). The exporter's 0.0.4
/// escaping already covers backslash and newline; OpenMetrics also escapes `"`.
fn flush_help(out: &mut String, help: Option<(&str, &str)>, family: Option<&str>) {
    let Some((name, description)) = help else {
        return;
    };
    out.push_str("# HELP ");
    out.push_str(family.unwrap_or(name));
    out.push(' ');
    out.push_str(&description.replace('"', "\\\""));
    out.push('\n');
}

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

    /// Adds families rendered by `render` after the process's own, in the format it is given.
    pub fn with_extra<Render, Rendered>(mut self, render: Render) -> Self
    where
        Render: Fn(MetricsFormat) -> Rendered + Send + Sync + 'static,
        Rendered: Future<Output = String> + Send + 'static,
    {
        let render: ExtraMetrics = Arc::new(move |format| Box::pin(render(format)));
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

    /// The exposition in `format` as the chunks it was rendered in (no copy of the large ones:
    /// each extra renderer writes its families in `format` itself; only the exporter's own small
    /// text is converted). In OpenMetrics the last chunk is the one `# EOF`.
    pub async fn render_chunks(&self, format: MetricsFormat) -> Vec<Bytes> {
        for refresh in &self.refresh {
            refresh();
        }
        let mut own = self.prometheus.render();
        if !own.is_empty() && !own.ends_with('\n') {
            own.push('\n');
        }
        if format.is_openmetrics() {
            own = openmetrics_from_text(&own);
        }
        let mut chunks = vec![Bytes::from(own)];
        for render in &self.extra {
            let mut extra = render(format).await;
            if !extra.is_empty() && !extra.ends_with('\n') {
                extra.push('\n');
            }
            chunks.push(Bytes::from(extra));
        }
        if format.is_openmetrics() {
            chunks.push(Bytes::from_static(b"# EOF\n"));
        }
        chunks
    }

    /// The exposition as one string, Prometheus text 0.0.4 (tests and tools).
    pub async fn render(&self) -> String {
        self.render_in(MetricsFormat::PrometheusText).await
    }

    /// The exposition as one string in `format`.
    pub async fn render_in(&self, format: MetricsFormat) -> String {
        let chunks = self.render_chunks(format).await;
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
            let accept = request.headers().get_all(header::ACCEPT);
            let format = negotiate(accept.iter().filter_map(|value| value.to_str().ok()));
            let chunks = state.exposition.render_chunks(format).await;
            let mut response = Response::new(Chunks::new(chunks));
            let headers = response.headers_mut();
            headers.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static(format.content_type()),
            );
            // The body depends on Accept: a cache between here and a scraper must not mix them.
            headers.insert(header::VARY, HeaderValue::from_static("accept"));
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
    use crate::openmetrics_check::openmetrics_families;
    use http_body_util::BodyExt;
    use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

    use MetricsFormat::{OpenMetrics, PrometheusText};

    #[test]
    fn prometheus_gets_openmetrics_and_everyone_else_the_0_0_4_text() {
        let cases = [
            // Prometheus 2.49 and later (the default scrape_protocols).
            (
                "application/openmetrics-text;version=1.0.0;q=0.5,application/openmetrics-text;version=0.0.1;q=0.4,text/plain;version=0.0.4;q=0.3,*/*;q=0.2",
                OpenMetrics,
            ),
            // Prometheus up to 2.48 (Debian bookworm's 2.42).
            (
                "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1",
                OpenMetrics,
            ),
            // Prometheus 3 with protobuf first (not served here): the best of the rest.
            (
                "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited;q=0.6,application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.5,application/openmetrics-text;version=0.0.1;q=0.4,text/plain;version=1.0.0;escaping=allow-utf-8;q=0.3,text/plain;version=0.0.4;q=0.2,*/*;q=0.1",
                OpenMetrics,
            ),
            (
                "application/openmetrics-text; version=\"0.0.1\"",
                OpenMetrics,
            ),
            ("Application/OpenMetrics-Text", OpenMetrics),
            (
                "text/plain;q=0.5, application/openmetrics-text",
                OpenMetrics,
            ),
            // curl, a browser, a plain text client.
            ("*/*", PrometheusText),
            (
                "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
                PrometheusText,
            ),
            ("text/plain", PrometheusText),
            ("text/plain;version=0.0.4", PrometheusText),
            ("", PrometheusText),
            ("application/json", PrometheusText),
            ("application/openmetrics-text;version=2.0.0", PrometheusText),
            ("application/openmetrics-text;q=0", PrometheusText),
            ("application/openmetrics-text;q=high", PrometheusText),
            (
                "text/plain, application/openmetrics-text;q=0.9",
                PrometheusText,
            ),
        ];
        for (accept, expected) in cases {
            assert_eq!(negotiate([accept]), expected, "{accept}");
        }
        assert_eq!(negotiate([]), PrometheusText);
        // Several Accept headers are one list.
        assert_eq!(
            negotiate(["text/plain;q=0.1", "application/openmetrics-text;q=0.5"]),
            OpenMetrics
        );
    }

    /// A recorder of its own (not the process's global one) with a counter, a counter without
    /// `_total`, a gauge, a histogram and a summary.
    fn exporter() -> PrometheusHandle {
        let recorder = PrometheusBuilder::new()
            .set_buckets_for_metric(
                Matcher::Full("demo_test_latency_seconds".into()),
                &[0.1, 1.0],
            )
            .expect("buckets")
            .build_recorder();
        let handle = recorder.handle();
        metrics::with_local_recorder(&recorder, || {
            metrics::describe_counter!("demo_test_requests_total", "Requests \"served\".");
            metrics::counter!("demo_test_requests_total", "outcome" => "ok").increment(3);
            metrics::counter!("demo_test_legacy").increment(1);
            metrics::describe_gauge!("demo_test_depth", "Queue depth.");
            metrics::gauge!("demo_test_depth").set(2.0);
            metrics::histogram!("demo_test_latency_seconds").record(0.5);
            metrics::histogram!("demo_test_size_bytes").record(7.0);
        });
        handle
    }

    /// What an aggregator's renderer gives in each format.
    const EXTRA_TEXT: &str =
        "# HELP demo_x_total X.\n# TYPE demo_x_total counter\ndemo_x_total{view=\"site\"} 1\n";
    const EXTRA_OPENMETRICS: &str =
        "# TYPE demo_x counter\n# HELP demo_x X.\ndemo_x_total{view=\"site\"} 1\n";

    fn exposition(handle: PrometheusHandle) -> MetricsExposition {
        MetricsExposition::new(handle).with_extra(|format| async move {
            match format {
                PrometheusText => EXTRA_TEXT.to_owned(),
                OpenMetrics => EXTRA_OPENMETRICS.to_owned(),
            }
        })
    }

    #[tokio::test]
    async fn the_0_0_4_text_is_the_exporters_followed_by_the_extra_families_as_before() {
        // One family: the exporter writes several in hash order, which differs between renders.
        let recorder = PrometheusBuilder::new().build_recorder();
        let handle = recorder.handle();
        metrics::with_local_recorder(&recorder, || {
            metrics::describe_counter!("demo_test_requests_total", "Requests.");
            metrics::counter!("demo_test_requests_total", "outcome" => "ok").increment(3);
        });
        let text = exposition(handle).render().await;
        // Byte for byte what it always was, the exporter's blank line after its family included.
        assert_eq!(
            text,
            format!(
                "# HELP demo_test_requests_total Requests.\n# TYPE demo_test_requests_total counter\ndemo_test_requests_total{{outcome=\"ok\"}} 3\n\n{EXTRA_TEXT}"
            )
        );
    }

    #[tokio::test]
    async fn the_openmetrics_text_names_counter_families_without_total_and_ends_with_eof() {
        let text = exposition(exporter()).render_in(OpenMetrics).await;
        let families = openmetrics_families(&text, true);
        for expected in [
            ("demo_test_requests", "counter"),
            ("demo_test_legacy", "unknown"),
            ("demo_test_depth", "gauge"),
            ("demo_test_latency_seconds", "histogram"),
            ("demo_test_size_bytes", "summary"),
            ("demo_x", "counter"),
        ] {
            assert!(
                families
                    .iter()
                    .any(|(name, kind)| (name.as_str(), kind.as_str()) == expected),
                "{expected:?} missing from\n{text}"
            );
        }
        assert!(text.contains(
            "# TYPE demo_test_requests counter\n# HELP demo_test_requests Requests \\\"served\\\".\n"
        ));
        assert!(text.contains("demo_test_requests_total{outcome=\"ok\"} 3\n"));
        // Typed unknown, not renamed: its queries keep working.
        assert!(text.contains("\ndemo_test_legacy 1\n"));
        // The extra families as their renderer wrote them, then the one `# EOF`.
        assert!(
            text.ends_with(&format!("{EXTRA_OPENMETRICS}# EOF\n")),
            "{text}"
        );
        assert_eq!(text.matches("# EOF").count(), 1);
    }

    #[tokio::test]
    async fn metrics_answers_in_the_format_the_accept_header_asks_for() {
        let state = AdminState::new(exposition(exporter()));
        for (accept, content_type, last_line) in [
            (
                Some(
                    "application/openmetrics-text;version=1.0.0;q=0.5,application/openmetrics-text;version=0.0.1;q=0.4,text/plain;version=0.0.4;q=0.3,*/*;q=0.2",
                ),
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
                "# EOF",
            ),
            (
                Some("*/*"),
                "text/plain; version=0.0.4; charset=utf-8",
                "demo_x_total{view=\"site\"} 1",
            ),
            (
                None,
                "text/plain; version=0.0.4; charset=utf-8",
                "demo_x_total{view=\"site\"} 1",
            ),
        ] {
            let mut request = Request::builder().uri("/metrics");
            if let Some(accept) = accept {
                request = request.header(header::ACCEPT, accept);
            }
            let response = handle(&state, &request.body(()).expect("request")).await;
            assert_eq!(response.status(), StatusCode::OK);
            assert_eq!(response.headers()[header::CONTENT_TYPE], content_type);
            assert_eq!(response.headers()[header::VARY], "accept");
            let body = response
                .into_body()
                .collect()
                .await
                .expect("body")
                .to_bytes();
            let body = String::from_utf8(body.to_vec()).expect("utf-8");
            assert_eq!(body.lines().last(), Some(last_line), "{accept:?}");
        }
    }

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
