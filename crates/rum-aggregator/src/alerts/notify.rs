//! Delivery of alerts: Alertmanager API v2 (`POST /api/v2/alerts`) and plain webhooks carrying the
//! Alertmanager webhook payload, optionally signed with HMAC-SHA256. Each delivery is retried with
//! backoff; failures are counted (`rum_alert_notifications_total{receiver, outcome="failed"}`),
//! never silently lost. Delivery runs in its own tasks: a slow receiver never delays evaluation.

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

use super::OutgoingAlert;
use super::time::rfc3339;

/// Header carrying the webhook body's signature: `sha256=<lowercase hex HMAC-SHA256(secret, body)>`.
pub const SIGNATURE_HEADER: &str = "X-Rum-Signature";
/// Attempts per delivery (first try + retries), with backoff doubling from [`FIRST_BACKOFF`].
const ATTEMPTS: u32 = 4;
const FIRST_BACKOFF: Duration = Duration::from_millis(500);

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
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for (name, value) in labels {
        for byte in name
            .bytes()
            .chain([0xff])
            .chain(value.bytes())
            .chain([0xff])
        {
            hash ^= u64::from(byte);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
    }
    format!("{hash:016x}")
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
        }
    }

    pub fn receivers(&self) -> &[Receiver] {
        &self.receivers
    }

    /// Starts delivery of `alerts` to every receiver; returns at once.
    pub fn send(&self, alerts: Vec<super::OutgoingAlert>) {
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
                tokio::spawn(deliver(self.client.clone(), receiver.clone(), url, body));
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
    let mut backoff = FIRST_BACKOFF;
    for attempt in 1..=ATTEMPTS {
        let mut request = Request::builder()
            .method(Method::POST)
            .uri(&url)
            .header(header::CONTENT_TYPE, "application/json")
            .header(
                header::USER_AGENT,
                concat!("rum/", env!("CARGO_PKG_VERSION")),
            );
        if let Some(signature) = &signature {
            request = request.header(SIGNATURE_HEADER, signature);
        }
        let outcome = match request.body(Full::new(body.clone())) {
            Ok(request) => {
                match tokio::time::timeout(receiver.timeout, client.request(request)).await {
                    Ok(Ok(response)) if response.status().is_success() => {
                        // Drain the body so the connection can be reused.
                        let _ = response.into_body().collect().await;
                        Ok(())
                    }
                    Ok(Ok(response)) => Err(format!("status {}", response.status())),
                    Ok(Err(error)) => Err(error.to_string()),
                    Err(_) => Err("timed out".to_owned()),
                }
            }
            Err(error) => Err(error.to_string()),
        };
        match outcome {
            Ok(()) => {
                metrics::counter!("rum_alert_notifications_total", "receiver" => receiver.label.clone(), "outcome" => "sent").increment(1);
                return;
            }
            Err(error) => {
                metrics::counter!("rum_alert_notification_attempts_failed_total", "receiver" => receiver.label.clone()).increment(1);
                tracing::warn!(receiver = %receiver.label, attempt, %error, "alert delivery failed");
                if attempt < ATTEMPTS {
                    tokio::time::sleep(backoff).await;
                    backoff *= 2;
                }
            }
        }
    }
    metrics::counter!("rum_alert_notifications_total", "receiver" => receiver.label.clone(), "outcome" => "failed").increment(1);
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
