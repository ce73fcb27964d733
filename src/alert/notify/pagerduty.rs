//! The PagerDuty integration as Alertmanager 0.25 to 0.28 send it
//! (`notify/pagerduty/pagerduty.go`): Events API v1 (`service_key(_file)`, upstream's fixed
//! URL) or v2 (`routing_key(_file)`, `url`), the body byte for byte as upstream's struct
//! encodes it (`event_action` and `payload` always present, `details` sorted), the group-key
//! hash as `incident_key` / `dedup_key`, the description / summary cut at 1024 runes, and
//! the details replaced when the encoded event is over 512 KB.
//!
//! Answers, as upstream: 2xx is success; v2 retries 5xx and 429 (after `Retry-After`, a
//! blackwatch addition: upstream retries on its own backoff), v1 retries 5xx and 403
//! (PagerDuty's v1 rate limit); every other status is final. A 400's error says PagerDuty's
//! `message: errors`; other statuses are named without their body, as upstream's
//! `errDetails`.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::http_api::{
    go_json, group_key_hash, log_truncated, truncate_in_runes, HttpResponse, JsonClient, Limit,
    RetryRule, TmplText,
};
use super::render::TemplateSet;
use super::{Batch, FailReason, GroupSummary, Notifier, NotifyContext, NotifyError, NotifyFuture};
use crate::alert::config::{PagerdutyConfig, PagerdutyKey};
use crate::alert::store::Alert;
use crate::base::SecretSource;

/// Upstream's v1 endpoint, not configurable.
pub const V1_URL: &str = "https://events.pagerduty.com/generic/2010-04-15/create_event.json";
/// `maxEventSize`: over this (the encoded event, trailing newline included) the details
/// are replaced by [`TRUNCATED_DETAILS`].
pub const MAX_EVENT_SIZE: usize = 512_000;
/// `maxV1DescriptionLenRunes` and `maxV2SummaryLenRunes`.
pub const MAX_SUMMARY_RUNES: usize = 1024;
/// What replaces the details of an event over [`MAX_EVENT_SIZE`] (`units.MetricBytes`
/// prints 512000 as `512KB`).
pub const TRUNCATED_DETAILS: &str =
    "Custom details have been removed because the original event exceeds the maximum size of 512KB";

/// v1: 403 is PagerDuty's rate limit answer.
const RETRY_V1: RetryRule = RetryRule {
    retry_codes: &[403],
    honour_retry_after: false,
};
/// v2: 429 is the rate limit answer, retried after `Retry-After`.
const RETRY_V2: RetryRule = RetryRule {
    retry_codes: &[429],
    honour_retry_after: true,
};

/// Upstream's `pagerDutyMessage` (both APIs).
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Message {
    #[serde(skip_serializing_if = "String::is_empty")]
    pub routing_key: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub service_key: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub dedup_key: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub incident_key: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub event_type: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub description: String,
    pub event_action: String,
    pub payload: Option<Payload>,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub client: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub client_url: String,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub details: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub images: Vec<Image>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub links: Vec<Link>,
}

/// `pagerDutyPayload` (v2). Upstream never sets `timestamp`.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Payload {
    pub summary: String,
    pub source: String,
    pub severity: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub class: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub component: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub group: String,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub custom_details: BTreeMap<String, String>,
}

/// `pagerDutyImage`: every key always sent.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Image {
    pub src: String,
    pub alt: String,
    pub href: String,
}

/// `pagerDutyLink`: every key always sent.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Link {
    pub href: String,
    pub text: String,
}

/// A validated `pagerduty_configs` entry, ready to send.
pub struct Pagerduty {
    conf: PagerdutyConfig,
    templates: Arc<TemplateSet>,
    http: JsonClient,
}

impl Pagerduty {
    pub fn new(
        conf: PagerdutyConfig,
        templates: Arc<TemplateSet>,
        shared: &reqwest::Client,
        base_dir: &Path,
    ) -> Result<Self, NotifyError> {
        let http = JsonClient::new(&conf.http_config, shared, base_dir)?;
        Ok(Self {
            conf,
            templates,
            http,
        })
    }

    /// Whether this entry uses Events API v1.
    pub fn is_v1(&self) -> bool {
        matches!(self.conf.key, PagerdutyKey::Service(_))
    }

