//! The Slack integration as Alertmanager 0.25 sends it (`notify/slack/slack.go`): one
//! legacy attachment per notification, every field a template, the body byte for byte as
//! upstream's structs encode it (field order, `omitempty`), the title cut at 1024 runes, the
//! URL from `api_url`, `api_url_file` (re-read on every send) or `global.slack_api_url(_file)`.
//!
//! Answers (documented in README.md):
//! - non-2xx: upstream's rule, 5xx retryable and every other code final, except 429, which
//!   blackwatch retries with the wait `Retry-After` asks for (Slack's rate limit answer;
//!   upstream 0.25 to 0.28 give up after one attempt);
//! - 2xx: success, unless the answer is JSON with `"ok": false` (the Web API's
//!   `chat.postMessage` reports errors that way; Alertmanager 0.26+ checks it). Unlike
//!   0.26+, a JSON answer without `ok` (Rocket.Chat's `{"success":true}`, alertmanager
//!   #3546) and a text answer other than `ok` (Zulip, Mattermost) are successes, as in 0.25.
//!
//! Not here: 0.28+'s app tokens, message updates, per-request timeout and top-level
//! `message_text` (refused by name at load).

use std::path::Path;
use std::sync::Arc;

use serde::Serialize;

use super::http_api::{
    go_json, log_truncated, read_url, truncate_in_runes, JsonClient, Limit, RetryRule, TmplText,
};
use super::render::TemplateSet;
use super::{Batch, FailReason, Notifier, NotifyContext, NotifyError, NotifyFuture};
use crate::alert::config::SlackConfig;
use crate::alert::store::Alert;

/// Upstream's `maxTitleLenRunes` (0.25 to main: Slack's legacy attachment title limit).
pub const MAX_TITLE_RUNES: usize = 1024;

/// Slack answers 429 when rate limited; it is retried after `Retry-After`.
const RETRY: RetryRule = RetryRule {
    retry_codes: &[429],
    honour_retry_after: true,
};

fn is_false(b: &bool) -> bool {
    !*b
}

/// Upstream's `request`.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Request {
    #[serde(skip_serializing_if = "String::is_empty")]
    pub channel: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub username: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub icon_emoji: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub icon_url: String,
    #[serde(skip_serializing_if = "is_false")]
    pub link_names: bool,
    pub attachments: Vec<Attachment>,
}

/// Upstream's `attachment`: `text`, `fallback`, `callback_id` and `footer` are always sent.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Attachment {
    #[serde(skip_serializing_if = "String::is_empty")]
    pub title: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub title_link: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub pretext: String,
    pub text: String,
    pub fallback: String,
    pub callback_id: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<Field>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub actions: Vec<Action>,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub image_url: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub thumb_url: String,
    pub footer: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub color: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub mrkdwn_in: Vec<String>,
}

/// `config.SlackField` as sent: `short` is always set (the field's own or `short_fields`).
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Field {
    #[serde(skip_serializing_if = "String::is_empty")]
    pub title: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub value: String,
    pub short: bool,
}

/// `config.SlackAction` as sent.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Action {
    #[serde(rename = "type", skip_serializing_if = "String::is_empty")]
    pub kind: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub text: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub url: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub style: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub name: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub value: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub confirm: Option<Confirm>,
}

/// `config.SlackConfirmationField` as sent.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Confirm {
    #[serde(skip_serializing_if = "String::is_empty")]
    pub text: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub title: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub ok_text: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub dismiss_text: String,
}

/// A validated `slack_configs` entry, ready to send.
pub struct Slack {
    conf: SlackConfig,
    templates: Arc<TemplateSet>,
    http: JsonClient,
}

