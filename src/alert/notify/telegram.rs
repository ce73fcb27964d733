//! The Telegram integration (`notify/telegram/telegram.go` of Alertmanager 0.28, through
//! telebot v3): one Bot API `sendMessage` per notification, `POST
//! <api_url>/bot<token>/sendMessage`, the token read on every send (`bot_token_file` re-read
//! and trimmed), the body telebot's `map[string]string` as Go encodes it — every value a
//! string (`"chat_id":"-100123"`), keys sorted, `disable_web_page_preview` always `"true"`,
//! `disable_notification`, `message_thread_id` (0.28) and `parse_mode` only when set. The
//! message is rendered with html/template escaping when `parse_mode` is `HTML` and cut at
//! 4096 runes with `…`.
//!
//! Answers. Upstream (telebot) ignores the HTTP status, reads the Bot API's
//! `{"ok":…,"error_code":…,"description":…}` and returns every failure as retryable, so a
//! wrong chat or a revoked token is retried until the flush gives up. blackwatch reads the
//! same answer but classifies it (documented in README.md):
//! - `"ok": true` is a success, whatever the status (as upstream);
//! - `"ok": false` with `error_code` 429 is retried after `parameters.retry_after` seconds
//!   (or the `Retry-After` header); with a 5xx code (or none) it is retried; with any other
//!   4xx code (400 chat not found, 401 bad token, 403 bot blocked) it is final;
//! - an answer that is not the Bot API's JSON is retried, unless its HTTP status is a 4xx
//!   other than 429 (a wrong `api_url`), which is final.
//!
//! Also unlike upstream: a message template that fails to render is a final error; upstream
//! sends an empty text then (its template error is overwritten), which Telegram refuses.
//!
//! The token is part of the URL: transport errors never carry the URL
//! ([`NotifyError::from_request`]), and answers are quoted by their description only.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;

use super::http_api::{
    go_json, log_truncated, template_error, truncate_in_runes, HttpResponse, JsonClient, Limit,
};
use super::render::{data_value, TemplateSet};
use super::{Batch, FailReason, Notifier, NotifyContext, NotifyError, NotifyFuture};
use crate::alert::config::TelegramConfig;
use crate::alert::store::Alert;
use crate::client::CredentialError;

/// Upstream's `maxMessageLenRunes` (Telegram's message limit).
pub const MAX_MESSAGE_RUNES: usize = 4096;

/// The longest `parameters.retry_after` taken from an answer.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(3600);

/// A validated `telegram_configs` entry, ready to send.
pub struct Telegram {
    conf: TelegramConfig,
    templates: Arc<TemplateSet>,
    http: JsonClient,
}

impl Telegram {
    pub fn new(
        conf: TelegramConfig,
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

    /// The `sendMessage` parameters for `alerts` (telebot's `sendText` +
    /// `embedSendOptions`), keys in the order Go's encoder writes a map's.
    pub fn params(
        &self,
        ctx: &NotifyContext,
        alerts: &[Alert],
    ) -> Result<BTreeMap<&'static str, String>, NotifyError> {
        let c = &self.conf;
        let data = data_value(ctx, alerts);
        let rendered = if c.parse_mode == "HTML" {
            self.templates.render_html(&c.message, &data, ctx.now)
        } else {
            self.templates.render_text(&c.message, &data, ctx.now)
        }
        .map_err(template_error)?;
        let (text, truncated) = truncate_in_runes(&rendered, MAX_MESSAGE_RUNES);
        if truncated {
            log_truncated("telegram", "message", ctx, Limit::Runes(MAX_MESSAGE_RUNES));
        }
        let mut p = BTreeMap::new();
        p.insert("chat_id", c.chat_id.to_string());
        p.insert("text", text);
        p.insert("disable_web_page_preview", "true".to_string());
        if c.disable_notifications {
            p.insert("disable_notification", "true".to_string());
        }
        if !c.parse_mode.is_empty() {
            p.insert("parse_mode", c.parse_mode.clone());
        }
        if c.message_thread_id != 0 {
            p.insert("message_thread_id", c.message_thread_id.to_string());
        }
        Ok(p)
    }

    async fn send(&self, ctx: &NotifyContext, alerts: &Batch) -> Result<(), NotifyError> {
        let params = self.params(ctx, &alerts.to_alerts())?;
        let body = go_json(&params)?;
        // Upstream returns a token file it cannot read as retryable (the file may appear).
        let token = self.conf.bot_token.read().map_err(|e| {
            NotifyError::new(
                true,
                FailReason::Other,
                CredentialError::new("bot_token_file", &self.conf.bot_token, e).to_string(),
            )
        })?;
        let url = format!("{}/bot{}/sendMessage", self.conf.api_url, token.expose());
        let resp = self.http.post_json(&url, body, None, ctx.now).await?;
        check_answer(&resp)
    }
}