    /// The message for `alerts` (upstream's `Notify` and `notifyV1`/`notifyV2`, in their
    /// order of rendering, reading the key and checking errors).
    pub fn message(&self, ctx: &NotifyContext, alerts: &[Alert]) -> Result<Message, NotifyError> {
        let c = &self.conf;
        let resolved = GroupSummary::of(alerts, ctx.now).status() == "resolved";
        let event = if resolved { "resolve" } else { "trigger" };
        // Details first, each with its own error (upstream ranges over a Go map, so which
        // error wins is random there; here the first key in order).
        let data = super::render::data_value(ctx, alerts);
        let mut details = BTreeMap::new();
        for (k, v) in &c.details {
            let d = self
                .templates
                .render_text(v, &data, ctx.now)
                .map_err(|e| final_error(format!("{k:?}: failed to template {v:?}: {e}")))?;
            details.insert(k.clone(), d);
        }
        let mut t = TmplText::new(&self.templates, ctx, alerts);
        let hash = group_key_hash(&ctx.group_key);
        let (summary, truncated) = truncate_in_runes(&t.text(&c.description), MAX_SUMMARY_RUNES);
        let (version, field) = match &c.key {
            PagerdutyKey::Service(_) => ("v1", "description"),
            PagerdutyKey::Routing(_) => ("v2", "summary"),
        };
        if truncated {
            log_truncated("pagerduty", field, ctx, Limit::Runes(MAX_SUMMARY_RUNES));
        }
        let msg = match &c.key {
            PagerdutyKey::Service(src) => {
                let key = read_key(src, "service")?;
                let mut msg = Message {
                    service_key: t.text(&key),
                    event_type: event.into(),
                    incident_key: hash,
                    description: summary,
                    details,
                    ..Message::empty()
                };
                if !resolved {
                    msg.client = t.text(&c.client);
                    msg.client_url = t.text(&c.client_url);
                }
                msg
            }
            PagerdutyKey::Routing(src) => {
                let key = read_key(src, "routing")?;
                let severity = if c.severity.is_empty() {
                    "error"
                } else {
                    &c.severity
                };
                let mut msg = Message {
                    client: t.text(&c.client),
                    client_url: t.text(&c.client_url),
                    routing_key: t.text(&key),
                    event_action: event.into(),
                    dedup_key: hash,
                    payload: Some(Payload {
                        summary,
                        source: t.text(&c.source),
                        severity: t.text(severity),
                        custom_details: details,
                        class: t.text(&c.class),
                        component: t.text(&c.component),
                        group: t.text(&c.group),
                    }),
                    ..Message::empty()
                };
                for i in &c.images {
                    let image = Image {
                        src: t.text(&i.src),
                        alt: t.text(&i.alt),
                        href: t.text(&i.href),
                    };
                    if !image.src.is_empty() {
                        msg.images.push(image);
                    }
                }
                for l in &c.links {
                    let link = Link {
                        href: t.text(&l.href),
                        text: t.text(&l.text),
                    };
                    if !link.href.is_empty() {
                        msg.links.push(link);
                    }
                }
                msg
            }
        };
        if let Err(e) = t.finish() {
            return Err(final_error(format!(
                "failed to template PagerDuty {version} message: {}",
                e.message.trim_start_matches("template error: ")
            )));
        }
        if msg.service_key.is_empty() && msg.routing_key.is_empty() {
            let which = if self.is_v1() { "service" } else { "routing" };
            return Err(final_error(format!("{which} key cannot be empty")));
        }
        Ok(msg)
    }

    async fn send(&self, ctx: &NotifyContext, alerts: &Batch) -> Result<(), NotifyError> {
        let msg = self.message(ctx, &alerts.to_alerts())?;
        let body = encode(msg, ctx)?;
        let (url, rule, what) = if self.is_v1() {
            (V1_URL, RETRY_V1, "failed to post message to PagerDuty v1")
        } else {
            (
                self.conf.url.as_str(),
                RETRY_V2,
                "failed to post message to PagerDuty",
            )
        };
        let resp = self
            .http
            .post_json(url, body, None, ctx.now)
            .await
            .map_err(|mut e| {
                e.message = format!("{what}: {}", e.message);
                e
            })?;
        check(&rule, &resp)
    }
}

impl Message {
    fn empty() -> Self {
        Message {
            routing_key: String::new(),
            service_key: String::new(),
            dedup_key: String::new(),
            incident_key: String::new(),
            event_type: String::new(),
            description: String::new(),
            event_action: String::new(),
            payload: None,
            client: String::new(),
            client_url: String::new(),
            details: BTreeMap::new(),
            images: Vec::new(),
            links: Vec::new(),
        }
    }
}

fn final_error(message: String) -> NotifyError {
    NotifyError::new(false, FailReason::Other, message)
}

/// A key, inline or from its file (trimmed), to be templated. The error names the file,
/// never the key.
fn read_key(src: &SecretSource, which: &str) -> Result<String, NotifyError> {
    src.read()
        .map(|s| s.expose().to_string())
        .map_err(|e| final_error(format!("failed to read {which} key from file: {e}")))
}

