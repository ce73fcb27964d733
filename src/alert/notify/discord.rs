//! The Discord integration (`notify/discord/discord.go`): upstream's webhook payload —
//! `content` plus one embed with `title`, `description` and `color` (0x992D22 when any alert
//! fires, 0x2ECC71 when all resolved), `username`/`avatar_url` only when set — with
//! upstream's rune truncation (`…` at 256 / 4096 / 2000), the URL from `webhook_url` or
//! `webhook_url_file` (re-read and trimmed on every send), and the `http_config` subset
//! (authorization, basic auth, bearer token, extra headers, TLS, redirects).
//!
//! Beyond upstream: HTTP 429 is retryable and carries the wait Discord asks for (the
//! `retry_after` body field in seconds, else the `Retry-After` header), which the retry loop
//! honours inside the flush deadline; and an optional digest mode (`digest: true`) sends one
//! embed per alert within Discord's limits (10 embeds, 6000 characters), with a last embed
//! saying how many alerts were left out.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;

use super::render::{data_value, TemplateSet};
use super::{Batch, FailReason, Notifier, NotifyContext, NotifyError, NotifyFuture};
use crate::alert::config::DiscordConfig;
use crate::alert::store::Alert;
use crate::client::RequestHeaders;

pub const COLOR_RED: u32 = 0x992D22;
pub const COLOR_GREEN: u32 = 0x2ECC71;
pub const COLOR_GREY: u32 = 0x95A5A6;
pub const MAX_TITLE_RUNES: usize = 256;
pub const MAX_DESCRIPTION_RUNES: usize = 4096;
pub const MAX_CONTENT_RUNES: usize = 2000;
/// Discord's limits on one message.
pub const MAX_EMBEDS: usize = 10;
pub const MAX_EMBED_CHARS: usize = 6000;

/// Upstream's `TruncateInRunes` (shared with the other HTTP integrations).
pub use super::http_api::truncate_in_runes as truncate_runes;

#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Embed {
    pub title: String,
    pub description: String,
    pub color: u32,
}

impl Embed {
    fn chars(&self) -> usize {
        self.title.chars().count() + self.description.chars().count()
    }
}

/// The JSON body, field order and omission as upstream.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Payload {
    pub content: String,
    pub embeds: Vec<Embed>,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub username: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub avatar_url: String,
}

impl Payload {
    /// As Go's `json.Encoder` writes it: HTML-sensitive characters escaped, a raw byte that
    /// is not UTF-8 as `\ufffd`, newline at the end.
    pub fn to_go_json(&self) -> String {
        super::http_api::go_json(self).unwrap_or_default()
    }
}

/// A validated `discord_configs` entry, ready to send.
pub struct Discord {
    conf: DiscordConfig,
    templates: Arc<TemplateSet>,
    client: reqwest::Client,
    /// Credentials and `http_headers` from `http_config`.
    http: RequestHeaders,
    user_agent: String,
}

/// What rendering produced (exposed for tests and the digest).
fn color_of(status: &str) -> u32 {
    match status {
        "firing" => COLOR_RED,
        "resolved" => COLOR_GREEN,
        _ => COLOR_GREY,
    }
}

fn template_error(e: impl std::fmt::Display) -> NotifyError {
    NotifyError::new(false, FailReason::Other, format!("template error: {e}"))
}

/// Parses Discord's rate-limit answer: `retry_after` (seconds, fractional) in the JSON
/// body, else the `Retry-After` header (seconds).
pub fn retry_after(body: &str, header: Option<&str>) -> Option<Duration> {
    let from_body = serde_json::from_str::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v.get("retry_after").and_then(serde_json::Value::as_f64));
    let secs = from_body.or_else(|| header.and_then(|h| h.trim().parse::<f64>().ok()))?;
    (secs.is_finite() && secs >= 0.0).then(|| Duration::from_secs_f64(secs.min(3600.0)))
}

