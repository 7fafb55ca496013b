//! The two listeners, request routing, the beacon handler and graceful shutdown.

use std::convert::Infallible;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, Request, Response, StatusCode, header};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use rum_config::{Config, ConfigError};
use rum_enrich::{EnrichError, EnrichOutcome, EnrichSettings, Enricher};
use rum_schema::proto::Agent;
use rum_schema::{BeaconDecoder, DecodeLimits};
use rum_transport::{BeaconSink, SinkError, SinkRecord};
use tokio::net::TcpListener;

use crate::admin::{AdminServer, AdminState, MetricsExposition};
use crate::agents;
use crate::body::{BodyLimits, gunzip, read_body};
use crate::error::HttpError;
use crate::limits::{CONNECTION_LIMIT_WAITS, CONNECTIONS_OPEN, EdgeLimits};
use crate::metrics::CollectorMetrics;
use crate::script::BrowserScript;
use crate::sites::{Site, SiteRegistry, SiteSettings};

/// The one beacon endpoint of format v1.
pub const BEACON_PATH: &str = rum_config::BEACON_PATH;
/// Where the script reads its site's sample rate and switches (docs/sdk.md, "Sampling").
pub const SITE_CONFIG_PATH: &str = "/rum/v1/config";

/// Everything the edge needs from the config, resolved once.
#[derive(Debug, Clone)]
pub struct CollectorSettings {
    pub listen: SocketAddr,
    pub admin_listen: SocketAddr,
    pub(crate) body: BodyLimits,
    /// A client must send its request headers within this time (slowloris guard).
    pub header_timeout: Duration,
    pub decode_limits: DecodeLimits,
    pub cors_max_age_secs: u64,
    pub retry_after_secs: u64,
    pub shutdown_grace: Duration,
    /// Client IP, GeoIP, user agent cache and clock policy (`[enrich]`).
    pub enrich: EnrichSettings,
    pub sites: Vec<SiteSettings>,
    pub limits: rum_config::LimitsConfig,
    /// Where web-vitals' metric objects are posted (`collector.web_vitals_path`).
    pub web_vitals_path: String,
    /// Where the Faro Web SDK posts (`collector.faro_path`, and `{faro_path}/{key}`).
    pub faro_path: String,
    /// `Cache-Control` of `GET /rum/v1/config` (`collector.site_config_max_age`).
    pub site_config_cache: HeaderValue,
}

impl CollectorSettings {
    /// Resolves the config; errors name the key (a validated config does not fail here).
    pub fn from_config(config: &Config) -> Result<Self, ConfigError> {
        let collector = &config.collector;
        Ok(Self {
            listen: collector.listen,
            admin_listen: collector.admin_listen,
            body: BodyLimits {
                max_body_bytes: collector.max_body_bytes.as_usize(),
                max_decompressed_bytes: collector.max_decompressed_bytes.as_usize(),
                timeout: collector.body_timeout.0,
            },
            header_timeout: collector.header_timeout.0,
            decode_limits: DecodeLimits {
                max_events: collector.max_events_per_beacon,
                max_url_bytes: collector.max_url_bytes.as_usize(),
                max_string_bytes: collector.max_string_bytes.as_usize(),
                max_stack_bytes: collector.max_stack_bytes.as_usize(),
            },
            cors_max_age_secs: collector.cors_max_age.0.as_secs(),
            retry_after_secs: collector.retry_after.0.as_secs().max(1),
            shutdown_grace: collector.shutdown_grace.0,
            enrich: EnrichSettings::from_config(&config.enrich)?,
            sites: SiteSettings::from_config(config)?,
            limits: config.limits.clone(),
            web_vitals_path: collector.web_vitals_path.clone(),
            faro_path: collector.faro_path.clone(),
            site_config_cache: match collector.site_config_max_age.0.as_secs() {
                0 => HeaderValue::from_static("no-cache"),
                seconds => HeaderValue::from_str(&format!("public, max-age={seconds}"))
                    .expect("digits are a valid header value"),
            },
        })
    }
}