/// The Bot API's answer (telebot's `extractOk`).
#[derive(Deserialize)]
struct Answer {
    #[serde(default)]
    ok: bool,
    #[serde(default)]
    error_code: i64,
    #[serde(default)]
    description: String,
    #[serde(default)]
    parameters: Parameters,
}

#[derive(Default, Deserialize)]
struct Parameters {
    #[serde(default)]
    retry_after: Option<f64>,
}

/// A Bot API answer as success or a classified failure (see the module doc).
pub fn check_answer(resp: &HttpResponse) -> Result<(), NotifyError> {
    let Ok(answer) = serde_json::from_str::<Answer>(&resp.body) else {
        let client_error = (400..500).contains(&resp.status) && resp.status != 429;
        let excerpt: String = resp
            .body
            .chars()
            .take(super::http_api::ERROR_EXCERPT_CHARS)
            .collect();
        let mut e = NotifyError::new(
            !client_error,
            FailReason::from_status(resp.status),
            format!(
                "telegram: unexpected answer with status code {}: {excerpt}",
                resp.status
            ),
        );
        if resp.status == 429 {
            e.retry_after = resp.retry_after;
        }
        return Err(e);
    };
    if answer.ok {
        return Ok(());
    }
    let code = answer.error_code;
    let retryable = code == 0 || code == 429 || code >= 500;
    let reason = u16::try_from(code).map_or(FailReason::Other, FailReason::from_status);
    let mut e = NotifyError::new(
        retryable,
        reason,
        format!("telegram: {} ({code})", answer.description),
    );
    if code == 429 {
        e.retry_after = answer
            .parameters
            .retry_after
            .filter(|s| s.is_finite() && *s >= 0.0)
            .map(|s| Duration::from_secs_f64(s.min(MAX_RETRY_AFTER.as_secs_f64())))
            .or(resp.retry_after);
    }
    Err(e)
}

impl Notifier for Telegram {
    fn name(&self) -> &'static str {
        "telegram"
    }

    fn notify_batch<'a>(&'a self, ctx: &'a NotifyContext, alerts: &'a Batch) -> NotifyFuture<'a> {
        Box::pin(self.send(ctx, alerts))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(status: u16, body: &str) -> HttpResponse {
        HttpResponse {
            status,
            content_type: "application/json".into(),
            retry_after: None,
            body: body.into(),
        }
    }

    #[test]
    fn answers_are_classified() {
        assert!(check_answer(&answer(200, r#"{"ok":true,"result":{"chat":{}}}"#)).is_ok());
        // Upstream ignores the status: ok is ok.
        assert!(check_answer(&answer(500, r#"{"ok":true}"#)).is_ok());
        let e = check_answer(&answer(
            400,
            r#"{"ok":false,"error_code":400,"description":"Bad Request: chat not found"}"#,
        ))
        .unwrap_err();
        assert!(!e.retryable);
        assert_eq!(e.message, "telegram: Bad Request: chat not found (400)");
        assert_eq!(e.reason, FailReason::ClientError);
        let e = check_answer(&answer(
            429,
            r#"{"ok":false,"error_code":429,"description":"Too Many Requests: retry after 7","parameters":{"retry_after":7}}"#,
        ))
        .unwrap_err();
        assert!(e.retryable);
        assert_eq!(e.retry_after, Some(Duration::from_secs(7)));
        let e = check_answer(&answer(
            502,
            r#"{"ok":false,"error_code":502,"description":"Bad Gateway"}"#,
        ))
        .unwrap_err();
        assert!(e.retryable);
        let e = check_answer(&answer(502, "<html>bad gateway</html>")).unwrap_err();
        assert!(e.retryable);
        let e = check_answer(&answer(404, "404 page not found")).unwrap_err();
        assert!(!e.retryable);
        assert_eq!(
            e.message,
            "telegram: unexpected answer with status code 404: 404 page not found"
        );
    }

    #[test]
    fn params_encode_as_telebots_string_map() {
        let mut p = BTreeMap::new();
        p.insert("text", "a<b>".to_string());
        p.insert("chat_id", "42".to_string());
        p.insert("disable_web_page_preview", "true".to_string());
        p.insert("disable_notification", "true".to_string());
        // VERIFIED-0.25 capture (receivers-spec.md §2.2).
        assert_eq!(
            go_json(&p).unwrap(),
            "{\"chat_id\":\"42\",\"disable_notification\":\"true\",\"disable_web_page_preview\":\"true\",\"text\":\"a\\u003cb\\u003e\"}\n"
        );
    }
}
