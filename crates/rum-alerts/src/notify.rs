//! Delivery of alerts: Alertmanager API v2 (`POST /api/v2/alerts`) and plain webhooks carrying the
//! Alertmanager webhook payload, optionally signed with HMAC-SHA256. Each delivery is retried with
//! exponential backoff and jitter ([`RetryPolicy`]); failures are counted
//! (`rum_alert_notifications_total{receiver, outcome="failed"}`), never silently lost. Delivery runs
//! in its own tasks: a slow receiver never delays evaluation.

use std::collections::BTreeMap;
use std::time::Duration;

use bytes::Bytes;
use hmac::{Hmac, Mac};
use http::{Method, Request, header};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde_json::{Value, json};
use sha2::Sha256;

use crate::OutgoingAlert;

/// Header carrying the webhook body's signature: `sha256=<lowercase hex HMAC-SHA256(secret, body)>`.
pub const SIGNATURE_HEADER: &str = "X-Rum-Signature";

/// `2026-11-22T01:02:03.456Z` for milliseconds since the Unix epoch (what Alertmanager reads).
fn rfc3339(epoch_ms: i64) -> String {
    let instant = if epoch_ms >= 0 {
        std::time::UNIX_EPOCH + Duration::from_millis(epoch_ms as u64)
    } else {
        std::time::UNIX_EPOCH
    };
    humantime::format_rfc3339_millis(instant).to_string()
}

/// How a delivery is retried: `attempts` tries in all, the wait before retry `n` (1-based) drawn
/// uniformly from `[backoff / 2, backoff]` where `backoff = first_backoff x 2^(n-1)`, capped at
/// `max_backoff`. The jitter keeps many rum processes that lost the same receiver from retrying in
/// lockstep.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    pub attempts: u32,
    pub first_backoff: Duration,
    pub max_backoff: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            attempts: 4,
            first_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(10),
        }
    }
}

impl RetryPolicy {
    /// The wait before retry `retry` (1 = the first retry), for a jitter draw in `[0, 1)`.
    pub fn backoff(&self, retry: u32, jitter: f64) -> Duration {
        let doubled = self
            .first_backoff
            .saturating_mul(2u32.saturating_pow(retry.saturating_sub(1)));
        let ceiling = doubled.min(self.max_backoff);
        ceiling.mul_f64(0.5 + 0.5 * jitter.clamp(0.0, 1.0))
    }

    /// Runs `attempt` until it succeeds or the attempts run out, sleeping the jittered backoff in
    /// between (tokio time, so tests run it under paused time). Returns the last error on failure;
    /// `on_failure` sees every failed attempt (1-based) with its error.
    pub async fn run<F, Fut>(
        &self,
        mut attempt: F,
        mut jitter: impl FnMut() -> f64,
        mut on_failure: impl FnMut(u32, &str),
    ) -> Result<(), String>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<(), String>>,
    {
        let mut last_error = String::from("no attempt made");
        for number in 1..=self.attempts.max(1) {
            match attempt().await {
                Ok(()) => return Ok(()),
                Err(error) => {
                    on_failure(number, &error);
                    last_error = error;
                }
            }
            if number < self.attempts {
                tokio::time::sleep(self.backoff(number, jitter())).await;
            }
        }
        Err(last_error)
    }
}

/// A uniform draw in `[0, 1)` from the process's random hasher keys (no RNG dependency: jitter
/// only has to differ between processes and retries, not be cryptographic).
fn jitter() -> f64 {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |elapsed| elapsed.as_nanos()),
    );
    (hasher.finish() >> 11) as f64 / (1u64 << 53) as f64
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReceiverKind {
    Alertmanager,
    Webhook,
}

#[derive(Debug, Clone)]
pub struct Receiver {
    pub kind: ReceiverKind,
    /// Alertmanager: base URL; webhook: the full URL.
    pub url: String,
    pub hmac_secret: Option<String>,
    pub timeout: Duration,
    /// Bounded metric label: `alertmanager[0]`, `webhook[1]` (never the URL, which may hold a token).
    pub label: String,
}

impl Receiver {
    pub fn from_config(config: &rum_config::AlertsConfig) -> Vec<Receiver> {
        let alertmanagers = config
            .alertmanagers
            .iter()
            .enumerate()
            .map(|(index, receiver)| Receiver {
                kind: ReceiverKind::Alertmanager,
                url: receiver.url.trim_end_matches('/').to_owned(),
                hmac_secret: None,
                timeout: receiver.timeout.0,
                label: format!("alertmanager[{index}]"),
            });
        let webhooks = config
            .webhooks
            .iter()
            .enumerate()
            .map(|(index, receiver)| Receiver {
                kind: ReceiverKind::Webhook,
                url: receiver.url.clone(),
                hmac_secret: receiver.hmac_secret.clone(),
                timeout: receiver.timeout.0,
                label: format!("webhook[{index}]"),
            });
        alertmanagers.chain(webhooks).collect()
    }
}