/// Why the collector could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("cannot listen on {address}")]
    Bind {
        address: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot start the enrichment step")]
    Enrich(#[from] EnrichError),
}

/// What a reload replaces: sites (keys, origins, per-site enrichment and rate) and the enrichment
/// step (trusted proxies, GeoIP paths). A request holds one `Arc` of it from start to end, so a
/// reload never changes the rules under a request in flight.
pub(crate) struct Current {
    sites: SiteRegistry,
    /// Owns the GeoIP reload thread, which lives as long as this generation.
    enricher: Enricher,
}

/// State shared by every connection.
pub(crate) struct Shared {
    settings: CollectorSettings,
    decoder: BeaconDecoder,
    current: RwLock<Arc<Current>>,
    limits: EdgeLimits,
    pub(crate) sink: Arc<dyn BeaconSink>,
    metrics: CollectorMetrics,
    /// The browser script served at `/rum.js`.
    script: BrowserScript,
    pub(crate) shutting_down: AtomicBool,
}

/// A bound collector, ready to [`run`](Collector::run).
pub struct Collector {
    public: TcpListener,
    admin: AdminServer,
    exposition: MetricsExposition,
    shared: Arc<Shared>,
}

/// What shutdown left behind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShutdownReport {
    /// Beacons accepted (202) that the sink could not deliver within the grace period.
    pub undelivered: usize,
}

/// Says which user agent rules are compiled in, and warns when they are old enough to misread new
/// browsers and crawlers (`rum check-config` says the same).
fn log_rule_age() {
    tracing::info!(rules = %rum_enrich::vendored::summary(), "user agent rules");
    for (data, age_days) in rum_enrich::vendored::stale_data(std::time::SystemTime::now()) {
        tracing::warn!(
            %data,
            age_days,
            "user agent rules are over six months old; build a release with fresher rules \
             (docs/enrichment.md)"
        );
    }
}

impl Collector {
    /// Builds the enrichment step (loads the GeoIP databases, compiles the user agent rules; install
    /// the metrics recorder first) and binds both listeners. Port 0 picks a free port (see
    /// [`public_addr`](Self::public_addr)).
    pub async fn bind(
        settings: CollectorSettings,
        sink: Arc<dyn BeaconSink>,
        exposition: MetricsExposition,
    ) -> Result<Self, StartError> {
        // Blocks for a few hundred milliseconds (file reads, rule compilation), once, before
        // anything is served.
        let enricher = Enricher::new(&settings.enrich)?;
        log_rule_age();
        let bind = |address: SocketAddr| async move {
            TcpListener::bind(address)
                .await
                .map_err(|source| StartError::Bind { address, source })
        };
        let public = bind(settings.listen).await?;
        let admin =
            AdminServer::bind(settings.admin_listen).map_err(|source| StartError::Bind {
                address: settings.admin_listen,
                source,
            })?;
        let shared = Arc::new(Shared {
            decoder: BeaconDecoder::new(settings.decode_limits),
            current: RwLock::new(Arc::new(Current {
                sites: SiteRegistry::new(&settings.sites),
                enricher,
            })),
            limits: EdgeLimits::new(&settings.limits),
            sink,
            metrics: CollectorMetrics::register(),
            script: BrowserScript::embedded(),
            shutting_down: AtomicBool::new(false),
            settings,
        });
        Ok(Self {
            public,
            admin,
            exposition,
            shared,
        })
    }

    pub fn public_addr(&self) -> std::io::Result<SocketAddr> {
        self.public.local_addr()
    }

    /// The content-hashed path of the browser script (long-cached), e.g. `/rum-0123456789ab.js`.
    pub fn script_path(&self) -> &str {
        self.shared.script.versioned_path()
    }

    pub fn admin_addr(&self) -> std::io::Result<SocketAddr> {
        self.admin.local_addr()
    }

    /// A handle that swaps in new sites and enrichment while the collector serves.
    pub fn reloader(&self) -> Reloader {
        Reloader {
            shared: Arc::clone(&self.shared),
        }
    }

