//! The Rocket.Chat integration (`rocketchat_configs`, Alertmanager 0.28) as 0.28.0's
//! `notify/rocketchat/rocketchat.go` sends it: `POST {api_url}/api/v1/chat.postMessage`
//! (Go's `URL.JoinPath`) with `X-Auth-Token` / `X-User-Id` (read once when the integration
//! is built, as upstream reads them in `New`), one attachment whose title is cut at 1024
//! runes, every text a template except `channel` (sent as written in 0.28.0), fields with
//! `short` always set, actions as buttons (`text`, `url`, `msg`). The body is byte for byte
//! upstream's `PostMessage`.
//!
//! Answers: upstream's `Retrier` (5xx retryable, other non-2xx final, `channel "…": ` in
//! front), then the 2xx body: JSON `{"success": false, "error": …}` is final, a body that is
//! not JSON is retried, as upstream.

use std::path::Path;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::http_api::{
    go_json, join_path, log_truncated, truncate_in_runes, JsonClient, Limit, RetryRule, TmplText,
    ERROR_EXCERPT_CHARS,
};
use super::render::TemplateSet;
use super::{Batch, FailReason, Notifier, NotifyContext, NotifyError, NotifyFuture};
use crate::alert::config::RocketchatConfig;
use crate::alert::store::Alert;
use crate::base::{Secret, SecretSource};

/// Upstream's `maxTitleLenRunes`.
pub const MAX_TITLE_RUNES: usize = 1024;

fn is_false(b: &bool) -> bool {
    !*b
}

/// Upstream's `PostMessage`; `text`, `parseUrls`, `alias` and `actions` are never set.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct PostMessage {
    #[serde(skip_serializing_if = "String::is_empty")]
    pub channel: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub text: String,
    #[serde(rename = "parseUrls", skip_serializing_if = "is_false")]
    pub parse_urls: bool,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub alias: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub emoji: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub avatar: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub attachments: Vec<Attachment>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub actions: Vec<Action>,
}

/// Upstream's `Attachment`.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Attachment {
    #[serde(skip_serializing_if = "String::is_empty")]
    pub title: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub title_link: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub text: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub image_url: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub thumb_url: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub color: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<Field>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub actions: Vec<Action>,
}

/// `config.RocketchatAttachmentField` as sent (`short` always present).
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Field {
    pub short: bool,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub title: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub value: String,
}

/// `config.RocketchatAttachmentAction` as sent: `is_webview` and `msg_in_chat_window` have
/// no `omitempty` upstream, so they are always `false` on the wire.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Action {
    #[serde(rename = "type", skip_serializing_if = "String::is_empty")]
    pub kind: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub text: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub url: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub image_url: String,
    pub is_webview: bool,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub webview_height_ratio: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub msg: String,
    pub msg_in_chat_window: bool,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub msg_processing_type: String,
}

/// A validated `rocketchat_configs` entry with its credentials read, ready to send.
pub struct Rocketchat {
    conf: RocketchatConfig,
    templates: Arc<TemplateSet>,
    http: JsonClient,
    token: Secret,
    token_id: Secret,
}

/// Upstream's `getToken` / `getTokenID`: the file (trimmed) or the inline value; the
/// error names the file, as upstream's `could not read %s: %w`.
fn read_token(src: &SecretSource) -> Result<Secret, NotifyError> {
    src.read().map_err(|e| {
        let name = match src {
            SecretSource::File(p) => p.display().to_string(),
            SecretSource::Inline(_) => "<inline>".to_string(),
        };
        NotifyError::new(
            false,
            FailReason::Other,
            format!("could not read {name}: {e}"),
        )
    })
}

impl Rocketchat {
    pub fn new(
        conf: RocketchatConfig,
        templates: Arc<TemplateSet>,
        shared: &reqwest::Client,
        base_dir: &Path,
    ) -> Result<Self, NotifyError> {
        let http = JsonClient::new(&conf.http_config, shared, base_dir)?;
        let token = read_token(&conf.token)?;
        let token_id = read_token(&conf.token_id)?;
        Ok(Self {
            conf,
            templates,
            http,
            token,
            token_id,
        })
    }