impl Slack {
    pub fn new(
        conf: SlackConfig,
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

    /// The request for `alerts`, rendered in upstream's order (which decides which template
    /// error is reported).
    pub fn request(&self, ctx: &NotifyContext, alerts: &[Alert]) -> Result<Request, NotifyError> {
        let c = &self.conf;
        let mut t = TmplText::new(&self.templates, ctx, alerts);
        let (title, truncated) = truncate_in_runes(&t.text(&c.title), MAX_TITLE_RUNES);
        if truncated {
            log_truncated("slack", "title", ctx, Limit::Runes(MAX_TITLE_RUNES));
        }
        let mut att = Attachment {
            title,
            title_link: t.text(&c.title_link),
            pretext: t.text(&c.pretext),
            text: t.text(&c.text),
            fallback: t.text(&c.fallback),
            callback_id: t.text(&c.callback_id),
            fields: Vec::new(),
            actions: Vec::new(),
            image_url: t.text(&c.image_url),
            thumb_url: t.text(&c.thumb_url),
            footer: t.text(&c.footer),
            color: t.text(&c.color),
            mrkdwn_in: if c.mrkdwn_in.is_empty() {
                vec!["fallback".into(), "pretext".into(), "text".into()]
            } else {
                c.mrkdwn_in.clone()
            },
        };
        for f in &c.fields {
            att.fields.push(Field {
                title: t.text(&f.title),
                value: t.text(&f.value),
                short: f.short.unwrap_or(c.short_fields),
            });
        }
        for a in &c.actions {
            let mut action = Action {
                kind: t.text(&a.kind),
                text: t.text(&a.text),
                url: t.text(&a.url),
                style: t.text(&a.style),
                name: t.text(&a.name),
                value: t.text(&a.value),
                confirm: None,
            };
            if let Some(cf) = &a.confirm {
                // Upstream renders the title first.
                let title = t.text(&cf.title);
                action.confirm = Some(Confirm {
                    text: t.text(&cf.text),
                    title,
                    ok_text: t.text(&cf.ok_text),
                    dismiss_text: t.text(&cf.dismiss_text),
                });
            }
            att.actions.push(action);
        }
        let req = Request {
            channel: t.text(&c.channel),
            username: t.text(&c.username),
            icon_emoji: t.text(&c.icon_emoji),
            icon_url: t.text(&c.icon_url),
            link_names: c.link_names,
            attachments: vec![att],
        };
        t.finish()?;
        Ok(req)
    }

    async fn send(&self, ctx: &NotifyContext, alerts: &Batch) -> Result<(), NotifyError> {
        let req = self.request(ctx, &alerts.to_alerts())?;
        let body = go_json(&req)?;
        let url = read_url(&self.conf.api_url, "api_url_file")?;
        let channel = |mut e: NotifyError| {
            e.message = format!("channel {:?}: {}", req.channel, e.message);
            e
        };
        let resp = self.http.post_json(&url, body, None, ctx.now).await?;
        RETRY.check(&resp).map_err(channel)?;
        check_ok(&resp.content_type, &resp.body).map_err(channel)
    }
}

/// A 2xx answer that still reports an error: JSON with `"ok": false` (Slack's Web API).
/// Anything else is a success (see the module doc for why not 0.26+'s stricter rule).
pub fn check_ok(content_type: &str, body: &str) -> Result<(), NotifyError> {
    if !content_type.starts_with("application/json") {
        return Ok(());
    }
    let Ok(serde_json::Value::Object(v)) = serde_json::from_str::<serde_json::Value>(body) else {
        return Ok(());
    };
    if v.get("ok") != Some(&serde_json::Value::Bool(false)) {
        return Ok(());
    }
    let error = v
        .get("error")
        .and_then(serde_json::Value::as_str)
        .unwrap_or_default();
    Err(NotifyError::new(
        false,
        FailReason::ClientError,
        format!("error response from Slack: {error}"),
    ))
}

impl Notifier for Slack {
    fn name(&self) -> &'static str {
        "slack"
    }

    fn notify_batch<'a>(&'a self, ctx: &'a NotifyContext, alerts: &'a Batch) -> NotifyFuture<'a> {
        Box::pin(self.send(ctx, alerts))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ok_false_is_an_error_other_answers_succeed() {
        let json = "application/json; charset=utf-8";
        let e = check_ok(json, r#"{"ok":false,"error":"not_authed"}"#).unwrap_err();
        assert!(!e.retryable);
        assert_eq!(e.message, "error response from Slack: not_authed");
        assert!(check_ok(json, r#"{"ok":true}"#).is_ok());
        assert!(check_ok(json, r#"{"success":true}"#).is_ok());
        assert!(check_ok(json, "not json").is_ok());
        assert!(check_ok("text/html", "ok").is_ok());
        assert!(check_ok("text/plain", r#"{"ok":false}"#).is_ok());
    }

    #[test]
    fn empty_fields_are_omitted_as_go_omitempty() {
        let req = Request {
            channel: String::new(),
            username: "u".into(),
            icon_emoji: String::new(),
            icon_url: String::new(),
            link_names: false,
            attachments: vec![Attachment {
                title: String::new(),
                title_link: String::new(),
                pretext: String::new(),
                text: String::new(),
                fallback: "f".into(),
                callback_id: String::new(),
                fields: vec![Field {
                    title: "t".into(),
                    value: "v".into(),
                    short: false,
                }],
                actions: vec![],
                image_url: String::new(),
                thumb_url: String::new(),
                footer: String::new(),
                color: "danger".into(),
                mrkdwn_in: vec!["text".into()],
            }],
        };
        assert_eq!(
            go_json(&req).unwrap(),
            concat!(
                r#"{"username":"u","attachments":[{"text":"","fallback":"f","callback_id":"","#,
                r#""fields":[{"title":"t","value":"v","short":false}],"footer":"","color":"danger","mrkdwn_in":["text"]}]}"#,
                "\n"
            )
        );
    }
}
