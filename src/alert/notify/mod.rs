//! Notifiers: the [`Notifier`] trait (the one open extension point of the pipeline — webhook
//! here; Discord, e-mail and Slack plug in the same way), the [`NotifyError`] integrations
//! return, and the notification data they render ([`Data`], Alertmanager's template `Data`).
//! Integrations that POST JSON to an HTTP API share `http_api` (templated fields, the HTTP
//! client, retry rules, truncation).
//!
//! A notifier does one attempt and classifies its failure; retries, dedup and the
//! notification log are the pipeline's job (`pipeline.rs`, `retry.rs`).

pub mod build;
pub mod discord;
pub mod email;
pub mod html;
pub mod http_api;
pub mod jira;
pub mod msteams;
pub mod msteamsv2;
pub mod opsgenie;
pub mod pagerduty;
pub mod pushover;
pub mod render;
pub mod rocketchat;
pub mod slack;
pub mod sns;
pub mod telegram;
pub mod victorops;
pub mod webex;
pub mod webhook;
pub mod wechat;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Serialize;

use crate::alert::dedup::Reason;
pub use crate::alert::dispatch::FlushAlert;
use crate::alert::store::Alert;
use crate::labels::LabelSet;

/// What a notifier knows about the notification besides the alerts.
#[derive(Clone, Debug)]
pub struct NotifyContext {
    /// The receiver's name as configured.
    pub receiver: String,
    /// `routeKey:{groupLabels}`.
    pub group_key: String,
    pub group_labels: LabelSet,
    /// `--web.external-url`.
    pub external_url: String,
    pub reason: Reason,
    /// The flush tick time.
    pub now: SystemTime,
}

/// Why a notification failed, as the `reason` label of
/// `alertmanager_notifications_failed_total`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FailReason {
    Other,
    ClientError,
    ServerError,
    ContextCanceled,
    ContextDeadlineExceeded,
    AuthError,
    RateLimited,
}

impl FailReason {
    pub fn as_str(self) -> &'static str {
        match self {
            FailReason::Other => "other",
            FailReason::ClientError => "clientError",
            FailReason::ServerError => "serverError",
            FailReason::ContextCanceled => "contextCanceled",
            FailReason::ContextDeadlineExceeded => "contextDeadlineExceeded",
            FailReason::AuthError => "authError",
            FailReason::RateLimited => "rateLimited",
        }
    }

    /// Alertmanager's mapping of an HTTP status code.
    pub fn from_status(code: u16) -> Self {
        match code {
            401 | 403 => FailReason::AuthError,
            429 => FailReason::RateLimited,
            400..=499 => FailReason::ClientError,
            500..=599 => FailReason::ServerError,
            _ => FailReason::Other,
        }
    }
}

/// One failed attempt. `message` must never contain a secret (webhook URLs, tokens).
#[derive(Clone, Debug, thiserror::Error)]
#[error("{message}")]
pub struct NotifyError {
    /// Whether trying again may help (5xx, network errors).
    pub retryable: bool,
    pub reason: FailReason,
    pub message: String,
    /// A server-requested wait before the next attempt (e.g. Discord's `retry_after`); the
    /// retry loop waits at least this long if the deadline allows.
    pub retry_after: Option<Duration>,
}

impl NotifyError {
    pub fn new(retryable: bool, reason: FailReason, message: impl Into<String>) -> Self {
        Self {
            retryable,
            reason,
            message: message.into(),
            retry_after: None,
        }
    }

    /// A request that got no response (connect, TLS, timeout): retryable. The URL is
    /// stripped from reqwest's message because webhook URLs are secrets.
    pub fn from_request(e: reqwest::Error) -> Self {
        let e = e.without_url();
        let reason = if e.is_timeout() {
            FailReason::ContextDeadlineExceeded
        } else {
            FailReason::Other
        };
        // reqwest's own message is generic ("error sending request"); the cause chain says
        // what happened (refused connection, unknown certificate issuer, ...). Causes come
        // from hyper and rustls and do not carry the URL.
        let mut message = format!("request failed: {e}");
        let mut source = std::error::Error::source(&e);
        while let Some(cause) = source {
            let text = cause.to_string();
            if !message.contains(&text) {
                message.push_str(": ");
                message.push_str(&text);
            }
            source = cause.source();
        }
        Self::new(true, reason, message)
    }

