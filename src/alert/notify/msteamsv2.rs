//! The Microsoft Teams workflows integration (`msteamsv2_configs`, Alertmanager 0.28) as
//! 0.28.0's `notify/msteamsv2/msteamsv2.go` sends it: `POST webhook_url` (a Power Automate
//! "post to a channel when a webhook request is received" flow; or the `webhook_url_file`
//! content, re-read and trimmed on every send) with a message holding one Adaptive Card
//! (version 1.2): a heading TextBlock (the title, coloured by status) and a TextBlock (the
//! text). The body is byte for byte upstream's, including its misspelled key `"weigth"`
//! (0.28.0 sends that; 0.28.1 renamed it `weight` and added `"wrap":true` to the second
//! block), `"contentUrl":null` and the always-present `"msteams":{"width":"full"}`. No
//! truncation.
//!
//! Answers: upstream's default `Retrier` — 2xx success, 5xx retryable, every other code
//! final.

use std::path::Path;
use std::sync::Arc;

use serde::Serialize;

use super::http_api::{go_json, read_url, JsonClient, RetryRule, TmplText};
use super::msteams::group_status;
use super::render::TemplateSet;
use super::{Batch, Notifier, NotifyContext, NotifyError, NotifyFuture};
use crate::alert::config::MSTeamsV2Config;
use crate::alert::store::Alert;

const COLOR_RED: &str = "Attention";
const COLOR_GREEN: &str = "Good";
const COLOR_GREY: &str = "Warning";

fn is_false(b: &bool) -> bool {
    !*b
}

/// Upstream's `teamsMessage`.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Message {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub attachments: Vec<Attachment>,
}

/// Upstream's `Attachment`: `contentUrl` is a nil `*string`, so always `null`.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Attachment {
    #[serde(rename = "contentType")]
    pub content_type: &'static str,
    #[serde(rename = "contentUrl")]
    pub content_url: Option<String>,
    pub content: Content,
}

/// Upstream's `Content` (the Adaptive Card). `msteams` is a struct, which Go's `omitempty`
/// never omits.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Content {
    #[serde(rename = "$schema")]
    pub schema: &'static str,
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub version: &'static str,
    pub body: Vec<Body>,
    pub msteams: Msteams,
}

/// Upstream's `Body` (a TextBlock); `weigth` is upstream's spelling on the wire.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Body {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub text: String,
    #[serde(rename = "weigth", skip_serializing_if = "str::is_empty")]
    pub weight: &'static str,
    #[serde(skip_serializing_if = "str::is_empty")]
    pub size: &'static str,
    #[serde(skip_serializing_if = "is_false")]
    pub wrap: bool,
    #[serde(skip_serializing_if = "str::is_empty")]
    pub style: &'static str,
    #[serde(skip_serializing_if = "str::is_empty")]
    pub color: &'static str,
}

/// Upstream's `Msteams`.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Msteams {
    pub width: &'static str,
}

/// A validated `msteamsv2_configs` entry, ready to send.
pub struct MSTeamsV2 {
    conf: MSTeamsV2Config,
    templates: Arc<TemplateSet>,
    http: JsonClient,
}

impl MSTeamsV2 {
    pub fn new(
        conf: MSTeamsV2Config,
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

    /// The message for `alerts` (title, then text, as upstream renders them).
    pub fn message(&self, ctx: &NotifyContext, alerts: &[Alert]) -> Result<Message, NotifyError> {
        let mut t = TmplText::new(&self.templates, ctx, alerts);
        let title = t.text(&self.conf.title);
        let text = t.text(&self.conf.text);
        t.finish()?;
        let color = match group_status(alerts, ctx.now) {
            Some("firing") => COLOR_RED,
            Some(_) => COLOR_GREEN,
            None => COLOR_GREY,
        };
        Ok(card(title, text, color))
    }

    async fn send(&self, ctx: &NotifyContext, alerts: &Batch) -> Result<(), NotifyError> {
        let msg = self.message(ctx, &alerts.to_alerts())?;
        let url = read_url(&self.conf.webhook_url, "webhook_url_file")?;
        let body = go_json(&msg)?;
        let resp = self.http.post_json(&url, body, None, ctx.now).await?;
        RetryRule::SERVER_ERRORS.check(&resp)
    }
}

/// The message upstream builds around a title, a text and a colour.
pub fn card(title: String, text: String, color: &'static str) -> Message {
    Message {
        kind: "message",
        attachments: vec![Attachment {
            content_type: "application/vnd.microsoft.card.adaptive",
            content_url: None,
            content: Content {
                schema: "http://adaptivecards.io/schemas/adaptive-card.json",
                kind: "AdaptiveCard",
                version: "1.2",
                body: vec![
                    Body {
                        kind: "TextBlock",
                        text: title,
                        weight: "Bolder",
                        size: "Medium",
                        wrap: true,
                        style: "heading",
                        color,
                    },
                    Body {
                        kind: "TextBlock",
                        text,
                        weight: "",
                        size: "",
                        wrap: false,
                        style: "",
                        color: "",
                    },
                ],
                msteams: Msteams { width: "full" },
            },
        }],
    }
}

impl Notifier for MSTeamsV2 {
    fn name(&self) -> &'static str {
        "msteamsv2"
    }

    fn notify_batch<'a>(&'a self, ctx: &'a NotifyContext, alerts: &'a Batch) -> NotifyFuture<'a> {
        Box::pin(self.send(ctx, alerts))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The card as upstream's structs encode it (0.28.0: `weigth`, `contentUrl: null`).
    #[test]
    fn adaptive_card_as_upstream_structs() {
        assert_eq!(
            go_json(&card("T".into(), "x & y".into(), COLOR_GREEN)).unwrap(),
            concat!(
                r#"{"type":"message","attachments":[{"contentType":"application/vnd.microsoft.card.adaptive","contentUrl":null,"#,
                r#""content":{"$schema":"http://adaptivecards.io/schemas/adaptive-card.json","type":"AdaptiveCard","version":"1.2","#,
                r#""body":[{"type":"TextBlock","text":"T","weigth":"Bolder","size":"Medium","wrap":true,"style":"heading","color":"Good"},"#,
                r#"{"type":"TextBlock","text":"x \u0026 y"}],"msteams":{"width":"full"}}}]}"#,
                "\n"
            )
        );
    }
}