    /// Serves until `shutdown` resolves, then stops accepting, lets in-flight requests finish and
    /// flushes the sink, all within the configured grace period. The admin listener runs on its
    /// own thread meanwhile (`rum-admin`) and answers `/readyz` 503 once shutdown begins.
    pub async fn run(self, shutdown: impl Future<Output = ()>) -> ShutdownReport {
        let Collector {
            public,
            admin,
            exposition,
            shared,
        } = self;
        let refresh_sink = Arc::clone(&shared.sink);
        let ready_shared = Arc::clone(&shared);
        let status_sink = Arc::clone(&shared.sink);
        let admin_state = AdminState::new(
            exposition.with_refresh(Arc::new(move || refresh_sink.refresh_metrics())),
        )
        .with_status(Arc::new(move || status_sink.status()))
        .with_readiness(Arc::new(move || {
            if ready_shared.shutting_down.load(Ordering::Relaxed) {
                Err("shutting down".to_owned())
            } else if !ready_shared.sink.is_ready() {
                Err("sink not ready".to_owned())
            } else {
                Ok(())
            }
        }));
        let admin = match admin.spawn(admin_state) {
            Ok(admin) => Some(admin),
            Err(error) => {
                tracing::error!(%error, "cannot start the admin listener's thread");
                None
            }
        };
        let graceful = GracefulShutdown::new();
        let mut http = hyper::server::conn::http1::Builder::new();
        http.timer(TokioTimer::new())
            .header_read_timeout(shared.settings.header_timeout);
        let connections = Arc::new(tokio::sync::Semaphore::new(
            shared.settings.limits.max_connections,
        ));
        let connections_open = metrics::gauge!(CONNECTIONS_OPEN);
        let connection_limit_waits = metrics::counter!(CONNECTION_LIMIT_WAITS);
        tokio::pin!(shutdown);
        loop {
            // At the connection limit, stop accepting: new connections wait in the kernel's
            // backlog instead of costing memory here.
            let permit = match Arc::clone(&connections).try_acquire_owned() {
                Ok(permit) => permit,
                Err(_) => {
                    connection_limit_waits.increment(1);
                    tokio::select! {
                        permit = Arc::clone(&connections).acquire_owned() => match permit {
                            Ok(permit) => permit,
                            Err(_) => break,
                        },
                        () = &mut shutdown => break,
                    }
                }
            };
            tokio::select! {
                accepted = public.accept() => {
                    let Ok((stream, peer)) = accepted else { continue };
                    let shared = Arc::clone(&shared);
                    let connections_open = connections_open.clone();
                    // The socket peer is where the client address comes from unless it is a
                    // trusted proxy (rum_enrich::client_ip).
                    let peer = peer.ip();
                    let service = service_fn(move |request| {
                        handle_public(Arc::clone(&shared), peer, request)
                    });
                    let connection = http.serve_connection(TokioIo::new(stream), service);
                    let connection = graceful.watch(connection);
                    tokio::spawn(async move {
                        connections_open.increment(1.0);
                        if let Err(error) = connection.await {
                            tracing::debug!(%error, "beacon connection ended with an error");
                        }
                        connections_open.decrement(1.0);
                        drop(permit);
                    });
                }
                () = &mut shutdown => break,
            }
        }

        let started = Instant::now();
        let grace = shared.settings.shutdown_grace;
        shared.shutting_down.store(true, Ordering::Relaxed);
        drop(public);
        tracing::info!(
            grace_ms = grace.as_millis() as u64,
            "shutting down: finishing in-flight requests"
        );
        if tokio::time::timeout(grace, graceful.shutdown())
            .await
            .is_err()
        {
            tracing::warn!("in-flight requests did not finish within the grace period");
        }
        let remaining = grace
            .saturating_sub(started.elapsed())
            .max(Duration::from_secs(1));
        let sink = Arc::clone(&shared.sink);
        let undelivered = tokio::task::spawn_blocking(move || sink.flush(remaining))
            .await
            .unwrap_or(usize::MAX);
        if undelivered > 0 {
            tracing::error!(undelivered, "sink not fully flushed at shutdown");
        } else {
            tracing::info!("sink flushed; shutdown complete");
        }
        if let Some(admin) = admin {
            admin.stop();
        }
        ShutdownReport { undelivered }
    }
}