    /// Upstream's HTTP rule: 5xx retry, every other non-2xx status is final.
    pub fn from_status(code: u16, body_excerpt: &str) -> Self {
        Self::new(
            (500..=599).contains(&code),
            FailReason::from_status(code),
            format!("unexpected status code {code}: {body_excerpt}"),
        )
    }
}

pub type NotifyFuture<'a> = Pin<Box<dyn Future<Output = Result<(), NotifyError>> + Send + 'a>>;

/// The alerts of one notification. A flush hands over the stored alerts it shares with the
/// store (plus whether each was firing at the tick); notifiers turn them into [`Alert`]s
/// with [`Batch::to_alerts`] only while they render their payload, before they wait on the
/// network. So a thousand groups flushing at once hold their payloads, not a copy of every
/// alert as well (which tripled the RSS of 100k alerts for the duration of such a flush).
#[derive(Clone, Debug)]
pub enum Batch {
    Stored(Vec<FlushAlert>),
    Owned(Vec<Alert>),
}

impl Default for Batch {
    fn default() -> Self {
        Batch::Owned(Vec::new())
    }
}

impl Batch {
    pub fn len(&self) -> usize {
        match self {
            Batch::Stored(v) => v.len(),
            Batch::Owned(v) => v.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The alerts as notifiers render them: firing ones with a zero (`UNIX_EPOCH`)
    /// `ends_at`, in the batch's order. Keep the result only while rendering.
    pub fn to_alerts(&self) -> std::borrow::Cow<'_, [Alert]> {
        match self {
            Batch::Stored(v) => v.iter().map(FlushAlert::to_alert).collect(),
            Batch::Owned(v) => std::borrow::Cow::Borrowed(v),
        }
    }
}

impl From<Vec<Alert>> for Batch {
    fn from(v: Vec<Alert>) -> Self {
        Batch::Owned(v)
    }
}

/// An integration's sender. Implementations do one attempt, render their own payload from
/// `ctx` and `alerts` (already filtered for `send_resolved`; firing alerts carry a zero
/// `ends_at` as in upstream payloads), and must not log or return secrets.
pub trait Notifier: Send + Sync {
    /// `webhook`, `discord`, `email`: the `integration` label and the nflog key part.
    fn name(&self) -> &'static str;

    /// Sends one notification. Implementations call [`Batch::to_alerts`] in a scope that
    /// ends before their first `.await`.
    fn notify_batch<'a>(&'a self, ctx: &'a NotifyContext, alerts: &'a Batch) -> NotifyFuture<'a>;

    /// [`Notifier::notify_batch`] for alerts the caller already has as [`Alert`]s.
    fn notify<'a>(&'a self, ctx: &'a NotifyContext, alerts: &'a [Alert]) -> NotifyFuture<'a> {
        let batch = Batch::Owned(alerts.to_vec());
        Box::pin(async move { self.notify_batch(ctx, &batch).await })
    }
}

/// One configured integration of a receiver.
#[derive(Clone)]
pub struct Integration {
    pub notifier: Arc<dyn Notifier>,
    /// The position among the receiver's integrations of the same kind.
    pub index: usize,
    pub send_resolved: bool,
}

impl std::fmt::Debug for Integration {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}[{}] send_resolved={}",
            self.notifier.name(),
            self.index,
            self.send_resolved
        )
    }
}

/// Formats a time as Go's `time.Time` JSON does (RFC 3339 with trimmed nanoseconds, UTC);
/// `UNIX_EPOCH` stands for Go's zero time (`0001-01-01T00:00:00Z`).
pub fn go_time(t: SystemTime) -> String {
    if t == UNIX_EPOCH {
        return "0001-01-01T00:00:00Z".to_string();
    }
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let base = crate::clock::rfc3339(UNIX_EPOCH + Duration::from_secs(d.as_secs()));
    // `base` is `YYYY-MM-DDTHH:MM:SS.000Z`.
    let secs = base.split('.').next().unwrap_or(&base).to_string();
    let nanos = d.subsec_nanos();
    if nanos == 0 {
        return format!("{secs}Z");
    }
    let frac = format!("{nanos:09}");
    format!("{secs}.{}Z", frac.trim_end_matches('0'))
}