/// Upstream's `encodeMessage`: the event as Go encodes it; over [`MAX_EVENT_SIZE`], the
/// details (v1) or custom details (v2) replaced and the event encoded again.
pub fn encode(mut msg: Message, ctx: &NotifyContext) -> Result<String, NotifyError> {
    let body = go_json(&msg)?;
    if body.len() <= MAX_EVENT_SIZE {
        return Ok(body);
    }
    let replaced = BTreeMap::from([("error".to_string(), TRUNCATED_DETAILS.to_string())]);
    match &mut msg.payload {
        Some(p) => p.custom_details = replaced,
        None => msg.details = replaced,
    }
    tracing::warn!(
        message = "Truncated Details because the event exceeds PagerDuty's limit",
        integration = "pagerduty",
        key = %ctx.group_key,
        size = body.len(),
        max_bytes = MAX_EVENT_SIZE
    );
    go_json(&msg)
}

/// PagerDuty's error answer (`errDetails`).
#[derive(Deserialize)]
struct ErrorAnswer {
    #[serde(default)]
    message: String,
    #[serde(default)]
    errors: Vec<String>,
}

/// `Retrier.Check` with upstream's `errDetails`: a 400 names PagerDuty's `message: errors`
/// (nothing when the answer is not that JSON), other statuses only their code.
pub fn check(rule: &RetryRule, resp: &HttpResponse) -> Result<(), NotifyError> {
    let Err(mut e) = rule.check(resp) else {
        return Ok(());
    };
    let details = if resp.status == 400 {
        serde_json::from_str::<ErrorAnswer>(&resp.body)
            .map(|a| format!("{}: {}", a.message, a.errors.join(",")))
            .unwrap_or_default()
    } else {
        String::new()
    };
    e.message = if details.is_empty() {
        format!("unexpected status code {}", resp.status)
    } else {
        format!("unexpected status code {}: {details}", resp.status)
    };
    Err(e)
}

impl Notifier for Pagerduty {
    fn name(&self) -> &'static str {
        "pagerduty"
    }

    fn notify_batch<'a>(&'a self, ctx: &'a NotifyContext, alerts: &'a Batch) -> NotifyFuture<'a> {
        Box::pin(self.send(ctx, alerts))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resp(status: u16, body: &str) -> HttpResponse {
        HttpResponse {
            status,
            content_type: String::new(),
            retry_after: None,
            body: body.into(),
        }
    }

    #[test]
    fn err_details_as_upstream() {
        // notify/pagerduty/pagerduty_test.go TestErrDetails.
        let e = check(
            &RETRY_V2,
            &resp(400, r#"{"status":"invalid event","message":"Event object is invalid","errors":["Length of 'routing_key' is incorrect (should be 32 characters)"]}"#),
        )
        .unwrap_err();
        assert_eq!(e.message, "unexpected status code 400: Event object is invalid: Length of 'routing_key' is incorrect (should be 32 characters)");
        assert!(!e.retryable);
        let e = check(&RETRY_V2, &resp(400, "{")).unwrap_err();
        assert_eq!(e.message, "unexpected status code 400");
        let e = check(&RETRY_V2, &resp(429, "{}")).unwrap_err();
        assert_eq!(e.message, "unexpected status code 429");
        assert!(e.retryable);
        assert!(!check(&RETRY_V1, &resp(429, "")).unwrap_err().retryable);
        assert!(check(&RETRY_V1, &resp(403, "")).unwrap_err().retryable);
        assert!(check(&RETRY_V1, &resp(502, "x")).unwrap_err().retryable);
        assert!(check(&RETRY_V1, &resp(202, "")).is_ok());
    }

    #[test]
    fn v1_and_v2_bodies_keep_upstream_key_order() {
        let v1 = Message {
            service_key: "k".into(),
            incident_key: "h".into(),
            event_type: "trigger".into(),
            description: "d".into(),
            client: "c".into(),
            details: BTreeMap::from([("b".into(), "<".into()), ("a".into(), "1".into())]),
            ..Message::empty()
        };
        assert_eq!(
            go_json(&v1).unwrap(),
            "{\"service_key\":\"k\",\"incident_key\":\"h\",\"event_type\":\"trigger\",\"description\":\"d\",\"event_action\":\"\",\"payload\":null,\"client\":\"c\",\"details\":{\"a\":\"1\",\"b\":\"\\u003c\"}}\n"
        );
        let v2 = Message {
            routing_key: "r".into(),
            dedup_key: "h".into(),
            event_action: "resolve".into(),
            payload: Some(Payload {
                summary: "s".into(),
                source: String::new(),
                severity: "error".into(),
                class: String::new(),
                component: "x".into(),
                group: String::new(),
                custom_details: BTreeMap::new(),
            }),
            links: vec![Link {
                href: "h".into(),
                text: String::new(),
            }],
            ..Message::empty()
        };
        assert_eq!(
            go_json(&v2).unwrap(),
            "{\"routing_key\":\"r\",\"dedup_key\":\"h\",\"event_action\":\"resolve\",\"payload\":{\"summary\":\"s\",\"source\":\"\",\"severity\":\"error\",\"component\":\"x\"},\"links\":[{\"href\":\"h\",\"text\":\"\"}]}\n"
        );
    }
}