/// `sha256=<hex>` of HMAC-SHA256(secret, body).
pub fn hmac_signature(secret: &[u8], body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes keys of any length");
    mac.update(body);
    let digest = mac.finalize().into_bytes();
    let mut hex = String::with_capacity(7 + digest.len() * 2);
    hex.push_str("sha256=");
    for byte in digest {
        hex.push_str(&format!("{byte:02x}"));
    }
    hex
}

fn labels_json(labels: &BTreeMap<String, String>) -> Value {
    Value::Object(
        labels
            .iter()
            .map(|(name, value)| (name.clone(), Value::String(value.clone())))
            .collect(),
    )
}

/// Alertmanager API v2 `postableAlerts`.
pub fn alertmanager_body(alerts: &[OutgoingAlert]) -> Vec<u8> {
    let body: Vec<Value> = alerts
        .iter()
        .map(|alert| {
            json!({
                "labels": labels_json(&alert.labels),
                "annotations": labels_json(&alert.annotations),
                "startsAt": rfc3339(alert.starts_at_ms),
                "endsAt": rfc3339(alert.ends_at_ms),
                "generatorURL": alert.generator_url,
            })
        })
        .collect();
    serde_json::to_vec(&body).expect("JSON values serialize")
}

/// FNV-1a over the sorted labels: the alert's identity, as a 16-hex-digit fingerprint.
fn fingerprint(labels: &BTreeMap<String, String>) -> String {
    let mut hash = rum_schema::stable_hash::Fnv1a::default();
    for (name, value) in labels {
        hash.write(name.as_bytes())
            .write(&[0xff])
            .write(value.as_bytes())
            .write(&[0xff]);
    }
    format!("{:016x}", hash.finish())
}

/// The Alertmanager webhook payload (version 4) for alerts of one rule.
pub fn webhook_body(rule: &str, alerts: &[&OutgoingAlert], external_url: &str) -> Vec<u8> {
    let common = |pick: fn(&OutgoingAlert) -> &BTreeMap<String, String>| {
        let mut common = alerts
            .first()
            .map(|alert| pick(alert).clone())
            .unwrap_or_default();
        common.retain(|name, value| {
            alerts
                .iter()
                .all(|alert| pick(alert).get(name) == Some(value))
        });
        common
    };
    let any_firing = alerts.iter().any(|alert| alert.firing);
    let group_labels = BTreeMap::from([("alertname".to_owned(), rule.to_owned())]);
    let body = json!({
        "version": "4",
        "groupKey": format!("{{}}:{{alertname=\"{rule}\"}}"),
        "truncatedAlerts": 0,
        "status": if any_firing { "firing" } else { "resolved" },
        "receiver": "rum",
        "groupLabels": labels_json(&group_labels),
        "commonLabels": labels_json(&common(|alert| &alert.labels)),
        "commonAnnotations": labels_json(&common(|alert| &alert.annotations)),
        "externalURL": external_url,
        "alerts": alerts.iter().map(|alert| json!({
            "status": if alert.firing { "firing" } else { "resolved" },
            "labels": labels_json(&alert.labels),
            "annotations": labels_json(&alert.annotations),
            "startsAt": rfc3339(alert.starts_at_ms),
            "endsAt": if alert.firing { "0001-01-01T00:00:00Z".to_owned() } else { rfc3339(alert.ends_at_ms) },
            "generatorURL": alert.generator_url,
            "fingerprint": fingerprint(&alert.labels),
        })).collect::<Vec<_>>(),
    });
    serde_json::to_vec(&body).expect("JSON values serialize")
}

/// Sends alerts to every receiver.
#[derive(Clone)]
pub struct Notifier {
    receivers: Vec<Receiver>,
    external_url: String,
    client: Client<HttpConnector, Full<Bytes>>,
    /// The runtime deliveries run on (the one current when the notifier was made), so `send`
    /// works from any thread, a stage-2 worker's included.
    runtime: Option<tokio::runtime::Handle>,
}