async fn handle_public(
    shared: Arc<Shared>,
    peer: IpAddr,
    request: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let path = request.uri().path();
    let endpoint = shared.endpoint(path);
    let reading = request.method() == Method::GET || request.method() == Method::HEAD;
    let response = if path == SITE_CONFIG_PATH && reading {
        site_config(&shared, &request)
    } else if shared.script.serves(path) && reading {
        shared
            .script
            .respond(path, request.headers(), request.method() == Method::HEAD)
    } else if let (Some(endpoint), &Method::OPTIONS) = (endpoint, request.method()) {
        handle_preflight(&shared, &request, endpoint)
    } else {
        // Everything else carries a beacon, or was meant to (a POST to a wrong path or with a
        // wrong method): it ends accepted or in the drop ledger, and counts as received first.
        shared.metrics.received();
        if endpoint.is_none() && !shared.script.serves(path) {
            reject(&shared, HttpError::NotFound, None)
        } else if let (Some(endpoint), &Method::POST) = (endpoint, request.method()) {
            // On a task of its own: hyper drops a handler whose client disconnects, and a beacon
            // counted as received must still end accepted or in the ledger (a broken body is
            // `body_read_error`), never in between.
            let task = Arc::clone(&shared);
            // Boxed first: the handler's state machine is a few kilobytes, and spawning it by
            // value copies it at every layer of the spawn path (~5,000 instructions a beacon,
            // callgrind); boxed, those layers move a pointer and the box is written once.
            let handler =
                Box::pin(async move { handle_beacon(&task, peer, request, endpoint).await });
            match tokio::spawn(handler).await {
                Ok(response) => response,
                Err(error) => {
                    tracing::error!(%error, "beacon handler failed");
                    reject(
                        &shared,
                        HttpError::SinkRejected("internal error".into()),
                        None,
                    )
                }
            }
        } else {
            reject(&shared, HttpError::MethodNotAllowed, None)
        }
    };
    shared.metrics.request(response.status().as_u16());
    Ok(response)
}

/// Counts a rejection and renders it, with CORS headers when the origin is allowed (so the
/// browser's console shows the reason instead of a CORS error).
fn reject(
    shared: &Shared,
    error: HttpError,
    cors_origin: Option<&HeaderValue>,
) -> Response<Full<Bytes>> {
    shared.metrics.refused(&error);
    let mut response = error.into_response();
    add_cors(response.headers_mut(), cors_origin);
    response
}

fn add_cors(headers: &mut HeaderMap, origin: Option<&HeaderValue>) {
    headers.insert(header::VARY, HeaderValue::from_static("Origin"));
    if let Some(origin) = origin {
        headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin.clone());
    }
}

fn query_key(request: &Request<Incoming>) -> Option<&str> {
    request
        .uri()
        .query()?
        .split('&')
        .find_map(|pair| pair.strip_prefix("key="))
        .filter(|key| !key.is_empty())
}

/// Faro's site key header.
const FARO_KEY_HEADER: &str = "x-api-key";
/// Faro's session id header.
const FARO_SESSION_HEADER: &str = "x-faro-session-id";

/// Resolves the site and checks the origin; returns the `Origin` to echo in CORS headers. The key
/// is in `?key=`, except for Faro: its `x-api-key` header or the `{faro_path}/{key}` path, compared
/// in constant time (Faro's own receiver treats it as an API key).
fn authorize<'s>(
    shared: &Shared,
    current: &'s Current,
    request: &Request<Incoming>,
    endpoint: Agent,
) -> Result<(&'s Arc<Site>, Option<HeaderValue>), HttpError> {
    let site = if endpoint == Agent::Faro {
        let key = request
            .headers()
            .get(FARO_KEY_HEADER)
            .and_then(|value| value.to_str().ok())
            .or_else(|| shared.faro_path_key(request.uri().path()))
            .ok_or(HttpError::MissingKey)?;
        current.sites.site_for_key_constant_time(key)
    } else {
        let key = query_key(request).ok_or(HttpError::MissingKey)?;
        current.sites.site_for_key(key)
    }
    .ok_or(HttpError::UnknownKey)?;
    let origin = request.headers().get(header::ORIGIN);
    let origin_text = origin.and_then(|value| value.to_str().ok());
    if !site.allows_origin(origin_text) {
        return Err(HttpError::OriginNotAllowed);
    }
    Ok((site, origin.cloned()))
}

