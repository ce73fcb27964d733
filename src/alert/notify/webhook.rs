//! The generic webhook integration: Alertmanager's version-4 JSON payload
//! (`notify/webhook/webhook.go`) POSTed to a secret URL, with `max_alerts` truncation
//! (`truncatedAlerts`), a per-request timeout, and upstream's status handling (2xx ok,
//! 5xx and network errors retryable, anything else final).

use std::time::Duration;

use serde::Serialize;

use super::{
    go_time, quote_meta, status_at, Batch, FailReason, GroupSummary, Notifier, NotifyContext,
    NotifyError, NotifyFuture,
};
use crate::alert::store::Alert;
use crate::base::SecretSource;
use crate::client::RequestHeaders;
use crate::labels::LabelSet;

/// A validated `webhook_configs` entry.
#[derive(Clone, Debug)]
pub struct WebhookSettings {
    /// `url` or `url_file` (re-read on every send and trimmed, as upstream).
    pub url: SecretSource,
    /// 0 = no limit.
    pub max_alerts: usize,
    /// Per request; `None` = only the flush deadline applies.
    pub timeout: Option<Duration>,
    /// Credentials and `http_headers` from `http_config`.
    pub headers: RequestHeaders,
}

/// The version-4 payload, field order as Alertmanager's JSON: [`Data`] followed by the
/// webhook's own fields. It borrows the alerts' maps instead of copying them into a
/// [`Data`] first (a flush of many alerts would otherwise hold them twice).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Message<'a> {
    pub receiver: String,
    pub status: &'static str,
    pub alerts: Vec<MessageAlert<'a>>,
    pub group_labels: &'a LabelSet,
    pub common_labels: LabelSet,
    pub common_annotations: LabelSet,
    #[serde(rename = "externalURL")]
    pub external_url: &'a str,
    pub version: &'static str,
    pub group_key: &'a str,
    pub truncated_alerts: usize,
}

/// One alert of a [`Message`]: [`super::DataAlert`], borrowed.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MessageAlert<'a> {
    pub status: &'static str,
    pub labels: &'a LabelSet,
    pub annotations: &'a LabelSet,
    pub starts_at: String,
    pub ends_at: String,
    #[serde(rename = "generatorURL")]
    pub generator_url: &'a str,
    pub fingerprint: String,
}

/// Builds the body for `alerts`: the first `max_alerts` alerts, the rest counted.
pub fn payload(settings: &WebhookSettings, ctx: &NotifyContext, alerts: &[Alert]) -> String {
    let (kept, truncated) = if settings.max_alerts != 0 && alerts.len() > settings.max_alerts {
        (
            &alerts[..settings.max_alerts],
            alerts.len() - settings.max_alerts,
        )
    } else {
        (alerts, 0)
    };
    let group = GroupSummary::of(kept, ctx.now);
    let items = kept
        .iter()
        .map(|a| MessageAlert {
            status: status_at(a, ctx.now),
            labels: &a.labels,
            annotations: &a.annotations,
            starts_at: go_time(a.starts_at),
            ends_at: go_time(a.ends_at),
            generator_url: &a.generator_url,
            fingerprint: format!("{:016x}", a.fingerprint()),
        })
        .collect();
    let msg = Message {
        receiver: quote_meta(&ctx.receiver),
        status: group.status(),
        alerts: items,
        group_labels: &ctx.group_labels,
        common_labels: group.common_labels,
        common_annotations: group.common_annotations,
        external_url: &ctx.external_url,
        version: "4",
        group_key: &ctx.group_key,
        truncated_alerts: truncated,
    };
    serde_json::to_string(&msg).unwrap_or_default()
}

pub struct Webhook {
    settings: WebhookSettings,
    client: reqwest::Client,
    user_agent: String,
}

/// Idle connections kept per receiver host between flushes.
pub(crate) const MAX_IDLE_PER_HOST: usize = crate::client::reqwest_client::MAX_IDLE_PER_HOST;

/// Builds the shared HTTP client for notifiers: rustls with the ring provider and the
/// system roots (the same trust store the probes use), redirects followed as upstream.
pub fn http_client() -> Result<reqwest::Client, NotifyError> {
    let tls = crate::client::tls::client_config(
        &crate::client::TlsSettings::default(),
        &[b"h2", b"http/1.1"],
    )
    .map_err(|e| NotifyError::new(false, FailReason::Other, format!("TLS setup: {e}")))?
    .0;
    reqwest::Client::builder()
        .tls_backend_preconfigured((*tls).clone())
        // A flush of many groups at once opens one connection per group; idle, each keeps
        // its buffers (measured: 1,000 groups left ~1,000 sockets and ~20 MiB behind).
        .pool_max_idle_per_host(MAX_IDLE_PER_HOST)
        .build()
        .map_err(|e| NotifyError::new(false, FailReason::Other, format!("HTTP client: {e}")))
}