impl Notifier {
    pub fn new(receivers: Vec<Receiver>, external_url: String) -> Self {
        metrics::describe_counter!(
            "rum_alert_notifications_total",
            "Alert deliveries by receiver and outcome (sent, failed after every retry)."
        );
        metrics::describe_counter!(
            "rum_alert_notification_attempts_failed_total",
            "Failed delivery attempts (each is retried until the attempts run out)."
        );
        Self {
            receivers,
            external_url,
            client: Client::builder(TokioExecutor::new()).build_http(),
            runtime: tokio::runtime::Handle::try_current().ok(),
        }
    }

    pub fn receivers(&self) -> &[Receiver] {
        &self.receivers
    }

    /// Starts delivery of `alerts` to every receiver; returns at once.
    pub fn send(&self, alerts: Vec<OutgoingAlert>) {
        for receiver in &self.receivers {
            let bodies: Vec<(String, Vec<u8>)> = match receiver.kind {
                ReceiverKind::Alertmanager => vec![(
                    format!("{}/api/v2/alerts", receiver.url),
                    alertmanager_body(&alerts),
                )],
                ReceiverKind::Webhook => {
                    let mut by_rule: BTreeMap<&str, Vec<&OutgoingAlert>> = BTreeMap::new();
                    for alert in &alerts {
                        by_rule.entry(alert.rule.as_str()).or_default().push(alert);
                    }
                    by_rule
                        .into_iter()
                        .map(|(rule, alerts)| {
                            (
                                receiver.url.clone(),
                                webhook_body(rule, &alerts, &self.external_url),
                            )
                        })
                        .collect()
                }
            };
            for (url, body) in bodies {
                let delivery = deliver(self.client.clone(), receiver.clone(), url, body);
                match &self.runtime {
                    Some(runtime) => {
                        runtime.spawn(delivery);
                    }
                    None => {
                        tracing::error!(receiver = %receiver.label, "no runtime to deliver alerts on");
                        metrics::counter!("rum_alert_notifications_total", "receiver" => receiver.label.clone(), "outcome" => "failed").increment(1);
                    }
                }
            }
        }
    }
}

async fn deliver(
    client: Client<HttpConnector, Full<Bytes>>,
    receiver: Receiver,
    url: String,
    body: Vec<u8>,
) {
    let signature = receiver
        .hmac_secret
        .as_ref()
        .map(|secret| hmac_signature(secret.as_bytes(), &body));
    let body = Bytes::from(body);
    let attempt = || {
        let client = client.clone();
        let body = body.clone();
        let url = url.clone();
        let signature = signature.clone();
        let timeout = receiver.timeout;
        async move { post(&client, &url, body, signature.as_deref(), timeout).await }
    };
    let outcome = RetryPolicy::default()
        .run(attempt, jitter, |attempt, error| {
            metrics::counter!("rum_alert_notification_attempts_failed_total", "receiver" => receiver.label.clone()).increment(1);
            tracing::warn!(receiver = %receiver.label, attempt, %error, "alert delivery failed");
        })
        .await;
    let label = if outcome.is_ok() { "sent" } else { "failed" };
    metrics::counter!("rum_alert_notifications_total", "receiver" => receiver.label.clone(), "outcome" => label).increment(1);
}