/// `regexp.QuoteMeta`: upstream puts the receiver name through it in template data.
pub fn quote_meta(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if "\\.+*?()|[]{}^$".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// One alert in notification data (`template.Alert`).
#[derive(Clone, Debug, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct DataAlert {
    pub status: &'static str,
    pub labels: LabelSet,
    pub annotations: LabelSet,
    pub starts_at: String,
    pub ends_at: String,
    #[serde(rename = "generatorURL")]
    pub generator_url: String,
    pub fingerprint: String,
}

/// Alertmanager's template `Data`, field order as its JSON.
#[derive(Clone, Debug, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Data {
    pub receiver: String,
    pub status: &'static str,
    pub alerts: Vec<DataAlert>,
    pub group_labels: LabelSet,
    pub common_labels: LabelSet,
    pub common_annotations: LabelSet,
    #[serde(rename = "externalURL")]
    pub external_url: String,
}

/// What a notification says of its alerts as a group (Alertmanager's `GetTemplateData`): the
/// labels and annotations every alert shares, and whether any is still firing. Shared by the
/// template data and the webhook message.
pub(crate) struct GroupSummary {
    pub common_labels: LabelSet,
    pub common_annotations: LabelSet,
    pub firing: bool,
}

impl GroupSummary {
    pub fn of(alerts: &[Alert], now: SystemTime) -> Self {
        let mut common_labels: Option<LabelSet> = None;
        let mut common_annotations: Option<LabelSet> = None;
        for a in alerts {
            intersect(&mut common_labels, &a.labels);
            intersect(&mut common_annotations, &a.annotations);
        }
        Self {
            common_labels: common_labels.unwrap_or_default(),
            common_annotations: common_annotations.unwrap_or_default(),
            firing: alerts.iter().any(|a| status_at(a, now) == "firing"),
        }
    }

    pub fn status(&self) -> &'static str {
        if self.firing {
            "firing"
        } else {
            "resolved"
        }
    }
}

/// An alert's status in a notification sent at `now`: firing alerts carry a zero
/// (`UNIX_EPOCH`) `ends_at`.
pub(crate) fn status_at(a: &Alert, now: SystemTime) -> &'static str {
    if a.resolved_at(now) && a.ends_at != UNIX_EPOCH {
        "resolved"
    } else {
        "firing"
    }
}

fn intersect(acc: &mut Option<LabelSet>, next: &LabelSet) {
    match acc {
        None => *acc = Some(next.clone()),
        Some(common) => common.retain(|k, v| next.get(k) == Some(v)),
    }
}

impl Data {
    /// Builds the data for `alerts` at the flush time `ctx.now`.
    pub fn new(ctx: &NotifyContext, alerts: &[Alert]) -> Self {
        let group = GroupSummary::of(alerts, ctx.now);
        let items = alerts
            .iter()
            .map(|a| DataAlert {
                status: status_at(a, ctx.now),
                labels: a.labels.clone(),
                annotations: a.annotations.clone(),
                starts_at: go_time(a.starts_at),
                ends_at: go_time(a.ends_at),
                generator_url: a.generator_url.clone(),
                fingerprint: format!("{:016x}", a.fingerprint()),
            })
            .collect();
        Data {
            receiver: quote_meta(&ctx.receiver),
            status: group.status(),
            alerts: items,
            group_labels: ctx.group_labels.clone(),
            common_labels: group.common_labels,
            common_annotations: group.common_annotations,
            external_url: ctx.external_url.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_time_format() {
        assert_eq!(go_time(UNIX_EPOCH), "0001-01-01T00:00:00Z");
        let t = UNIX_EPOCH + Duration::from_millis(1_763_719_200_120);
        assert_eq!(go_time(t), "2025-11-21T10:00:00.12Z");
        let t = UNIX_EPOCH + Duration::from_secs(1_763_719_200);
        assert_eq!(go_time(t), "2025-11-21T10:00:00Z");
    }

    #[test]
    fn quote_meta_like_go() {
        assert_eq!(quote_meta("team.a (x)"), "team\\.a \\(x\\)");
    }

    #[test]
    fn status_mapping() {
        let e = NotifyError::from_status(503, "x");
        assert!(e.retryable);
        assert_eq!(e.reason, FailReason::ServerError);
        let e = NotifyError::from_status(429, "x");
        assert!(!e.retryable);
        assert_eq!(e.reason, FailReason::RateLimited);
        assert_eq!(
            NotifyError::from_status(404, "").reason,
            FailReason::ClientError
        );
    }
}