impl Discord {
    pub fn new(
        conf: DiscordConfig,
        templates: Arc<TemplateSet>,
        shared: &reqwest::Client,
        base_dir: &Path,
    ) -> Result<Self, NotifyError> {
        let settings = super::build::client_settings(&conf.http_config, base_dir)
            .map_err(|e| NotifyError::new(false, FailReason::Other, e))?;
        let client = super::build::http_client(&settings, shared)?;
        let http = settings.headers;
        if !conf.avatar_url.is_empty() && url::Url::parse(&conf.avatar_url).is_err() {
            tracing::warn!(message = "Ignoring an invalid Discord avatar_url");
        }
        Ok(Self {
            conf,
            templates,
            client,
            http,
            user_agent: format!("blackwatch/{}", env!("CARGO_PKG_VERSION")),
        })
    }

    fn embed(&self, ctx: &NotifyContext, alerts: &[Alert]) -> Result<Embed, NotifyError> {
        let data = data_value(ctx, alerts);
        let title = self
            .templates
            .render_text(&self.conf.title, &data, ctx.now)
            .map_err(template_error)?;
        let description = self
            .templates
            .render_text(&self.conf.message, &data, ctx.now)
            .map_err(template_error)?;
        let (title, t1) = truncate_runes(&title, MAX_TITLE_RUNES);
        let (description, t2) = truncate_runes(&description, MAX_DESCRIPTION_RUNES);
        if t1 || t2 {
            tracing::warn!(
                message = "Truncated Discord embed",
                receiver = %ctx.receiver,
                title = t1,
                description = t2
            );
        }
        let status = super::Data::new(ctx, alerts).status;
        Ok(Embed {
            title,
            description,
            color: color_of(status),
        })
    }

    /// The payload for `alerts`.
    pub fn payload(&self, ctx: &NotifyContext, alerts: &[Alert]) -> Result<Payload, NotifyError> {
        let data = data_value(ctx, alerts);
        let content = self
            .templates
            .render_text(&self.conf.content, &data, ctx.now)
            .map_err(template_error)?;
        let (content, truncated) = truncate_runes(&content, MAX_CONTENT_RUNES);
        if truncated {
            tracing::warn!(message = "Truncated Discord content", receiver = %ctx.receiver);
        }
        let avatar_url = if url::Url::parse(&self.conf.avatar_url).is_ok() {
            self.conf.avatar_url.clone()
        } else {
            String::new()
        };
        let embeds = if self.conf.digest && alerts.len() > 1 {
            self.digest(ctx, alerts)?
        } else {
            vec![self.embed(ctx, alerts)?]
        };
        Ok(Payload {
            content,
            embeds,
            username: self.conf.username.clone(),
            avatar_url,
        })
    }

    /// One embed per alert (rendered as a notification of that alert alone), as many as
    /// fit in Discord's limits, and a last embed counting the alerts left out.
    fn digest(&self, ctx: &NotifyContext, alerts: &[Alert]) -> Result<Vec<Embed>, NotifyError> {
        let mut embeds = Vec::new();
        let mut total = 0;
        for a in alerts {
            let e = self.embed(ctx, std::slice::from_ref(a))?;
            if embeds.len() == MAX_EMBEDS || total + e.chars() > MAX_EMBED_CHARS {
                break;
            }
            total += e.chars();
            embeds.push(e);
        }
        if embeds.len() < alerts.len() {
            let status = super::Data::new(ctx, alerts).status;
            let note = |n: usize| Embed {
                title: format!(
                    "… and {n} more alert{} not shown",
                    if n == 1 { "" } else { "s" }
                ),
                description: String::new(),
                color: color_of(status),
            };
            while !embeds.is_empty()
                && (embeds.len() + 1 > MAX_EMBEDS
                    || total + note(alerts.len() - embeds.len()).chars() > MAX_EMBED_CHARS)
            {
                if let Some(e) = embeds.pop() {
                    total -= e.chars();
                }
            }
            embeds.push(note(alerts.len() - embeds.len()));
        }
        Ok(embeds)
    }