    /// The message for `alerts`, rendered in upstream's order.
    pub fn message(
        &self,
        ctx: &NotifyContext,
        alerts: &[Alert],
    ) -> Result<PostMessage, NotifyError> {
        let c = &self.conf;
        let mut t = TmplText::new(&self.templates, ctx, alerts);
        let (title, truncated) = truncate_in_runes(&t.text(&c.title), MAX_TITLE_RUNES);
        if truncated {
            log_truncated("rocketchat", "title", ctx, Limit::Runes(MAX_TITLE_RUNES));
        }
        let mut att = Attachment {
            title,
            title_link: t.text(&c.title_link),
            text: t.text(&c.text),
            image_url: t.text(&c.image_url),
            thumb_url: t.text(&c.thumb_url),
            color: t.text(&c.color),
            fields: Vec::new(),
            actions: Vec::new(),
        };
        for f in &c.fields {
            att.fields.push(Field {
                short: f.short.unwrap_or(c.short_fields),
                title: t.text(&f.title),
                value: t.text(&f.value),
            });
        }
        for a in &c.actions {
            att.actions.push(Action {
                kind: "button".into(),
                text: t.text(&a.text),
                url: t.text(&a.url),
                image_url: String::new(),
                is_webview: false,
                webview_height_ratio: String::new(),
                msg: t.text(&a.msg),
                msg_in_chat_window: false,
                msg_processing_type: String::new(),
            });
        }
        let msg = PostMessage {
            channel: c.channel.clone(),
            text: String::new(),
            parse_urls: false,
            alias: String::new(),
            emoji: t.text(&c.emoji),
            avatar: t.text(&c.icon_url),
            attachments: vec![att],
            actions: Vec::new(),
        };
        t.finish()?;
        Ok(msg)
    }

    async fn send(&self, ctx: &NotifyContext, alerts: &Batch) -> Result<(), NotifyError> {
        let msg = self.message(ctx, &alerts.to_alerts())?;
        let body = go_json(&msg)?;
        let url = join_path(&self.conf.api_url, "api/v1/chat.postMessage").ok_or_else(|| {
            NotifyError::new(false, FailReason::Other, "invalid api_url".to_string())
        })?;
        let headers = [
            ("X-Auth-Token", self.token.expose()),
            ("X-User-Id", self.token_id.expose()),
        ];
        let resp = self
            .http
            .request(
                http::Method::POST,
                &url,
                &headers,
                Some(body),
                None,
                ctx.now,
            )
            .await?;
        let channel = |mut e: NotifyError| {
            e.message = format!(
                "channel {}: {}",
                crate::base::go::quote(&msg.channel),
                e.message
            );
            e
        };
        RetryRule::SERVER_ERRORS.check(&resp).map_err(channel)?;
        check_response(&resp.body).map_err(channel)
    }
}

/// Upstream's `checkJSONResponseError`: a 2xx answer must be JSON with `"success": true`.
pub fn check_response(body: &str) -> Result<(), NotifyError> {
    #[derive(Deserialize)]
    struct Response {
        #[serde(default)]
        success: bool,
        #[serde(default)]
        error: String,
    }
    match serde_json::from_str::<Response>(body) {
        Err(e) => {
            let excerpt: String = body.chars().take(ERROR_EXCERPT_CHARS).collect();
            Err(NotifyError::new(
                true,
                FailReason::Other,
                format!(
                    "could not unmarshal JSON response {}: {e}",
                    crate::base::go::quote(&excerpt)
                ),
            ))
        }
        Ok(r) if !r.success => Err(NotifyError::new(
            false,
            FailReason::ClientError,
            format!("error response from Rocketchat: {}", r.error),
        )),
        Ok(_) => Ok(()),
    }
}

impl Notifier for Rocketchat {
    fn name(&self) -> &'static str {
        "rocketchat"
    }

    fn notify_batch<'a>(&'a self, ctx: &'a NotifyContext, alerts: &'a Batch) -> NotifyFuture<'a> {
        Box::pin(self.send(ctx, alerts))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Upstream's `checkJSONResponseError` branches (0.28.0's rocketchat_test.go only
    /// tables the `Retrier`, which is `RetryRule::SERVER_ERRORS`).
    #[test]
    fn response_classification_as_upstream() {
        assert!(check_response(r#"{"success":true}"#).is_ok());
        let e = check_response(r#"{"success":false,"error":"error-not-allowed"}"#).unwrap_err();
        assert!(!e.retryable);
        assert_eq!(e.reason, FailReason::ClientError);
        assert_eq!(
            e.message,
            "error response from Rocketchat: error-not-allowed"
        );
        let e = check_response("ok").unwrap_err();
        assert!(e.retryable);
        assert!(
            e.message
                .starts_with("could not unmarshal JSON response \"ok\": "),
            "{}",
            e.message
        );
        assert!(!check_response("{}").unwrap_err().retryable);
    }

    #[test]
    fn actions_always_carry_the_two_booleans() {
        let a = Action {
            kind: "button".into(),
            text: "t".into(),
            url: String::new(),
            image_url: String::new(),
            is_webview: false,
            webview_height_ratio: String::new(),
            msg: "m".into(),
            msg_in_chat_window: false,
            msg_processing_type: String::new(),
        };
        assert_eq!(
            go_json(&a).unwrap(),
            "{\"type\":\"button\",\"text\":\"t\",\"is_webview\":false,\"msg\":\"m\",\"msg_in_chat_window\":false}\n"
        );
    }
}