/// `GET /rum/v1/config?key=`: the site's script configuration (a simple CORS GET, so no
/// preflight), revalidated by ETag. It carries no beacon: counted apart, never in the ledger.
fn site_config(shared: &Shared, request: &Request<Incoming>) -> Response<Full<Bytes>> {
    let current = shared.current();
    let (site, origin) = match authorize(shared, &current, request, Agent::Rum) {
        Ok(authorized) => authorized,
        Err(error) => {
            shared.metrics.site_config(None);
            let mut response = error.into_response();
            add_cors(response.headers_mut(), None);
            return response;
        }
    };
    let config = &site.script_config;
    let current_copy = request
        .headers()
        .get(header::IF_NONE_MATCH)
        .is_some_and(|tag| tag == config.etag);
    shared.metrics.site_config(Some(!current_copy));
    let mut response = if current_copy {
        let mut response = Response::new(Full::new(Bytes::new()));
        *response.status_mut() = StatusCode::NOT_MODIFIED;
        response
    } else {
        Response::new(Full::new(config.body.clone()))
    };
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    headers.insert(header::ETAG, config.etag.clone());
    headers.insert(
        header::CACHE_CONTROL,
        shared.settings.site_config_cache.clone(),
    );
    add_cors(headers, origin.as_ref());
    response
}

fn handle_preflight(
    shared: &Shared,
    request: &Request<Incoming>,
    endpoint: Agent,
) -> Response<Full<Bytes>> {
    // A preflight carries no beacon: it is counted as a preflight, not in the drop ledger.
    let current = shared.current();
    let authorized = match authorize(shared, &current, request, endpoint) {
        // Faro's key travels in a header, which a preflight does not carry: it is answered for
        // an origin some site allows, and the POST is checked against its own site.
        Err(HttpError::MissingKey) if endpoint == Agent::Faro => {
            let origin = request.headers().get(header::ORIGIN);
            let origin_text = origin.and_then(|value| value.to_str().ok());
            if current.sites.any_allows_origin(origin_text) {
                Ok(origin.cloned())
            } else {
                Err(HttpError::OriginNotAllowed)
            }
        }
        other => other.map(|(_site, origin)| origin),
    };
    let origin = match authorized {
        Ok(origin) => origin,
        Err(error) => {
            shared.metrics.preflight(false);
            let mut response = error.into_response();
            add_cors(response.headers_mut(), None);
            return response;
        }
    };
    shared.metrics.preflight(true);
    let mut response = Response::new(Full::new(Bytes::new()));
    *response.status_mut() = StatusCode::NO_CONTENT;
    let headers = response.headers_mut();
    add_cors(headers, origin.as_ref());
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static("POST, OPTIONS"),
    );
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_HEADERS,
        // Faro sends its key, session and (since 2.x) an idempotency key in headers.
        HeaderValue::from_static(
            "Content-Type, Content-Encoding, x-api-key, x-faro-session-id, idempotency-key",
        ),
    );
    headers.insert(
        header::ACCESS_CONTROL_MAX_AGE,
        HeaderValue::from(shared.settings.cors_max_age_secs),
    );
    response
}

async fn handle_beacon(
    shared: &Shared,
    peer: IpAddr,
    request: Request<Incoming>,
    endpoint: Agent,
) -> Response<Full<Bytes>> {
    let current = shared.current();
    let (site, origin) = match authorize(shared, &current, &request, endpoint) {
        Ok(authorized) => authorized,
        Err(error) => return reject(shared, error, None),
    };
    if let Err(error) = check_limits(shared, &current, site, peer, request.headers()) {
        return reject(shared, error, origin.as_ref());
    }
    let accepted = match endpoint {
        Agent::Rum => accept_beacon(shared, &current, site, peer, request).await,
        agent => accept_agent_payload(shared, &current, site, peer, request, agent).await,
    };
    match accepted {
        Ok(mut response) => {
            add_cors(response.headers_mut(), origin.as_ref());
            response
        }
        Err(error) => reject(shared, error, origin.as_ref()),
    }
}

fn media_type_is_accepted(headers: &HeaderMap) -> bool {
    let Some(content_type) = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let essence = content_type.split(';').next().unwrap_or("").trim();
    essence.eq_ignore_ascii_case("text/plain") || essence.eq_ignore_ascii_case("application/json")
}