    fn url(&self) -> Result<String, NotifyError> {
        self.conf
            .webhook_url
            .read()
            .map(|s| s.expose().to_string())
            .map_err(|e| {
                NotifyError::new(
                    false,
                    FailReason::Other,
                    format!("reading webhook_url_file: {e}"),
                )
            })
    }

    async fn send(&self, ctx: &NotifyContext, alerts: &Batch) -> Result<(), NotifyError> {
        let payload = self.payload(ctx, &alerts.to_alerts())?;
        let url = self.url()?;
        let req = self
            .client
            .post(&url)
            .header("Content-Type", "application/json")
            .header("User-Agent", &self.user_agent)
            .body(payload.to_go_json());
        let headers = self
            .http
            .resolve()
            .await
            .map_err(|e| NotifyError::new(e.retryable(), FailReason::Other, e.to_string()))?;
        let req = headers
            .into_iter()
            .fold(req, |req, (k, v)| req.header(k, v.expose()));
        let resp = req.send().await.map_err(NotifyError::from_request)?;
        let status = resp.status().as_u16();
        if (200..300).contains(&status) {
            return Ok(());
        }
        let header = resp
            .headers()
            .get("Retry-After")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let body = resp.text().await.unwrap_or_default();
        let excerpt: String = body.chars().take(256).collect();
        let mut err = NotifyError::from_status(status, &excerpt);
        if status == 429 {
            err.retryable = true;
            err.retry_after = retry_after(&body, header.as_deref());
        }
        Err(err)
    }
}

impl Notifier for Discord {
    fn name(&self) -> &'static str {
        "discord"
    }

    fn notify_batch<'a>(&'a self, ctx: &'a NotifyContext, alerts: &'a Batch) -> NotifyFuture<'a> {
        Box::pin(self.send(ctx, alerts))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncation_in_runes() {
        assert_eq!(truncate_runes("abc", 3), ("abc".to_string(), false));
        assert_eq!(truncate_runes("ééééé", 4), ("ééé…".to_string(), true));
        assert_eq!(truncate_runes("abcd", 3), ("abc".to_string(), true));
        // GBK "告警" is B8 E6 BE AF: B8 is not UTF-8 (one rune, as in Go), E6 BE AF happens
        // to be "澯". Kept when short enough, U+FFFD when the text is cut (Go's []rune).
        let gbk = crate::base::gostr::from_bytes(b"\xB8\xE6\xBE\xAFx");
        assert_eq!(truncate_runes(&gbk, 3), (gbk.to_string(), false));
        assert_eq!(truncate_runes(&gbk, 2), ("\u{FFFD}澯".to_string(), true));
        let p = Payload {
            content: gbk.to_string(),
            embeds: vec![],
            username: String::new(),
            avatar_url: String::new(),
        };
        assert_eq!(
            p.to_go_json(),
            "{\"content\":\"\\ufffd澯x\",\"embeds\":[]}\n"
        );
    }

    #[test]
    fn go_json_escapes_html() {
        let p = Payload {
            content: "<@123> & co".into(),
            embeds: vec![],
            username: String::new(),
            avatar_url: String::new(),
        };
        assert_eq!(
            p.to_go_json(),
            "{\"content\":\"\\u003c@123\\u003e \\u0026 co\",\"embeds\":[]}\n"
        );
    }

    #[test]
    fn retry_after_sources() {
        assert_eq!(
            retry_after(
                r#"{"message":"rl","retry_after":0.25,"global":false}"#,
                Some("9")
            ),
            Some(Duration::from_millis(250))
        );
        assert_eq!(retry_after("", Some("2")), Some(Duration::from_secs(2)));
        assert_eq!(retry_after("x", None), None);
    }
}