impl Webhook {
    pub fn new(settings: WebhookSettings, client: reqwest::Client) -> Self {
        Self {
            settings,
            client,
            user_agent: format!("blackwatch/{}", env!("CARGO_PKG_VERSION")),
        }
    }

    fn url(&self) -> Result<String, NotifyError> {
        self.settings
            .url
            .read()
            .map(|s| s.expose().to_string())
            .map_err(|e| {
                let e = crate::client::CredentialError::new("url_file", &self.settings.url, e);
                NotifyError::new(false, FailReason::Other, e.to_string())
            })
    }

    async fn send(&self, ctx: &NotifyContext, alerts: &Batch) -> Result<(), NotifyError> {
        let url = self.url()?;
        let body = payload(&self.settings, ctx, &alerts.to_alerts());
        let mut req = self
            .client
            .post(&url)
            .header("Content-Type", "application/json")
            .header("User-Agent", &self.user_agent)
            .body(body);
        let headers = self
            .settings
            .headers
            .resolve()
            .await
            .map_err(|e| NotifyError::new(e.retryable(), FailReason::Other, e.to_string()))?;
        for (k, v) in headers {
            req = req.header(k, v.expose());
        }
        if let Some(t) = self.settings.timeout {
            req = req.timeout(t);
        }
        let resp = req.send().await.map_err(NotifyError::from_request)?;
        let status = resp.status().as_u16();
        if (200..300).contains(&status) {
            return Ok(());
        }
        let body = resp.text().await.unwrap_or_default();
        let excerpt: String = body.chars().take(256).collect();
        Err(NotifyError::from_status(status, &excerpt))
    }
}

impl Notifier for Webhook {
    fn name(&self) -> &'static str {
        "webhook"
    }

    fn notify_batch<'a>(&'a self, ctx: &'a NotifyContext, alerts: &'a Batch) -> NotifyFuture<'a> {
        Box::pin(self.send(ctx, alerts))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alert::dedup::Reason;
    use crate::base::Secret;
    use crate::labels::LabelSet;
    use std::time::UNIX_EPOCH;

    fn alert(name: &str, resolved: bool) -> Alert {
        let labels: LabelSet = [("alertname".to_string(), name.to_string())].into();
        Alert {
            labels,
            annotations: LabelSet::new(),
            starts_at: UNIX_EPOCH + Duration::from_secs(1_800_000_000),
            ends_at: if resolved {
                UNIX_EPOCH + Duration::from_secs(1_800_000_060)
            } else {
                UNIX_EPOCH
            },
            generator_url: "http://prom/graph".into(),
            updated_at: UNIX_EPOCH,
            timeout: false,
        }
    }

    fn ctx() -> NotifyContext {
        NotifyContext {
            receiver: "team.x".into(),
            group_key: "{}:{alertname=\"A\"}".into(),
            group_labels: [("alertname".to_string(), "A".to_string())].into(),
            external_url: "http://bw:9115".into(),
            reason: Reason::FirstNotification,
            now: UNIX_EPOCH + Duration::from_secs(1_800_000_100),
        }
    }

    #[test]
    fn version_4_payload_shape() {
        let s = WebhookSettings {
            url: SecretSource::Inline(Secret::new("http://x")),
            max_alerts: 0,
            timeout: None,
            headers: RequestHeaders::default(),
        };
        let body = payload(&s, &ctx(), &[alert("A", false), alert("B", true)]);
        let fp_a = format!("{:016x}", alert("A", false).fingerprint());
        let want = format!(
            concat!(
                r#"{{"receiver":"team\\.x","status":"firing","alerts":["#,
                r#"{{"status":"firing","labels":{{"alertname":"A"}},"annotations":{{}},"startsAt":"2027-01-15T08:00:00Z","endsAt":"0001-01-01T00:00:00Z","generatorURL":"http://prom/graph","fingerprint":"{}"}},"#,
                r#"{{"status":"resolved","labels":{{"alertname":"B"}},"annotations":{{}},"startsAt":"2027-01-15T08:00:00Z","endsAt":"2027-01-15T08:01:00Z","generatorURL":"http://prom/graph","fingerprint":"{}"}}],"#,
                r#""groupLabels":{{"alertname":"A"}},"commonLabels":{{}},"commonAnnotations":{{}},"externalURL":"http://bw:9115","version":"4","groupKey":"{{}}:{{alertname=\"A\"}}","truncatedAlerts":0}}"#
            ),
            fp_a,
            format!("{:016x}", alert("B", true).fingerprint()),
        );
        assert_eq!(body, want);
    }

    #[test]
    fn max_alerts_truncates() {
        let s = WebhookSettings {
            url: SecretSource::Inline(Secret::new("http://x")),
            max_alerts: 1,
            timeout: None,
            headers: RequestHeaders::default(),
        };
        let body = payload(&s, &ctx(), &[alert("A", false), alert("B", false)]);
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v["alerts"].as_array().unwrap().len(), 1);
        assert_eq!(v["truncatedAlerts"], 1);
        assert_eq!(v["commonLabels"]["alertname"], "A");
    }
}