/// Whether the body is gzip (`Ok(true)`), plain (`Ok(false)`) or in an encoding we refuse.
fn body_is_gzip(headers: &HeaderMap) -> Result<bool, HttpError> {
    match headers
        .get(header::CONTENT_ENCODING)
        .map(|v| v.to_str().map(str::trim))
    {
        None => Ok(false),
        Some(Ok(encoding)) if encoding.is_empty() || encoding.eq_ignore_ascii_case("identity") => {
            Ok(false)
        }
        Some(Ok(encoding))
            if encoding.eq_ignore_ascii_case("gzip") || encoding.eq_ignore_ascii_case("x-gzip") =>
        {
            Ok(true)
        }
        Some(_) => Err(HttpError::UnsupportedEncoding),
    }
}

/// The memory watermark, then the client network's bucket, then the site's: a noisy network is
/// refused before it spends its site's tokens.
fn check_limits(
    shared: &Shared,
    current: &Current,
    site: &Site,
    peer: IpAddr,
    headers: &HeaderMap,
) -> Result<(), HttpError> {
    if let Some(memory) = &shared.limits.memory {
        memory.check(shared.settings.retry_after_secs)?;
    }
    if let Some(network) = &shared.limits.network {
        network.check(current.enricher.client_ip(peer, headers))?;
    }
    if let Some(limit) = &site.limit {
        limit.check()?;
    }
    Ok(())
}

/// Reads a beacon-carrying body under the edge's caps: the JSON bytes, with room for the parser's
/// padding, and the size on the wire.
async fn read_json(
    shared: &Shared,
    headers: &HeaderMap,
    body: Incoming,
) -> Result<(Vec<u8>, usize), HttpError> {
    if !media_type_is_accepted(headers) {
        return Err(HttpError::UnsupportedMediaType);
    }
    let gzip = body_is_gzip(headers)?;
    let limits = &shared.settings.body;
    let declared_length = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared_length.is_some_and(|length| length > limits.max_body_bytes as u64) {
        return Err(HttpError::BodyTooLarge {
            limit: limits.max_body_bytes,
        });
    }

    // Owned and with room for the parser's padding, so simd-json parses it where it is.
    let spare = if gzip { 0 } else { rum_schema::JSON_PADDING };
    let wire = read_body(body, declared_length, spare, limits, &shared.limits).await?;
    let wire_bytes = wire.len();
    let json = if gzip {
        let mut inflated = gunzip(&wire, limits.max_decompressed_bytes)?;
        inflated.reserve_exact(rum_schema::JSON_PADDING);
        inflated
    } else {
        wire
    };
    Ok((json, wire_bytes))
}