/// One POST; success is a 2xx within `timeout`.
async fn post(
    client: &Client<HttpConnector, Full<Bytes>>,
    url: &str,
    body: Bytes,
    signature: Option<&str>,
    timeout: Duration,
) -> Result<(), String> {
    let mut request = Request::builder()
        .method(Method::POST)
        .uri(url)
        .header(header::CONTENT_TYPE, "application/json")
        .header(
            header::USER_AGENT,
            concat!("rum/", env!("CARGO_PKG_VERSION")),
        );
    if let Some(signature) = signature {
        request = request.header(SIGNATURE_HEADER, signature);
    }
    let request = request
        .body(Full::new(body))
        .map_err(|error| error.to_string())?;
    match tokio::time::timeout(timeout, client.request(request)).await {
        Ok(Ok(response)) if response.status().is_success() => {
            // Drain the body so the connection can be reused; a broken body after a 2xx is
            // still a delivered alert.
            if let Err(error) = response.into_body().collect().await {
                tracing::debug!(%error, "alert receiver's answer body was cut short");
            }
            Ok(())
        }
        Ok(Ok(response)) => Err(format!("status {}", response.status())),
        Ok(Err(error)) => Err(error.to_string()),
        Err(_) => Err("timed out".to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hmac_matches_rfc4231_case_2() {
        // RFC 4231 test case 2: key "Jefe", data "what do ya want for nothing?".
        assert_eq!(
            hmac_signature(b"Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn backoff_doubles_with_jitter_and_a_cap() {
        let policy = RetryPolicy {
            attempts: 6,
            first_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(3),
        };
        // Jitter 0 waits half the step, jitter just under 1 nearly the whole step.
        assert_eq!(policy.backoff(1, 0.0), Duration::from_millis(250));
        assert_eq!(policy.backoff(1, 1.0), Duration::from_millis(500));
        assert_eq!(policy.backoff(2, 0.0), Duration::from_millis(500));
        assert_eq!(policy.backoff(3, 0.5), Duration::from_millis(1500));
        // Capped: 500 ms x 2^4 = 8 s is over the 3 s cap.
        assert_eq!(policy.backoff(5, 1.0), Duration::from_secs(3));
        assert_eq!(policy.backoff(5, 0.0), Duration::from_millis(1500));
        // Out-of-range draws are clamped, not trusted.
        assert_eq!(policy.backoff(1, 7.0), Duration::from_millis(500));
        let draws: Vec<f64> = (0..100).map(|_| jitter()).collect();
        assert!(draws.iter().all(|draw| (0.0..1.0).contains(draw)));
        assert!(
            draws.iter().any(|draw| (draw - draws[0]).abs() > 1e-9),
            "jitter varies"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn retries_wait_the_jittered_backoff_then_give_up() {
        let policy = RetryPolicy {
            attempts: 4,
            first_backoff: Duration::from_millis(400),
            max_backoff: Duration::from_secs(10),
        };
        let start = tokio::time::Instant::now();
        let attempts = std::cell::RefCell::new(Vec::new());
        let failures = std::cell::RefCell::new(Vec::new());
        let draws = [0.0, 0.5, 1.0];
        let mut next_draw = draws.iter().copied();
        let outcome = policy
            .run(
                || {
                    attempts.borrow_mut().push(start.elapsed());
                    async { Err::<(), _>("status 503".to_owned()) }
                },
                || next_draw.next().expect("one draw per retry"),
                |attempt, error| failures.borrow_mut().push((attempt, error.to_owned())),
            )
            .await;
        assert_eq!(outcome, Err("status 503".to_owned()));
        // Waits: 400 ms x (0.5 + 0.5 x 0.0), 800 ms x 0.75, 1600 ms x 1.0.
        assert_eq!(
            *attempts.borrow(),
            [0, 200, 800, 2400].map(Duration::from_millis).to_vec()
        );
        assert_eq!(
            failures
                .borrow()
                .iter()
                .map(|(attempt, _)| *attempt)
                .collect::<Vec<_>>(),
            vec![1, 2, 3, 4]
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_retry_that_succeeds_stops_retrying() {
        let policy = RetryPolicy::default();
        let calls = std::cell::Cell::new(0);
        let outcome = policy
            .run(
                || {
                    calls.set(calls.get() + 1);
                    let result = if calls.get() < 3 {
                        Err("refused".to_owned())
                    } else {
                        Ok(())
                    };
                    async move { result }
                },
                || 0.25,
                |_, _| {},
            )
            .await;
        assert_eq!(outcome, Ok(()));
        assert_eq!(calls.get(), 3);
    }

    #[test]
    fn timestamps_are_rfc3339_with_milliseconds() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339(951_782_400_000), "2000-02-29T00:00:00.000Z");
        assert_eq!(rfc3339(1_763_760_000_123), "2025-11-21T21:20:00.123Z");
        assert_eq!(rfc3339(4_102_444_799_999), "2099-12-31T23:59:59.999Z");
    }

    #[test]
    fn payload_shapes() {
        let alert = OutgoingAlert {
            rule: "RumLcpP75Poor".into(),
            firing: true,
            labels: BTreeMap::from([
                ("alertname".into(), "RumLcpP75Poor".into()),
                ("site".into(), "shop".into()),
            ]),
            annotations: BTreeMap::from([("summary".into(), "slow".into())]),
            starts_at_ms: 0,
            ends_at_ms: 60_000,
            generator_url: String::new(),
        };
        let alertmanager: Value =
            serde_json::from_slice(&alertmanager_body(std::slice::from_ref(&alert))).expect("json");
        assert_eq!(alertmanager[0]["labels"]["site"], "shop");
        assert_eq!(alertmanager[0]["endsAt"], "1970-01-01T00:01:00.000Z");
        let webhook: Value =
            serde_json::from_slice(&webhook_body("RumLcpP75Poor", &[&alert], "http://rum"))
                .expect("json");
        assert_eq!(webhook["status"], "firing");
        assert_eq!(webhook["commonLabels"]["site"], "shop");
        assert_eq!(
            webhook["alerts"][0]["fingerprint"].as_str().map(str::len),
            Some(16)
        );
    }
}
