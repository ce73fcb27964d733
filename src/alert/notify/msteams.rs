//! The Microsoft Teams integration (`msteams_configs`, Alertmanager 0.26+) as 0.28.0's
//! `notify/msteams/msteams.go` sends it: one legacy Office 365 connector MessageCard,
//! `POST webhook_url` (or the `webhook_url_file` content, re-read and trimmed on every
//! send), the body byte for byte as upstream's `teamsMessage` encodes it (note the key
//! `type`, not `@type`), the theme colour from the alerts' status. No truncation.
//!
//! Answers: upstream's default `Retrier` — 2xx success (the text a connector may answer
//! with is not read), 5xx retryable, every other code final (4xx, and 429, which upstream
//! does not retry either; Teams connectors answer 429 when throttled, see README).
//!
//! Not here: the Adaptive Card of Teams workflows (`msteamsv2.rs`).

use std::path::Path;
use std::sync::Arc;

use serde::Serialize;

use super::http_api::{go_json, read_url, JsonClient, RetryRule, TmplText};
use super::render::TemplateSet;
use super::{status_at, Batch, Notifier, NotifyContext, NotifyError, NotifyFuture};
use crate::alert::config::MSTeamsConfig;
use crate::alert::store::Alert;

const COLOR_RED: &str = "8C1A1A";
const COLOR_GREEN: &str = "2DC72D";
const COLOR_GREY: &str = "808080";

/// Upstream's `teamsMessage` (every field always sent).
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Message {
    #[serde(rename = "@context")]
    pub context: &'static str,
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub title: String,
    pub summary: String,
    pub text: String,
    #[serde(rename = "themeColor")]
    pub theme_color: &'static str,
}

/// `types.Alerts(as...).Status()`: firing while any alert fires, resolved when all are,
/// nothing for no alerts.
pub(crate) fn group_status(alerts: &[Alert], now: std::time::SystemTime) -> Option<&'static str> {
    if alerts.is_empty() {
        None
    } else if alerts.iter().any(|a| status_at(a, now) == "firing") {
        Some("firing")
    } else {
        Some("resolved")
    }
}

/// A validated `msteams_configs` entry, ready to send.
pub struct MSTeams {
    conf: MSTeamsConfig,
    templates: Arc<TemplateSet>,
    http: JsonClient,
}

impl MSTeams {
    pub fn new(
        conf: MSTeamsConfig,
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

    /// The message for `alerts`: title, text, summary rendered in upstream's order (which
    /// decides which template error is reported).
    pub fn message(&self, ctx: &NotifyContext, alerts: &[Alert]) -> Result<Message, NotifyError> {
        let mut t = TmplText::new(&self.templates, ctx, alerts);
        let title = t.text(&self.conf.title);
        let text = t.text(&self.conf.text);
        let summary = t.text(&self.conf.summary);
        t.finish()?;
        Ok(Message {
            context: "http://schema.org/extensions",
            kind: "MessageCard",
            title,
            summary,
            text,
            theme_color: match group_status(alerts, ctx.now) {
                Some("firing") => COLOR_RED,
                Some(_) => COLOR_GREEN,
                None => COLOR_GREY,
            },
        })
    }

    async fn send(&self, ctx: &NotifyContext, alerts: &Batch) -> Result<(), NotifyError> {
        let msg = self.message(ctx, &alerts.to_alerts())?;
        let url = read_url(&self.conf.webhook_url, "webhook_url_file")?;
        let body = go_json(&msg)?;
        let resp = self.http.post_json(&url, body, None, ctx.now).await?;
        RetryRule::SERVER_ERRORS.check(&resp)
    }
}

impl Notifier for MSTeams {
    fn name(&self) -> &'static str {
        "msteams"
    }

    fn notify_batch<'a>(&'a self, ctx: &'a NotifyContext, alerts: &'a Batch) -> NotifyFuture<'a> {
        Box::pin(self.send(ctx, alerts))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Field order and names of upstream's `teamsMessage` (`@context`, then `type`).
    #[test]
    fn message_card_as_upstream_struct() {
        let m = Message {
            context: "http://schema.org/extensions",
            kind: "MessageCard",
            title: "t <1>".into(),
            summary: "s".into(),
            text: String::new(),
            theme_color: COLOR_RED,
        };
        assert_eq!(
            go_json(&m).unwrap(),
            "{\"@context\":\"http://schema.org/extensions\",\"type\":\"MessageCard\",\"title\":\"t \\u003c1\\u003e\",\"summary\":\"s\",\"text\":\"\",\"themeColor\":\"8C1A1A\"}\n"
        );
    }
}