async fn accept_beacon(
    shared: &Shared,
    current: &Current,
    site: &Site,
    peer: IpAddr,
    request: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, HttpError> {
    let (parts, body) = request.into_parts();
    let (mut json, wire_bytes) = read_json(shared, &parts.headers, body).await?;
    let decoded = shared.decoder.decode_vec(&mut json)?;
    forward(
        shared,
        current,
        site,
        peer,
        &parts.headers,
        decoded,
        wire_bytes,
    )
    .await
}

/// Another agent's payload: translated into native beacons (`agents`), each then decoded and
/// forwarded like a native one. The request counted as received once; each further beacon it
/// yields is counted received too, so every beacon still ends accepted or in the ledger. Answered
/// 202 when any beacon went through, else with the first refusal.
async fn accept_agent_payload(
    shared: &Shared,
    current: &Current,
    site: &Site,
    peer: IpAddr,
    request: Request<Incoming>,
    agent: Agent,
) -> Result<Response<Full<Bytes>>, HttpError> {
    let (parts, body) = request.into_parts();
    let headers = &parts.headers;
    let (json, wire_bytes) = read_json(shared, headers, body).await?;
    let facts = agents::RequestFacts {
        referer: headers
            .get(header::REFERER)
            .and_then(|value| value.to_str().ok()),
        received_at_ms: now_ms(),
    };
    let max_metrics = shared.settings.decode_limits.max_events;
    let translation = match agent {
        Agent::WebVitals => agents::web_vitals::translate(&json, &facts, max_metrics),
        Agent::Faro => {
            let session = headers
                .get(FARO_SESSION_HEADER)
                .and_then(|value| value.to_str().ok());
            agents::faro::translate(&json, &facts, session, max_metrics)
        }
        // `Shared::endpoint` routes native beacons to `accept_beacon`.
        Agent::Rum => return Err(HttpError::NotFound),
    };
    shared.metrics.agent_payload(agent, translation.is_ok());
    let translation = translation?;
    shared.metrics.rejected_events(&translation.rejected);
    for _ in 1..translation.beacons.len() {
        shared.metrics.received();
    }
    let mut forwarded = 0usize;
    let mut first_refusal = None;
    for native in translation.beacons {
        let mut body = native.json;
        body.reserve_exact(rum_schema::JSON_PADDING);
        let outcome = match shared.decoder.decode_vec(&mut body) {
            // Its one metric refused: no empty beacon, the metric's reason refuses it.
            Ok(decoded)
                if decoded.beacon.events.is_empty() && !decoded.rejected_events.is_empty() =>
            {
                let rejection = decoded.rejected_events[0];
                Err(HttpError::from(rum_schema::BeaconRejection::new(
                    rejection.reason,
                    format!("the metric's `{}` was refused", rejection.field),
                )))
            }
            Ok(mut decoded) => {
                decoded.beacon.set_agent(agent);
                decoded.beacon.counts_page_view = native.counts_page_view;
                forward(shared, current, site, peer, headers, decoded, wire_bytes).await
            }
            Err(rejection) => Err(HttpError::from(rejection)),
        };
        match outcome {
            Ok(_) => forwarded += 1,
            // The first refusal is counted by whoever answers with it; the others here.
            Err(error) if first_refusal.is_none() => first_refusal = Some(error),
            Err(error) => shared.metrics.refused(&error),
        }
    }
    match first_refusal {
        Some(error) if forwarded == 0 => Err(error),
        refusal => {
            if let Some(error) = &refusal {
                shared.metrics.refused(error);
            }
            let summary = serde_json::json!({
                "accepted": forwarded,
                "rejected": translation.rejected.len() + usize::from(refusal.is_some()),
            });
            let mut response = Response::new(Full::new(Bytes::from(summary.to_string())));
            *response.status_mut() = StatusCode::ACCEPTED;
            response.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            Ok(response)
        }
    }
}

/// Enriches a decoded beacon and hands it to the sink; counts it accepted (a bot is dropped and
/// counted by the enricher instead). Answers what the native endpoint answers.
async fn forward(
    shared: &Shared,
    current: &Current,
    site: &Site,
    peer: IpAddr,
    headers: &HeaderMap,
    mut decoded: rum_schema::DecodedBeacon,
    wire_bytes: usize,
) -> Result<Response<Full<Bytes>>, HttpError> {
    decoded.beacon.site.clone_from(&site.id);
    decoded.beacon.received_at_ms = now_ms();
    match current
        .enricher
        .enrich(&mut decoded.beacon, &site.enrichment, peer, headers)
    {
        EnrichOutcome::Forward => {}
        // Answered like any valid beacon: telling a bot it was recognised helps it evade.
        // (The enricher counted it in the drop ledger.)
        EnrichOutcome::Drop(_reason) => return Ok(accepted_response(&decoded)),
    }
    let record = SinkRecord {
        key: partition_key(&site.id, &decoded.beacon.page_view_id),
        payload: rum_schema::encode_beacon(&decoded.beacon),
    };
    let retry_after_secs = shared.settings.retry_after_secs;
    let receipt = shared.sink.try_send(record).map_err(|error| match error {
        SinkError::Full(_) => HttpError::Overloaded { retry_after_secs },
        SinkError::Closed(_) => HttpError::SinkClosed { retry_after_secs },
        SinkError::Rejected { reason, .. } => HttpError::SinkRejected(reason),
    })?;
    // Write-ahead spool: answered only once the beacon is on disk (a group commit).
    receipt
        .durable()
        .await
        .map_err(|_| HttpError::SpoolFailed { retry_after_secs })?;
    shared.metrics.accepted(&decoded, wire_bytes);

    Ok(accepted_response(&decoded))
}

impl Shared {
    /// Which agent's payloads `path` takes, if it is a beacon endpoint.
    fn endpoint(&self, path: &str) -> Option<Agent> {
        if path == BEACON_PATH {
            Some(Agent::Rum)
        } else if path == self.settings.web_vitals_path {
            Some(Agent::WebVitals)
        } else if path == self.settings.faro_path || self.faro_path_key(path).is_some() {
            Some(Agent::Faro)
        } else {
            None
        }
    }

    /// The key in a `{faro_path}/{key}` path.
    fn faro_path_key<'p>(&self, path: &'p str) -> Option<&'p str> {
        path.strip_prefix(self.settings.faro_path.as_str())?
            .strip_prefix('/')
            .filter(|key| !key.is_empty() && !key.contains('/'))
    }

    /// The sites and enrichment of this moment (see [`Current`]).
    fn current(&self) -> Arc<Current> {
        Arc::clone(
            &self
                .current
                .read()
                .unwrap_or_else(|poison| poison.into_inner()),
        )
    }
}

/// Swaps in new sites and enrichment (`rum` calls it on SIGHUP and when the config file changes).
#[derive(Clone)]
pub struct Reloader {
    shared: Arc<Shared>,
}

impl Reloader {
    /// Builds the new generation from a validated config (loading GeoIP files and compiling the
    /// user agent rules, off the request path: call it from a blocking thread), then swaps it in.
    /// Requests in flight finish with the generation they started with; none waits. On error
    /// nothing changes.
    pub fn reload(&self, config: &Config) -> Result<ReloadSummary, ConfigError> {
        let settings = CollectorSettings::from_config(config)?;
        let enricher = Enricher::new(&settings.enrich)
            .map_err(|error| ConfigError::invalid("enrich", error.to_string()))?;
        let next = Arc::new(Current {
            sites: SiteRegistry::new(&settings.sites),
            enricher,
        });
        let summary = ReloadSummary {
            sites: settings.sites.len(),
            keys: settings
                .sites
                .iter()
                .map(|site| site.config.keys.len())
                .sum(),
        };
        let previous = std::mem::replace(
            &mut *self
                .shared
                .current
                .write()
                .unwrap_or_else(|poison| poison.into_inner()),
            next,
        );
        // The old generation (and its GeoIP reload thread) goes when its last request ends.
        drop(previous);
        Ok(summary)
    }
}

/// What a reload swapped in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReloadSummary {
    pub sites: usize,
    pub keys: usize,
}

/// `SITE/PAGE_VIEW_ID`: one page view's beacons share a key, hence a Kafka partition.
fn partition_key(site: &str, page_view_id: &str) -> Vec<u8> {
    let mut key = Vec::with_capacity(site.len() + 1 + page_view_id.len());
    key.extend_from_slice(site.as_bytes());
    key.push(b'/');
    key.extend_from_slice(page_view_id.as_bytes());
    key
}

/// `{"accepted":N,"rejected":[{"index":I,"reason":R,"field":F}...]}`, written directly (no
/// formatting machinery: this runs for every beacon); reasons and field names are fixed
/// identifiers that need no escaping.
fn accepted_response(decoded: &rum_schema::DecodedBeacon) -> Response<Full<Bytes>> {
    let mut body = String::with_capacity(32 + 64 * decoded.rejected_events.len());
    body.push_str("{\"accepted\":");
    push_decimal(&mut body, decoded.beacon.events.len());
    body.push_str(",\"rejected\":[");
    for (position, rejection) in decoded.rejected_events.iter().enumerate() {
        if position > 0 {
            body.push(',');
        }
        body.push_str("{\"index\":");
        push_decimal(&mut body, rejection.index);
        body.push_str(",\"reason\":\"");
        body.push_str(rejection.reason.as_str());
        body.push_str("\",\"field\":\"");
        body.push_str(rejection.field);
        body.push_str("\"}");
    }
    body.push_str("]}");
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = StatusCode::ACCEPTED;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

fn push_decimal(text: &mut String, number: usize) {
    text.push_str(itoa::Buffer::new().format(number));
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|elapsed| elapsed.as_millis() as i64)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimals_are_written_like_display() {
        for number in [0, 7, 10, 99, 100, 12_345, usize::MAX] {
            let mut text = String::from("n=");
            push_decimal(&mut text, number);
            assert_eq!(text, format!("n={number}"));
        }
    }

    #[test]
    fn the_config_defaults_are_the_decoders_defaults() {
        let config = CollectorSettings::from_config(&Config::default()).expect("defaults");
        assert_eq!(config.decode_limits, DecodeLimits::default());
    }

    #[test]
    fn the_partition_key_is_site_slash_page_view() {
        assert_eq!(partition_key("shop", "pv-1"), b"shop/pv-1".to_vec());
    }
}
